//! Receiver rate control: a fixed cap (`spate.streaming.receiver.maxRate`) and backpressure
//! (`spate.streaming.backpressure.enabled`), where a PID controller sets each receiver's rate
//! from how fast batches are processed, like Spark's. A limited receiver waits before storing —
//! a socket receiver then stops reading, and TCP slows the sender — so nothing is dropped.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A PID controller of the ingestion rate (records/s), with Spark's semantics: the error is the
/// last rate minus the rate the last batch was processed at; scheduling delay, converted into
/// the rate at which the backlog would clear in one batch interval, is the integral term.
///
/// # Examples
///
/// ```
/// use spate_streaming::PidRateEstimator;
/// let mut pid = PidRateEstimator::new(1000);
/// // The first batch only calibrates: 10 records in 10 ms is 1000 records/s.
/// assert_eq!(pid.compute(10, 10, 10, 0), None);
/// // Processing keeps pace exactly: the rate stays.
/// assert_eq!(pid.compute(20, 10, 10, 0), Some(1000.0));
/// ```
#[derive(Clone, Debug)]
pub struct PidRateEstimator {
    batch_interval_ms: f64,
    proportional: f64,
    integral: f64,
    derivative: f64,
    min_rate: f64,
    latest_time: i64,
    latest_rate: f64,
    latest_error: f64,
    first_run: bool,
}

impl PidRateEstimator {
    /// An estimator with Spark's defaults: proportional 1.0, integral 0.2, derivative 0.0,
    /// minimum rate 100 records/s.
    ///
    /// # Examples
    ///
    /// ```
    /// let pid = spate_streaming::PidRateEstimator::new(1000);
    /// # drop(pid);
    /// ```
    pub fn new(batch_interval_ms: u64) -> PidRateEstimator {
        PidRateEstimator::with_terms(batch_interval_ms, 1.0, 0.2, 0.0, 100.0)
    }

    /// An estimator with the given terms (each ≥ 0) and minimum rate (> 0; smaller values are
    /// raised to 1 record/s so the controller always sees data).
    ///
    /// # Examples
    ///
    /// ```
    /// let pid = spate_streaming::PidRateEstimator::with_terms(100, 1.0, 0.0, 0.0, 10.0);
    /// # drop(pid);
    /// ```
    pub fn with_terms(
        batch_interval_ms: u64,
        proportional: f64,
        integral: f64,
        derivative: f64,
        min_rate: f64,
    ) -> PidRateEstimator {
        PidRateEstimator {
            batch_interval_ms: batch_interval_ms.max(1) as f64,
            proportional: proportional.max(0.0),
            integral: integral.max(0.0),
            derivative: derivative.max(0.0),
            min_rate: min_rate.max(1.0),
            latest_time: -1,
            latest_rate: -1.0,
            latest_error: -1.0,
            first_run: true,
        }
    }

    /// The new rate after a batch completed at `time_ms` with `records` records, processed in
    /// `processing_ms` after waiting `scheduling_delay_ms`; `None` for the first batch (which
    /// only calibrates) and for batches that say nothing (no records, no processing time, or
    /// not newer than the last).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pid = spate_streaming::PidRateEstimator::new(1000);
    /// pid.compute(1000, 1000, 1000, 0); // 1000 records/s
    /// // The next batch was processed at only 500 records/s: the rate drops to that.
    /// assert_eq!(pid.compute(2000, 1000, 2000, 0), Some(500.0));
    /// ```
    pub fn compute(
        &mut self,
        time_ms: i64,
        records: u64,
        processing_ms: u64,
        scheduling_delay_ms: u64,
    ) -> Option<f64> {
        if time_ms <= self.latest_time || records == 0 || processing_ms == 0 {
            return None;
        }
        let since_update_s = (time_ms - self.latest_time) as f64 / 1000.0;
        let processing_rate = records as f64 / processing_ms as f64 * 1000.0;
        let error = self.latest_rate - processing_rate;
        // Records that waited (the scheduling delay at the processing rate), cleared over one
        // batch interval: the accumulated error.
        let historical_error =
            scheduling_delay_ms as f64 * processing_rate / self.batch_interval_ms;
        let d_error = (error - self.latest_error) / since_update_s;
        let new_rate = (self.latest_rate
            - self.proportional * error
            - self.integral * historical_error
            - self.derivative * d_error)
            .max(self.min_rate);
        self.latest_time = time_ms;
        if self.first_run {
            self.latest_rate = processing_rate;
            self.latest_error = 0.0;
            self.first_run = false;
            None
        } else {
            self.latest_rate = new_rate;
            self.latest_error = error;
            Some(new_rate)
        }
    }
}

