//! Cluster mode on `local-cluster[N,C]`: the same programs as under `local[2]`, their executors
//! real processes of the same binary; kills, a silent executor, a late executor, and peers
//! that must be refused; `slurm`: the same on a real Slurm cluster across network namespaces.

mod overload;
mod receivers;
mod replacement;
mod slurm;

#[path = "../support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{Reaped, children, example_path, wait_exit, wait_for};

const SECRET: &str = "test-secret-0123456789abcdef";

/// Runs `program args` under `master` (directly, as spate-submit would) and waits for it.
fn run(master: &str, program: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    run_within(master, program, args, extra, 120)
}

/// [`run`], waiting up to `secs` for the program.
fn run_within(
    master: &str,
    program: &Path,
    args: &[&str],
    extra: &[(&str, &str)],
    secs: u64,
) -> Output {
    // Executor logs and spills go to a directory removed after the run.
    let local = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("SPATE_CONF_spate.local.dir", local.path())
        .env("SPATE_MASTER", master)
        .env("SPATE_AUTH_SECRET", SECRET)
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Reaped(cmd.spawn().unwrap());
    // Small outputs: they fit the pipes, so waiting first cannot block the child.
    let status = wait_exit(&mut child.0, secs);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    use std::io::Read;
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Marker files `<kind>-<partition>-e<executor>-p<pid>-<nanos>` left by cluster_probe tasks.
fn markers(dir: &Path) -> Vec<(String, usize, String, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let parts: Vec<&str> = name.split('-').collect();
        if let [kind, p, exec, pid, _] = parts.as_slice() {
            out.push((
                kind.to_string(),
                p.parse().unwrap(),
                exec.trim_start_matches('e').to_string(),
                pid.trim_start_matches('p').parse().unwrap(),
            ));
        }
    }
    out
}

fn counts_by_kind_partition(dir: &Path) -> HashMap<(String, usize), usize> {
    let mut m = HashMap::new();
    for (k, p, _, _) in markers(dir) {
        *m.entry((k, p)).or_default() += 1;
    }
    m
}

#[test]
fn rdd_wordcount_through_spate_submit_matches_local() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let mut f = std::fs::File::create(&input).unwrap();
    for i in 0..5000 {
        writeln!(f, "w{} x{} the w{}", i % 37, i % 11, i % 5).unwrap();
    }
    drop(f);
    let mut outputs = Vec::new();
    for (master, out) in [("local[2]", "local"), ("local-cluster[2,1]", "cluster")] {
        let saved = dir.path().join(out);
        let local = dir.path().join(format!("{out}-local"));
        let o = Command::new(env!("CARGO_BIN_EXE_spate-submit"))
            .args(["--master", master])
            .arg(format!("--conf=spate.local.dir={}", local.display()))
            .arg(example_path("rdd_wordcount"))
            .arg(&input)
            .arg(&saved)
            .output()
            .unwrap();
        assert!(o.status.success(), "{master}: {}", text(&o.stderr));
        let mut lines: Vec<String> = std::fs::read_dir(&saved)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
            .flat_map(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        let printed = text(&o.stdout).replace(saved.to_str().unwrap(), "OUT");
        outputs.push((printed, lines, text(&o.stderr)));
    }
    let (local, cluster) = (&outputs[0], &outputs[1]);
    assert_eq!(local.0, cluster.0, "printed output differs");
    assert_eq!(local.1, cluster.1, "saved output differs");
    assert_eq!(local.1.len(), 37 + 11 + 1);
    assert!(
        cluster
            .2
            .contains("2 executor(s) x 1 core(s) on local-cluster"),
        "{}",
        cluster.2
    );
}

