//! Receiver rate control: a fixed cap (`spate.streaming.receiver.maxRate`) and backpressure
//! (`spate.streaming.backpressure.enabled`, on by default), where a [`RateEstimator`] sets each
//! receiver's rate after every batch. A limited receiver waits before storing — a socket
//! receiver then stops reading, and TCP slows the sender — so nothing is dropped.
//!
//! Two estimators (`spate.streaming.backpressure.rateEstimator`):
//! - `steady` (the default, [`SteadyRateEstimator`]): no limit while processing has room; once
//!   it is loaded, the rate that keeps processing at 90% of the interval, never more than 10%
//!   above what the receiver took in the last batch. The second bound is what makes batches
//!   steady under overload: a receiver sharing cores with the batches reads fast while they
//!   are idle and slowly while they run, so without a limit that binds, a large batch starves
//!   the receiver and a small batch follows it, and the swing sustains itself.
//! - `pid` ([`PidRateEstimator`]): Spark's PID controller, with Spark's semantics.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What a completed batch tells a receiver's rate estimator: the batch time, the records the
/// receiver's stream contributed, how long the batch was processed and how long it waited.
///
/// # Examples
///
/// ```
/// let b = spate_streaming::BatchObservation { time_ms: 1000, records: 10, processing_ms: 5.0, ..Default::default() };
/// assert_eq!(b.records, 10);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchObservation {
    /// The batch time, in ms.
    pub time_ms: i64,
    /// Records of this receiver's stream in the batch.
    pub records: u64,
    /// The batch's processing time, in ms.
    pub processing_ms: f64,
    /// How long the batch waited to start, in ms.
    pub scheduling_delay_ms: f64,
    /// How long the receiver waited to store (its rate limit, `maxPendingRecords`) while the
    /// batch's records came in, in ms: it had more to store.
    pub held_back_ms: f64,
    /// Records/s the receiver stored since the previous batch completed (0: unknown, the
    /// batch's records stand for it). Unlike the batch's records it does not depend on when
    /// blocks were cut.
    pub stored_per_sec: f64,
}

/// What a [`RateEstimator`] decides after a batch.
///
/// # Examples
///
/// ```
/// use spate_streaming::RateDecision;
/// assert_ne!(RateDecision::Limit(10.0), RateDecision::Unlimited);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateDecision {
    /// Leave the rate as it is.
    Keep,
    /// Hold the receiver to this many records/s (never above `maxRate`).
    Limit(f64),
    /// No limit (but `maxRate`, when set).
    Unlimited,
}

/// Sets a receiver's rate from how its batches went: backpressure.
///
/// # Examples
///
/// ```
/// use spate_streaming::{BatchObservation, RateDecision, RateEstimator, SteadyRateEstimator};
/// let mut e = SteadyRateEstimator::new(1000);
/// let idle = BatchObservation { time_ms: 1000, records: 100, processing_ms: 10.0, ..Default::default() };
/// assert_eq!(e.observe(&idle, None), RateDecision::Keep);
/// ```
pub trait RateEstimator: Send {
    /// The receiver's rate after `batch` completed, given its current `limit`.
    fn observe(&mut self, batch: &BatchObservation, limit: Option<f64>) -> RateDecision;
}

/// Processing time, as a share of the interval, that the steady estimator aims at.
const STEADY_TARGET: f64 = 0.9;
/// Processing time, as a share of the interval, from which the steady estimator limits.
const STEADY_LOADED: f64 = 0.5;
/// How far above what the receiver took in the last batch the steady estimator lets it go:
/// while processing is loaded, and while it has room.
const STEADY_GROWTH: f64 = 1.1;
const STEADY_GROWTH_LIGHT: f64 = 1.5;
/// The most the intake bound lowers a limit in one batch (to 80% of it).
const STEADY_MAX_STEP_DOWN: f64 = 0.8;
/// Waiting to store for this share of the interval means a receiver had more to store.
const STEADY_HELD_BACK: f64 = 0.05;
/// Lowest rate the steady estimator sets (records/s), so that it always sees data.
const STEADY_MIN_RATE: f64 = 100.0;

