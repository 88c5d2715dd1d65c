//! How fast a receiver may store: the pending bound, `maxRate`'s pacing, and backpressure's
//! estimator, which sets the rate after every batch.

use super::*;

/// The time each piece of a rate-limited store stands for (see `Intake::paced`).
pub(super) const PACING_SLICE_SECS: f64 = 0.02;

/// Which rate estimator backpressure uses (`spate.streaming.backpressure.rateEstimator`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum EstimatorKind {
    /// [`SteadyRateEstimator`].
    #[default]
    Steady,
    /// [`PidRateEstimator`], Spark's.
    Pid,
}

/// How fast a receiver may store: a fixed cap, and whether backpressure adjusts it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RateSettings {
    pub(crate) max_rate: Option<usize>,
    pub(crate) backpressure: bool,
    pub(crate) estimator: EstimatorKind,
    pub(crate) initial_rate: Option<usize>,
    pub(crate) batch_interval_ms: u64,
}

impl<T: Data> Intake<T> {
    /// Whether the receiver must wait to store more: `maxPendingRecords` are pending, or half
    /// of them until backpressure first sets a rate. A batch's records stay pending while the
    /// next batch's arrive, so at the limit each holds about half; a first loaded batch (which
    /// has no rate limit yet) that took all of the bound left the second empty and the limit
    /// climbing back for several batches. (Until a rate, not merely until the first batch
    /// completes: with the log on the first batch is often empty, and the second then took the
    /// whole bound. Nor half of what is not yet a batch's: the first two batches then both
    /// came full, and the scheduling delay they left took several batches to drain.)
    pub(super) fn must_wait(&self, st: &IntakeState<T>) -> bool {
        let bound = if self.estimator.is_some() && !self.calibrated.load(Ordering::Relaxed) {
            (self.max_pending / 2).max(1)
        } else {
            self.max_pending
        };
        st.pending >= bound
    }

    /// Backpressure: batch `info` of this stream completed; let the controller set the rate.
    pub(crate) fn batch_completed(&self, info: &crate::listener::BatchInfo) {
        let Some(estimator) = &self.estimator else {
            return;
        };
        let (records, held_back) = self
            .state
            .lock()
            .allocated
            .get(&info.batch_time)
            .map_or((0, Duration::ZERO), |b| (b.records, b.held_back));
        // Stored here, or (a receiver on an executor) what its executor last reported.
        let accepted = self
            .remote_records()
            .unwrap_or_else(|| self.stored_so_far());
        let now = std::time::Instant::now();
        let stored_per_sec = match self.last_observed.lock().replace((now, accepted)) {
            Some((then, before)) if now > then => {
                accepted.saturating_sub(before) as f64 / (now - then).as_secs_f64()
            }
            _ => 0.0,
        };
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let observed = BatchObservation {
            time_ms: info.batch_time.millis(),
            records: records as u64,
            processing_ms: ms(info.processing_time),
            scheduling_delay_ms: ms(info.scheduling_delay),
            held_back_ms: ms(held_back),
            stored_per_sec,
        };
        tracing::debug!("{}: backpressure observes {observed:?}", self.stream);
        let decision = estimator.lock().observe(&observed, self.limiter.rate());
        match decision {
            RateDecision::Keep => {}
            RateDecision::Limit(rate) => self.limiter.set_rate(rate),
            RateDecision::Unlimited => self.limiter.unlimit(),
        }
        if decision != RateDecision::Keep {
            tracing::debug!(
                "{}: backpressure sets the rate to {:?} records/s",
                self.stream,
                self.limiter.rate()
            );
        }
        if self.limiter.rate().is_some() && !self.calibrated.swap(true, Ordering::Relaxed) {
            // Waiting under the half bound: the full one applies from now. (The lock: a
            // receiver between its check and its wait would miss the notification.)
            drop(self.state.lock());
            self.space.notify_all();
            self.space_async.notify_waiters();
        }
    }

    /// The rate this receiver is held to, if any (records/s).
    pub(crate) fn rate(&self) -> Option<f64> {
        self.limiter.rate()
    }

    /// Under a rate limit, `items` cut into pieces of about 20 ms worth each: each piece waits
    /// for its own share of time, so a large read (a socket buffer that filled while the
    /// receiver waited) is stored at the rate, not as one burst after a long wait — which
    /// would give batches of thousands of records between empty ones.
    pub(super) fn paced(&self, items: Received<T>) -> Vec<Received<T>> {
        match self.limiter.rate() {
            Some(rate) => {
                let piece = ((rate * PACING_SLICE_SECS).ceil() as usize).max(1);
                let parts = items.len().div_ceil(piece);
                items.split_into(parts)
            }
            None => vec![items],
        }
    }

    /// The pauses storing `n` records takes under the rate limit (counted as held back), in
    /// slices of at most 50 ms that end once the intake stops: a stop is not held up by a long
    /// wait at a low rate.
    pub(super) fn pauses(&self, n: usize) -> impl Iterator<Item = Duration> + '_ {
        let mut left = self.limiter.reserve(n);
        self.add_held_back(left);
        std::iter::from_fn(move || {
            if left.is_zero() || self.is_stopped() {
                return None;
            }
            let slice = left.min(Duration::from_millis(50));
            left -= slice;
            Some(slice)
        })
    }

    /// The receiver waits `d` to store: it is held back (backpressure's estimator is told).
    pub(super) fn add_held_back(&self, d: Duration) {
        if !d.is_zero() {
            self.held_back_ns
                .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        }
    }
}
