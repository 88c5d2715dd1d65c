//! A reliable receiver: the model for a source that resends what it was not told it may
//! forget. It reads numbered records from a TCP server, stores each chunk with
//! `store_durable` — which returns once the chunk is safe (in a cluster: stored on the
//! receiving executor, copied to a second one and reported to the driver; with the
//! write-ahead log on: in the log) — and only then acknowledges it. A server that resends from
//! the last acknowledgement after a reconnect loses nothing when the receiver's executor dies.
//!
//! Protocol, one line each way: the server sends `c <first> <last>` (records `first..=last`),
//! the receiver answers `ack <last>`. Each batch prints `batch <time> <records>`, then each
//! record as `n <value>`.
//!
//! ```text
//! spate-submit --master 'local-cluster[2,1]' --example acked_numbers 127.0.0.1 9999 [batch ms [checkpoint dir]]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use spate::prelude::*;
use spate::streaming::{Receiver, ReceiverHandle};

struct AckedReceiver {
    address: String,
    stopped: Arc<AtomicBool>,
}

impl Receiver<u64> for AckedReceiver {
    fn on_start(&mut self, handle: ReceiverHandle<u64>) {
        self.stopped = Arc::new(AtomicBool::new(false));
        let (address, stopped) = (self.address.clone(), Arc::clone(&self.stopped));
        std::thread::spawn(move || {
            if let Err(e) = receive(&address, &handle, &stopped) {
                handle.restart(format!("{address}: {e}"));
            }
        });
    }

    fn on_stop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn name(&self) -> String {
        format!("acked numbers from {}", self.address)
    }
}

/// Reads chunks until the server closes or the receiver stops; acknowledges each chunk once
/// it is stored.
fn receive(
    address: &str,
    handle: &ReceiverHandle<u64>,
    stopped: &AtomicBool,
) -> std::io::Result<()> {
    let stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut ack = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    let mut line = String::new();
    while !stopped.load(Ordering::SeqCst) && !handle.is_stopped() {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) => return Err(std::io::Error::other("the server closed the connection")),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
        let mut fields = line.split_whitespace();
        let (Some("c"), Some(first), Some(last)) = (fields.next(), fields.next(), fields.next())
        else {
            handle.report_error(format!("not a chunk: {line:?}"));
            continue;
        };
        let (Ok(first), Ok(last)) = (first.parse::<u64>(), last.parse::<u64>()) else {
            handle.report_error(format!("not a chunk: {line:?}"));
            continue;
        };
        if !handle.store_durable((first..=last).collect()) {
            // Not safe: no acknowledgement, so the server sends the chunk again.
            return Err(std::io::Error::other(format!(
                "chunk {first}..={last} was not stored"
            )));
        }
        writeln!(ack, "ack {last}")?;
    }
    Ok(())
}

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (address, ms, checkpoint) = match args.as_slice() {
        [host, port] => (format!("{host}:{port}"), None, None),
        [host, port, ms] => (format!("{host}:{port}"), Some(ms), None),
        [host, port, ms, dir] => (format!("{host}:{port}"), Some(ms), Some(dir.clone())),
        _ => return usage("expected <host> <port> [batch ms [checkpoint dir]]"),
    };
    let batch_ms = match ms.map(|ms| ms.parse::<u64>()) {
        None => 1000,
        Some(Ok(ms)) if ms > 0 => ms,
        Some(_) => return usage(&format!("batch ms must be a number > 0, got {ms:?}")),
    };
    match run(address, batch_ms, checkpoint) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("acked_numbers: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "acked_numbers: {problem}\nUsage: acked_numbers <host> <port> [batch ms [checkpoint dir]]"
    );
    ExitCode::from(1)
}

fn run(address: String, batch_ms: u64, checkpoint: Option<String>) -> Result<()> {
    let conf = Conf::from_env().set_app_name("AckedNumbers");
    let ssc = StreamingContext::new(conf, Duration::from_millis(batch_ms))?;
    if let Some(dir) = checkpoint {
        // Where the write-ahead log goes, when it is on.
        ssc.checkpoint(dir)?;
    }
    let driver = ssc.context().is_driver();
    let numbers = ssc.receiver_stream(AckedReceiver {
        address,
        stopped: Arc::new(AtomicBool::new(false)),
    });
    numbers.foreach_rdd(move |rdd, time| {
        let values = rdd.collect()?;
        if driver {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "batch {} {}", time.millis(), values.len());
            for v in values {
                let _ = writeln!(out, "n {v}");
            }
            let _ = out.flush();
        }
        Ok(())
    })?;
    ssc.start()?;
    ssc.await_termination()
}
