//! Receivers on executors, on local-cluster[2,1]: a reliable source (`examples/acked_numbers`
//! against a server here that resends from the last acknowledgement) whose receiver's executor
//! is killed with SIGKILL mid-stream — every acknowledged record counted exactly once, the
//! receiver running again on the other executor; and killed after its blocks were stored but
//! before their batch ran — the batch reads the replica, or, with one copy, fails saying why,
//! or with the write-ahead log on (written by that executor) reads the block back from it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::replacement::executors_of;
use super::support::{Reaped, example_path, sigterm, wait_exit, wait_for};
use super::{kill, read_lines};

/// What the source has sent and had acknowledged.
#[derive(Default)]
struct Source {
    /// Records up to here may be sent.
    allowed: u64,
    /// Acknowledged up to here: never sent again.
    acked: u64,
    /// Sent, not yet acknowledged.
    in_flight: Option<(u64, u64)>,
    connections: u32,
}

/// A source that sends `c first last` chunks one at a time, waits for `ack last`, and after a
/// reconnection resends from the last acknowledgement.
struct AckServer {
    port: u16,
    state: Arc<Mutex<Source>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AckServer {
    fn start(chunk: u64, pause: Duration) -> AckServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<Mutex<Source>> = Default::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, halt) = (Arc::clone(&state), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                st.lock().unwrap().connections += 1;
                serve(conn, &st, &halt, chunk, pause);
            }
        });
        AckServer {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn allow(&self, up_to: u64) {
        self.state.lock().unwrap().allowed = up_to;
    }

    fn acked(&self) -> u64 {
        self.state.lock().unwrap().acked
    }
}

