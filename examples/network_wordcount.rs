//! Counts words received each second from a TCP server — Spark's NetworkWordCount.
//!
//! ```text
//! nc -lk 9999                                   # in one terminal: type lines
//! cargo run --release --example network_wordcount -- localhost 9999
//! spate-submit --master 'local[2]' --example network_wordcount localhost 9999
//! ```
//!
//! SIGINT or SIGTERM stops it gracefully: lines already received are counted, then it exits 0.

use std::process::ExitCode;

use spate::prelude::*;

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port) = match args.as_slice() {
        [host, port] => match port.parse::<u16>() {
            Ok(port) => (host.clone(), port),
            Err(_) => {
                return usage(&format!(
                    "port must be a number from 0 to 65535, got {port:?}"
                ));
            }
        },
        _ => return usage("expected <hostname> and <port>"),
    };
    match run(&host, port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("network_wordcount: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("network_wordcount: {problem}\nUsage: network_wordcount <hostname> <port>");
    ExitCode::from(1)
}

fn run(host: &str, port: u16) -> Result<()> {
    let conf = Conf::from_env().set_app_name("NetworkWordCount"); // master defaults to local[*]
    let ssc = StreamingContext::new(conf, Duration::from_secs(1))?;
    let lines = ssc.socket_text_stream(host, port);
    let words = lines.flat_map(|line| line.split(' ')); // words share the line's buffer
    let counts = words.map(|w| (w, 1u64)).reduce_by_key(|a, b| a + b);
    counts.print(10)?;
    ssc.start()?;
    ssc.await_termination()
}
