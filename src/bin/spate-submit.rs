//! `spate-submit`: launches a spate application, in the manner of `spark-submit`.
//!
//! ```text
//! spate-submit [--master local[N]|local[*]|local-cluster[N,C]|slurm] [--name NAME]
//!              [--num-executors N] [--executor-cores C] [--executor-memory SIZE]
//!              [--conf KEY=VALUE]... [--properties-file FILE] [--verbose]
//!              (PATH_TO_APP_BINARY | --example NAME) [APP_ARGS]...
//! ```
//!
//! Validates the master and every setting before launching, passes them to the application
//! through the environment `Conf::from_env()` reads (`SPATE_MASTER`, `SPATE_APP_NAME`,
//! `SPATE_CONF_<key>`), runs it with inherited stdio in its own process group, forwards SIGINT,
//! SIGTERM and SIGHUP to it, and exits with its exit code (128 + N if it died of signal N).
//! The application dies with the launcher: `kill -9` of `spate-submit` kills it too.
//!
//! For a cluster master it also generates the application's secret and hands it to the driver
//! in the environment (`SPATE_AUTH_SECRET`; never on a command line), unless one is set
//! already (`SPATE_AUTH_SECRET` or `SPATE_AUTH_SECRET_FILE`). The driver then starts the
//! executors: child processes for `local-cluster[N,C]`, `srun` steps for `slurm` (run
//! spate-submit inside an allocation: `salloc -N 2 spate-submit --master slurm ...`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Parser;
use spate_core::Conf;
use spate_core::conf::Master;

#[derive(Parser, Debug)]
#[command(
    name = "spate-submit",
    version,
    about = "Launch a spate application (in the manner of spark-submit)",
    after_help = "Examples:\n  spate-submit --master 'local[2]' --example network_wordcount localhost 9999\n  spate-submit --master 'local-cluster[2,1]' --example rdd_wordcount input.txt\n  salloc -N 2 spate-submit --master slurm --executor-cores 1 --example rdd_wordcount input.txt\n  spate-submit --conf spate.streaming.blockInterval=100ms ./target/release/my-app arg1"
)]
struct Args {
    /// Where to run.
    #[arg(
        long,
        value_name = "MASTER",
        help = "Where to run: local, local[N], local[*], local-cluster[N,C] or slurm"
    )]
    master: Option<String>,
    /// Executors of a slurm master (spate.executor.instances; default: one per node).
    #[arg(long, value_name = "N")]
    num_executors: Option<String>,
    /// Task slots of each executor of a slurm master (spate.executor.cores).
    #[arg(long, value_name = "C")]
    executor_cores: Option<String>,
    /// Memory of each executor, e.g. 2g (spate.executor.memory; srun --mem for slurm).
    #[arg(long, value_name = "SIZE")]
    executor_memory: Option<String>,
    /// The application's name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// A setting, KEY=VALUE (repeatable; overrides the properties file).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
    /// A file of settings: `key value` or `key=value` lines, `#` comments (like spark-defaults.conf).
    #[arg(long, value_name = "FILE")]
    properties_file: Option<PathBuf>,
    /// Print the resolved settings and the command before launching.
    #[arg(long)]
    verbose: bool,
    /// Run an example of the spate workspace (built in release mode first if missing or stale).
    #[arg(long, value_name = "NAME")]
    example: Option<String>,
    /// PATH_TO_APP_BINARY (unless --example) followed by the application's arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "APP_AND_ARGS"
    )]
    rest: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match launch(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("spate-submit: {message}");
            ExitCode::from(1)
        }
    }
}

/// Largest properties file read: settings files are a few lines.
const MAX_PROPERTIES_BYTES: u64 = 1 << 20;

