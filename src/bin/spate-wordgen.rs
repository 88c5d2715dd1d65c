//! `spate-wordgen`: the benchmark's line source. A TCP server on 127.0.0.1 that writes, to every
//! client, newline-terminated lines of 10 words drawn Zipf(1.0) from a 10,000-word vocabulary
//! with a seeded PRNG — the same text for the same seed, every run.
//!
//! ```text
//! spate-wordgen --port 9999 --rate 100000 --lines 1000000 --seed 7 --count w0,w1,w2a
//! ```
//!
//! The lines come from a pool generated once at start and sent round and round, so writing costs
//! only the copy into the socket (well over 5M lines/s at `--rate 0`); the pool's per-line word
//! counts make the exact expected count of any word known for any number of lines sent. When a
//! client is done (after `--lines`, or when it disconnects) one summary line goes to stdout:
//! `SENT lines=<n> words=<n> seconds=<s> bytes=<n> count[w0]=<n> ...`.
//!
//! With `--send-log FILE` it also writes, for every write to the socket, a line
//! `<lines sent before this write> <microseconds since the Unix epoch, just before it>`: the
//! benchmark matches each line's send time to the batch that output it (end-to-end latency).
//!
//! With `--kafka HOST:PORT --topic T` it is a producer instead: it writes `--lines` lines (one
//! record each) to the partitions of topic `T` round robin, in requests of `--kafka-batch`
//! records, prints the same summary line and exits; a topic that does not exist is created with
//! `--partitions` partitions.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::SeedableRng;
use rand_distr::Distribution;

/// Words per line, vocabulary size and Zipf exponent: the workload, fixed.
const WORDS_PER_LINE: usize = 10;
const VOCABULARY: usize = 10_000;
const ZIPF_EXPONENT: f64 = 1.0;

#[derive(Parser, Debug)]
#[command(
    name = "spate-wordgen",
    version,
    about = "Serve lines of 10 Zipf-distributed words to every client (spate's benchmark source)"
)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port, printed as `LISTENING port=<p>`).
    #[arg(long, default_value_t = 9999)]
    port: u16,
    /// Lines per second per client; 0 sends as fast as the client reads.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Lines per client, then close the connection (default: until the client goes away).
    #[arg(long)]
    lines: Option<u64>,
    /// Seed of the text.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Comma-separated words whose exact counts the summary reports.
    #[arg(long, value_delimiter = ',', default_value = "w0,w1,w9")]
    count: Vec<String>,
    /// Serve one client, then exit.
    #[arg(long)]
    once: bool,
    /// Lines in the pool that is sent round and round (smaller pools start faster).
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pool_lines: u64,
    /// Write each socket write's line count and send time (µs since the epoch) to this file.
    #[arg(long)]
    send_log: Option<std::path::PathBuf>,
    /// Produce to this Kafka broker (`host:port`) instead of serving TCP clients.
    #[arg(long, requires = "topic")]
    kafka: Option<String>,
    /// The topic to produce to (with `--kafka`).
    #[arg(long)]
    topic: Option<String>,
    /// Partitions of the topic, when it has to be created (with `--kafka`).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
    partitions: i32,
    /// Records per produce request (with `--kafka`).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    kafka_batch: u64,
}

/// The pool: its text, where each line ends, and per tracked word the running count by line.
struct Pool {
    text: Vec<u8>,
    line_ends: Vec<usize>,
    /// `prefix[w][i]`: occurrences of tracked word `w` in the first `i` lines.
    prefix: Vec<Vec<u32>>,
}

/// The vocabulary: `w<rank in hex>`, so the most frequent word is `w0`.
fn word(rank: usize) -> String {
    format!("w{rank:x}")
}

