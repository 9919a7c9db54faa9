//! Time since the demo started, and Prometheus timestamps on the same scale.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: Instant,
    /// Wall-clock time at `start`, in seconds since the epoch.
    wall_start: f64,
}

impl Clock {
    pub fn new() -> Self {
        let wall_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        Self {
            start: Instant::now(),
            wall_start,
        }
    }

    /// `+12.3s`: how long after the demo started `at` was.
    pub fn stamp(&self, at: Instant) -> String {
        format!(
            "+{:.1}s",
            at.saturating_duration_since(self.start).as_secs_f64()
        )
    }

    pub fn now_stamp(&self) -> String {
        self.stamp(Instant::now())
    }

    /// An RFC 3339 timestamp (as Prometheus writes `activeAt`) as an `Instant` of this clock.
    pub fn instant_of(&self, rfc3339: &str) -> Option<Instant> {
        let unix = parse_rfc3339(rfc3339)?;
        let offset = unix - self.wall_start;
        if offset >= 0.0 {
            Some(self.start + Duration::from_secs_f64(offset))
        } else {
            self.start.checked_sub(Duration::from_secs_f64(-offset))
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Seconds since the epoch of `2024-05-01T12:34:56.123456789Z` or `...+02:00`.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let (date, rest) = text.split_once('T')?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (time, offset) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0.0)
    } else {
        let split = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(split);
        let sign = if off.starts_with('-') { -1.0 } else { 1.0 };
        let (h, m) = off[1..].split_once(':')?;
        let off = sign * (h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0);
        (t, off)
    };
    let mut t = time.split(':');
    let hour: f64 = t.next()?.parse().ok()?;
    let minute: f64 = t.next()?.parse().ok()?;
    let second: f64 = t.next()?.parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + hour * 3600.0 + minute * 60.0 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_timestamps_parse_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        let a = parse_rfc3339("2024-05-01T12:34:56.5Z").unwrap();
        let b = parse_rfc3339("2024-05-01T14:34:56.5+02:00").unwrap();
        assert!((a - b).abs() < 1e-6);
        assert!((a - 1_714_566_896.5).abs() < 1e-6);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
