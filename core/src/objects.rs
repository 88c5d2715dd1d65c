//! Objects in S3 and S3-compatible stores as text input: `ctx.text_file("s3://bucket/key")`,
//! through Apache Arrow's `object_store` crate (the `object-store` feature).
//!
//! Where the store is comes from the usual AWS environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, …) and spate's `spate.s3.*` keys
//! (endpoint, region, path-style, plain HTTP), which win. Every error names the object or
//! prefix and the endpoint resolved from both. An object is read in byte ranges, a chunk at a
//! time, by the task that reads its split — never whole into memory.

#[cfg(feature = "object-store")]
pub(crate) use store::{ObjectReader, Store};

/// Where a text split's bytes come from when it is not a local file: ranged reads of an object.
pub(crate) trait RangeRead: Send + Sync {
    /// Appends up to `len` bytes from `offset` to `out`; how many (0 at the end).
    fn read_range(&self, offset: u64, len: usize, out: &mut Vec<u8>) -> std::io::Result<usize>;
    /// Why the object cannot be read at all (gone), asked before a file stream's task reads it.
    fn missing(&self) -> Option<std::io::Error> {
        None
    }
}

/// An object in a store, as listed ([`crate::Context::list_objects`]).
///
/// # Examples
///
/// ```
/// let o = spate_core::ObjectInfo { url: "s3://b/k".into(), len: 3, version: "\"e1\"".into(), modified_ms: 0 };
/// assert_eq!(o.len, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// `s3://bucket/key`.
    pub url: String,
    /// Its size in bytes.
    pub len: u64,
    /// What changes when the object is written again (its ETag, else its version).
    pub version: String,
    /// When it was last written, in ms since the Unix epoch.
    pub modified_ms: i64,
}

/// A reader that fails every read with why its object's store could not be opened (a text
/// input whose store settings are wrong fails its tasks saying so).
pub(crate) struct Unopenable(pub(crate) String);

impl RangeRead for Unopenable {
    fn read_range(&self, _: u64, _: usize, _: &mut Vec<u8>) -> std::io::Result<usize> {
        Err(std::io::Error::other(self.0.clone()))
    }
}

#[cfg(feature = "object-store")]
mod store {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::StreamExt;
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::path::Path as ObjectPath;
    use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

    use super::RangeRead;
    use crate::conf::Conf;
    use crate::error::{Error, Result};

    /// Objects listed under one prefix at most: a prefix naming millions is a mistake to report,
    /// not a listing to hold in memory.
    const MAX_OBJECTS: usize = 100_000;

    /// A store and what names it in errors.
    pub(crate) struct Store {
        store: Arc<dyn ObjectStore>,
        endpoint: String,
        runtime: Arc<tokio::runtime::Runtime>,
    }

    impl Store {
        /// The store of `url` (`s3://bucket/…`), configured from `conf` and the environment.
        pub(crate) fn open(
            url: &str,
            conf: &Conf,
            runtime: Arc<tokio::runtime::Runtime>,
        ) -> Result<(Store, ObjectPath)> {
            let fail = |endpoint: &str, reason: String| Error::ObjectStore {
                url: url.to_string(),
                endpoint: endpoint.to_string(),
                reason,
            };
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            if !matches!(scheme, "s3" | "s3a") {
                return Err(fail(
                    "-",
                    format!("the {scheme}:// scheme is not supported: s3://bucket/key is"),
                ));
            }
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(fail("-", "no bucket: s3://bucket/key".into()));
            }
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(e) = conf.get("spate.s3.endpoint") {
                b = b.with_endpoint(e);
            }
            if let Some(r) = conf.get("spate.s3.region") {
                b = b.with_region(r);
            }
            if let Some(k) = conf.get("spate.s3.accessKeyId") {
                b = b.with_access_key_id(k);
            }
            if let Some(k) = conf.get("spate.s3.secretAccessKey") {
                b = b.with_secret_access_key(k);
            }
            let path_style = conf.get_bool("spate.s3.pathStyle")?.unwrap_or(false);
            let allow_http = conf.get_bool("spate.s3.allowHttp")?.unwrap_or(false);
            let timeout = conf
                .get_duration("spate.s3.requestTimeout")?
                .unwrap_or(Duration::from_secs(30));
            b = b
                .with_virtual_hosted_style_request(!path_style)
                .with_retry(RetryConfig {
                    max_retries: conf.get_count("spate.s3.maxRetries")?,
                    retry_timeout: timeout,
                    ..RetryConfig::default()
                })
                // Whole client options replace the builder's (allow_http is one of them).
                .with_client_options(
                    ClientOptions::new()
                        .with_allow_http(allow_http)
                        .with_timeout(timeout)
                        .with_connect_timeout(timeout.min(Duration::from_secs(5))),
                );
            let region = b
                .get_config_value(&AmazonS3ConfigKey::Region)
                .unwrap_or_else(|| "us-east-1".into());
            let endpoint = b
                .get_config_value(&AmazonS3ConfigKey::Endpoint)
                .unwrap_or_else(|| format!("AWS S3 ({region})"));
            let store = b.build().map_err(|e| {
            fail(
                &endpoint,
                format!("{e} (set spate.s3.endpoint, spate.s3.pathStyle, spate.s3.allowHttp or the AWS_* variables)"),
            )
        })?;
            let path = ObjectPath::from(key);
            Ok((
                Store {
                    store: Arc::new(store),
                    endpoint,
                    runtime,
                },
                path,
            ))
        }