/// The default backpressure: steady batches under overload, no limit otherwise.
///
/// After each batch: while processing takes less than half the interval, no batch waits and the
/// receiver was not held back (it stored all it got without waiting), there is no limit.
/// Otherwise the rate is the smaller of
/// - 90% of the processing capacity (records per second of processing, averaged over the loaded
///   batches seen), less what a scheduling delay needs to drain (a batch that waited a quarter
///   of an interval lowers it by a quarter, down to a quarter of it), and
/// - what the receiver took in (its storing rate since the last batch completed) raised by
///   what would bring processing to 90% of the interval, by 10% at least and 50% at most: a
///   limit that binds, so the batches are as large as the limit, and that finds the capacity
///   in a few batches from far under it; this bound lowers a limit by at most a fifth a batch,
///   so one slow interval does not throw it off.
///
/// # Examples
///
/// ```
/// use spate_streaming::{BatchObservation, RateDecision, RateEstimator, SteadyRateEstimator};
/// let mut e = SteadyRateEstimator::new(1000);
/// // A flood: 5M records in a 1 s batch, processed in 2 s.
/// let flood = BatchObservation { time_ms: 1000, records: 5_000_000, processing_ms: 2000.0, ..Default::default() };
/// // 90% of 2.5M records/s.
/// assert_eq!(e.observe(&flood, None), RateDecision::Limit(2_250_000.0));
/// ```
#[derive(Clone, Debug)]
pub struct SteadyRateEstimator {
    interval_ms: f64,
    /// Records per second of processing, averaged over loaded batches.
    capacity: Option<f64>,
    latest_time: i64,
    /// The previous batch's records.
    latest_records: Option<u64>,
}

impl SteadyRateEstimator {
    /// An estimator for batches of `batch_interval_ms`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_streaming::SteadyRateEstimator::new(100);
    /// # drop(e);
    /// ```
    pub fn new(batch_interval_ms: u64) -> SteadyRateEstimator {
        SteadyRateEstimator {
            interval_ms: batch_interval_ms.max(1) as f64,
            capacity: None,
            latest_time: i64::MIN,
            latest_records: None,
        }
    }
}

impl RateEstimator for SteadyRateEstimator {
    fn observe(&mut self, b: &BatchObservation, limit: Option<f64>) -> RateDecision {
        if b.time_ms <= self.latest_time {
            return RateDecision::Keep;
        }
        self.latest_time = b.time_ms;
        // What the receiver took in a batch interval: as measured by the intake, or the last
        // two batches' mean (a receiver held back by `maxPendingRecords` alternates full
        // batches with empty ones).
        let intake = match self.latest_records.replace(b.records) {
            _ if b.stored_per_sec > 0.0 => b.stored_per_sec * self.interval_ms / 1000.0,
            Some(before) => (before + b.records) as f64 / 2.0,
            None => b.records as f64,
        };
        let busy = b.processing_ms / self.interval_ms;
        let behind = b.scheduling_delay_ms / self.interval_ms;
        if busy >= STEADY_LOADED && b.records > 0 {
            // Only loaded batches say what processing can do: a light one is mostly fixed cost.
            let measured = b.records as f64 / b.processing_ms * 1000.0;
            self.capacity = Some(self.capacity.map_or(measured, |c| (c + measured) / 2.0));
        }
        let held_back = b.held_back_ms > STEADY_HELD_BACK * self.interval_ms;
        if busy < STEADY_LOADED && behind < 0.1 && !held_back {
            // Room to spare, and the receiver stored all it got: no limit needed.
            return match limit {
                Some(_) => RateDecision::Unlimited,
                None => RateDecision::Keep,
            };
        }
        if intake == 0.0 {
            // Loaded by something else (another stream, a slow output): nothing to go by.
            return RateDecision::Keep;
        }
        // Below the target the limit may rise by as much as would bring processing to it
        // (within 10–50%): from a limit far under the capacity (after a backlog, say) it
        // climbs in a few batches, not ten; at the target only by 10%.
        let growth = (STEADY_TARGET / busy).clamp(STEADY_GROWTH, STEADY_GROWTH_LIGHT);
        // One slow interval of the receiver's (a stall, a long batch beside it) lowers the
        // limit by a fifth at most: processing, not the intake, is what must force it down.
        let by_intake = (growth * intake / self.interval_ms * 1000.0)
            .max(limit.map_or(0.0, |l| STEADY_MAX_STEP_DOWN * l));
        let by_processing = self.capacity.map_or(f64::INFINITY, |c| {
            STEADY_TARGET * c * (1.0 - behind).clamp(0.25, 1.0)
        });
        RateDecision::Limit(by_processing.min(by_intake).max(STEADY_MIN_RATE))
    }
}