impl Drop for AckServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection: chunks until it breaks (the receiver's executor died) or the server stops.
fn serve(conn: TcpStream, st: &Mutex<Source>, halt: &AtomicBool, chunk: u64, pause: Duration) {
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut out = conn.try_clone().unwrap();
    let mut acks = BufReader::new(conn);
    let mut line = String::new();
    while !halt.load(Ordering::SeqCst) {
        let next = {
            let mut s = st.lock().unwrap();
            let first = s.acked + 1;
            if first > s.allowed {
                None
            } else {
                let last = (first + chunk - 1).min(s.allowed);
                s.in_flight = Some((first, last));
                Some((first, last))
            }
        };
        let Some((first, last)) = next else {
            std::thread::sleep(Duration::from_millis(10));
            // A closed connection shows as a readable end of file.
            let mut probe = [0u8; 1];
            acks.get_ref().set_nonblocking(true).unwrap();
            let gone = matches!(acks.get_ref().peek(&mut probe), Ok(0));
            acks.get_ref().set_nonblocking(false).unwrap();
            if gone {
                return;
            }
            continue;
        };
        if writeln!(out, "c {first} {last}").is_err() {
            return;
        }
        loop {
            line.clear();
            match acks.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => break,
                Err(_) if halt.load(Ordering::SeqCst) => return,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
        if line.trim() == format!("ack {last}") {
            let mut s = st.lock().unwrap();
            s.acked = last;
            s.in_flight = None;
        }
        std::thread::sleep(pause);
    }
}

/// `GET path` on the status server at `port` (plain HTTP/1.1): the body, or "" if it fails.
fn http_get(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The executor id the REST API says stream 0's receiver runs on, while it is active.
pub(super) fn receiver_executor(ui_port: u16) -> Option<String> {
    let apps = http_get(ui_port, "/api/v1/applications");
    let app = apps
        .split("\"id\":\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_string();
    let body = http_get(
        ui_port,
        &format!("/api/v1/applications/{app}/streaming/receivers"),
    );
    if !body.contains("\"isActive\":true") {
        return None;
    }
    let id = body.split("\"executorId\":\"").nth(1)?.split('"').next()?;
    Some(id.to_string())
}

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `acked_numbers` under `spate-submit --master local-cluster[2,1]`.
struct Job {
    job: Reaped,
    printed: super::Lines,
    reader: Option<std::thread::JoinHandle<()>>,
    ui: u16,
    url: String,
    /// The driver's stderr so far, and its reader.
    log: Arc<Mutex<String>>,
    log_reader: Option<std::thread::JoinHandle<()>>,
    _local: tempfile::TempDir,
}

impl Job {
    fn start(port: u16, batch_ms: u64, conf: &[&str], checkpoint: Option<&str>) -> Job {
        let local = tempfile::tempdir().unwrap();
        let ui = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spate-submit"));
        cmd.args(["--master", "local-cluster[2,1]"])
            .args(["--conf", &format!("spate.ui.port={ui}")])
            .args(["--conf", "spate.streaming.blockInterval=100ms"])
            .args([
                "--conf",
                &format!("spate.local.dir={}", local.path().display()),
            ]);
        for c in conf {
            cmd.args(["--conf", c]);
        }
        let mut job = Reaped(
            cmd.arg(example_path("acked_numbers"))
                .args(["127.0.0.1", &port.to_string(), &batch_ms.to_string()])
                .args(checkpoint)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let (printed, reader) = read_lines(job.0.stdout.take().unwrap());
        // The driver's first stderr line names its RPC address (how its executors are found).
        let mut err = BufReader::new(job.0.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).unwrap();
        let url = first
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .unwrap_or_else(|| panic!("no driver address in {first:?}"))
            .to_string();
        let log = Arc::new(Mutex::new(first));
        let sink = Arc::clone(&log);
        let log_reader = std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Job {
            job,
            printed,
            reader: Some(reader),
            ui,
            url,
            log,
            log_reader: Some(log_reader),
            _local: local,
        }
    }

    /// The receiver's executor once the REST API shows it running, and that executor's pid.
    fn receiver(&self) -> (String, u32) {
        let mut found = None;
        assert!(
            wait_for(60, || {
                found = receiver_executor(self.ui).and_then(|id| {
                    let pid = executors_of(&self.url)
                        .into_iter()
                        .find(|(_, e)| *e == id)?
                        .0;
                    Some((id, pid))
                });
                found.is_some()
            }),
            "no active receiver on an executor\n{}",
            self.log()
        );
        found.unwrap()
    }

    fn batches(&self) -> usize {
        self.printed
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("batch "))
            .count()
    }

    /// How often each record was printed.
    fn counts(&self) -> HashMap<u64, u32> {
        let mut m = HashMap::new();
        for l in self.printed.lock().unwrap().iter() {
            if let Some(v) = l.strip_prefix("n ") {
                *m.entry(v.parse().unwrap()).or_default() += 1;
            }
        }
        m
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits up to `secs` for the job to end: its exit status, and its log once read to the end.
    fn wait(&mut self, secs: u64) -> (std::process::ExitStatus, String) {
        let status = wait_exit(&mut self.job.0, secs);
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        if let Some(r) = self.log_reader.take() {
            r.join().unwrap();
        }
        (status, self.log())
    }

    /// SIGTERM (a graceful stop): the exit status and the log.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        sigterm(&self.job.0);
        self.wait(60)
    }
}

#[test]
fn the_receivers_executor_killed_mid_stream_loses_no_acknowledged_record() {
    let server = AckServer::start(20, Duration::from_millis(5));
    let job = Job::start(server.port, 1000, &[], None);
    let (first_host, pid) = job.receiver();
    assert_ne!(first_host, "driver");
    let total = 8000;
    server.allow(total);
    assert!(
        wait_for(60, || server.acked() >= 2500),
        "acked {}\n{}",
        server.acked(),
        job.log()
    );
    // Killed while the source is held: what was acknowledged, and what was in flight, then.
    let (acked_at_kill, in_flight) = {
        let s = server.state.lock().unwrap();
        kill(pid, nix::sys::signal::Signal::SIGKILL);
        (s.acked, s.in_flight)
    };
    let mut moved = None;
    assert!(
        wait_for(60, || {
            moved = receiver_executor(job.ui).filter(|e| *e != first_host);
            moved.is_some()
        }),
        "the receiver did not start on another executor\n{}",
        job.log()
    );
    assert!(
        wait_for(90, || server.acked() == total),
        "acked {} of {total}\n{}",
        server.acked(),
        job.log()
    );
    let missing = || {
        let counts = job.counts();
        (1..=total)
            .filter(|v| !counts.contains_key(v))
            .collect::<Vec<u64>>()
    };
    assert!(
        wait_for(60, || missing().is_empty()),
        "records never counted: {:?} (acknowledged through {acked_at_kill} at the kill, \
         {in_flight:?} in flight)\n{}",
        missing(),
        job.log()
    );
    let counts = job.counts();
    let (status, log) = job.stop();
    let maybe_twice = |v: u64| in_flight.is_some_and(|(a, b)| (a..=b).contains(&v));
    for v in 1..=total {
        let n = counts[&v];
        assert!(
            n == 1 || (n == 2 && maybe_twice(v)),
            "record {v} counted {n} times (acknowledged through {acked_at_kill} at the kill, \
             {in_flight:?} in flight)\n{log}"
        );
    }
    assert!(status.success(), "{log}");
    assert!(
        log.contains(&format!("executor {first_host} lost")),
        "{log}"
    );
    assert!(server.state.lock().unwrap().connections >= 2, "{log}");
}

/// The receiver's executor is killed once its blocks are stored, copied and reported, before
/// the batch that takes them runs (with `conf`, and a checkpoint directory if given).
fn kill_before_the_batch(conf: &[&str], checkpoint: Option<&str>) -> (Job, AckServer, String) {
    let server = AckServer::start(100, Duration::ZERO);
    let job = Job::start(server.port, 5000, conf, checkpoint);
    let (host, pid) = job.receiver();
    // Just after a batch: the next is ~5 s away.
    let seen = job.batches();
    assert!(wait_for(30, || job.batches() > seen), "{}", job.log());
    let before = job.batches();
    server.allow(2000);
    assert!(wait_for(30, || server.acked() == 2000), "{}", job.log());
    kill(pid, nix::sys::signal::Signal::SIGKILL);
    assert_eq!(
        job.batches(),
        before,
        "a batch ran before the kill: the test needs the blocks unprocessed\n{}",
        job.log()
    );
    (job, server, host)
}

/// After [`kill_before_the_batch`]: every one of the 2,000 records counted exactly once, the
/// lost executor named, a clean stop; the job's log.
fn all_counted_once(job: Job, host: &str) -> String {
    assert!(
        wait_for(60, || (1..=2000).all(|v| job.counts().contains_key(&v))),
        "{}",
        job.log()
    );
    let counts = job.counts();
    let (status, log) = job.stop();
    assert!((1..=2000).all(|v| counts[&v] == 1), "{counts:?}\n{log}");
    assert!(status.success(), "{log}");
    assert!(log.contains(&format!("executor {host} lost")), "{log}");
    log
}

#[test]
fn a_batch_reads_the_replica_when_the_receiving_executor_dies_before_it_runs() {
    let (job, _server, host) = kill_before_the_batch(&[], None);
    all_counted_once(job, &host);
}

#[test]
fn with_one_copy_a_lost_block_fails_its_batch_saying_why() {
    let (mut job, _server, host) =
        kill_before_the_batch(&["spate.streaming.receiver.replication=1"], None);
    let (status, log) = job.wait(90);
    assert!(!status.success(), "{log}");
    assert!(log.contains("is lost"), "{log}");
    assert!(
        log.contains(&format!(
            "its last copy was on executor {host}, which was lost"
        )),
        "{log}"
    );
    assert!(
        log.contains("spate.streaming.receiver.replication"),
        "{log}"
    );
}

#[test]
fn with_the_write_ahead_log_a_block_without_a_copy_is_read_back_from_the_log() {
    let checkpoint = tempfile::tempdir().unwrap();
    let (job, _server, host) = kill_before_the_batch(
        &[
            "spate.streaming.receiver.replication=1",
            "spate.streaming.receiver.writeAheadLog.enable=true",
        ],
        Some(checkpoint.path().to_str().unwrap()),
    );
    let log = all_counted_once(job, &host);
    assert!(log.contains("read back from the write-ahead log"), "{log}");
    // The executor wrote the log, into the checkpoint directory.
    let logged = std::fs::read_dir(checkpoint.path().join("wal"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .count();
    assert!(logged > 0, "no log segment\n{log}");
}