impl Pool {
    fn generate(seed: u64, tracked: &[String], lines: usize) -> Pool {
        let vocab: Vec<String> = (0..VOCABULARY).map(word).collect();
        let zipf = rand_distr::Zipf::new(VOCABULARY as f64, ZIPF_EXPONENT).expect("valid Zipf");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let tracked_rank: Vec<Option<usize>> = tracked
            .iter()
            .map(|w| vocab.iter().position(|v| v == w))
            .collect();
        let mut text = Vec::with_capacity(lines * 60);
        let mut line_ends = Vec::with_capacity(lines);
        let mut prefix = vec![Vec::with_capacity(lines + 1); tracked.len()];
        for p in &mut prefix {
            p.push(0);
        }
        let mut in_line = vec![0u32; tracked.len()];
        for _ in 0..lines {
            in_line.iter_mut().for_each(|c| *c = 0);
            for i in 0..WORDS_PER_LINE {
                if i > 0 {
                    text.push(b' ');
                }
                let rank = zipf.sample(&mut rng) as usize - 1;
                text.extend_from_slice(vocab[rank].as_bytes());
                for (c, t) in in_line.iter_mut().zip(&tracked_rank) {
                    if *t == Some(rank) {
                        *c += 1;
                    }
                }
            }
            text.push(b'\n');
            line_ends.push(text.len());
            for (p, c) in prefix.iter_mut().zip(&in_line) {
                let last = *p.last().unwrap_or(&0);
                p.push(last + c);
            }
        }
        Pool {
            text,
            line_ends,
            prefix,
        }
    }

    /// Byte offset where line `i` of the pool starts.
    fn start_of(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.line_ends[i - 1] }
    }

    /// Bytes of the first `lines` lines sent (newlines included).
    fn bytes(&self, lines: u64) -> u64 {
        let n = self.line_ends.len() as u64;
        (lines / n) * self.text.len() as u64 + self.start_of((lines % n) as usize) as u64
    }

    /// Exact count of tracked word `w` in the first `lines` lines sent.
    fn count(&self, w: usize, lines: u64) -> u64 {
        let n = self.line_ends.len() as u64;
        let per_pool = u64::from(*self.prefix[w].last().unwrap_or(&0));
        (lines / n) * per_pool + u64::from(self.prefix[w][(lines % n) as usize])
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let (Some(broker), Some(topic)) = (&args.kafka, &args.topic) {
        let pool = Pool::generate(args.seed, &args.count, args.pool_lines as usize);
        #[cfg(not(feature = "kafka"))]
        let produce = |_: &Pool, _: &Args, _: &str, _: &str| -> Result<(), &str> {
            Err("this build has no Kafka client: build spate-wordgen with `--features kafka`")
        };
        return match produce(&pool, &args, broker, topic) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("spate-wordgen: producing to {topic} at {broker}: {e}");
                ExitCode::from(2)
            }
        };
    }
    let listener = match TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "spate-wordgen: cannot listen on 127.0.0.1:{}: {e} (choose another --port)",
                args.port
            );
            return ExitCode::from(2);
        }
    };
    let pool = Arc::new(Pool::generate(
        args.seed,
        &args.count,
        args.pool_lines as usize,
    ));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(args.port);
    println!("LISTENING port={port}");
    let _ = std::io::stdout().flush();
    let args = Arc::new(args);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (pool, client_args) = (Arc::clone(&pool), Arc::clone(&args));
        let client = std::thread::spawn(move || serve(stream, &pool, &client_args));
        if args.once {
            let _ = client.join();
            break;
        }
    }
    ExitCode::SUCCESS
}

/// The summary line: lines and words sent, how long it took, the tracked words' counts.
fn summary(pool: &Pool, args: &Args, sent: u64, start: Instant) -> String {
    let mut summary = format!(
        "SENT lines={sent} words={} seconds={:.3} bytes={}",
        sent * WORDS_PER_LINE as u64,
        start.elapsed().as_secs_f64(),
        pool.bytes(sent)
    );
    for (i, w) in args.count.iter().enumerate() {
        summary.push_str(&format!(" count[{w}]={}", pool.count(i, sent)));
    }
    summary
}

