//! Open-loop schedule arithmetic, kept pure so that it can be tested without a clock.
//!
//! Request `i` (from 0) is due at `start + i / rate`, whatever happened to earlier requests. A
//! closed loop ("send, wait for the answer, sleep") slows down exactly when the service does and
//! so hides the overload it should reveal; an open loop keeps the offered rate. A request that
//! could not be sent on time (all in-flight slots busy) is sent as soon as a slot frees, and the
//! run stops sending at [`Schedule::send_deadline`] so that a stalled service cannot stretch it
//! without bound.

use std::time::Duration;

/// Highest rate accepted, in requests per second.
pub const MAX_RATE: f64 = 100_000.0;
/// Lowest rate accepted, in requests per second (one request every 1000 s).
pub const MIN_RATE: f64 = 0.001;

/// A fixed-rate schedule of a bounded number of requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    count: u64,
}

impl Schedule {
    /// A schedule at `rate` requests per second lasting `duration`, and/or stopping after
    /// `max_requests`. At least one of the two bounds is required.
    pub fn new(
        rate: f64,
        duration: Option<Duration>,
        max_requests: Option<u64>,
    ) -> Result<Self, String> {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(format!("rate {rate}/s is outside {MIN_RATE}..={MAX_RATE}"));
        }
        let count = match (duration, max_requests) {
            (Some(d), Some(n)) => planned_count(rate, d).min(n),
            (Some(d), None) => planned_count(rate, d),
            (None, Some(n)) => n,
            (None, None) => {
                return Err("give a duration or a maximum number of requests".to_owned())
            }
        };
        Ok(Self { rate, count })
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// How many requests the schedule holds.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// When request `i` is due, relative to the start.
    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// The time the schedule covers: `count` slots of `1 / rate` each.
    pub fn span(&self) -> Duration {
        Duration::from_secs_f64(self.count as f64 / self.rate)
    }

    /// After this (relative to the start) no request is sent any more, however late the run is:
    /// the span plus 10 % and one second of slack.
    pub fn send_deadline(&self) -> Duration {
        let span = self.span();
        span + span / 10 + Duration::from_secs(1)
    }
}

/// Number of requests due within `duration` at `rate`: those with `i / rate < duration`, i.e.
/// `ceil(rate * duration)`. A product within a hair of an integer counts as that integer, so that
/// 10,000/h for 1 h is 10,000 requests despite floating-point rounding.
pub fn planned_count(rate: f64, duration: Duration) -> u64 {
    let exact = rate * duration.as_secs_f64();
    let rounded = exact.round();
    if (exact - rounded).abs() < 1e-6 {
        rounded as u64
    } else {
        exact.ceil() as u64
    }
}

/// A per-hour rate as requests per second.
pub fn per_hour(orders_per_hour: f64) -> f64 {
    orders_per_hour / 3600.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_planned_count_is_rate_times_duration_rounded_up() {
        assert_eq!(planned_count(400.0, Duration::from_millis(500)), 200);
        assert_eq!(planned_count(2000.0, Duration::from_secs(30)), 60_000);
        assert_eq!(
            planned_count(per_hour(10_000.0), Duration::from_secs(3600)),
            10_000
        );
        assert_eq!(
            planned_count(per_hour(30_000.0), Duration::from_secs(60)),
            500
        );
        // 0.1/s for 5 s: only the request at t = 0 falls inside the window.
        assert_eq!(planned_count(0.1, Duration::from_secs(5)), 1);
        assert_eq!(planned_count(0.1, Duration::from_secs(11)), 2);
        assert_eq!(planned_count(5.0, Duration::ZERO), 0);
    }

    #[test]
    fn offsets_are_evenly_spaced_from_zero() {
        let s = Schedule::new(400.0, None, Some(200)).expect("valid");
        assert_eq!(s.count(), 200);
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_micros(2500));
        assert_eq!(s.offset(199), Duration::from_micros(497_500));
        assert_eq!(s.span(), Duration::from_millis(500));
        assert_eq!(s.send_deadline(), Duration::from_millis(1550));
    }

    #[test]
    fn the_smaller_bound_wins_and_a_bound_is_required() {
        assert_eq!(
            Schedule::new(100.0, Some(Duration::from_secs(10)), Some(50)).map(|s| s.count()),
            Ok(50)
        );
        assert_eq!(
            Schedule::new(100.0, Some(Duration::from_secs(1)), Some(500)).map(|s| s.count()),
            Ok(100)
        );
        assert!(Schedule::new(100.0, None, None).is_err());
        assert!(Schedule::new(0.0, Some(Duration::from_secs(1)), None).is_err());
        assert!(Schedule::new(f64::NAN, Some(Duration::from_secs(1)), None).is_err());
        assert!(Schedule::new(1e9, Some(Duration::from_secs(1)), None).is_err());
    }

    #[test]
    fn a_steady_hour_spaces_requests_by_the_hourly_pace() {
        let s = Schedule::new(per_hour(10_000.0), Some(Duration::from_secs(3600)), None)
            .expect("valid");
        assert_eq!(s.count(), 10_000);
        assert_eq!(s.offset(10).as_millis(), 3600);
    }
}
