//! Batch times.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in stream time, in milliseconds (for batches: the end of the batch's interval).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use spate_streaming::Time;
/// let t = Time::from_millis(2000);
/// assert_eq!((t + Duration::from_secs(1)).millis(), 3000);
/// assert_eq!(t.to_string(), "2000 ms");
/// ```
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Time(i64);

impl Time {
    /// The time `ms` milliseconds after the epoch (or after a manual clock's zero).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_streaming::Time::from_millis(5).millis(), 5);
    /// ```
    pub const fn from_millis(ms: i64) -> Time {
        Time(ms)
    }

    /// Milliseconds since the epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_streaming::Time::from_millis(7).millis(), 7);
    /// ```
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Whether this time is a whole multiple of `d`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert!(spate_streaming::Time::from_millis(3000).is_multiple_of(Duration::from_secs(1)));
    /// ```
    pub fn is_multiple_of(self, d: Duration) -> bool {
        let ms = d.as_millis() as i64;
        ms > 0 && self.0 % ms == 0
    }

    /// The time elapsed from `earlier` to `self` (zero if `earlier` is later).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::Time;
    /// assert_eq!(Time::from_millis(1500).since(Time::from_millis(1000)).as_millis(), 500);
    /// ```
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis((self.0 - earlier.0).max(0) as u64)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0 + d.as_millis() as i64)
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        Time(self.0 - d.as_millis() as i64)
    }
}
