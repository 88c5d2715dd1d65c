//! The live status of a streaming application over HTTP, in the driver: a web page (`page`,
//! server-rendered with SVG charts, updated live), Spark's streaming REST API (same paths and
//! field names), live events (server-sent), Prometheus metrics (`/metrics`) and health
//! endpoints, served by axum on a small tokio runtime of its own (so a busy receiver runtime
//! never delays a scrape). On by default, bound to loopback (`spate.ui.host`), on
//! `spate.ui.port` (4040, or the next free port; 0 = any).
//!
//! Events flow: scheduler → listener bus (bounded) → `store` (a listener: retained batches,
//! roll-ups, live-event ring, metrics) → handlers. Nothing here can slow a batch: the store
//! is only ever fed by the bus thread, and a slow HTTP client only falls behind in the ring.

mod api;
mod chart;
mod events;
mod metrics;
mod page;
mod store;

use std::sync::Arc;

use crate::error::{Error, Result};

pub(crate) use metrics::Metrics;
pub(crate) use store::StatusStore;

/// The UI's settings.
pub(crate) struct UiSettings {
    pub(crate) enabled: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) retained_batches: usize,
    pub(crate) retained_events: usize,
    /// `spate.ui.headerTimeout`.
    pub(crate) header_timeout: std::time::Duration,
    /// `spate.ui.maxConnections`.
    pub(crate) max_connections: usize,
}

impl UiSettings {
    pub(crate) fn from_conf(conf: &spate_core::Conf) -> crate::Result<UiSettings> {
        Ok(UiSettings {
            enabled: conf.get_bool("spate.ui.enabled")?.unwrap_or(true),
            host: conf.get("spate.ui.host").unwrap_or("127.0.0.1").to_string(),
            port: conf.get_port("spate.ui.port")?.unwrap_or(4040),
            retained_batches: conf.get_count("spate.streaming.ui.retainedBatches")?,
            retained_events: conf.get_count("spate.streaming.ui.retainedEvents")?,
            header_timeout: conf
                .get_duration("spate.ui.headerTimeout")?
                .unwrap_or(std::time::Duration::from_secs(10)),
            max_connections: conf.get_count("spate.ui.maxConnections")?,
        })
    }
}

/// What the UI reads from the running context at a moment (no event carries it).
#[derive(Clone, Debug, Default)]
pub(crate) struct Live {
    pub(crate) dropped_events: u64,
    pub(crate) receivers: Vec<crate::common::ReceiverStats>,
    pub(crate) checkpoint_dir: Option<std::path::PathBuf>,
    /// The batch time of the last driver metadata written.
    pub(crate) last_checkpoint: Option<crate::Time>,
    /// Why metadata writes fail now, if they do.
    pub(crate) checkpoint_failing: Option<String>,
    pub(crate) wal: bool,
}

/// Reads [`Live`] (a closure over a weak handle of the context).
pub(crate) type Probe = Box<dyn Fn() -> Live + Send + Sync>;

/// How many ports after `spate.ui.port` are tried before any free port is taken.
const PORT_RETRIES: u16 = 16;

/// A running UI server.
pub(crate) struct Ui {
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl Ui {
    /// Starts the server for an application whose listener store is `store`.
    pub(crate) fn start(
        settings: &UiSettings,
        app_name: &str,
        batch_interval_ms: u64,
        store: Arc<StatusStore>,
    ) -> Result<Ui> {
        let startup = |source| Error::Startup {
            what: "the UI server",
            source,
        };
        let listener = bind(&settings.host, settings.port).map_err(startup)?;
        let addr = listener.local_addr().map_err(startup)?;
        let started_wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let app = Arc::new(api::App {
            id: format!("local-{started_wall_ms}"),
            name: app_name.to_string(),
            started_wall_ms,
            batch_interval_ms,
            store,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("spate-ui")
            .enable_all()
            .build()
            .map_err(startup)?;
        listener.set_nonblocking(true).map_err(startup)?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(startup)?
        };
        let router = api::router(app);
        runtime.spawn(serve(
            listener,
            router,
            settings.header_timeout,
            settings.max_connections,
        ));
        let url = format!("http://{addr}");
        tracing::info!("streaming UI and REST API at {url}");
        Ok(Ui { url, runtime })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Stops serving (connections in flight are dropped).
    pub(crate) fn stop(self) {
        self.runtime.shutdown_background();
    }
}

/// Serves `router` on `listener`: each connection HTTP/1.1 with `header_timeout` for every
/// request's header — also while a kept-alive connection waits for its next request —, at most
/// `max_connections` at once (one over is closed at once), and an accept that fails (no file
/// descriptor left) retried after a pause instead of at once. (axum's own `serve` has neither
/// timeouts nor a cap: 150 half-sent headers once starved the receivers of descriptors.)
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    header_timeout: std::time::Duration,
    max_connections: usize,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let mut refused: u64 = 0;
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("the UI cannot accept a connection: {e}; retrying in 100 ms");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    "the UI refused a connection from {peer}: {max_connections} are open \
                     (spate.ui.maxConnections); {refused} refused so far"
                );
            }
            drop(tcp);
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(tcp), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("UI connection from {peer}: {e}");
            }
            drop(slot);
        });
    }
}

/// Binds `host:port`, else the next ports, else any free port (with a warning).
fn bind(host: &str, port: u16) -> std::io::Result<std::net::TcpListener> {
    if port == 0 {
        return std::net::TcpListener::bind((host, 0));
    }
    let mut last = None;
    for p in port..=port.saturating_add(PORT_RETRIES) {
        match std::net::TcpListener::bind((host, p)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    tracing::warn!(
        "UI ports {port}..={} are taken ({}); using any free port",
        port.saturating_add(PORT_RETRIES),
        last.map_or_else(String::new, |e| e.to_string())
    );
    std::net::TcpListener::bind((host, 0))
}
