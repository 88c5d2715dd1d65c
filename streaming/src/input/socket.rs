//! The socket text receiver: newline-terminated lines from a TCP server (`nc -lk 9999`).
//!
//! Reads 1 MiB or more at a time on the receivers' tokio runtime. The complete lines of each
//! read are stored as [`TextLines`]: the read buffer itself (or a copy of a small read), checked
//! once, with nothing kept per line; a task cuts each line out as a [`Text`] slice of it (short
//! lines inline), so splitting them into words later allocates nothing per word either. A
//! refused connection, or one that ends without sending anything, is retried with capped
//! exponential backoff (and rate-limited warnings); every reconnect waits at least 100 ms; invalid UTF-8 is
//! replaced and counted; lines longer than `spate.streaming.receiver.maxLineBytes` are skipped
//! and counted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use spate_core::{Text, TextLines};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::receiver::{Receiver, ReceiverHandle};

const READ_SIZE: usize = 1 << 20;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Receives `\n`- or `\r\n`-terminated lines from `host:port`.
pub(crate) struct SocketReceiver {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) max_line_bytes: usize,
    pub(crate) max_backoff: Duration,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SocketReceiver {
    pub(crate) fn new(
        host: String,
        port: u16,
        max_line_bytes: usize,
        max_backoff: Duration,
    ) -> Self {
        SocketReceiver {
            host,
            port,
            max_line_bytes,
            max_backoff,
            task: None,
        }
    }
}

impl Receiver<Text> for SocketReceiver {
    fn on_start(&mut self, handle: ReceiverHandle<Text>) {
        let (host, port, max_line, max_backoff) = (
            self.host.clone(),
            self.port,
            self.max_line_bytes,
            self.max_backoff,
        );
        let rt = handle.runtime().clone();
        self.task = Some(rt.spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            // Attempts in a row that delivered nothing (refused, or accepted and closed empty).
            let mut futile = 0u32;
            while !handle.is_stopped() {
                let id = handle.stream_id();
                let waste = match TcpStream::connect((host.as_str(), port)).await {
                    Ok(stream) => {
                        let (end, delivered) = read_lines(stream, &handle, max_line).await;
                        if handle.is_stopped() {
                            break;
                        }
                        if delivered > 0 {
                            if futile > 0 {
                                tracing::info!("{id}: connected to {host}:{port}");
                            }
                            futile = 0;
                            backoff = FIRST_BACKOFF;
                            tracing::warn!("{id}: connection to {host}:{port} ended ({end}); reconnecting in {backoff:?}");
                            None
                        } else {
                            Some(format!("the connection {end} before sending anything"))
                        }
                    }
                    Err(e) => Some(format!("cannot connect ({e})")),
                };
                if let Some(why) = &waste {
                    handle.intake.counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                    // Log the first failures, then every tenth: a down (or accept-and-close)
                    // server is not a flood.
                    if futile < 3 || futile.is_multiple_of(10) {
                        tracing::warn!(
                            "{id}: {host}:{port}: {why}; retrying in {backoff:?} (attempt {})",
                            futile + 1
                        );
                    }
                    futile += 1;
                }
                // Every reconnect waits: one after data at the first step, futile ones longer
                // each time, so no server can spin the receiver.
                tokio::time::sleep(backoff).await;
                if waste.is_some() {
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }));
    }

    fn name(&self) -> String {
        format!("socket {}:{}", self.host, self.port)
    }