        /// The objects `url` names: the one object at its key, else every object under it as a
        /// prefix (hidden `_x` and `.x` names skipped, as Hadoop does), in name order; none is
        /// an error unless `allow_empty`. Each object with its path in the store.
        pub(crate) fn list(
            &self,
            url: &str,
            key: &ObjectPath,
            allow_empty: bool,
        ) -> Result<Vec<(super::ObjectInfo, ObjectPath)>> {
            let fail = |reason: String| Error::ObjectStore {
                url: url.to_string(),
                endpoint: self.endpoint.clone(),
                reason,
            };
            let base = url.trim_end_matches('/');
            let found = block_on(&self.runtime, async {
                if !key.as_ref().is_empty() && !url.ends_with('/') {
                    match self.store.head(key).await {
                        Ok(meta) => return Ok(vec![meta]),
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                let mut listing = self.store.list(Some(key));
                let mut out = Vec::new();
                while let Some(meta) = listing.next().await {
                    let meta = meta?;
                    let name = meta.location.filename().unwrap_or_default();
                    if name.starts_with('_') || name.starts_with('.') {
                        continue;
                    }
                    out.push(meta);
                    if out.len() > MAX_OBJECTS {
                        break;
                    }
                }
                Ok(out)
            });
            let mut found = found.map_err(|e| fail(explain(&e)))?;
            if found.len() > MAX_OBJECTS {
                return Err(fail(format!(
                    "more than {MAX_OBJECTS} objects under this prefix: name a narrower one"
                )));
            }
            if found.is_empty() && !allow_empty {
                return Err(fail("no object there, nor under it as a prefix".into()));
            }
            found.sort_by(|a, b| a.location.cmp(&b.location));
            let bucket_url = base.split_once("://").map_or(base, |(_, r)| r);
            let bucket = bucket_url.split('/').next().unwrap_or_default();
            Ok(found
                .into_iter()
                .map(|meta| {
                    let info = super::ObjectInfo {
                        url: format!("s3://{bucket}/{}", meta.location),
                        len: meta.size,
                        version: meta
                            .e_tag
                            .or(meta.version)
                            .unwrap_or_else(|| meta.last_modified.to_rfc3339()),
                        modified_ms: meta.last_modified.timestamp_millis(),
                    };
                    (info, meta.location)
                })
                .collect())
        }
    }

    /// Runs `f` on `rt` and waits, also from inside another runtime (a caller's async code),
    /// where blocking the thread on `rt` directly would panic: then from a scoped thread.
    fn block_on<F: std::future::Future + Send>(rt: &tokio::runtime::Runtime, f: F) -> F::Output
    where
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return rt.block_on(f);
        }
        std::thread::scope(|s| {
            s.spawn(|| rt.block_on(f))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// An object error as a reason that says what to do.
    fn explain(e: &object_store::Error) -> String {
        // The chain of causes: the client's own message often stops at "HTTP error".
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let part = s.to_string();
            if !text.contains(&part) {
                text = format!("{text}: {part}");
            }
            source = s.source();
        }
        match e {
            object_store::Error::NotFound { .. } if text.contains("NoSuchBucket") => {
                format!("no such bucket ({text})")
            }
            object_store::Error::NotFound { .. } => format!("no such object ({text})"),
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                format!("access refused: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY ({text})")
            }
            _ if text.contains("InvalidAccessKeyId")
                || text.contains("SignatureDoesNotMatch")
                || text.contains("AccessDenied") =>
            {
                format!("access refused: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY ({text})")
            }
            _ if text.contains("NoSuchBucket") => format!("no such bucket ({text})"),
            _ => text,
        }
    }

    /// One object, read in ranges by the task that reads a split of it.
    pub(crate) struct ObjectReader {
        store: Arc<dyn ObjectStore>,
        runtime: Arc<tokio::runtime::Runtime>,
        path: ObjectPath,
        url: String,
        endpoint: String,
    }

    impl ObjectReader {
        pub(crate) fn new(store: &Store, path: ObjectPath, url: String) -> ObjectReader {
            ObjectReader {
                store: Arc::clone(&store.store),
                runtime: Arc::clone(&store.runtime),
                path,
                url,
                endpoint: store.endpoint.clone(),
            }
        }
    }

    impl RangeRead for ObjectReader {
        fn missing(&self) -> Option<std::io::Error> {
            match block_on(&self.runtime, self.store.head(&self.path)) {
                Err(object_store::Error::NotFound { .. }) => Some(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{} (at {}): no such object", self.url, self.endpoint),
                )),
                _ => None,
            }
        }

        fn read_range(&self, offset: u64, len: usize, out: &mut Vec<u8>) -> std::io::Result<usize> {
            if len == 0 {
                return Ok(0);
            }
            let bytes = block_on(
                &self.runtime,
                self.store
                    .get_range(&self.path, offset..offset + len as u64),
            )
            .map_err(|e| {
                std::io::Error::other(format!(
                    "{} (at {}): {}",
                    self.url,
                    self.endpoint,
                    explain(&e)
                ))
            })?;
            out.extend_from_slice(&bytes);
            Ok(bytes.len())
        }
    }
}
