//! SIGINT/SIGTERM while a streaming context runs: a graceful stop (receivers stop, what was
//! received is processed, the process can exit 0).
//!
//! Signal dispositions are process-wide, so this is the one place with process-global state:
//! how many contexts are listening. While any is, the signals are theirs; when none is (every
//! context stopped, or a stop is already under way), SIGINT and SIGTERM get their default
//! action again — a library user's program stays killable after `stop()`, and a second Ctrl+C
//! during a slow graceful stop ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::error::{Error, Result};

/// Contexts currently handling the signals (a lock, so that the count and the flag change
/// together).
static LISTENING: Mutex<usize> = Mutex::new(0);

/// True when no context is listening: the signals then terminate the process as by default.
fn default_when_idle() -> Result<&'static Arc<AtomicBool>> {
    static FLAG: OnceLock<std::io::Result<Arc<AtomicBool>>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(true));
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_default(sig, Arc::clone(&flag))?;
        }
        Ok(flag)
    })
    .as_ref()
    .map_err(|e| Error::Startup {
        what: "the SIGINT/SIGTERM default handler",
        source: std::io::Error::new(e.kind(), e.to_string()),
    })
}

/// One context's graceful-stop handling of SIGINT and SIGTERM.
pub(crate) struct GracefulSignals {
    handle: signal_hook::iterator::Handle,
    /// Set once this context no longer counts as listening (first signal, or close).
    released: Arc<AtomicBool>,
}

/// This context stops listening: when it was the last, the default action is back.
fn release(released: &AtomicBool) {
    if released.swap(true, Ordering::SeqCst) {
        return;
    }
    let mut listening = LISTENING.lock().unwrap_or_else(|e| e.into_inner());
    *listening -= 1;
    if *listening == 0
        && let Ok(flag) = default_when_idle()
    {
        flag.store(true, Ordering::SeqCst);
    }
}

impl GracefulSignals {
    /// Starts listening; the first SIGINT or SIGTERM calls `stop` (a graceful stop of the
    /// context, `None` when the context is gone).
    pub(crate) fn install(
        stop: impl FnOnce() -> Option<Result<()>> + Send + 'static,
    ) -> Result<GracefulSignals> {
        let flag = default_when_idle()?;
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|source| {
                Error::Startup {
                    what: "the SIGINT/SIGTERM handler",
                    source,
                }
            })?;
        {
            let mut listening = LISTENING.lock().unwrap_or_else(|e| e.into_inner());
            *listening += 1;
            flag.store(false, Ordering::SeqCst);
        }
        let released = Arc::new(AtomicBool::new(false));
        let handle = signals.handle();
        let mine = Arc::clone(&released);
        std::thread::Builder::new()
            .name("spate-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    // From here on a second signal is not ours: it ends the process.
                    release(&mine);
                    eprintln!(
                        "spate: received signal {sig}: stopping gracefully (processing data already received)"
                    );
                    if let Some(Err(e)) = stop() {
                        eprintln!("spate: {e}");
                    }
                }
            })
            .map_err(|source| {
                release(&released);
                Error::Startup {
                    what: "the signal thread",
                    source,
                }
            })?;
        Ok(GracefulSignals { handle, released })
    }

    /// Stops listening (at stop).
    pub(crate) fn close(self) {
        self.handle.close();
        release(&self.released);
    }
}