impl RateEstimator for PidRateEstimator {
    fn observe(&mut self, b: &BatchObservation, _limit: Option<f64>) -> RateDecision {
        match self.compute(
            b.time_ms,
            b.records,
            b.processing_ms.round() as u64,
            b.scheduling_delay_ms.round() as u64,
        ) {
            Some(rate) => RateDecision::Limit(rate),
            None => RateDecision::Keep,
        }
    }
}

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
    /// How much unused time is banked for a burst (see [`RateLimiter::reserve`]).
    bank: Duration,
}

struct LimiterState {
    rate: Option<f64>,
    next_free: Instant,
}

impl RateLimiter {
    pub(crate) fn new(initial: Option<f64>, max: Option<f64>, bank: Duration) -> RateLimiter {
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
            bank,
        }
    }

    /// Sets the rate (capped by `maxRate`).
    pub(crate) fn set_rate(&self, rate: f64) {
        let rate = self.max.map_or(rate, |m| rate.min(m));
        self.state.lock().rate = Some(rate.max(1.0));
    }

    /// No limit but the cap (`maxRate`), if any.
    pub(crate) fn unlimit(&self) {
        self.state.lock().rate = self.max;
    }

    /// The current rate, if limited.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.state.lock().rate
    }

    /// Reserves `n` records' worth of time; returns how long to wait before storing them.
    pub(crate) fn reserve(&self, n: usize) -> Duration {
        self.reserve_at(n, Instant::now())
    }

    /// [`RateLimiter::reserve`] at `now`.
    fn reserve_at(&self, n: usize, now: Instant) -> Duration {
        let mut st = self.state.lock();
        let Some(rate) = st.rate else {
            return Duration::ZERO;
        };
        // Idle time is banked for a burst of at most `bank`: a receiver starved of CPU while a
        // batch runs may catch up after it, instead of pacing its backlog at the limit (which
        // would make the next batches smaller than the source offers, and the limit follow).
        let floor = now.checked_sub(self.bank).unwrap_or(now);
        let start = st.next_free.max(floor);
        st.next_free = start + Duration::from_secs_f64(n as f64 / rate);
        start.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(time_ms: i64, records: u64, processing_ms: f64, delay_ms: f64) -> BatchObservation {
        BatchObservation {
            time_ms,
            records,
            processing_ms,
            scheduling_delay_ms: delay_ms,
            held_back_ms: 0.0,
            stored_per_sec: 0.0,
        }
    }

    fn assert_limit(d: RateDecision, want: f64) {
        match d {
            RateDecision::Limit(r) => assert!((r - want).abs() < 1e-6 * want, "{r} != {want}"),
            other => panic!("{other:?}, not a limit of {want}"),
        }
    }

    #[test]
    fn a_receiver_idle_or_starved_catches_up_its_bank_then_waits() {
        // 1,000 records/s, stores of 100 records, after 1 s without storing anything.
        let passing = |bank_ms| {
            let l = RateLimiter::new(Some(1000.0), None, Duration::from_millis(bank_ms));
            let later = Instant::now() + Duration::from_secs(1);
            (0..20)
                .take_while(|_| l.reserve_at(100, later).is_zero())
                .count()
        };
        // The bank's worth at once (and the store that starts now), then the rate.
        assert_eq!(passing(100), 2);
        assert_eq!(passing(250), 3);
        assert_eq!(passing(500), 6);
    }

    #[test]
    fn the_steady_estimator_limits_only_while_processing_is_loaded() {
        let mut e = SteadyRateEstimator::new(1000);
        // Room to spare: no limit, and a limit the source stays under is lifted.
        assert_eq!(
            e.observe(&batch(1000, 1000, 100.0, 0.0), None),
            RateDecision::Keep
        );
        assert_eq!(
            e.observe(&batch(2000, 1000, 100.0, 0.0), Some(5000.0)),
            RateDecision::Unlimited
        );
        // A limit that holds the receiver back while processing has room grows by 50% (no
        // capacity known yet).
        let mut g = SteadyRateEstimator::new(1000);
        let held = |t, n| BatchObservation {
            held_back_ms: 500.0,
            ..batch(t, n, 100.0, 0.0)
        };
        g.observe(&held(1000, 1000), Some(1000.0));
        assert_limit(g.observe(&held(2000, 1000), Some(1000.0)), 1500.0);
        // Not newer than the last: ignored.
        assert_eq!(
            e.observe(&batch(2000, 9, 900.0, 0.0), None),
            RateDecision::Keep
        );
        // Loaded: 800k records in 800 ms is 1M records/s of processing, 90% of it 900k; the
        // receiver took in (1000 + 800k) / 2 a batch: 112.5% of that (what brings 80% busy
        // to 90%) binds.
        assert_limit(
            e.observe(&batch(3000, 800_000, 800.0, 0.0), None),
            450_562.5,
        );
        // The capacity is averaged: 1M and 2M records/s → 1.5M, 90% = 1.35M; the intake bound
        // is 110% of 900k.
        // Behind by 60% of an interval: 1.35M × 0.4 = 540k.
        assert_limit(
            e.observe(&batch(4000, 1_000_000, 500.0, 600.0), None),
            540_000.0,
        );
        // A batch of nothing after a full one (held back by maxPendingRecords): half of it.
        assert_limit(e.observe(&batch(5000, 0, 900.0, 0.0), Some(1.0)), 550_000.0);
        // Loaded by something else, no records: kept.
        assert_eq!(
            e.observe(&batch(5500, 0, 900.0, 0.0), Some(1.0)),
            RateDecision::Keep
        );
        // Never below the floor.
        assert_limit(
            e.observe(&batch(6000, 1, 10_000.0, 10_000.0), None),
            STEADY_MIN_RATE,
        );
    }

    #[test]
    fn a_limit_far_under_the_capacity_climbs_by_what_brings_processing_to_the_target() {
        let mut e = SteadyRateEstimator::new(1000);
        let held = |t, n, ms| BatchObservation {
            held_back_ms: 300.0,
            ..batch(t, n, ms, 0.0)
        };
        // 5M records/s of capacity, held to 1M: 60% busy would allow +50%, the cap.
        e.observe(&held(1000, 3_000_000, 600.0), Some(3_000_000.0));
        assert_limit(
            e.observe(&held(2000, 3_000_000, 600.0), Some(3_000_000.0)),
            4_500_000.0,
        );
        // 75% busy: +20% of the intake, (3M + 3.75M) / 2.
        assert_limit(
            e.observe(&held(3000, 3_750_000, 750.0), Some(4_500_000.0)),
            4_050_000.0,
        );
        // At the target the capacity binds: 90% of 4.44M records/s, averaged with 5M.
        assert_limit(
            e.observe(&held(4000, 4_000_000, 900.0), Some(4_050_000.0)),
            0.9 * (5_000_000.0 + 4_000_000.0 / 0.9) / 2.0,
        );
    }

    #[test]
    fn the_steady_estimator_converges_on_a_processing_bound_job() {
        // A job that processes 1M records/s, and a source that would send 5M/s: from no limit,
        // within 10 batches the rate is within 10% of 90% of the capacity, and stays there.
        let mut e = SteadyRateEstimator::new(1000);
        let limiter = RateLimiter::new(None, None, Duration::from_millis(100));
        let mut rates = Vec::new();
        for i in 1..=20 {
            let offered = 5_000_000.0_f64;
            let taken = limiter.rate().map_or(offered, |r| r.min(offered));
            let records = taken as u64;
            let processing_ms = records as f64 / 1_000_000.0 * 1000.0;
            // A batch over the interval delays the next by what it ran over.
            let delay = rates
                .last()
                .map_or(0.0, |r: &f64| (r / 1e6 * 1000.0 - 1000.0_f64).max(0.0));
            match e.observe(
                &batch(i * 1000, records, processing_ms, delay),
                limiter.rate(),
            ) {
                RateDecision::Limit(r) => limiter.set_rate(r),
                RateDecision::Unlimited => limiter.unlimit(),
                RateDecision::Keep => {}
            }
            rates.push(limiter.rate().unwrap_or(offered));
        }
        for r in &rates[9..] {
            assert!((r - 900_000.0).abs() < 90_000.0, "{rates:?}");
        }
    }

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
        let l = RateLimiter::new(None, None, Duration::from_millis(100));
        assert_eq!(l.reserve(1_000_000), Duration::ZERO, "unlimited");
        let l = RateLimiter::new(Some(1000.0), Some(500.0), Duration::from_millis(100));
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
