//! The write-ahead log: a resending source, nothing acknowledged lost across a driver restart.

use super::*;

/// A reliable receiver: reads `<seq> <word>` lines from a TCP source, stores each chunk with
/// `store_durable`, and only then acknowledges the chunk's last sequence number.
struct AckingReceiver {
    port: u16,
}

impl Receiver<u64> for AckingReceiver {
    fn on_start(&mut self, handle: ReceiverHandle<u64>) {
        let port = self.port;
        thread::spawn(move || {
            use std::io::{BufRead, BufReader, Write};
            let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                handle.restart("source not reachable");
                return;
            };
            let mut ack = stream.try_clone().unwrap();
            let mut lines = BufReader::new(stream).lines();
            while !handle.is_stopped() {
                let mut chunk = Vec::new();
                for line in lines.by_ref().take(50) {
                    let Ok(line) = line else { break };
                    chunk.push(line.split(' ').next().unwrap().parse::<u64>().unwrap());
                }
                if chunk.is_empty() {
                    handle.restart("source closed");
                    return;
                }
                let last = *chunk.last().unwrap();
                if !handle.store_durable(chunk) || writeln!(ack, "{last}").is_err() {
                    return;
                }
            }
        });
    }
    fn on_stop(&mut self) {}
}

const WAL_CHILD: &str = "SPATE_TEST_WAL_CHILD";
const WAL_LINES: u64 = 4000;

/// The application under test when run as a child: sequence numbers from the acking source,
/// how often each was seen as state, and per batch `distinct max` written to `<out>/seen-<ms>`.
fn wal_child(spec: &str) {
    let mut parts = spec.split(' ');
    let (port, ck, out) = (
        parts.next().unwrap().parse::<u16>().unwrap(),
        PathBuf::from(parts.next().unwrap()),
        PathBuf::from(parts.next().unwrap()),
    );
    let ssc = StreamingContext::get_or_create(&ck, || {
        let conf = Conf::new()
            .set_master("local[2]")
            .set("spate.streaming.receiver.writeAheadLog.enable", "true")
            .set(
                "spate.streaming.receiver.writeAheadLog.rollingInterval",
                "1s",
            )
            .set("spate.streaming.receiverRestartDelay", "50ms");
        let ssc = StreamingContext::new(conf, Duration::from_millis(200))?;
        let out = out.clone();
        ssc.receiver_stream(AckingReceiver { port })
            .name("sequence")
            .map(|seq| (seq, 1u32))
            .update_state_by_key(|n: &[u32], seen: Option<u32>| {
                Some(seen.unwrap_or(0) + n.len() as u32)
            })
            .foreach_rdd(move |rdd, time| {
                let seqs = rdd.keys().collect()?;
                let max = seqs.iter().max().copied().unwrap_or(0);
                let line = format!("{} {max}", seqs.len());
                let path = out.join(format!("seen-{:015}", time.millis()));
                spate::core::codec::write_bytes_atomically(&path, line.as_bytes())?;
                Ok(())
            })?;
        Ok(ssc)
    })
    .unwrap();
    ssc.start().unwrap();
    ssc.await_termination().unwrap();
}

/// The acking source: sends `<seq> w<seq % 7>` lines from the first unacknowledged one on
/// every new connection, at about 1000 lines/s.
fn acking_source(listener: std::net::TcpListener, acked: Arc<Mutex<u64>>) {
    use std::io::{BufRead, BufReader, Write};
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let reader = BufReader::new(conn.try_clone().unwrap());
        let acks = Arc::clone(&acked);
        thread::spawn(move || {
            for line in reader.lines() {
                let Ok(n) = line.map(|l| l.trim().parse::<u64>().unwrap_or(0)) else {
                    break;
                };
                let mut a = acks.lock().unwrap();
                *a = (*a).max(n);
            }
        });
        // Resend everything not acknowledged.
        let mut seq = *acked.lock().unwrap() + 1;
        while seq <= WAL_LINES {
            if writeln!(conn, "{seq} w{}", seq % 7).is_err() {
                break;
            }
            seq += 1;
            if seq.is_multiple_of(10) {
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn the_write_ahead_log_loses_nothing_acknowledged_across_kill_9() {
    if let Ok(spec) = std::env::var(WAL_CHILD) {
        wal_child(&spec);
        return;
    }
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let root = tempfile::tempdir().unwrap();
    let (ck, out) = (root.path().join("ck"), root.path().join("out"));
    std::fs::create_dir_all(&out).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let acked = Arc::new(Mutex::new(0u64));
    {
        let acked = Arc::clone(&acked);
        thread::spawn(move || acking_source(listener, acked));
    }
    let spec = format!("{port} {} {}", ck.display(), out.display());
    let start = || {
        Reaped(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "wal::the_write_ahead_log_loses_nothing_acknowledged_across_kill_9",
                ])
                .env(WAL_CHILD, &spec)
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    for run in 0..3 {
        let mut app = start();
        if run == 0 {
            // Kill mid-stream, not before the first acknowledgement (on a slow machine too).
            assert!(wait_for(30, || *acked.lock().unwrap() > 0));
        }
        thread::sleep(Duration::from_millis(rng.random_range(400..1500)));
        app.0.kill().unwrap();
        app.0.wait().unwrap();
    }
    let acked_before_last_run = *acked.lock().unwrap();
    assert!(
        acked_before_last_run > 0,
        "the source was never acknowledged"
    );
    let latest = || -> Option<(PathBuf, String)> {
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        let newest = names.pop()?;
        let text = std::fs::read_to_string(&newest).ok()?;
        Some((newest, text))
    };
    let before = latest().map(|l| l.0);
    let app = start();
    let all = format!("{WAL_LINES} {WAL_LINES}");
    let context = format!("seed {seed}, acknowledged before the last run: {acked_before_last_run}");
    stop_once_newest_output_is(app, latest, before, &all, &context);
    // Old log segments are cleaned as batches complete.
    let segments = std::fs::read_dir(ck.join("wal/sequence")).unwrap().count();
    assert!(segments <= 8, "{segments} log segments left");
}

#[test]
fn the_write_ahead_log_without_a_checkpoint_directory_is_refused_at_start() {
    let conf = Conf::new()
        .set_master("local[1]")
        .set("spate.streaming.receiver.writeAheadLog.enable", "true")
        .set("spate.streaming.stopGracefullyOnShutdown", "false");
    let ssc = StreamingContext::new(conf, Duration::from_secs(1)).unwrap();
    ssc.socket_text_stream("127.0.0.1", 9).print(1).unwrap();
    let err = ssc.start().unwrap_err();
    assert!(matches!(err, Error::CheckpointDirRequired { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("write-ahead log") && msg.contains("ssc.checkpoint(dir)"),
        "{msg}"
    );
}