/// Produces `--lines` pool lines to `topic`'s partitions, round robin, then prints the summary.
#[cfg(feature = "kafka")]
fn produce(
    pool: &Pool,
    args: &Args,
    broker: &str,
    topic: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use rskafka::client::ClientBuilder;
    use rskafka::client::partition::{Compression, UnknownTopicHandling};
    let Some(limit) = args.lines else {
        return Err("--kafka needs --lines (how many records to produce)".into());
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = ClientBuilder::new(vec![broker.to_string()]).build().await?;
        let find = || async {
            Ok::<_, rskafka::client::error::Error>(
                client
                    .list_topics()
                    .await?
                    .into_iter()
                    .find(|t| t.name == topic)
                    .map(|t| t.partitions.into_iter().collect::<Vec<i32>>()),
            )
        };
        let partitions = match find().await? {
            Some(p) => p,
            None => {
                client
                    .controller_client()?
                    .create_topic(topic, args.partitions, 1, 5_000)
                    .await?;
                (0..args.partitions).collect()
            }
        };
        let mut clients = Vec::new();
        for p in partitions {
            clients.push(
                client
                    .partition_client(topic, p, UnknownTopicHandling::Error)
                    .await?,
            );
        }
        let start = Instant::now();
        let (mut sent, mut next, mut turn) = (0u64, 0usize, 0usize);
        while sent < limit {
            let n = args.kafka_batch.min(limit - sent) as usize;
            let now = chrono::Utc::now();
            let records = (0..n)
                .map(|i| {
                    let line = (next + i) % pool.line_ends.len();
                    // Without the newline: a record is a line.
                    let text = &pool.text[pool.start_of(line)..pool.line_ends[line] - 1];
                    rskafka::record::Record {
                        key: None,
                        value: Some(text.to_vec()),
                        headers: Default::default(),
                        timestamp: now,
                    }
                })
                .collect();
            clients[turn % clients.len()]
                .produce(records, Compression::NoCompression)
                .await?;
            turn += 1;
            sent += n as u64;
            next = (next + n) % pool.line_ends.len();
        }
        println!("{}", summary(pool, args, sent, start));
        Ok(())
    })
}

/// Sends lines to one client until `--lines` are sent or it goes away, then prints the summary.
fn serve(mut stream: TcpStream, pool: &Pool, args: &Args) {
    let _ = stream.set_nodelay(true);
    let start = Instant::now();
    let limit = args.lines.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut next = 0usize; // next pool line
    // At a fixed rate, send in small steps (every millisecond or so) to keep the flow smooth.
    let step_lines = if args.rate == 0 {
        65_536
    } else {
        (args.rate / 1000).clamp(1, 65_536)
    };
    let mut send_log = match args.send_log.as_deref().map(std::fs::File::create) {
        None => None,
        Some(Ok(f)) => Some(std::io::BufWriter::new(f)),
        Some(Err(e)) => {
            eprintln!("spate-wordgen: cannot write the send log: {e}");
            return;
        }
    };
    while sent < limit {
        let want = step_lines.min(limit - sent) as usize;
        let pool_lines = pool.line_ends.len();
        let lines = want.min(pool_lines - next);
        let (from, to) = (pool.start_of(next), pool.line_ends[next + lines - 1]);
        if let Some(log) = &mut send_log {
            // Stamped before the write: a line counts as sent once it is handed to the kernel.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let _ = writeln!(log, "{sent} {}", now.as_micros());
        }
        if stream.write_all(&pool.text[from..to]).is_err() {
            break;
        }
        sent += lines as u64;
        next = (next + lines) % pool_lines;
        if args.rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / args.rate as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    if let Some(mut log) = send_log {
        let _ = log.flush();
    }
    println!("{}", summary(pool, args, sent, start));
    let _ = std::io::stdout().flush();
}
