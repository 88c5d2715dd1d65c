//! The cluster RPC servers' accept loop and idle connections.
//!
//! tonic's own loop retries a failed `accept` at once: with the process out of file
//! descriptors, every retry fails again and the driver burned a core until descriptors came
//! back. Here a failed accept backs off (10 ms doubling to 1 s, reset by the next success) and
//! is logged once per [`Refusals::EVERY`] with a count.
//!
//! A connection that sends nothing for `spate.rpc.idleTimeout` is closed ([`Idle`]): the
//! server pings every peer at a third of it (HTTP/2 keepalive), so a live peer always answers
//! in time, and a socket that opened a connection and went silent gives its descriptor back.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::tls::Refusals;

/// The first pause after a failed accept; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Where connections come from: a TCP listener (a fake one in tests).
pub(crate) trait Accept: Send + 'static {
    type Conn: Send + 'static;
    fn accept_one(&mut self) -> impl Future<Output = io::Result<(Self::Conn, SocketAddr)>> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Conn = tokio::net::TcpStream;
    async fn accept_one(&mut self) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
        let (tcp, peer) = self.accept().await?;
        // A server's small replies (a command, a task's outcome) must not wait for the peer's
        // delayed ACK, ~40 ms each: what once made a batch cost ~100 ms on a cluster.
        let _ = tcp.set_nodelay(true);
        Ok((tcp, peer))
    }
}

/// Accepts connections (from inside a runtime) until the receiver is dropped, each closed
/// after `idle` without a byte from the peer.
pub(crate) fn accepted<A: Accept>(
    mut listener: A,
    log: Arc<Refusals>,
    idle: Duration,
) -> tokio::sync::mpsc::Receiver<(Idle<A::Conn>, SocketAddr)> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            let accepted = tokio::select! {
                a = listener.accept_one() => a,
                () = tx.closed() => return,
            };
            match accepted {
                Ok((conn, peer)) => {
                    backoff = MIN_BACKOFF;
                    if tx.send((Idle::new(conn, idle), peer)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    log.accept_failed(&format!("{e}; retrying in {backoff:?}"));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    });
    rx
}

/// A connection closed with `TimedOut` once its peer has sent nothing for its idle timeout.
///
/// Activity is noted with a clock read per successful read (not per byte or record); the timer
/// is only re-armed when it fires early.
pub(crate) struct Idle<S> {
    inner: S,
    idle: Duration,
    last_read: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    pub(crate) fn new(inner: S, idle: Duration) -> Idle<S> {
        let now = Instant::now();
        Idle {
            inner,
            idle,
            last_read: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// `Pending` while the connection may stay; a `TimedOut` error once it has idled too long.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let due = self.last_read + self.idle;
            if Instant::now() >= due {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "closed after {:?} without a byte from the peer (spate.rpc.idleTimeout)",
                        self.idle
                    ),
                )));
            }
            self.timer.as_mut().reset(due);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.last_read = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.poll_idle(cx),
            err => err,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected for Idle<S> {
    type ConnectInfo = S::ConnectInfo;
    fn connect_info(&self) -> S::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that connects and goes silent is closed after the idle timeout; one that keeps
    /// talking stays (tokio's paused clock: no real waiting).
    #[test]
    fn a_silent_connection_is_closed_and_a_talking_one_stays() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            use tokio::io::AsyncReadExt;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut rx = accepted(
                listener,
                Arc::new(Refusals::new("test")),
                Duration::from_secs(60),
            );
            let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut conn, _) = rx.recv().await.unwrap();
            let mut talker = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut talking, _) = rx.recv().await.unwrap();
            let talk = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    talker.write_all(b"x").await.unwrap();
                }
                talker
            });
            let mut buf = [0u8; 8];
            let start = Instant::now();
            let err = conn.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert!(err.to_string().contains("spate.rpc.idleTimeout"), "{err}");
            assert_eq!(start.elapsed(), Duration::from_secs(60));
            // 150 s of a byte every 30 s: never idle for 60 s.
            for _ in 0..5 {
                assert_eq!(talking.read(&mut buf).await.unwrap(), 1);
            }
            let _talker = talk.await.unwrap();
            drop(silent);
        });
    }

    /// Out of file descriptors, every accept fails at once: the loop backs off (10 ms doubling
    /// to 1 s) instead of spinning, and logs one line per period with a count.
    #[test]
    fn failed_accepts_back_off_and_log_once() {
        struct Exhausted(Arc<std::sync::atomic::AtomicU64>);
        impl Accept for Exhausted {
            type Conn = tokio::io::DuplexStream;
            async fn accept_one(&mut self) -> io::Result<(Self::Conn, SocketAddr)> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(io::Error::from_raw_os_error(24)) // EMFILE
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let log = Arc::new(Refusals::new("test"));
        rt.block_on(async {
            let _rx = accepted(
                Exhausted(Arc::clone(&calls)),
                Arc::clone(&log),
                Duration::from_secs(60),
            );
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let n = calls.load(std::sync::atomic::Ordering::Relaxed);
        // 10+20+…+640 ms, then one a second: 16 attempts in 10 s (a spinning loop: millions).
        assert!((10..=20).contains(&n), "{n} accept attempts in 10 s");
        assert_eq!(log.total(), n);
    }
}