/// Reads `key value` / `key=value` lines; blank lines and `#` comments are skipped.
fn read_properties(path: &Path) -> Result<Vec<(String, String)>, String> {
    use std::io::Read;
    let cannot =
        |e: &dyn std::fmt::Display| format!("cannot read properties file {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    // Read at most one byte past the cap: `/dev/zero` (or a log file given by mistake) is refused,
    // not read forever.
    let mut bytes = Vec::new();
    file.take(MAX_PROPERTIES_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(&e))?;
    if bytes.len() as u64 > MAX_PROPERTIES_BYTES {
        return Err(format!(
            "properties file {} is larger than {} KiB: it is not a settings file (give the file of `key value` lines)",
            path.display(),
            MAX_PROPERTIES_BYTES >> 10
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| cannot(&e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let split = line.find(|c: char| c == '=' || c.is_whitespace());
        let Some(i) = split else {
            return Err(format!(
                "{}:{}: expected `key value` or `key=value`, got {line:?}",
                path.display(),
                n + 1
            ));
        };
        let (k, v) = (
            line[..i].trim(),
            line[i + 1..].trim_start_matches(['=', ' ', '\t']).trim(),
        );
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn resolve_conf(args: &Args) -> Result<Conf, String> {
    let mut conf = Conf::new();
    if let Some(path) = &args.properties_file {
        for (k, v) in read_properties(path)? {
            conf = conf.set(k, v);
        }
    }
    for kv in &args.conf {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--conf takes KEY=VALUE, got {kv:?}"))?;
        conf = conf.set(k.trim(), v.trim());
    }
    if let Some(m) = &args.master {
        Master::parse(m).map_err(|e| e.to_string())?;
        conf = conf.set_master(m.clone());
    }
    if let Some(n) = &args.name {
        conf = conf.set_app_name(n.clone());
    }
    for (flag, key) in [
        (&args.num_executors, "spate.executor.instances"),
        (&args.executor_cores, "spate.executor.cores"),
        (&args.executor_memory, "spate.executor.memory"),
    ] {
        if let Some(v) = flag {
            conf = conf.set(key, v.clone());
        }
    }
    // Every layer's keys are known here: an unknown `spate.*` key is refused in any namespace.
    let conf = spate_streaming::KEYS
        .iter()
        .fold(conf, |conf, table| conf.with_keys(table));
    conf.validate_complete().map_err(|e| e.to_string())?;
    Ok(conf)
}

/// The cargo to run: the one running us (`cargo run`), else the one on the PATH.
fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The cargo features example `name` declares it needs (`required-features`), from
/// `cargo metadata`: the Kafka and database examples need features a word count does not build.
fn example_features(manifest: &Path, name: &str) -> Result<Vec<String>, String> {
    let out = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed what is not JSON: {e}"))?;
    // The examples of the `spate` package: (name, required features).
    let examples: Vec<(&str, Vec<String>)> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "spate")
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "example"))
        })
        .filter_map(|t| {
            let features = t["required-features"].as_array().into_iter().flatten();
            let features = features.filter_map(|f| f.as_str().map(String::from));
            Some((t["name"].as_str()?, features.collect()))
        })
        .collect();
    if let Some((_, features)) = examples.iter().find(|(n, _)| *n == name) {
        return Ok(features.clone());
    }
    let mut known: Vec<&str> = examples.iter().map(|(n, _)| *n).collect();
    known.sort_unstable();
    Err(format!(
        "no example named {name:?}; the examples are: {}",
        known.join(", ")
    ))
}

/// Builds `--example NAME` in release mode, with the features it needs (cargo does nothing
/// when it is up to date).
fn build_example(name: &str, verbose: bool) -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("Cargo.toml");
    let features = example_features(&manifest, name)?;
    let mut cargo = cargo();
    cargo
        .args(["build", "--release", "--example", name, "--manifest-path"])
        .arg(&manifest);
    if !features.is_empty() {
        cargo.arg("--features").arg(features.join(","));
    }
    if !verbose {
        cargo.arg("--quiet");
    }
    let status = cargo
        .status()
        .map_err(|e| format!("cannot run cargo to build example {name:?}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building example {name:?} failed (see cargo's output above)"
        ));
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release").join("examples").join(name))
}

