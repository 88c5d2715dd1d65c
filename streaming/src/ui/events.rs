//! Live events as server-sent events (`/api/v1/applications/{app}/streaming/events`): one per
//! batch change (queued, processing, completed), receiver change and error, each with an id.
//! A client that reconnects with `Last-Event-ID` resumes after it; one that fell further behind
//! than the store keeps (`spate.streaming.ui.retainedEvents`) first gets a `gap` event saying
//! how many it missed, and one whose id was never sent (from a run before a driver restart) a
//! `gap` with `"reset": true`, then what happens next. Events come from the store's ring, never from the job: a stalled client
//! only falls behind.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::api::{Shared, wrong_app};
use super::store::{LiveEvent, StatusStore};

/// What a stream sends next after event `last`: the next retained event, or a gap first.
pub(crate) enum Next {
    Event(LiveEvent),
    /// Events after `last` up to `missed` were dropped before this client read them; or
    /// (`reset`) `last` was never sent — a page left open across a driver restart resends an
    /// id from the run before — and the stream goes on from now.
    Gap {
        missed: u64,
        resume_after: u64,
        reset: bool,
    },
}

/// The next thing to send after `last` (`None`: nothing yet).
pub(crate) fn next_after(store: &StatusStore, last: u64) -> Option<Next> {
    let s = store.state.lock();
    let newest = s.next_event - 1;
    if last > newest {
        // Once it waited forever for ids this run never reaches (and u64::MAX wrapped).
        return Some(Next::Gap {
            missed: 0,
            resume_after: newest,
            reset: true,
        });
    }
    let oldest = s.events.front()?.id;
    if last < oldest - 1 {
        return Some(Next::Gap {
            missed: oldest - 1 - last,
            resume_after: oldest - 1,
            reset: false,
        });
    }
    let index = (last - (oldest - 1)) as usize;
    s.events.get(index).cloned().map(Next::Event)
}

pub(crate) async fn events(
    axum::extract::State(app): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = wrong_app(&app, &id) {
        return r;
    }
    let store = Arc::clone(&app.store);
    // Resume after the client's last event; a new client starts with what happens next.
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| store.state.lock().next_event - 1);
    let stream = futures_util::stream::unfold((store, last), |(store, mut last)| async move {
        loop {
            let next = {
                // Registered before looking, so an event published in between still wakes us.
                let notified = store.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match next_after(&store, last) {
                    Some(next) => next,
                    None => {
                        notified.await;
                        continue;
                    }
                }
            };
            let event = match next {
                Next::Event(e) => {
                    last = e.id;
                    Event::default()
                        .id(e.id.to_string())
                        .event(e.kind)
                        .data(e.data.text())
                }
                Next::Gap {
                    missed,
                    resume_after,
                    reset,
                } => {
                    last = resume_after;
                    let data = if reset {
                        serde_json::json!({ "missed": missed, "reset": true })
                    } else {
                        serde_json::json!({ "missed": missed })
                    };
                    Event::default()
                        .id(resume_after.to_string())
                        .event("gap")
                        .data(data.to_string())
                }
            };
            return Some((Ok::<_, std::convert::Infallible>(event), (store, last)));
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
