//! The configuration reference page (`docs/configuration.md`), generated from [`KNOWN_KEYS`]
//! so that the page and the code cannot disagree: a test fails when the committed page is not
//! what [`markdown`] gives (`SPATE_BLESS=1` rewrites it).

use super::{KNOWN_KEYS, KeySpec, ValueKind};

/// The page's sections: a title and the key prefixes it gathers, in page order. A key goes to
/// the first section with a matching prefix; keys keep the table's order within a section.
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "Where it runs: masters, executors, the driver",
        &[
            "spate.master",
            "spate.app.name",
            "spate.executor.",
            "spate.driver.",
            "spate.locality.",
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
            "spate.streaming.stopGracefullyOnShutdown",
            "spate.streaming.gracefulStopTimeout",
        ],
    ),
    ("Streaming: batches and listeners", &["spate.streaming."]),
];

/// The value form of a key, as the page shows it.
fn form(kind: ValueKind) -> String {
    match kind {
        ValueKind::Master => "master".into(),
        ValueKind::Port => "port (0-65535)".into(),
        ValueKind::Text => "text".into(),
        ValueKind::Count => "count (>= 1)".into(),
        ValueKind::Duration => "duration (`200ms`, `5s`, `1min`)".into(),
        ValueKind::Size => "size (`64k`, `512m`, `1g`)".into(),
        ValueKind::Bool => "`true` / `false`".into(),
        ValueKind::OneOf(words) => {
            let words: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
            format!("one of {}", words.join(", "))
        }
    }
}

/// A key's bounds, or `–`.
fn bounds(spec: &KeySpec) -> String {
    match (spec.min, spec.max) {
        (Some(lo), Some(hi)) => format!("`{lo}` to `{hi}`"),
        (Some(lo), None) => format!(">= `{lo}`"),
        (None, Some(hi)) => format!("<= `{hi}`"),
        (None, None) => "–".into(),
    }
}

/// The configuration reference page, as Markdown: every known key with its form, default,
/// bounds and meaning, in sections.
///
/// # Examples
///
/// ```
/// let page = spate_core::conf::reference::markdown();
/// assert!(page.contains("| `spate.task.maxFailures` |"));
/// ```
pub fn markdown() -> String {
    let mut page = String::from(
        "# Configuration\n\n\
         <!-- Generated from `spate_core::conf::KNOWN_KEYS` (core/src/conf/keys.rs); do not edit by hand:\n     \
         `SPATE_BLESS=1 cargo test -p spate-core --lib conf::reference` rewrites it. -->\n\n\
         Every `spate.*` key spate reads. Set them in code (`Conf::new().set(key, value)`), on the\n\
         launcher (`spate-submit --conf key=value`, or `--properties-file` with `key value` lines),\n\
         or in the environment `Conf::from_env()` reads (`SPATE_MASTER`, `SPATE_APP_NAME`,\n\
         `SPATE_CONF_<key>` with the key itself or in upper case with `_` for `.`). A `spate.*` key\n\
         spate does not know is refused, naming the nearest known key; a value outside its form or\n\
         bounds is refused, naming the key and what it takes. Other keys are the application's own.\n",
    );
    let mut placed = vec![false; KNOWN_KEYS.len()];
    for (title, prefixes) in SECTIONS {
        let keys: Vec<usize> = (0..KNOWN_KEYS.len())
            .filter(|&i| !placed[i] && prefixes.iter().any(|p| KNOWN_KEYS[i].key.starts_with(p)))
            .collect();
        if keys.is_empty() {
            continue;
        }
        page.push_str(&format!(
            "\n## {title}\n\n| key | form | default | bounds | meaning |\n|---|---|---|---|---|\n"
        ));
        for i in keys {
            placed[i] = true;
            let k = &KNOWN_KEYS[i];
            page.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                k.key,
                form(k.kind),
                k.default.map_or("–".into(), |d| format!("`{d}`")),
                bounds(k),
                k.doc.replace('|', "\\|"),
            ));
        }
    }
    debug_assert!(placed.iter().all(|p| *p), "a key no section gathers");
    page
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn every_key_is_on_the_page_once() {
        let page = markdown();
        for k in KNOWN_KEYS {
            let row = format!("| `{}` |", k.key);
            assert_eq!(page.matches(&row).count(), 1, "{}", k.key);
        }
    }

    #[test]
    fn the_committed_page_is_what_the_key_table_gives() {
        crate::golden::assert_committed(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md"),
            &markdown(),
            "cargo test -p spate-core --lib conf::reference",
        );
    }
}
