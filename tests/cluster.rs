//! Cluster mode on `local-cluster[N,C]`: the same programs as under `local[2]`, their executors
//! real processes of the same binary; kills, a silent executor, a late executor, and peers
//! that must be refused. (The Slurm cluster across network namespaces is `tests/slurm.rs`'s.)

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{Reaped, children, example_path, wait_exit, wait_for};

const SECRET: &str = "test-secret-0123456789abcdef";

/// Runs `program args` under `master` (directly, as spate-submit would) and waits for it.
fn run(master: &str, program: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
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
    let status = wait_exit(&mut child.0, 120);
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
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        "local[2]",
        &example_path("cluster_probe"),
        &["shuffle", dir.path().to_str().unwrap(), maps, "4", "0"],
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
    let marks = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let child = Command::new(example_path("cluster_probe"))
        .args([
            "shuffle",
            marks.path().to_str().unwrap(),
            maps,
            "4",
            task_ms,
        ])
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
    let mut d = start_driver("local-cluster[2,1]", "8", "250", &[]);
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

    let (status, e) = stderr_of(wrong_secret);
    assert!(!status.success());
    assert!(e.contains("wrong application secret"), "{e}");
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
    assert!(log.contains("refused a call from 127.0.0.1"), "{log}");
    assert!(log.contains("refused executor 6"), "{log}");
    assert!(log.contains("refused executor 7"), "{log}");
    // Nothing ran anywhere but in the one real executor.
    assert!(markers(d.marks.path()).iter().all(|m| m.2 == "0"));
}