#[test]
fn the_recovery_and_fault_injection_suite_gives_the_same_results_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let probe = example_path("cluster_probe");
    let mut results = Vec::new();
    for (master, name) in [("local[2]", "local"), ("local-cluster[2,1]", "cluster")] {
        let marks = dir.path().join(format!("marks-{name}"));
        std::fs::create_dir(&marks).unwrap();
        let ck = dir.path().join(format!("ck-{name}"));
        let o = run(
            master,
            &probe,
            &["faults", marks.to_str().unwrap(), ck.to_str().unwrap()],
            &[],
        );
        assert!(o.status.success(), "{master}: {}", text(&o.stderr));
        results.push((text(&o.stdout), counts_by_kind_partition(&marks), marks));
    }
    assert_eq!(results[0].0, results[1].0);
    assert!(results[0].0.contains("retried: true"), "{}", results[0].0);
    assert!(
        results[0].0.contains("loop: 7 rounds, [0]"),
        "{}",
        results[0].0
    );
    // Only the lost outputs and the dropped block were recomputed, in both.
    assert_eq!(results[0].1, results[1].1);
    // And the cluster's tasks ran in both executors.
    let executors: std::collections::HashSet<String> =
        markers(&results[1].2).into_iter().map(|m| m.2).collect();
    assert_eq!(executors, ["0", "1"].map(String::from).into());
}

/// The expected result of `cluster_probe shuffle _ <maps> _ _`, from a local run.
fn local_shuffle(maps: &str) -> String {
    local_probe("shuffle", maps, "4")
}

