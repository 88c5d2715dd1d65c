//! Clocks that drive batch generation: the system clock, and a manual clock for tests.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use super::Time;

/// Tells the job generator what time it is and lets it wait for a batch time.
///
/// # Examples
///
/// ```
/// use spate_streaming::{Clock, ManualClock, Time};
/// let clock = ManualClock::new(Time::from_millis(0));
/// clock.advance(std::time::Duration::from_millis(1500));
/// assert_eq!(clock.now(), Time::from_millis(1500));
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Time;
    /// Blocks until `now() >= t` or `interrupted()` is true (checked again after every
    /// [`Clock::wake`]).
    fn wait_until(&self, t: Time, interrupted: &dyn Fn() -> bool);
    /// Wakes every waiter so it checks its interruption condition.
    fn wake(&self);
}

/// Wall-clock time.
///
/// # Examples
///
/// ```
/// use spate_streaming::{Clock, SystemClock};
/// assert!(SystemClock::default().now().millis() > 1_600_000_000_000);
/// ```
#[derive(Default)]
pub struct SystemClock {
    lock: Mutex<()>,
    cv: Condvar,
}

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Time::from_millis(ms as i64)
    }

    fn wait_until(&self, t: Time, interrupted: &dyn Fn() -> bool) {
        let mut guard = self.lock.lock();
        loop {
            let now = self.now();
            if now >= t || interrupted() {
                return;
            }
            let left = t.since(now).min(Duration::from_millis(50));
            self.cv.wait_for(&mut guard, left);
        }
    }

    fn wake(&self) {
        self.cv.notify_all();
    }
}

/// A clock that moves only when told to: streaming tests run batch by batch on it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use spate_streaming::{Clock, ManualClock, Time};
/// let clock = std::sync::Arc::new(ManualClock::new(Time::from_millis(0)));
/// let c = clock.clone();
/// let waiter = std::thread::spawn(move || c.wait_until(Time::from_millis(1000), &|| false));
/// clock.advance(Duration::from_secs(1));
/// waiter.join().unwrap();
/// ```
pub struct ManualClock {
    time: Mutex<Time>,
    cv: Condvar,
}

impl ManualClock {
    /// A manual clock showing `start`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{Clock, ManualClock, Time};
    /// assert_eq!(ManualClock::new(Time::from_millis(42)).now().millis(), 42);
    /// ```
    pub fn new(start: Time) -> ManualClock {
        ManualClock {
            time: Mutex::new(start),
            cv: Condvar::new(),
        }
    }

    /// Moves the clock forward by `d`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{Clock, ManualClock, Time};
    /// let c = ManualClock::new(Time::from_millis(0));
    /// c.advance(std::time::Duration::from_millis(10));
    /// assert_eq!(c.now().millis(), 10);
    /// ```
    pub fn advance(&self, d: Duration) {
        let mut t = self.time.lock();
        *t = *t + d;
        self.cv.notify_all();
    }

    /// Sets the clock to `t`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{Clock, ManualClock, Time};
    /// let c = ManualClock::new(Time::from_millis(0));
    /// c.set(Time::from_millis(99));
    /// assert_eq!(c.now().millis(), 99);
    /// ```
    pub fn set(&self, t: Time) {
        *self.time.lock() = t;
        self.cv.notify_all();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        *self.time.lock()
    }

    fn wait_until(&self, t: Time, interrupted: &dyn Fn() -> bool) {
        let mut now = self.time.lock();
        while *now < t && !interrupted() {
            self.cv.wait(&mut now);
        }
    }

    fn wake(&self) {
        // Take the lock so a waiter between its check and its wait cannot miss the wake-up.
        let _guard = self.time.lock();
        self.cv.notify_all();
    }
}

/// The clock a context uses unless told otherwise.
pub(crate) fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock::default())
}
