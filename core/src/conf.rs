//! Configuration: a by-value builder of string keys, the table of keys spate knows, and the
//! parsers for the value forms they use (masters, durations, sizes).
//!
//! Keys outside the `spate.` namespace are the application's own and are passed through untouched;
//! a `spate.*` key that spate does not know is an error naming the nearest known key, because a
//! silently ignored typo is worse than a refused start.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};

mod keys;
mod master;
pub mod reference;

pub use keys::{KEYS, KeySpec, ValueKind};
use keys::{check_bounds, namespace, nearest_key};
pub use master::{MAX_LOCAL_EXECUTORS, MAX_THREADS, Master};

/// Parses a duration such as `100us`, `200ms`, `1s`, `5m`/`5min`, `2h`, `1d`.
///
/// A unit is required: a bare number is ambiguous and refused with a message saying so.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use spate_core::conf::parse_duration;
/// assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
/// assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(parse_duration("200").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration> {
    let bad = || Error::InvalidDuration {
        input: input.to_string(),
    };
    let s = input.trim().to_ascii_lowercase();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit_secs = match unit.trim() {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(bad()),
    };
    // `try_`: a number too large for a Duration is a bad value, not a panic.
    Duration::try_from_secs_f64(value * unit_secs).map_err(|_| bad())
}

/// Parses a byte size such as `1024`, `512k`, `64m`, `1g`, `2t` (binary multiples, optional `b`).
///
/// # Examples
///
/// ```
/// use spate_core::conf::parse_size;
/// assert_eq!(parse_size("64m").unwrap(), 64 << 20);
/// assert_eq!(parse_size("1kb").unwrap(), 1024);
/// assert_eq!(parse_size("100").unwrap(), 100);
/// assert!(parse_size("lots").is_err());
/// ```
pub fn parse_size(input: &str) -> Result<u64> {
    let bad = || Error::InvalidSize {
        input: input.to_string(),
    };
    let s = input.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        "t" | "tb" => 40,
        _ => return Err(bad()),
    };
    value.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// Application configuration: a by-value builder of string settings.
///
/// # Examples
///
/// ```
/// use spate_core::Conf;
/// let conf = Conf::new()
///     .set_master("local[2]")
///     .set_app_name("demo")
///     .set("spate.storage.memory", "64m");
/// assert_eq!(conf.get_size("spate.storage.memory").unwrap(), 64 << 20);
/// assert_eq!(conf.get("spate.app.name"), Some("demo"));
/// conf.validate().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Conf {
    settings: BTreeMap<String, String>,
    /// The key tables it knows: spate-core's, and those a layer above added
    /// ([`Conf::with_keys`]).
    tables: Vec<&'static [KeySpec]>,
}

impl Default for Conf {
    fn default() -> Conf {
        Conf {
            settings: BTreeMap::new(),
            tables: vec![KEYS],
        }
    }
}

impl Conf {
    /// An empty configuration: every key at its default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new();
    /// assert_eq!(c.get("spate.master"), Some("local[*]"));
    /// ```
    pub fn new() -> Conf {
        Conf::default()
    }

    /// Reads what a launcher such as `spate-submit` passes: `SPATE_MASTER`, `SPATE_APP_NAME`, and
    /// `SPATE_CONF_<key>` for any key. `<key>` is either the key itself
    /// (`SPATE_CONF_spate.storage.memory`) or, for shells that refuse dots, the known key in
    /// upper case with `_` for `.` (`SPATE_CONF_SPATE_STORAGE_MEMORY`).
    ///
    /// # Examples
    ///
    /// ```
    /// // With no SPATE_* variables set, this is the same as Conf::new().
    /// let c = spate_core::Conf::from_env();
    /// assert!(c.get("spate.master").is_some());
    /// ```
    pub fn from_env() -> Conf {
        Conf::from_vars(std::env::vars())
    }

    /// [`Conf::from_env`] over any list of variables (what it uses; handy in tests).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::from_vars([
    ///     ("SPATE_MASTER".to_string(), "local[2]".to_string()),
    ///     ("SPATE_CONF_SPATE_TASK_MAXFAILURES".to_string(), "2".to_string()),
    /// ]);
    /// assert_eq!(c.get("spate.master"), Some("local[2]"));
    /// assert_eq!(c.get_count("spate.task.maxFailures").unwrap(), 2);
    /// ```
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Conf {
        let mut conf = Conf::new();
        for (name, value) in vars {
            if name == "SPATE_MASTER" {
                conf = conf.set_master(value);
            } else if name == "SPATE_APP_NAME" {
                conf = conf.set_app_name(value);
            } else if let Some(key) = name.strip_prefix("SPATE_CONF_") {
                // A name without dots is resolved against the keys known now, and again when
                // a layer adds its table (`with_keys`).
                let key = conf.env_name_to_key(key).unwrap_or(key).to_string();
                conf = conf.set(key, value);
            }
        }
        conf
    }

