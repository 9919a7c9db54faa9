//! Durations written the way Prometheus writes them (`30s`, `5m`, `1h30m`, `3d`).
//!
//! Manifests feed these straight into PromQL and Alertmanager, so we accept exactly the syntax
//! those tools accept (no `5 min`, no fractions) and print them back in canonical form.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A non-negative duration in whole milliseconds, Prometheus syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration {
    millis: u64,
}

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl PromDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            millis: secs * 1000,
        }
    }

    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    pub fn as_secs_f64(self) -> f64 {
        self.millis as f64 / 1000.0
    }

    /// Whole seconds, rounded up (AWS APIs take integer seconds).
    pub fn as_secs_ceil(self) -> u64 {
        self.millis.div_ceil(1000)
    }

    pub fn std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }

    /// Parses `1h30m`, `15s`, `500ms`. Units must appear from largest to smallest, each once.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("{text:?} is not a duration: use a number and a unit (ms, s, m, h, d, w, y), e.g. 30s, 5m or 1h30m")
        };
        if text.is_empty() {
            return Err(bad());
        }
        let bytes = text.as_bytes();
        let mut pos = 0;
        let mut total: u64 = 0;
        let mut last_unit_index: Option<usize> = None;
        while pos < bytes.len() {
            let start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if start == pos || pos - start > 12 {
                return Err(bad());
            }
            let number: u64 = text[start..pos].parse().map_err(|_| bad())?;
            let unit_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
                pos += 1;
            }
            let unit = &text[unit_start..pos];
            let index = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
            if last_unit_index.is_some_and(|last| index <= last) {
                return Err(bad());
            }
            last_unit_index = Some(index);
            total = number
                .checked_mul(UNITS[index].1)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
        }
        Ok(Self { millis: total })
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        for (unit, size) in UNITS {
            // Prometheus prints weeks and years only when they divide evenly; keep output
            // readable by never using them for composite values.
            if (unit == "y" || unit == "w") && rest % size != 0 {
                continue;
            }
            if rest >= size {
                write!(f, "{}{}", rest / size, unit)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl TryFrom<String> for PromDuration {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PromDuration> for String {
    fn from(value: PromDuration) -> Self {
        value.to_string()
    }
}

impl Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for PromDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$",
            "description": "A duration in Prometheus syntax: 30s, 5m, 1h30m, 7d.",
            "examples": ["30s", "5m", "1h"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_durations_parse_and_print_canonically() {
        assert_eq!(PromDuration::parse("1h30m").unwrap().as_millis(), 5_400_000);
        assert_eq!(PromDuration::parse("90m").unwrap().to_string(), "1h30m");
        assert_eq!(PromDuration::parse("500ms").unwrap().to_string(), "500ms");
        assert_eq!(PromDuration::parse("7d").unwrap().to_string(), "1w");
        assert_eq!(PromDuration::parse("0s").unwrap().to_string(), "0s");
    }

    #[test]
    fn malformed_durations_are_rejected() {
        for bad in [
            "",
            "5",
            "m",
            "5 min",
            "1.5h",
            "5m1h",
            "5s5s",
            "-5s",
            "5x",
            "99999999999999h",
        ] {
            assert!(
                PromDuration::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