fn launch(args: Args) -> Result<ExitCode, String> {
    let conf = resolve_conf(&args)?;
    let (given, app_args) = match &args.example {
        Some(name) => (build_example(name, args.verbose)?, args.rest.clone()),
        None => {
            let (first, rest) = args
                .rest
                .split_first()
                .ok_or("nothing to run: give PATH_TO_APP_BINARY or --example NAME")?;
            (PathBuf::from(first), rest.to_vec())
        }
    };
    let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    let program = resolve_program(&given, &cwd, std::env::var_os("PATH").as_deref())?;
    let mut cmd = match &program {
        Program::Binary(path) => Command::new(path),
        Program::Script(path) => {
            // No `#!` line: as a shell runs such a file, through sh.
            let mut sh = Command::new("/bin/sh");
            sh.arg(path);
            sh
        }
    };
    cmd.args(&app_args);
    let cluster = conf.master().map_err(|e| e.to_string())?.is_cluster();
    // A secret given in the environment is checked before anything starts: every process of
    // the application would refuse it, the executors only once they tried to register.
    spate_core::check_secret_env().map_err(|e| e.to_string())?;
    if cluster
        && std::env::var_os("SPATE_AUTH_SECRET").is_none()
        && std::env::var_os("SPATE_AUTH_SECRET_FILE").is_none()
    {
        // One secret per application: every RPC between its processes carries it.
        let bytes: [u8; 32] = rand::random();
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        cmd.env("SPATE_AUTH_SECRET", secret);
    }
    for (k, v) in conf.entries() {
        match k {
            "spate.master" => cmd.env("SPATE_MASTER", v),
            "spate.app.name" => cmd.env("SPATE_APP_NAME", v),
            _ => cmd.env(format!("SPATE_CONF_{k}"), v),
        };
    }
    if args.verbose {
        eprintln!("spate-submit: settings:");
        for (k, v) in conf.entries() {
            eprintln!("  {k} = {v}");
        }
        eprintln!(
            "spate-submit: running {} {}",
            program.path().display(),
            app_args.join(" ")
        );
    }
    run_forwarding_signals(cmd, program.path())
}

/// Makes the application die (SIGKILL) when this launcher dies, however it dies — `kill -9`
/// included, which no handler sees — so restarting a killed launcher never leaves two drivers.
/// Linux's parent-death signal is set in the child between fork and exec; if the launcher died
/// before that, the child's parent is already another process, and it exits at once.
#[allow(unsafe_code)]
fn die_with_launcher(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let launcher = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec, and makes only
    // async-signal-safe system calls (prctl, getppid), allocating nothing and taking no lock.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            if nix::unistd::getppid() != launcher {
                return Err(std::io::Error::other("spate-submit exited while starting"));
            }
            Ok(())
        });
    }
}

/// Runs the child in its own process group (so a terminal's Ctrl-C reaches it once, through
/// us), forwarding SIGINT, SIGTERM and SIGHUP, and returns its exit code.
fn run_forwarding_signals(mut cmd: Command, program: &Path) -> Result<ExitCode, String> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

    // Register before spawning so no signal slips between the two.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot handle signals: {e}"))?;
    die_with_launcher(&mut cmd);
    let mut child = cmd
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let pid = Pid::from_raw(child.id() as i32);
    let handle = signals.handle();
    let forwarder = std::thread::spawn(move || {
        for sig in signals.forever() {
            if let Ok(sig) = Signal::try_from(sig) {
                let _ = kill(pid, sig);
            }
        }
    });
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {}: {e}", program.display()))?;
    handle.close();
    let _ = forwarder.join();
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// What `spate-submit` runs: the one file it checked, by its absolute path.
#[derive(Debug, PartialEq, Eq)]
enum Program {
    /// A binary, or a script with a `#!` line (the kernel runs its interpreter).
    Binary(PathBuf),
    /// A script without one, run through `/bin/sh`.
    Script(PathBuf),
}