/// `cluster_probe <mode>` under `local[2]`: what a cluster run must print.
fn local_probe(mode: &str, maps: &str, reduces: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        "local[2]",
        &example_path("cluster_probe"),
        &[mode, dir.path().to_str().unwrap(), maps, reduces, "0"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

struct Driver {
    child: Reaped,
    marks: tempfile::TempDir,
    /// Its spate.local.dir (executor logs, spills), removed with it.
    _local: tempfile::TempDir,
}

/// `cluster_probe shuffle` on a cluster master, running in the background.
fn start_driver(master: &str, maps: &str, task_ms: &str, extra: &[(&str, &str)]) -> Driver {
    start_probe("shuffle", master, [maps, "4", task_ms], extra)
}

/// `cluster_probe <mode> <markers> <maps> <reduces> <task-ms>` on a cluster master, running in
/// the background.
fn start_probe(mode: &str, master: &str, args: [&str; 3], extra: &[(&str, &str)]) -> Driver {
    let marks = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let child = Command::new(example_path("cluster_probe"))
        .args([mode, marks.path().to_str().unwrap()])
        .args(args)
        .env("SPATE_CONF_spate.local.dir", local.path())
        .env("SPATE_MASTER", master)
        .env("SPATE_AUTH_SECRET", SECRET)
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Driver {
        child: Reaped(child),
        marks,
        _local: local,
    }
}

impl Driver {
    /// Waits for the driver; its stdout, and the rest of its stderr from `err` (taken by
    /// [`driver_url`]).
    fn finish_reading(&mut self, err: &mut impl std::io::Read) -> (bool, String, String) {
        let status = wait_exit(&mut self.child.0, 120);
        let (mut out, mut log) = (String::new(), String::new());
        use std::io::Read;
        err.read_to_string(&mut log).unwrap();
        self.child
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (status.success(), out, log)
    }

    fn finish(&mut self) -> (bool, String, String) {
        let mut err = self.child.0.stderr.take().unwrap();
        self.finish_reading(&mut err)
    }
}

fn kill(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
}

#[test]
fn an_executor_killed_mid_shuffle_is_recomputed_from_lineage() {
    let expected = local_shuffle("8");
    // Not replaced: the reruns must be on executor 0.
    let mut d = start_driver(
        "local-cluster[2,1]",
        "8",
        "250",
        &[("SPATE_CONF_spate.executor.replace", "false")],
    );
    // Once reducers run, executor 1 holds map outputs they need: kill it.
    assert!(wait_for(60, || markers(d.marks.path())
        .iter()
        .any(|m| m.0 == "reduce")));
    let victim = markers(d.marks.path())
        .into_iter()
        .find(|m| m.0 == "map" && m.2 == "1")
        .expect("executor 1 ran map tasks")
        .3;
    kill(victim, nix::sys::signal::Signal::SIGKILL);
    let (ok, out, err) = d.finish();
    let marks = d.marks.path().to_path_buf();
    assert!(ok, "{err}");
    assert_eq!(out, expected);
    assert!(err.contains("executor 1 lost"), "{err}");
    // Its map outputs were computed again, by executor 0.
    let reruns = markers(&marks)
        .into_iter()
        .filter(|m| m.0 == "map" && m.2 == "0")
        .count();
    assert!(reruns > 4, "{reruns} map tasks on executor 0\n{err}");
}

/// An executor killed while a job reads an RDD cached on it: its cached partitions and the map
/// outputs of the shuffle behind them are gone, and the tasks that read them recompute them
/// through that shuffle's stage — which the job has although the RDD was fully cached when it
/// started. (Without that stage, the tasks' fetches failed over and over, quietly: a stall.)
#[test]
fn a_lost_cached_partition_is_recomputed_through_the_stage_behind_the_cache() {
    let expected = local_probe("cached", "4", "8");
    let mut d = start_probe(
        "cached",
        "local-cluster[2,1]",
        ["4", "8", "300"],
        &[("SPATE_CONF_spate.executor.replace", "false")],
    );
    // Executor 1 has started reading its cached partitions (each takes 300 ms): kill it.
    assert!(wait_for(60, || markers(d.marks.path())
        .iter()
        .any(|m| m.0 == "after" && m.2 == "1")));
    let victim = markers(d.marks.path())
        .into_iter()
        .find(|m| m.0 == "after" && m.2 == "1")
        .unwrap()
        .3;
    kill(victim, nix::sys::signal::Signal::SIGKILL);
    let (ok, out, err) = d.finish();
    assert!(ok, "{err}");
    assert_eq!(out, expected);
    assert!(err.contains("executor 1 lost"), "{err}");
    // Executor 1's cached partitions were read again, on executor 0.
    let moved = markers(d.marks.path())
        .into_iter()
        .filter(|m| m.0 == "after" && m.2 == "0")
        .count();
    assert!(moved > 4, "{moved} partitions read on executor 0\n{err}");
}

#[test]
fn executors_spill_map_outputs_past_their_memory_and_serve_them_from_disk() {
    let expected = local_shuffle("8");
    let local_dir = tempfile::tempdir().unwrap();
    let mut d = start_driver(
        "local-cluster[2,1]",
        "8",
        "0",
        &[
            ("SPATE_CONF_spate.storage.memory", "2k"),
            (
                "SPATE_CONF_spate.local.dir",
                local_dir.path().to_str().unwrap(),
            ),
        ],
    );
    let (ok, out, err) = d.finish();
    assert!(ok, "{err}");
    assert_eq!(out, expected);
    // The executors said so in their logs (under the local dir, beside the spill files).
    let logs = err
        .split("executor logs in ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let executor_logs: Vec<String> = (0..2)
        .map(|i| {
            std::fs::read_to_string(Path::new(&logs).join(format!("executor-{i}.err")))
                .unwrap_or_default()
        })
        .collect();
    let spilled = executor_logs.iter().any(|log| log.contains("spill to"));
    assert!(spilled, "no executor spilled; driver:\n{err}");
    // Log files carry no terminal colour codes.
    assert!(
        executor_logs.iter().all(|log| !log.contains('\x1b')),
        "{executor_logs:?}"
    );
}

#[test]
fn a_silent_executor_is_declared_lost_and_told_to_exit_when_it_wakes() {
    let expected = local_shuffle("16");
    let mut d = start_driver(
        "local-cluster[2,1]",
        "16",
        "250",
        &[("SPATE_CONF_spate.executor.heartbeatTimeout", "2s")],
    );
    assert!(wait_for(60, || markers(d.marks.path())
        .iter()
        .any(|m| m.2 == "1")));
    let victim = markers(d.marks.path())
        .into_iter()
        .find(|m| m.2 == "1")
        .unwrap()
        .3;
    // Stopped, not dead: only the missing heartbeats tell.
    kill(victim, nix::sys::signal::Signal::SIGSTOP);
    std::thread::sleep(Duration::from_millis(4500));
    kill(victim, nix::sys::signal::Signal::SIGCONT);
    // Woken, it learns it was dropped and exits (the driver reaps it).
    let gone = wait_for(20, || !Path::new(&format!("/proc/{victim}")).exists());
    let (ok, out, err) = d.finish();
    assert!(ok, "{err}");
    assert_eq!(out, expected);
    assert!(err.contains("executor 1 lost: no heartbeat"), "{err}");
    assert!(gone, "executor {victim} still runs");
}

/// The URL the driver logged.
fn driver_url(d: &mut Driver) -> (String, std::io::BufReader<std::process::ChildStderr>) {
    use std::io::BufRead;
    let mut err = std::io::BufReader::new(d.child.0.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "driver exited early");
        if let Some(rest) = line.split("listening on ").nth(1) {
            let url = rest.split(';').next().unwrap().to_string();
            return (url, err);
        }
    }
}

/// Starts an executor by hand, as a backend would, with some parts changed.
fn rogue(program: &Path, args: &[&str], id: &str, url: &str, secret: &str) -> Reaped {
    Reaped(
        Command::new(program)
            .args(args)
            .env("SPATE_MASTER", "local-cluster[2,1]")
            .env("SPATE_EXECUTOR_ID", id)
            .env("SPATE_DRIVER_URL", url)
            .env("SPATE_AUTH_SECRET", secret)
            .env("SPATE_EXECUTOR_CORES", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn stderr_of(mut r: Reaped) -> (std::process::ExitStatus, String) {
    wait_stderr(&mut r, 60)
}

/// Waits up to `secs` for a child, then reads its (piped) stderr.
fn wait_stderr(r: &mut Reaped, secs: u64) -> (std::process::ExitStatus, String) {
    let status = wait_exit(&mut r.0, secs);
    let mut s = String::new();
    use std::io::Read;
    r.0.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    (status, s)
}

#[test]
fn a_third_executor_joining_mid_run_gets_tasks() {
    let expected = local_shuffle("16");
    let mut d = start_driver("local-cluster[2,1]", "16", "200", &[]);
    let (url, mut err) = driver_url(&mut d);
    let marks = d.marks.path().to_str().unwrap().to_string();
    assert!(wait_for(60, || !markers(d.marks.path()).is_empty()));
    let probe = example_path("cluster_probe");
    let _third = rogue(
        &probe,
        &["shuffle", &marks, "16", "4", "200"],
        "2",
        &url,
        SECRET,
    );
    let (ok, out, _) = d.finish_reading(&mut err);
    assert!(ok);
    assert_eq!(out, expected);
    let by_third = markers(d.marks.path())
        .into_iter()
        .filter(|m| m.2 == "2")
        .count();
    assert!(by_third > 0, "the late executor ran no task");
}

#[test]
fn a_wrong_secret_another_binary_or_another_graph_is_refused_and_runs_nothing() {
    let expected = local_shuffle("12");
    let mut d = start_driver("local-cluster[1,1]", "12", "150", &[]);
    let (url, mut err) = driver_url(&mut d);
    let marks = d.marks.path().to_str().unwrap().to_string();
    let probe = example_path("cluster_probe");
    let args = ["shuffle", marks.as_str(), "12", "4", "150"];

    // Another binary: a copy of the probe with bytes appended (it still runs).
    let dir = tempfile::tempdir().unwrap();
    let other: PathBuf = dir.path().join("cluster_probe_v2");
    std::fs::copy(&probe, &other).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&other)
        .unwrap()
        .write_all(b"another build")
        .unwrap();

    let wrong_secret = rogue(&probe, &args, "5", &url, "not-the-secret-0123456789");
    let another_binary = rogue(&other, &args, "6", &url, SECRET);
    let another_graph = rogue(
        &probe,
        &["shuffle", &marks, "13", "4", "150"],
        "7",
        &url,
        SECRET,
    );

    // Garbage on the driver's port, and an HTTP/2 connection whose first frame claims 16 MiB:
    // both are dropped by the server, and the job goes on (its output is checked below).
    let driver = url.split_once("://").unwrap().1.to_string();
    let mut garbage = std::net::TcpStream::connect(&driver).unwrap();
    let _ = garbage.write_all(&[0xde; 8192]);
    let mut huge = std::net::TcpStream::connect(&driver).unwrap();
    let _ = huge.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let _ = huge.write_all(&[0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
    let _ = huge.write_all(&[0xab; 65536]);

    // Another secret means other TLS keys: the handshake fails before any call is made.
    let (status, e) = stderr_of(wrong_secret);
    assert!(!status.success());
    assert!(
        e.contains("certificate that is not this application's"),
        "{e}"
    );
    let (status, e) = stderr_of(another_binary);
    assert!(!status.success());
    assert!(e.contains("another binary than the driver"), "{e}");
    let (status, e) = stderr_of(another_graph);
    assert!(!status.success());
    assert!(e.contains("built another graph for job 0"), "{e}");
    assert!(e.contains("fingerprint"), "{e}");

    let (ok, out, log) = d.finish_reading(&mut err);
    assert!(ok, "{log}");
    assert_eq!(out, expected);
    // The refused connections (the stranger's handshake, the garbage, the plaintext HTTP/2)
    // are logged, at most one line per peer host and reason per 10 s (each line goes to the
    // log and to stderr: twice here).
    assert!(log.contains("refused a connection from 127.0.0.1"), "{log}");
    for reason in [
        "does not speak TLS",
        "does not trust this process's certificate",
    ] {
        assert!(
            log.lines()
                .filter(|l| l.contains("refused a connection") && l.contains(reason))
                .count()
                <= 2,
            "the refusal log is not rate-limited: {log}"
        );
    }
    assert!(log.contains("refused executor 6"), "{log}");
    assert!(log.contains("refused executor 7"), "{log}");
    // Nothing ran anywhere but in the one real executor.
    assert!(markers(d.marks.path()).iter().all(|m| m.2 == "0"));
}

/// What a process's context keeps, as `cluster_probe sizes` wrote it after batch `n`.
fn sizes_after(dir: &Path, who: &str, n: usize) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(dir.join(format!("sizes-{who}-{n}")))
        .unwrap_or_else(|e| panic!("{who} wrote no sizes after batch {n}: {e}"));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

/// A streaming job's bookkeeping stops growing in every process: 10,000 batches (a shuffle, a
/// cached stream and a collected result each) on local-cluster[2,1], and what the driver and
/// each executor keep is the same after batch 2,000 and batch 10,000 — counted, not timed.
/// Before, the driver kept every job and every control message (~3 per batch) and an
/// executor every RDD id pairing (5 per batch).
#[test]
fn bookkeeping_stays_flat_over_10_000_batches_in_every_process() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_within(
        "local-cluster[2,1]",
        &example_path("cluster_probe"),
        &["sizes", dir.path().to_str().unwrap(), "10000"],
        &[],
        600,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("sizes: 10000 batches"));
    // What is in flight at a given moment (an announcement not yet read, a task queued) may
    // differ by a few; everything kept must be equal.
    let in_flight = [
        "executor.control",
        "driver.pending",
        "driver.running",
        "driver.ready",
    ];
    for who in ["driver", "executor-0", "executor-1"] {
        let (early, late) = (
            sizes_after(dir.path(), who, 2_000),
            sizes_after(dir.path(), who, 10_000),
        );
        assert_eq!(
            early.keys().collect::<Vec<_>>(),
            late.keys().collect::<Vec<_>>(),
            "{who}"
        );
        for (what, &at_10k) in &late {
            let at_2k = early[what];
            if in_flight.contains(&what.as_str()) {
                assert!(
                    at_10k <= 4 && at_2k <= 4,
                    "{who}: {what} {at_2k} -> {at_10k}"
                );
            } else {
                assert_eq!(
                    at_2k, at_10k,
                    "{who}: {what} grew from batch 2,000 to 10,000"
                );
            }
        }
    }
}

/// A result only the driver uses is not shipped: ~0.9 MB collected with `collect` goes to both
/// executors (their programs go on with the driver's value), with `collect_on_driver` to none.
#[test]
fn results_only_the_driver_uses_are_not_sent_to_executors() {
    let o = run(
        "local-cluster[2,1]",
        &example_path("cluster_probe"),
        &["results"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let number = |prefix: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{out}"));
        line[prefix.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let rows = number("rows: ");
    assert!(number("collect: ") >= 2 * rows, "{out}");
    assert_eq!(number("collect_on_driver: "), 0, "{out}");
}

/// `nc -lk` on a free port of 127.0.0.1.
fn nc_server() -> (Reaped, u16) {
    nc_server_on("127.0.0.1")
}

/// `nc -lk` on a free port of `ip`.
fn nc_server_on(ip: &str) -> (Reaped, u16) {
    let port = std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nc = Reaped(
        Command::new("nc")
            .args(["-lk", ip, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    (nc, port)
}

type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Collects a child's output lines as they come.
fn read_lines(out: std::process::ChildStdout) -> (Lines, std::thread::JoinHandle<()>) {
    let lines: Lines = Default::default();
    let sink = std::sync::Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

/// The word totals of `rounds` times "to be or not to be" and "that is the question".
fn hamlet_totals(rounds: u64) -> HashMap<String, u64> {
    [
        ("to", 2),
        ("be", 2),
        ("or", 1),
        ("not", 1),
        ("that", 1),
        ("is", 1),
        ("the", 1),
        ("question", 1),
    ]
    .into_iter()
    .map(|(w, n)| (w.to_string(), n * rounds))
    .collect()
}

/// The word totals of printed `(word,count)` lines.
fn totals(lines: &[String]) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for l in lines {
        if let Some(inner) = l.strip_prefix('(').and_then(|l| l.strip_suffix(')')) {
            let (w, n) = inner.rsplit_once(',').unwrap();
            *m.entry(w.to_string()).or_default() += n.parse::<u64>().unwrap();
        }
    }
    m
}

#[test]
fn network_wordcount_on_local_cluster_counts_every_line_against_nc() {
    let local = tempfile::tempdir().unwrap();
    if Command::new("nc")
        .arg("-h")
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "nc (netcat-openbsd) is required in CI"
        );
        eprintln!("skipping: nc not installed (apt-get install netcat-openbsd)");
        return;
    }
    let (mut nc, port) = nc_server();
    let ui = receivers::free_port();
    let job = Command::new(env!("CARGO_BIN_EXE_spate-submit"))
        .args([
            "--master",
            "local-cluster[2,1]",
            "--conf",
            "spate.streaming.blockInterval=100ms",
            "--conf",
            &format!("spate.local.dir={}", local.path().display()),
            "--conf",
            &format!("spate.ui.port={ui}"),
        ])
        .arg(example_path("network_wordcount"))
        .args(["127.0.0.1", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut job = Reaped(job);
    let (printed, reader) = read_lines(job.0.stdout.take().unwrap());
    // The receiver runs on an executor, and the status page's REST API says which.
    let mut runs_on = None;
    wait_for(60, || {
        runs_on = receivers::receiver_executor(ui);
        runs_on.is_some()
    });
    let mut typed = nc.0.stdin.take().unwrap();
    let rounds = 40;
    for _ in 0..rounds {
        typed
            .write_all(b"to be or not to be\nthat is the question\n")
            .unwrap();
        typed.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let expected = hamlet_totals(rounds);
    let arrived = wait_for(60, || totals(&printed.lock().unwrap()) == expected);
    support::sigterm(&job.0);
    let (status, err) = wait_stderr(&mut job, 60);
    drop(typed);
    let _ = nc.0.kill();
    reader.join().unwrap();
    assert!(
        arrived,
        "printed {:?}, expected {expected:?}\n{err}",
        totals(&printed.lock().unwrap())
    );
    assert!(status.success(), "{err}");
    assert!(err.contains("local-cluster"), "{err}");
    assert!(
        matches!(runs_on.as_deref(), Some("0" | "1")),
        "the receiver runs on {runs_on:?}\n{err}"
    );
}
