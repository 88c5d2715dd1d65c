//! The recoverable word count: killed with `kill -9` mid-stream and restarted from its checkpoint, exactly once.

use super::*;

#[test]
fn recoverable_wordcount_survives_kill_9_at_random_points() {
    survives_kill_9("local[2]");
}

/// The same under a cluster master: the driver is killed (its executors then exit on their
/// own), and a new driver with new executors resumes from the checkpoint.
#[test]
fn recoverable_wordcount_on_local_cluster_survives_kill_9_of_its_driver() {
    survives_kill_9("local-cluster[2,1]");
}

fn survives_kill_9(master: &str) {
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let root = tempfile::tempdir().unwrap();
    let (ck, input, out) = (
        root.path().join("ck"),
        root.path().join("in"),
        root.path().join("out"),
    );
    std::fs::create_dir_all(&input).unwrap();
    let args = [&ck, &input, &out].map(|p| p.display().to_string());

    let start = || {
        Reaped(
            Command::new(example_path("recoverable_wordcount"))
                .args(&args)
                .env("SPATE_MASTER", master)
                .env("SPATE_CONF_spate.local.dir", root.path().join("local"))
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    // Files already there when a file stream is first created are not its input (as in
    // Spark): start feeding once the first run has checkpointed which those are.
    let mut app = start();
    assert!(wait_for(30, || ck
        .join("metadata")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some())));
    // Files keep arriving while the job is killed and restarted.
    let feeder = {
        let input = input.clone();
        let mut rng = StdRng::seed_from_u64(seed ^ 1);
        thread::spawn(move || {
            let words = ["alpha", "beta", "gamma", "delta", "epsilon"];
            let mut expected: HashMap<String, u64> = HashMap::new();
            for i in 0..36 {
                let line: Vec<&str> = (0..rng.random_range(1..8))
                    .map(|_| words[rng.random_range(0..words.len())])
                    .collect();
                for w in &line {
                    *expected.entry(w.to_string()).or_default() += 1;
                }
                move_in(&input, &format!("f{i:03}.txt"), &(line.join(" ") + "\n"));
                thread::sleep(Duration::from_millis(150));
            }
            expected
        })
    };
    for run in 0..4 {
        if run > 0 {
            app = start();
        }
        thread::sleep(Duration::from_millis(rng.random_range(100..2200)));
        app.0.kill().unwrap(); // SIGKILL: no chance to clean up
        app.0.wait().unwrap();
    }
    let counts = out.join("counts");
    let before = latest_totals(&counts).map(|l| l.0);
    // The last run goes through the launcher and stops gracefully.
    app = Reaped(
        Command::new(env!("CARGO_BIN_EXE_spate-submit"))
            .args(["--master", master])
            .arg(format!(
                "--conf=spate.local.dir={}",
                root.path().join("local").display()
            ))
            .arg(example_path("recoverable_wordcount"))
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let expected = feeder.join().unwrap();
    stop_once_newest_output_is(
        app,
        || latest_totals(&counts),
        before,
        &expected,
        &format!("seed {seed}"),
    );
    // Only the newest few metadata files are kept.
    let metadata = std::fs::read_dir(ck.join("metadata")).unwrap().count();
    assert!(metadata <= 5, "{metadata} metadata files");
}
