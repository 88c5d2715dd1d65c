//! Argument handling shared by the socket examples (not an example itself).

use std::path::PathBuf;
use std::process::ExitCode;

/// `<hostname> <port> [checkpoint-dir]`, the checkpoint directory defaulting to
/// `<temp dir>/spate-<name>`; on bad arguments, the usage message and exit code 1.
pub fn host_port_checkpoint(name: &str) -> Result<(String, u16, PathBuf), ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = |problem: &str| {
        eprintln!("{name}: {problem}\nUsage: {name} <hostname> <port> [checkpoint-dir]");
        ExitCode::from(1)
    };
    let [host, port, rest @ ..] = args.as_slice() else {
        return Err(usage("expected <hostname> <port> [checkpoint-dir]"));
    };
    if rest.len() > 1 {
        return Err(usage("too many arguments"));
    }
    let port = port.parse::<u16>().map_err(|_| {
        usage(&format!(
            "port must be a number from 0 to 65535, got {port:?}"
        ))
    })?;
    let dir = rest.first().map_or_else(
        || std::env::temp_dir().join(format!("spate-{name}")),
        PathBuf::from,
    );
    Ok((host.clone(), port, dir))
}

/// Runs the example's body, turning an error into a message and exit code 2.
pub fn exit_code(name: &str, result: spate::prelude::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(2)
        }
    }
}