    /// Sets the master (`spate.master`).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set_master("local[4]");
    /// assert_eq!(c.master().unwrap().threads(), 4);
    /// ```
    pub fn set_master(self, master: impl Into<String>) -> Conf {
        self.set("spate.master", master)
    }

    /// Sets the application name (`spate.app.name`).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set_app_name("wc");
    /// assert_eq!(c.app_name(), "wc");
    /// ```
    pub fn set_app_name(self, name: impl Into<String>) -> Conf {
        self.set("spate.app.name", name)
    }

    /// Sets any key. Validation happens in [`Conf::validate`] (which `Context::new` calls), so a
    /// chain of `set`s reads cleanly.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("myapp.threshold", "3");
    /// assert_eq!(c.get("myapp.threshold"), Some("3"));
    /// ```
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Conf {
        self.settings.insert(key.into(), value.into());
        self
    }

    /// The value of `key`: the one set, else its default, else `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new();
    /// assert_eq!(c.get("spate.task.maxFailures"), Some("4"));
    /// assert_eq!(c.get("not.set"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .map(String::as_str)
            .or_else(|| self.spec(key).and_then(|s| s.default))
    }

    /// Adds a layer's key table (its keys' defaults, forms and bounds; see
    /// [`key_table!`](crate::key_table)). Settings given by environment name
    /// (`SPATE_CONF_SPATE_X_Y`) resolve against it too. Adding a table twice adds it once.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::conf::KeySpec;
    /// const MINE: &[KeySpec] = spate_core::key_table! {
    ///     "spate.myjob.batchSize", Count, Some("100"), None, None, "Records per batch.";
    /// };
    /// let conf = spate_core::Conf::new().set("spate.myjob.batchSize", "0");
    /// assert!(conf.validate().is_ok()); // a namespace no table claims: left to its layer
    /// assert!(conf.with_keys(MINE).validate().is_err()); // must be at least 1
    /// ```
    pub fn with_keys(mut self, table: &'static [KeySpec]) -> Conf {
        if !self.tables.iter().any(|t| std::ptr::eq(*t, table)) {
            self.tables.push(table);
        }
        let unresolved: Vec<String> = self
            .settings
            .keys()
            .filter(|k| !k.contains('.'))
            .cloned()
            .collect();
        for name in unresolved {
            if let Some(key) = self.env_name_to_key(&name) {
                let key = key.to_string();
                if let Some(value) = self.settings.remove(&name) {
                    self.settings.insert(key, value);
                }
            }
        }
        self
    }

    /// Every key of the tables this configuration knows.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::Conf::new().known_keys().any(|k| k.key == "spate.master"));
    /// ```
    pub fn known_keys(&self) -> impl Iterator<Item = &'static KeySpec> + '_ {
        self.tables.iter().flat_map(|t| t.iter())
    }

    fn spec(&self, key: &str) -> Option<&'static KeySpec> {
        self.known_keys().find(|k| k.key == key)
    }

    /// The known key an environment name (`SPATE_STORAGE_MEMORY`) stands for.
    fn env_name_to_key(&self, name: &str) -> Option<&'static str> {
        if name.contains('.') {
            return None;
        }
        self.known_keys()
            .find(|k| k.key.replace('.', "_").eq_ignore_ascii_case(name))
            .map(|k| k.key)
    }

    /// Whether `key` was set explicitly (not just defaulted).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("spate.task.maxFailures", "2");
    /// assert!(c.contains("spate.task.maxFailures"));
    /// assert!(!c.contains("spate.storage.memory"));
    /// ```
    pub fn contains(&self, key: &str) -> bool {
        self.settings.contains_key(key)
    }

    /// The explicitly set keys and values, in key order.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set_app_name("x");
    /// assert_eq!(c.entries().collect::<Vec<_>>(), vec![("spate.app.name", "x")]);
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The parsed master.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::Conf::new().set_master("mesos").master().is_err());
    /// ```
    pub fn master(&self) -> Result<Master> {
        Master::parse(self.get("spate.master").unwrap_or("local[*]"))
    }

    /// The application name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Conf::new().app_name(), "spate");
    /// ```
    pub fn app_name(&self) -> &str {
        self.get("spate.app.name").unwrap_or("spate")
    }

    fn invalid(key: &str, value: &str, expected: &str) -> Error {
        Error::InvalidConfValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// `key` as a duration (see [`parse_duration`]); `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("myapp.poll", "250ms");
    /// assert_eq!(c.get_duration("myapp.poll").unwrap(), Some(std::time::Duration::from_millis(250)));
    /// ```
    pub fn get_duration(&self, key: &str) -> Result<Option<Duration>> {
        self.get(key)
            .map(|v| {
                parse_duration(v).map_err(|_| {
                    Self::invalid(
                        key,
                        v,
                        "expected a duration with a unit, e.g. \"200ms\" or \"1s\"",
                    )
                })
            })
            .transpose()
    }

    /// `key` as a byte size (see [`parse_size`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("spate.storage.memory", "2g");
    /// assert_eq!(c.get_size("spate.storage.memory").unwrap(), 2 << 30);
    /// ```
    pub fn get_size(&self, key: &str) -> Result<u64> {
        let v = self.get(key).unwrap_or("0");
        parse_size(v)
            .map_err(|_| Self::invalid(key, v, "expected a size such as \"64m\" or \"1g\""))
    }

    /// `key` as a TCP port (0 to 65535); `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("spate.driver.port", "7077");
    /// assert_eq!(c.get_port("spate.driver.port").unwrap(), Some(7077));
    /// assert!(spate_core::Conf::new().set("spate.driver.port", "70000").validate().is_err());
    /// ```
    pub fn get_port(&self, key: &str) -> Result<Option<u16>> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<u16>()
                    .map_err(|_| Self::invalid(key, v, "expected a port from 0 to 65535"))
            })
            .transpose()
    }

    /// `key` as a whole number >= 1; `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new();
    /// assert_eq!(c.get_count("spate.task.maxFailures").unwrap(), 4);
    /// assert!(c.clone().set("spate.task.maxFailures", "0").get_count("spate.task.maxFailures").is_err());
    /// ```
    pub fn get_count(&self, key: &str) -> Result<usize> {
        self.get_opt_count(key)?
            .ok_or_else(|| Self::invalid(key, "", "expected a whole number >= 1"))
    }

    /// `key` as a whole number >= 1, `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Conf::new().get_opt_count("spate.default.parallelism").unwrap(), None);
    /// ```
    pub fn get_opt_count(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        Self::invalid(key, v, "expected a whole number >= 1, e.g. \"4\"")
                    })
            })
            .transpose()
    }

    /// `key` as a boolean (`true`/`false`); `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("myapp.verbose", "true");
    /// assert_eq!(c.get_bool("myapp.verbose").unwrap(), Some(true));
    /// ```
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| match v.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(Self::invalid(key, v, "expected \"true\" or \"false\"")),
            })
            .transpose()
    }

    /// Checks every setting: every known key's value must parse and be within its bounds, and a
    /// `spate.*` key must be known when its namespace is (`spate.storage.memroy` is refused,
    /// naming `spate.storage.memory`). A key of a namespace no table here claims
    /// (`spate.streaming.*` on a configuration of spate-core alone) is left to the layer that
    /// declares it, which checks it with [`Conf::validate_complete`].
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{Conf, Error};
    /// let err = Conf::new().set("spate.task.maxFailure", "3").validate().unwrap_err();
    /// match err {
    ///     Error::UnknownConfKey { suggestion, .. } => {
    ///         assert_eq!(suggestion.as_deref(), Some("spate.task.maxFailures"))
    ///     }
    ///     other => panic!("{other}"),
    /// }
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.check(false)
    }

    /// [`Conf::validate`], and every `spate.*` key must be in a table this configuration knows:
    /// what the top layer (a streaming context, the launcher) checks once every table is added.
    ///
    /// # Examples
    ///
    /// ```
    /// let conf = spate_core::Conf::new().set("spate.streming.blockInterval", "1s");
    /// assert!(conf.validate().is_ok());
    /// assert!(conf.validate_complete().is_err());
    /// ```
    pub fn validate_complete(&self) -> Result<()> {
        self.check(true)
    }

    fn check(&self, complete: bool) -> Result<()> {
        for (key, value) in &self.settings {
            if key.trim().is_empty() {
                return Err(Self::invalid(
                    key,
                    value,
                    "a setting needs a key: write KEY=VALUE, e.g. spate.storage.memory=1g",
                ));
            }
            let Some(spec) = self.spec(key) else {
                // A namespace no known table claims belongs to a layer above, which checks
                // it when it adds its table (`validate_complete`).
                let claimed = self
                    .known_keys()
                    .any(|k| namespace(k.key) == namespace(key));
                if key.starts_with("spate.") && (claimed || complete) {
                    return Err(Error::UnknownConfKey {
                        key: key.clone(),
                        suggestion: nearest_key(key, self.known_keys()),
                    });
                }
                continue;
            };
            match spec.kind {
                ValueKind::Master => Master::parse(value).map(drop)?,
                ValueKind::Text => {}
                ValueKind::Port => self.get_port(key).map(drop)?,
                ValueKind::Count => self.get_count(key).map(drop)?,
                ValueKind::Duration => self.get_duration(key).map(drop)?,
                ValueKind::Size => self.get_size(key).map(drop)?,
                ValueKind::Bool => self.get_bool(key).map(drop)?,
                ValueKind::OneOf(words) => {
                    if !words.contains(&value.trim()) {
                        return Err(Error::InvalidConfValue {
                            key: key.to_string(),
                            value: value.to_string(),
                            expected: format!("one of {}", words.join(", ")),
                        });
                    }
                }
            }
            check_bounds(spec, value)?;
        }
        let interval = self.get_duration("spate.executor.heartbeatInterval")?;
        let timeout = self.get_duration("spate.executor.heartbeatTimeout")?;
        if let (Some(interval), Some(timeout)) = (interval, timeout)
            && timeout < interval * 2
        {
            return Err(Self::invalid(
                "spate.executor.heartbeatTimeout",
                self.get("spate.executor.heartbeatTimeout")
                    .unwrap_or_default(),
                &format!(
                    "must be at least twice spate.executor.heartbeatInterval ({interval:?}), or every executor is lost between two heartbeats"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("1min").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration(" 10 ms").unwrap(), Duration::from_millis(10));
        // A huge number overflows Duration: an error, not a panic (issue 30, finding 13).
        for bad in [
            "",
            "ms",
            "1x",
            "-1s",
            "1..2s",
            "200",
            "99999999999999999999999d",
            "1e308s",
        ] {
            assert!(
                matches!(parse_duration(bad), Err(Error::InvalidDuration { .. })),
                "{bad}"
            );
        }
        for bad in ["", "1.5g", "k", "99999999999999t"] {
            assert!(
                matches!(parse_size(bad), Err(Error::InvalidSize { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn masters() {
        for bad in [
            "",
            "local[]",
            "local[0]",
            "local[-1]",
            "local[2",
            "spark://x:7077",
        ] {
            assert!(
                matches!(Master::parse(bad), Err(Error::InvalidMaster { .. })),
                "{bad}"
            );
        }
        // Issue 30, finding 5: 4,096 task slots on one host were accepted.
        let err = Master::parse("local-cluster[64,64]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 256 task slots"), "{err}");
        assert!(Master::parse("local-cluster[64,4]").is_ok());
    }

    #[test]
    fn unknown_keys_get_suggestions_or_none() {
        let err = Conf::new()
            .set("spate.storage.memroy", "1g")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("spate.storage.memory"), "{err}");
        let err = Conf::new().set("spate.zzz", "1").validate().unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnknownConfKey {
                    suggestion: None,
                    ..
                }
            ),
            "{err}"
        );
        let err = Conf::new()
            .set("spate.storage.memory", "lots")
            .validate()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfValue { .. }), "{err}");
    }

    #[test]
    fn env_names_map_to_keys() {
        let c = Conf::from_vars([
            ("SPATE_CONF_spate.storage.memory".into(), "1m".into()),
            ("SPATE_CONF_SPATE_DEFAULT_PARALLELISM".into(), "3".into()),
            ("SPATE_APP_NAME".into(), "n".into()),
            ("PATH".into(), "/bin".into()),
        ]);
        assert_eq!(c.get_size("spate.storage.memory").unwrap(), 1 << 20);
        assert_eq!(
            c.get_opt_count("spate.default.parallelism").unwrap(),
            Some(3)
        );
        assert_eq!(c.app_name(), "n");
    }
}