/// Paces storing to a rate (records/s): each batch of records reserves its share of time, and
/// the next one waits until the previous share has passed.
pub(crate) struct RateLimiter {
    state: Mutex<LimiterState>,
    /// The configured cap (`maxRate`); backpressure never goes above it.
    max: Option<f64>,
}

struct LimiterState {
    rate: Option<f64>,
    next_free: Instant,
}

impl RateLimiter {
    pub(crate) fn new(initial: Option<f64>, max: Option<f64>) -> RateLimiter {
        let rate = match (initial, max) {
            (Some(i), Some(m)) => Some(i.min(m)),
            (i, m) => i.or(m),
        };
        RateLimiter {
            state: Mutex::new(LimiterState {
                rate,
                next_free: Instant::now(),
            }),
            max,
        }
    }

    /// Sets the rate (capped by `maxRate`).
    pub(crate) fn set_rate(&self, rate: f64) {
        let rate = self.max.map_or(rate, |m| rate.min(m));
        self.state.lock().rate = Some(rate.max(1.0));
    }

    /// The current rate, if limited.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.state.lock().rate
    }

    /// Reserves `n` records' worth of time; returns how long to wait before storing them.
    pub(crate) fn reserve(&self, n: usize) -> Duration {
        let mut st = self.state.lock();
        let Some(rate) = st.rate else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        // Idle time is banked for a short burst at most.
        let floor = now.checked_sub(Duration::from_millis(100)).unwrap_or(now);
        let start = st.next_free.max(floor);
        st.next_free = start + Duration::from_secs_f64(n as f64 / rate);
        start.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_processing_speed_and_the_backlog() {
        let mut pid = PidRateEstimator::new(1000);
        assert_eq!(pid.compute(10, 10, 10, 0), None, "first run calibrates");
        assert_eq!(pid.compute(20, 10, 10, 0), Some(1000.0));
        // Skipped: not newer, no records, no processing time.
        assert_eq!(pid.compute(20, 10, 10, 0), None);
        assert_eq!(pid.compute(30, 0, 10, 0), None);
        assert_eq!(pid.compute(30, 10, 0, 0), None);
        // Slower processing with a backlog: proportional and integral both pull down.
        // processing 500/s, error 500, historical 100 ms * 500 / 1000 ms = 50.
        let r = pid.compute(1020, 500, 1000, 100).unwrap();
        assert!((r - (1000.0 - 500.0 - 0.2 * 50.0)).abs() < 1e-9, "{r}");
        // Never below the minimum rate.
        let r = pid.compute(2020, 1, 100_000, 100_000).unwrap();
        assert_eq!(r, 100.0);
    }

    #[test]
    fn the_limiter_paces_and_respects_the_cap() {
        let l = RateLimiter::new(None, None);
        assert_eq!(l.reserve(1_000_000), Duration::ZERO, "unlimited");
        let l = RateLimiter::new(Some(1000.0), Some(500.0));
        assert_eq!(l.rate(), Some(500.0), "the initial rate is capped");
        l.set_rate(10_000.0);
        assert_eq!(l.rate(), Some(500.0), "backpressure never exceeds maxRate");
        l.set_rate(100.0);
        assert_eq!(l.reserve(50), Duration::ZERO);
        // 50 records at 100/s take half a second (less a banked burst of at most 100 ms): the
        // next ones wait for that.
        let wait = l.reserve(10);
        assert!(
            wait > Duration::from_millis(350) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
    }
}