    fn on_stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Reads lines until the connection ends; returns why it ended and how many bytes it delivered.
async fn read_lines(
    mut stream: TcpStream,
    handle: &ReceiverHandle<Text>,
    max_line: usize,
) -> (String, u64) {
    let mut delivered = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(READ_SIZE * 2);
    // True while skipping the rest of an over-long line.
    let mut skipping = false;
    loop {
        if buf.capacity() - buf.len() < READ_SIZE {
            buf.reserve(READ_SIZE);
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) => {
                // EOF: a final line without newline is still a line.
                if !buf.is_empty() && !skipping {
                    buf.push(b'\n');
                    let shared = Arc::new(std::mem::take(&mut buf));
                    let lines = checked_lines(&shared, handle, max_line, &mut skipping);
                    handle.store_lines_async(lines).await;
                }
                return ("was closed by the server".into(), delivered);
            }
            Ok(n) => {
                delivered += n as u64;
                let Some(last_nl) = memchr::memrchr(b'\n', &buf) else {
                    if buf.len() > max_line {
                        // Discard the partial over-long line as it streams in.
                        if !skipping {
                            handle
                                .intake
                                .counters
                                .oversized
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        skipping = true;
                        buf.clear();
                    }
                    continue;
                };
                let shared = take_complete_lines(&mut buf, last_nl);
                let lines = checked_lines(&shared, handle, max_line, &mut skipping);
                if !lines.is_empty() && !handle.store_lines_async(lines).await {
                    return ("stream stopped".into(), delivered);
                }
            }
            Err(e) => return (format!("failed ({e})"), delivered),
        }
    }
}

/// Takes `buf[..=last_nl]` (the complete lines) out of `buf` as the buffer their texts will slice,
/// leaving the partial last line in `buf`. A mostly full buffer is handed over as it is, without
/// a copy (the partial line starts a new one); a mostly empty one (slow input) is copied to its
/// size, so that blocks never pin megabytes of spare capacity.
fn take_complete_lines(buf: &mut Vec<u8>, last_nl: usize) -> Arc<Vec<u8>> {
    if buf.len() >= buf.capacity() / 2 {
        let mut next = Vec::with_capacity(READ_SIZE * 2);
        next.extend_from_slice(&buf[last_nl + 1..]);
        buf.truncate(last_nl + 1);
        Arc::new(std::mem::replace(buf, next))
    } else {
        let lines = buf[..=last_nl].to_vec();
        buf.drain(..=last_nl);
        Arc::new(lines)
    }
}

/// The lines of `shared` (ending with `\n`): the buffer itself when it is all good lines (the
/// usual case, checked in one pass), else a copy of its good lines, with invalid UTF-8 replaced
/// and over-long lines (and the rest of one begun in an earlier read) skipped, and counted.
fn checked_lines(
    shared: &Arc<Vec<u8>>,
    handle: &ReceiverHandle<Text>,
    max_line: usize,
    skipping: &mut bool,
) -> TextLines {
    let mut lines = TextLines::new();
    // The tail of an over-long line already counted: up to the first newline.
    let from = if std::mem::take(skipping) {
        memchr::memchr(b'\n', shared).map_or(shared.len(), |nl| nl + 1)
    } else {
        0
    };
    if lines.push(shared, from..shared.len(), max_line).is_err() {
        let done = lines.push_lossy(&shared[from..], max_line);
        let counters = &handle.intake.counters;
        counters
            .invalid_utf8
            .fetch_add(done.replaced as u64, Ordering::Relaxed);
        counters
            .oversized
            .fetch_add(done.skipped as u64, Ordering::Relaxed);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_are_handed_over_when_the_buffer_is_full_and_copied_when_not() {
        // A full read: the buffer itself becomes the lines' buffer, no copy.
        let mut buf = Vec::with_capacity(READ_SIZE * 2);
        buf.resize(READ_SIZE * 2 - 5, b'a');
        buf.extend_from_slice(b"\npart");
        let data_ptr = buf.as_ptr();
        let last_nl = buf.len() - 5;
        let lines = take_complete_lines(&mut buf, last_nl);
        assert_eq!(lines.as_ptr(), data_ptr, "handed over, not copied");
        assert_eq!(lines.len(), READ_SIZE * 2 - 4);
        assert_eq!(buf, b"part", "the partial line starts the next buffer");
        assert!(buf.capacity() >= READ_SIZE * 2);

        // A small read: an exact copy, and the read buffer is kept for the next read.
        let mut buf = Vec::with_capacity(READ_SIZE * 2);
        buf.extend_from_slice(b"one\ntwo\nthr");
        let lines = take_complete_lines(&mut buf, 7);
        assert_eq!(&lines[..], b"one\ntwo\n");
        assert!(
            lines.capacity() < 64,
            "no spare megabytes pinned by the block"
        );
        assert_eq!(buf, b"thr");
        assert!(buf.capacity() >= READ_SIZE * 2);
    }
}
