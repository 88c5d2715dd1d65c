//! The hand-written ceiling for the benchmark: one thread reads the socket with 1 MiB reads,
//! splits lines on spaces and counts words into a hash map with spate's hasher — no framework.
//!
//! ```text
//! wordcount_ceiling <host> <port>
//! ```
//!
//! Reads until the server closes the connection, then prints
//! `CEILING lines=<n> words=<n> seconds=<s> lines_per_sec=<r>`.

use std::io::Read;
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Instant;

use spate::core::hash::FxHashMap;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port] = args.as_slice() else {
        eprintln!("Usage: wordcount_ceiling <host> <port>");
        return ExitCode::from(1);
    };
    let mut stream = match TcpStream::connect(format!("{host}:{port}")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wordcount_ceiling: cannot connect to {host}:{port}: {e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let mut counts: FxHashMap<Vec<u8>, u64> = FxHashMap::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    let (mut lines, mut words) = (0u64, 0u64);
    let mut count_line = |line: &[u8], counts: &mut FxHashMap<Vec<u8>, u64>| {
        lines += 1;
        for w in line.split(|&b| b == b' ') {
            words += 1;
            match counts.get_mut(w) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(w.to_vec(), 1);
                }
            }
        }
    };
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                eprintln!("wordcount_ceiling: read failed: {e}");
                return ExitCode::from(2);
            }
        };
        let data = &buf[..n];
        let Some(last_nl) = data.iter().rposition(|&b| b == b'\n') else {
            carry.extend_from_slice(data);
            continue;
        };
        let mut pieces = data[..last_nl].split(|&b| b == b'\n');
        if let Some(first) = pieces.next() {
            if carry.is_empty() {
                count_line(first, &mut counts);
            } else {
                carry.extend_from_slice(first);
                let joined = std::mem::take(&mut carry);
                count_line(&joined, &mut counts);
            }
        }
        for line in pieces {
            count_line(line, &mut counts);
        }
        carry.extend_from_slice(&data[last_nl + 1..]);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "CEILING lines={lines} words={words} seconds={secs:.3} lines_per_sec={:.0}",
        lines as f64 / secs
    );
    ExitCode::SUCCESS
}
