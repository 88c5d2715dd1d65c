//! The configuration reference page, `docs/configuration.md`: every key of spate-core and
//! spate-streaming (the layers that declare keys), in sections. A test fails when the
//! committed page is not what the key tables give; `SPATE_BLESS=1` rewrites it:
//! `SPATE_BLESS=1 cargo test -p spate-streaming --lib reference`.

use spate_core::conf::reference::Section;

/// The page's sections, in page order (see `spate_core::conf::reference::markdown`).
const SECTIONS: &[Section] = &[
    (
        "Where it runs: masters, executors, the driver",
        &[
            "spate.master",
            "spate.app.name",
            "spate.executor.",
            "spate.driver.",
            "spate.locality.",
            "spate.rpc.",
        ],
    ),
    (
        "Jobs, tasks and storage",
        &[
            "spate.default.",
            "spate.task.",
            "spate.stage.",
            "spate.storage.",
            "spate.local.",
            "spate.textFile.",
            "spate.s3.",
        ],
    ),
    ("The status page", &["spate.ui.", "spate.streaming.ui."]),
    (
        "Receivers and backpressure",
        &[
            "spate.streaming.receiver.maxLineBytes",
            "spate.streaming.receiver.maxPendingRecords",
            "spate.streaming.receiver.maxReconnectBackoff",
            "spate.streaming.receiver.maxRate",
            "spate.streaming.receiverRestartDelay",
            "spate.streaming.blockInterval",
            "spate.streaming.backpressure.",
        ],
    ),
    ("Kafka", &["spate.streaming.kafka."]),
    (
        "Fault tolerance: the write-ahead log, file streams, stopping",
        &[
            "spate.streaming.receiver.writeAheadLog.",
            "spate.streaming.fileStream.",
            "spate.streaming.checkpoint.",
            "spate.streaming.stopGracefullyOnShutdown",
            "spate.streaming.gracefulStopTimeout",
        ],
    ),
    ("Streaming: batches and listeners", &["spate.streaming."]),
];

/// The page, from spate-core's keys and spate-streaming's.
pub(crate) fn markdown() -> Result<String, String> {
    let keys = spate_core::conf::KEYS
        .iter()
        .chain(super::KEYS.iter().flat_map(|t| t.iter()));
    spate_core::conf::reference::markdown(
        keys,
        SECTIONS,
        "the key tables of spate-core and spate-streaming (`spate_core::conf::KEYS`, \
         `spate_streaming::KEYS`); `SPATE_BLESS=1 cargo test -p spate-streaming --lib reference` \
         rewrites it",
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_committed_page_is_what_the_key_tables_give() {
        let page = super::markdown().unwrap();
        spate_core::golden::assert_committed(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md"),
            &page,
            "cargo test -p spate-streaming --lib reference",
        );
    }

    #[test]
    fn no_key_is_declared_twice() {
        let mut keys: Vec<&str> = spate_core::conf::KEYS
            .iter()
            .chain(super::super::KEYS.iter().flat_map(|t| t.iter()))
            .map(|k| k.key)
            .collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
