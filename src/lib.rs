//! # spate
//!
//! **Spark Streaming's model — discretized streams over resilient distributed datasets —
//! rebuilt in Rust.** An RDD ([`Rdd`](core::Rdd)) is an immutable, partitioned, lazily
//! computed collection that remembers how it was derived (its lineage), so a lost partition is
//! recomputed, never lost; a discretized stream ([`DStream`](streaming::DStream)) is one RDD
//! per batch interval. This crate re-exports the layers — [`core`] (RDDs, the scheduler,
//! cluster mode), [`streaming`] (streams, receivers, event time, Kafka, the status page) and,
//! with a database feature, `sql` (exactly-once sinks) — and the launcher `spate-submit`. Bring
//! what an application needs into scope with `use spate::prelude::*`.
//!
//! The network word count (`examples/network_wordcount.rs`; `nc -lk 9999` in another terminal):
//!
//! ```no_run
//! use spate::prelude::*;
//! spate::init_logging();
//! let ssc = StreamingContext::new(Conf::from_env().set_app_name("NetworkWordCount"), Duration::from_secs(1))?;
//! let words = ssc.socket_text_stream("localhost", 9999).flat_map(|line| line.split(' '));
//! words.map(|w| (w, 1u64)).reduce_by_key(|a, b| a + b).print(10)?; // one job per batch
//! ssc.start()?;
//! ssc.await_termination()?; // SIGINT/SIGTERM: a graceful stop
//! # Ok::<(), spate::prelude::Error>(())
//! ```
//!
//! A batch job on RDDs:
//!
//! ```
//! use spate::prelude::*;
//! let ctx = Context::new(Conf::new().set_master("local[2]"))?;
//! let total = ctx.parallelize((1..=100u64).collect(), 4).reduce(|a, b| a + b)?;
//! assert_eq!(total, Some(5050));
//! # Ok::<(), spate::prelude::Error>(())
//! ```
//!
//! ## What there is
//!
//! | capability | where |
//! |---|---|
//! | RDDs: transformations, pair operations, caching, checkpoints, recovery by lineage | [`core::Rdd`], [`core::Context`] |
//! | Streams: receivers, the DStream API, windows and state, backpressure, graceful stops | [`streaming::StreamingContext`], [`streaming::DStream`], [`streaming::Receiver`] |
//! | Event time: watermarks, windows, output modes | [`streaming::EventTimeStream`], [`streaming::OutputMode`] |
#![cfg_attr(
    feature = "kafka",
    doc = "| Kafka's direct stream (feature `kafka`) | [`streaming::kafka`] |"
)]
#![cfg_attr(
    not(feature = "kafka"),
    doc = "| Kafka's direct stream (feature `kafka`) | `spate::streaming::kafka` |"
)]
#![cfg_attr(
    any(feature = "postgres", feature = "mysql"),
    doc = "| Exactly-once into PostgreSQL and MySQL (features `postgres`, `mysql`) | [`sql::Sink`] |"
)]
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql")),
    doc = "| Exactly-once into PostgreSQL and MySQL (features `postgres`, `mysql`) | `spate::sql::Sink` |"
)]
//! | Listeners and the live status page (feature `ui`, on by default) | [`streaming::StreamingListener`], [`streaming::StreamingContext::ui_url`] |
//! | Configuration: every `spate.*` key, its default, bounds and meaning | [`core::conf::KEYS`], [`streaming::KEYS`], [`Conf`](core::Conf) |
//! | Cluster mode: the same binary as driver and executors, on Slurm or `local-cluster[N,C]` | [`core::conf::Master`] |
//!
//! The guides (streaming, event time, database sinks, Kafka, fault tolerance, the status page,
//! the launcher, cluster mode, benchmarks) are in the repository's `docs/`; the design is its
//! `ARCHITECTURE.md`.
//!
//! ## Cargo features
//!
//! `ui` (default): the status page, Spark's REST API, Prometheus metrics. `kafka`: Kafka's
//! direct stream. `postgres`, `mysql`: the database sinks. A word count needs none but `ui`.

pub use spate_core as core;