/// `nc -lk` on a free port of 127.0.0.1.
fn nc_server() -> (Reaped, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nc = Reaped(
        Command::new("nc")
            .args(["-lk", "127.0.0.1", &port.to_string()])
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
    let job = Command::new(env!("CARGO_BIN_EXE_spate-submit"))
        .args([
            "--master",
            "local-cluster[2,1]",
            "--conf",
            "spate.streaming.blockInterval=100ms",
            "--conf",
            &format!("spate.local.dir={}", local.path().display()),
        ])
        .arg(example_path("network_wordcount"))
        .args(["127.0.0.1", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut job = Reaped(job);
    let (printed, reader) = read_lines(job.0.stdout.take().unwrap());
    let mut typed = nc.0.stdin.take().unwrap();
    let rounds = 40;
    for _ in 0..rounds {
        typed
            .write_all(b"to be or not to be\nthat is the question\n")
            .unwrap();
        typed.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let expected: HashMap<String, u64> = [
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
    .collect();
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
}

// ------------------------------------------------------------ a real Slurm cluster

/// A Slurm cluster of network namespaces (`scripts/slurm-cluster`), removed on drop.
struct SlurmCluster {
    dir: PathBuf,
}

impl SlurmCluster {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-cluster")
    }

    /// `None` (and a loud note) where it cannot run; CI must run it.
    fn up(hosts: usize) -> Option<SlurmCluster> {
        let missing: Vec<&str> = ["slurmctld", "slurmd", "munged", "salloc", "nsenter"]
            .into_iter()
            .filter(|c| {
                !Command::new("sh")
                    .args(["-c", &format!("command -v {c}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .collect();
        let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        });
        if !missing.is_empty() || !root {
            let why = format!(
                "the Slurm cluster test needs root and slurm-wlm + munge (missing: {missing:?}, \
                 root: {root}); scripts/setup installs them"
            );
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("SKIPPING: {why}");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("spate-slurm-{}", std::process::id()));
        let out = Command::new(Self::script())
            .args(["up", dir.to_str().unwrap(), &hosts.to_string()])
            .output()
            .unwrap();
        let cluster = SlurmCluster { dir };
        assert!(
            out.status.success(),
            "slurm-cluster up failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        Some(cluster)
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    /// `salloc -N 2 --no-kill spate-submit --master slurm ...`, in the background.
    fn submit(&self, conf: &[&str], program: &Path, args: &[&str]) -> Reaped {
        let mut cmd = Command::new("salloc");
        cmd.args(["-N", "2", "--no-kill", "--quiet"])
            .arg(env!("CARGO_BIN_EXE_spate-submit"))
            .args(["--master", "slurm", "--executor-cores", "1"])
            .arg(format!(
                "--conf=spate.local.dir={}",
                self.dir.join("local").display()
            ));
        for c in conf {
            cmd.args(["--conf", c]);
        }
        Reaped(
            cmd.arg(program)
                .args(args)
                .env("SLURM_CONF", self.conf())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    /// The pids in host `h`'s network namespace.
    fn pids(&self, h: usize) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &format!("spate-h{h}")])
            .output()
            .unwrap();
        text(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["down", self.dir.to_str().unwrap()])
            .status();
    }
}

fn finish(mut r: Reaped) -> (bool, String, String) {
    let status = wait_exit(&mut r.0, 180);
    let (mut out, mut err) = (String::new(), String::new());
    use std::io::Read;
    r.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    r.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.success(), out, err)
}

/// The network namespace inode of a process.
fn netns(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
}

#[test]
fn on_slurm_across_namespace_hosts_results_match_local_through_kills_and_a_cut_link() {
    let Some(cluster) = SlurmCluster::up(2) else {
        return;
    };
    let probe = example_path("cluster_probe");

    // 1. The RDD word count: identical to local[2].
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let words: String = (0..3000)
        .map(|i| format!("w{} the x{}\n", i % 29, i % 7))
        .collect();
    std::fs::write(&input, words).unwrap();
    let local = run(
        "local[2]",
        &example_path("rdd_wordcount"),
        &[input.to_str().unwrap()],
        &[],
    );
    let (ok, out, err) = finish(cluster.submit(
        &[],
        &example_path("rdd_wordcount"),
        &[input.to_str().unwrap()],
    ));
    assert!(ok, "{err}");
    assert_eq!(out, text(&local.stdout));
    assert!(err.contains("2 executor(s) x 1 core(s) on slurm"), "{err}");
    assert!(err.contains("listening on http://10.213.0.1:"), "{err}");

    // 2. A shuffle whose executors run in the two hosts' namespaces; then one host's link
    //    goes down mid-shuffle: lost by heartbeat, recomputed, identical.
    let expected = local_shuffle("12");
    let marks = tempfile::tempdir().unwrap();
    let m = marks.path().to_str().unwrap();
    let job = cluster.submit(
        &["spate.executor.heartbeatTimeout=2s"],
        &probe,
        &["shuffle", m, "12", "4", "250"],
    );
    assert!(wait_for(60, || markers(marks.path())
        .iter()
        .any(|m| m.2 == "1")));
    let on_h2 = markers(marks.path())
        .into_iter()
        .find(|m| m.2 == "1")
        .unwrap()
        .3;
    let here = netns(std::process::id()).unwrap();
    assert_ne!(
        netns(on_h2),
        Some(here.clone()),
        "executor 1 runs in a host namespace"
    );
    assert!(
        cluster.pids(2).contains(&(on_h2 as i32)),
        "executor 1 runs on h2"
    );
    assert!(wait_for(60, || markers(marks.path())
        .iter()
        .any(|m| m.0 == "reduce")));
    let link = |state: &str| {
        assert!(
            Command::new("ip")
                .args(["link", "set", "spatev2", state])
                .status()
                .unwrap()
                .success()
        );
    };
    link("down");
    let (ok, out, err) = finish(job);
    link("up");
    assert!(ok, "{err}");
    assert_eq!(out, expected);
    assert!(err.contains("executor 1 lost: no heartbeat"), "{err}");

    // 3. The network word count against nc: every line counted, with one executor killed
    //    mid-stream (no batch lost).
    let (mut nc, port) = nc_server();
    let mut job = cluster.submit(
        &["spate.streaming.blockInterval=100ms"],
        &example_path("network_wordcount"),
        &["127.0.0.1", &port.to_string()],
    );
    let (printed, reader) = read_lines(job.0.stdout.take().unwrap());
    assert!(wait_for(60, || printed
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("Time:"))));
    let mut typed = nc.0.stdin.take().unwrap();
    let rounds = 60u64;
    for i in 0..rounds {
        if i == rounds / 2 {
            // Executor 1's process (its srun step's task) on h2.
            for pid in cluster.pids(2) {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains("network_wordcount") {
                    kill(pid as u32, nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        typed.write_all(b"to be or not to be\n").unwrap();
        typed.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let expected_words: HashMap<String, u64> = [("to", 2), ("be", 2), ("or", 1), ("not", 1)]
        .into_iter()
        .map(|(w, n)| (w.to_string(), n * rounds))
        .collect();
    let arrived = wait_for(60, || totals(&printed.lock().unwrap()) == expected_words);
    // SIGTERM to spate-submit (salloc's child): a graceful stop, then salloc ends.
    for pid in children(job.0.id()) {
        kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let (status, err) = wait_stderr(&mut job, 60);
    let ok = status.success();
    drop(typed);
    let _ = nc.0.kill();
    reader.join().unwrap();
    let lines = printed.lock().unwrap().clone();
    assert!(
        arrived,
        "printed {:?}, expected {expected_words:?}\n{err}",
        totals(&lines)
    );
    assert!(ok, "{err}");
    assert!(err.contains("executor 1 lost"), "{err}");
    let times: Vec<i64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("Time: ")?.strip_suffix(" ms")?.parse().ok())
        .collect();
    assert!(
        times.windows(2).all(|w| w[1] == w[0] + 1000),
        "a batch is missing: {times:?}"
    );

    // 4. Every process of one host killed mid-shuffle (its slurmd too): identical result.
    let marks = tempfile::tempdir().unwrap();
    let m = marks.path().to_str().unwrap();
    let job = cluster.submit(&[], &probe, &["shuffle", m, "12", "4", "250"]);
    assert!(wait_for(60, || markers(marks.path())
        .iter()
        .any(|m| m.0 == "reduce")));
    for pid in cluster.pids(2) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let (ok, out, err) = finish(job);
    assert!(ok, "{err}");
    assert_eq!(out, expected);
    assert!(err.contains("executor 1 lost"), "{err}");
}

#[test]
fn bad_cluster_settings_are_clear_errors_before_anything_runs() {
    let probe = example_path("cluster_probe");
    let marks = tempfile::tempdir().unwrap();
    let args = ["shuffle", marks.path().to_str().unwrap(), "2", "2", "0"];
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("SPATE_MASTER", "slurm")], "inside a Slurm allocation"),
        (
            &[
                ("SPATE_MASTER", "local-cluster[1,1]"),
                ("SPATE_AUTH_SECRET", "short"),
            ],
            "at least 16 printable characters",
        ),
        (
            &[
                ("SPATE_MASTER", "local-cluster[1,1]"),
                ("SPATE_EXECUTOR_ID", "first"),
            ],
            "is not an executor id",
        ),
        (
            &[
                ("SPATE_MASTER", "local-cluster[1,1]"),
                ("SPATE_EXECUTOR_ID", "0"),
            ],
            "SPATE_DRIVER_URL is not set",
        ),
        (
            &[
                ("SPATE_MASTER", "local-cluster[1,1]"),
                ("SPATE_EXECUTOR_ID", "0"),
                ("SPATE_DRIVER_URL", "http://127.0.0.1:1"),
            ],
            "no application secret",
        ),
        (
            &[
                ("SPATE_MASTER", "local-cluster[1,1]"),
                ("SPATE_EXECUTOR_ID", "0"),
                ("SPATE_AUTH_SECRET", SECRET),
                ("SPATE_CONF_spate.executor.heartbeatTimeout", "1s"),
            ],
            "cannot reach the driver",
        ),
        (
            &[
                ("SPATE_MASTER", "local-cluster[1,1]"),
                ("SPATE_CONF_spate.driver.port", "99999"),
            ],
            "expected a port from 0 to 65535",
        ),
    ];
    // The listener is gone already: nothing listens there.
    let url = format!("http://{closed}");
    for (env, expected) in cases {
        let mut cmd = Command::new(&probe);
        cmd.args(args)
            .env_remove("SLURM_JOB_ID")
            .env_remove("SPATE_AUTH_SECRET")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if expected.contains("reach") {
            cmd.env("SPATE_DRIVER_URL", &url);
        }
        let (status, err) = stderr_of(Reaped(cmd.spawn().unwrap()));
        assert!(!status.success(), "{env:?} succeeded");
        assert!(err.contains(expected), "{env:?}: {err}");
    }
    assert!(markers(marks.path()).is_empty(), "nothing ran");
}
