//! A tiny stand-in for `nc -lk HOST PORT`: listens on a TCP address and sends every line read
//! from stdin to every connected client. `scripts/demo` uses it where netcat is not installed.
//!
//! ```text
//! yes "to be or not to be" | cargo run --example line_server -- 127.0.0.1 9999
//! ```
//!
//! Like netcat, it waits for the first client before it reads stdin, so lines typed early
//! are not lost; a client that goes away is dropped and the others go on.

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port] = args.as_slice() else {
        eprintln!("Usage: line_server <host> <port>   (sends stdin's lines to every client)");
        return ExitCode::from(1);
    };
    let listener = match TcpListener::bind(format!("{host}:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("line_server: cannot listen on {host}:{port}: {e}");
            return ExitCode::from(2);
        }
    };
    let clients: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    {
        let clients = Arc::clone(&clients);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                clients.lock().unwrap().push(stream);
                let _ = first_tx.send(());
            }
        });
    }
    // Nobody to send to yet: wait, as `nc -l` does, rather than read and discard stdin.
    if first_rx.recv().is_err() {
        return ExitCode::from(2);
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        // A write that fails means that client has gone: drop it, keep the rest.
        clients
            .lock()
            .unwrap()
            .retain_mut(|c| c.write_all(&bytes).is_ok());
    }
    ExitCode::SUCCESS
}