/// Shows spate's warnings and errors on stderr — a failed checkpoint write, a skipped corrupt
/// checkpoint, an unreadable input, a receiver reconnecting — which are otherwise invisible,
/// and the status UI's address.
/// Call it first in `main`; `RUST_LOG` overrides the level (`RUST_LOG=info`,
/// `RUST_LOG=spate_streaming=debug`). Colours only when stderr is a terminal and `NO_COLOR` is
/// unset or empty: a log piped or written to a file (an executor's, say) is plain text.
/// Does nothing if the program installed a `tracing` subscriber of its own (returns `false`
/// then).
///
/// # Examples
///
/// ```
/// spate::init_logging();
/// assert!(!spate::init_logging(), "the second call finds the first one's subscriber");
/// ```
pub fn init_logging() -> bool {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, not_understood) = log_filter(rust_log.as_deref());
    let colour = colour_wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let installed = tracing_subscriber::registry()
        .with(fmt)
        .with(filter)
        .try_init()
        .is_ok();
    if let (true, Some(reason)) = (installed, not_understood) {
        eprintln!(
            "spate: RUST_LOG is not understood ({reason}): logging warnings and errors; \
             write target=level directives, e.g. RUST_LOG=info or RUST_LOG=warn,spate_streaming=debug"
        );
    }
    installed
}

/// Warnings and errors, and where the status UI serves.
const DEFAULT_LOG: &str = "warn,spate_streaming::ui=info";

/// The filter `RUST_LOG` asks for (`target=level` directives, comma-separated; a bare level is
/// the default), or the default with the reason `RUST_LOG` was not understood.
fn log_filter(rust_log: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<String>) {
    let default = || DEFAULT_LOG.parse().expect("the default filter parses");
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => (default(), None),
        Some(directives) => match directives.parse() {
            Ok(filter) => (filter, None),
            Err(e) => (default(), Some(format!("{directives:?}: {e}"))),
        },
    }
}

/// Colour for a log on a terminal, unless `NO_COLOR` is set to something (no-color.org).
fn colour_wanted(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use spate_sql as sql;
pub use spate_streaming as streaming;

/// Everything an application usually needs. `Error` and `Result` are the streaming ones, which
/// wrap every RDD-layer error, so `?` works on both layers' results.
pub mod prelude {
    pub use spate_core::{
        Conf, Context, Data, HashPartitioner, Key, PartitionIter, Partitioner, RangePartitioner,
        Rdd, Show, StorageLevel, Text, TextLines,
    };
    pub use spate_streaming::{
        BatchInfo, DStream, Error, EventTimeStream, MapWithStateDStream, OutputMode, RddQueue,
        Receiver, ReceiverHandle, Result, State, StateSpec, StopOptions, StreamingContext,
        StreamingListener, Time, Window, WindowedEvents,
    };
    pub use std::time::Duration;
}

#[cfg(test)]
mod tests {
    use super::{colour_wanted, log_filter};
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_by_target_and_a_bad_one_falls_back_saying_why() {
        let (default, reason) = log_filter(None);
        assert!(reason.is_none());
        assert!(default.would_enable("spate_core::scheduler", &Level::WARN));
        assert!(!default.would_enable("spate_core::scheduler", &Level::INFO));
        assert!(default.would_enable("spate_streaming::ui", &Level::INFO));

        let (f, reason) = log_filter(Some("info,spate_streaming=debug"));
        assert!(reason.is_none());
        assert!(f.would_enable("spate_core", &Level::INFO));
        assert!(f.would_enable("spate_streaming::input", &Level::DEBUG));
        assert!(!f.would_enable("spate_core", &Level::DEBUG));

        let (f, reason) = log_filter(Some("spate_core=loud"));
        assert!(reason.unwrap().contains("spate_core=loud"));
        assert!(
            f.would_enable("spate_core", &Level::WARN),
            "the default applies"
        );
        assert!(log_filter(Some("  ")).1.is_none(), "blank is unset");
    }

    #[test]
    fn colour_only_on_a_terminal_and_never_under_no_color() {
        assert!(colour_wanted(true, None));
        assert!(
            colour_wanted(true, Some("".as_ref())),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour_wanted(true, Some("1".as_ref())));
        assert!(
            !colour_wanted(false, None),
            "a pipe or a file gets plain text"
        );
        assert!(!colour_wanted(false, Some("1".as_ref())));
    }
}