impl Program {
    fn path(&self) -> &Path {
        match self {
            Program::Binary(p) | Program::Script(p) => p,
        }
    }
}

/// Resolves the application once, so what is checked is what runs: a path with a `/`, or a
/// bare name that is a file in `cwd`, is that file; another bare name is looked up in `path`
/// (`PATH`), as a shell would. It must be a non-empty regular file with an execute bit.
fn resolve_program(
    given: &Path,
    cwd: &Path,
    path: Option<&std::ffi::OsStr>,
) -> Result<Program, String> {
    use std::os::unix::fs::PermissionsExt;
    let bare = given.components().count() == 1 && !given.to_string_lossy().contains('/');
    let here = cwd.join(given);
    let file = if !bare || here.exists() {
        here
    } else {
        path.into_iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(given))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
            .ok_or_else(|| {
                format!(
                    "application binary {} is neither a file here nor an executable on PATH",
                    given.display()
                )
            })?
    };
    let shown = file.display();
    let meta = std::fs::metadata(&file)
        .map_err(|e| format!("application binary {shown} does not exist or cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err(format!("application binary {shown} is not a regular file"));
    }
    if meta.len() == 0 {
        return Err(format!("application binary {shown} is empty"));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "application binary {shown} is not executable (chmod +x it)"
        ));
    }
    let file = std::fs::canonicalize(&file).map_err(|e| format!("{shown}: {e}"))?;
    let mut head = [0u8; 4];
    let n = std::fs::File::open(&file)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| format!("application binary {shown} cannot be read: {e}"))?;
    let head = &head[..n];
    Ok(if head.starts_with(b"#!") || head.starts_with(b"\x7fELF") {
        Program::Binary(file)
    } else {
        Program::Script(file)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("spate-submit").chain(v.iter().copied())).unwrap()
    }

    #[test]
    fn settings_resolve_in_order_and_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let props = dir.path().join("spate-defaults.conf");
        std::fs::write(
            &props,
            "# defaults\nspate.task.maxFailures 2\nspate.storage.memory=64m\n\n",
        )
        .unwrap();
        let p = props.to_str().unwrap();
        let a = args(&[
            "--properties-file",
            p,
            "--conf",
            "spate.task.maxFailures=3",
            "--master",
            "local[2]",
            "app",
            "--x",
        ]);
        let conf = resolve_conf(&a).unwrap();
        assert_eq!(conf.get("spate.task.maxFailures"), Some("3"));
        assert_eq!(conf.get("spate.storage.memory"), Some("64m"));
        assert_eq!(conf.get("spate.master"), Some("local[2]"));
        assert_eq!(a.rest, ["app", "--x"]);

        let a = args(&[
            "--master",
            "slurm",
            "--num-executors",
            "3",
            "--executor-cores",
            "2",
            "--executor-memory",
            "2g",
            "app",
        ]);
        let conf = resolve_conf(&a).unwrap();
        assert_eq!(conf.get("spate.executor.instances"), Some("3"));
        assert_eq!(conf.get("spate.executor.cores"), Some("2"));
        assert_eq!(conf.get_size("spate.executor.memory").unwrap(), 2 << 30);
        let err = resolve_conf(&args(&["--executor-cores", "0", "app"])).unwrap_err();
        assert!(err.contains("spate.executor.cores"), "{err}");
        let err = resolve_conf(&args(&["--master", "local-cluster[2]", "app"])).unwrap_err();
        assert!(err.contains("local-cluster[N,C]"), "{err}");

        let err = resolve_conf(&args(&["--master", "yarn", "app"])).unwrap_err();
        assert!(err.contains("local[N]"), "{err}");
        let err = resolve_conf(&args(&["--conf", "spate.task.maxFailure=3", "app"])).unwrap_err();
        assert!(
            err.contains("did you mean \"spate.task.maxFailures\""),
            "{err}"
        );
        let err = resolve_conf(&args(&["--conf", "novalue", "app"])).unwrap_err();
        assert!(err.contains("KEY=VALUE"), "{err}");
        let err = resolve_conf(&args(&[
            "--conf",
            "spate.streaming.blockInterval=fast",
            "app",
        ]))
        .unwrap_err();
        assert!(err.contains("200ms"), "{err}");
        std::fs::write(&props, "justakey\n").unwrap();
        let err = resolve_conf(&args(&["--properties-file", p, "app"])).unwrap_err();
        assert!(err.contains(":1:"), "{err}");
    }

    #[test]
    fn absurd_settings_are_refused_before_launch_naming_the_bound() {
        for (argv, says) in [
            (
                vec!["--master", "local[999999]"],
                "at most 256 worker threads",
            ),
            (
                vec!["--master", "local-cluster[500,1]"],
                "at most 64 executor",
            ),
            (
                vec!["--conf", "spate.streaming.blockInterval=0ms"],
                "at least 1ms",
            ),
            (
                vec!["--conf", "spate.streaming.receiver.maxLineBytes=0"],
                "at least 64",
            ),
            (
                vec!["--conf", "spate.streaming.receiver.maxReconnectBackoff=0s"],
                "at least 10ms",
            ),
            (vec!["--conf", "spate.storage.memory=0"], "at least 1k"),
            (vec!["--conf", "=x"], "needs a key"),
            (
                vec!["--conf", "spate.task.maxFailures=99999999"],
                "at most 1000",
            ),
            (
                vec!["--conf", "spate.executor.heartbeatTimeout=600ms"],
                "twice",
            ),
        ] {
            let mut v = argv.clone();
            v.push("app");
            let err = resolve_conf(&args(&v)).unwrap_err();
            assert!(err.contains(says), "{argv:?}: {err}");
        }
        // Reading `/dev/zero` as a properties file ends, with a reason.
        let err = resolve_conf(&args(&["--properties-file", "/dev/zero", "app"])).unwrap_err();
        assert!(err.contains("larger than 1024 KiB"), "{err}");
    }

    /// Issue 30, finding 7: the launcher checked `./true` and ran `/usr/bin/true` from PATH, said
    /// "No such file or directory" for an existing script, and ran an empty file.
    #[test]
    fn the_file_checked_is_the_file_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let write = |d: &Path, name: &str, text: &[u8], mode: u32| {
            let p = d.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            std::fs::canonicalize(p).unwrap()
        };
        let local_true = write(dir.path(), "true", b"#!/bin/sh\nexit 3\n", 0o755);
        let on_path = write(bin.path(), "tool", b"\x7fELF....", 0o755);
        let script = write(dir.path(), "app.sh", b"echo hi\n", 0o755);
        write(dir.path(), "empty", b"", 0o755);
        write(dir.path(), "plain", b"#!/bin/sh\n", 0o644);
        let path = Some(bin.path().as_os_str());
        let resolve = |g: &str| resolve_program(Path::new(g), dir.path(), path);
        assert_eq!(
            resolve("true").unwrap(),
            Program::Binary(local_true.clone())
        );
        assert_eq!(resolve("./true").unwrap(), Program::Binary(local_true));
        assert_eq!(resolve("tool").unwrap(), Program::Binary(on_path));
        assert_eq!(resolve("app.sh").unwrap(), Program::Script(script));
        assert!(resolve("empty").unwrap_err().contains("is empty"));
        assert!(resolve("plain").unwrap_err().contains("not executable"));
        assert!(
            resolve("nowhere")
                .unwrap_err()
                .contains("neither a file here")
        );
        assert!(resolve("./nowhere").unwrap_err().contains("does not exist"));
        assert!(resolve(".").unwrap_err().contains("not a regular file"));
    }
}
