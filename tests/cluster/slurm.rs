//! A real Slurm cluster (slurmctld, slurmd per node, munge) across network namespaces, started by `scripts/slurm-cluster`.

use super::*;

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
    assert!(err.contains("listening on https://10.213.0.1:"), "{err}");

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

    // 3. The network word count against nc (reachable from the hosts): its receiver runs on
    //    an executor inside a host's namespace, not on the driver; every line counted, with
    //    the other executor killed mid-stream (no batch lost).
    let (mut nc, port) = nc_server_on("10.213.0.1");
    let ui = super::receivers::free_port();
    let mut job = cluster.submit(
        &[
            "spate.streaming.blockInterval=100ms",
            &format!("spate.ui.port={ui}"),
        ],
        &example_path("network_wordcount"),
        &["10.213.0.1", &port.to_string()],
    );
    let (printed, reader) = read_lines(job.0.stdout.take().unwrap());
    assert!(wait_for(60, || printed
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("Time:"))));
    let mut receiver = None;
    assert!(wait_for(60, || {
        receiver = super::receivers::receiver_executor(ui);
        receiver.is_some()
    }));
    let receiver: u32 = receiver.unwrap().parse().unwrap();
    let pid_of = |executor: u32| {
        [1, 2]
            .into_iter()
            .flat_map(|h| cluster.pids(h))
            .find(|pid| {
                std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                    env.split(|&b| b == 0)
                        .any(|v| v == format!("SPATE_EXECUTOR_ID={executor}").as_bytes())
                })
            })
    };
    let receiving = pid_of(receiver).expect("the receiver's executor runs on a host");
    assert_ne!(
        netns(receiving as u32),
        Some(here.clone()),
        "the receiver runs in a host's namespace"
    );
    let (victim, victim_host) = {
        let other = 1 - receiver;
        let pid = pid_of(other).expect("the other executor runs on a host");
        let host = if cluster.pids(1).contains(&pid) { 1 } else { 2 };
        (other, host)
    };
    let mut typed = nc.0.stdin.take().unwrap();
    let rounds = 60u64;
    for i in 0..rounds {
        if i == rounds / 2 {
            // The other executor's process (its srun step's task).
            for pid in cluster.pids(victim_host) {
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
    // A new srun step replaced executor 1: two executors run in the hosts' namespaces again.
    let running = || {
        [1, 2]
            .into_iter()
            .flat_map(|h| cluster.pids(h))
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("network_wordcount"))
            })
            .count()
    };
    let replaced = wait_for(60, || running() == 2);
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
    assert!(err.contains(&format!("executor {victim} lost")), "{err}");
    assert!(
        replaced,
        "{} executor processes on the hosts\n{err}",
        running()
    );
    assert!(
        err.contains("executor 2 registered, replacing a lost one: 2 of 2 executors live"),
        "{err}"
    );
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
            "16 to 1024 printable characters",
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
    let url = format!("https://{closed}");
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
