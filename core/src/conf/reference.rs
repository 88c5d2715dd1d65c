//! The configuration reference page, rendered from key tables so that a page and the code
//! cannot disagree. The layer that knows every table renders `docs/configuration.md` and tests
//! that the committed page is current (spate-streaming: `KEYS`).

use super::{KeySpec, ValueKind};

/// A page section: its title and the key prefixes it gathers, in page order.
pub type Section = (&'static str, &'static [&'static str]);

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

/// The configuration reference page, as Markdown: every key of `keys` with its form,
/// default, bounds and meaning, in `sections` (a key goes to the first section with a matching
/// prefix, and within it keys follow the prefixes' order, then the key). `source` says where
/// the page comes from and how to regenerate it. A key no section gathers is an error.
///
/// # Examples
///
/// ```
/// use spate_core::conf::{KEYS, reference::markdown};
/// let page = markdown(KEYS.iter(), &[("Everything", &["spate."])], "a test").unwrap();
/// assert!(page.contains("| `spate.task.maxFailures` |"));
/// ```
pub fn markdown<'a>(
    keys: impl Iterator<Item = &'a KeySpec>,
    sections: &[Section],
    source: &str,
) -> Result<String, String> {
    let mut page = format!(
        "# Configuration\n\n\
         <!-- Generated from {source}; do not edit by hand. -->\n\n\
         Every `spate.*` key spate reads. Set them in code (`Conf::new().set(key, value)`), on the\n\
         launcher (`spate-submit --conf key=value`, or `--properties-file` with `key value` lines),\n\
         or in the environment `Conf::from_env()` reads (`SPATE_MASTER`, `SPATE_APP_NAME`,\n\
         `SPATE_CONF_<key>` with the key itself or in upper case with `_` for `.`). A `spate.*` key\n\
         spate does not know is refused, naming the nearest known key; a value outside its form or\n\
         bounds is refused, naming the key and what it takes. Other keys are the application's own.\n",
    );
    let keys: Vec<&KeySpec> = keys.collect();
    let mut placed = vec![false; keys.len()];
    for (title, prefixes) in sections {
        let mut rows: Vec<(usize, usize)> = (0..keys.len())
            .filter(|&i| !placed[i])
            .filter_map(|i| {
                let p = prefixes.iter().position(|p| keys[i].key.starts_with(p))?;
                Some((p, i))
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        rows.sort_by(|a, b| (a.0, keys[a.1].key).cmp(&(b.0, keys[b.1].key)));
        page.push_str(&format!(
            "\n## {title}\n\n| key | form | default | bounds | meaning |\n|---|---|---|---|---|\n"
        ));
        for (_, i) in rows {
            placed[i] = true;
            let k = keys[i];
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
    match placed.iter().position(|p| !p) {
        Some(i) => Err(format!("no section gathers {}", keys[i].key)),
        None => Ok(page),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::KEYS;

    #[test]
    fn every_key_is_on_the_page_once_and_a_key_left_out_is_an_error() {
        let page = markdown(KEYS.iter(), &[("All", &["spate."])], "a test").unwrap();
        for k in KEYS {
            let row = format!("| `{}` |", k.key);
            assert_eq!(page.matches(&row).count(), 1, "{}", k.key);
        }
        let err = markdown(KEYS.iter(), &[("Tasks", &["spate.task."])], "a test").unwrap_err();
        assert!(err.starts_with("no section gathers spate."), "{err}");
    }
}
