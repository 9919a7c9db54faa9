//! Process metrics read from `/proc` on every scrape: `process_cpu_seconds_total`,
//! `process_resident_memory_bytes` and `process_start_time_seconds`, named as the Prometheus client
//! libraries of other languages name them, so that standard dashboards and the operator's
//! CPU / memory alerts work unchanged.
//!
//! On a system without `/proc` (not Linux) the series are simply absent.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second of the times in `/proc/<pid>/stat`. The kernel reports these in USER_HZ,
/// which is 100 on every architecture Linux exposes to user space, so no `sysconf` call is needed.
const USER_HZ: f64 = 100.0;

/// Reads process metrics at scrape time.
#[derive(Debug)]
pub struct ProcessCollector {
    start_time_seconds: f64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessCollector {
    /// Computes the start time once (it does not change); falls back to "now" without `/proc`.
    pub fn new() -> Self {
        let start_time_seconds = read_start_time_seconds().unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        });
        Self { start_time_seconds }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(cpu) = read_stat().map(|s| s.cpu_seconds) {
            let counter = ConstCounter::new(cpu);
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
        }
        if let Some(rss) = read_resident_bytes() {
            let gauge = ConstGauge::new(rss);
            let metric = encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(metric)?;
        }
        let gauge = ConstGauge::new(self.start_time_seconds);
        let metric = encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)?;
        Ok(())
    }
}

/// The fields of `/proc/self/stat` this module uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStat {
    /// utime + stime, in seconds.
    pub cpu_seconds: f64,
    /// Start time after boot, in clock ticks.
    pub start_ticks: u64,
}

fn read_stat() -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may contain spaces and parentheses, so
/// the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field N is index N - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    let start_ticks: u64 = fields.get(22 - 3)?.parse().ok()?;
    Some(ProcStat {
        cpu_seconds: (utime + stime) as f64 / USER_HZ,
        start_ticks,
    })
}

fn read_resident_bytes() -> Option<i64> {
    parse_vm_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// Reads `VmRSS:   1234 kB` from `/proc/<pid>/status` (in kB, so no page size is needed).
pub fn parse_vm_rss(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn read_start_time_seconds() -> Option<f64> {
    let stat = read_stat()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: f64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(btime + stat.start_ticks as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_parsed_even_with_a_command_name_holding_spaces_and_parentheses() {
        let line = "4242 (pizza (svc) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 12345 1000000 300 18446744073709551615";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(stat.start_ticks, 12345);
        assert!((stat.cpu_seconds - 3.0).abs() < 1e-9);
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t    2048 kB\n"),
            Some(2048 * 1024)
        );
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn the_collector_emits_the_three_series_on_linux() {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ProcessCollector::new()));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encodes");
        assert!(out.contains("\nprocess_cpu_seconds_total "), "{out}");
        assert!(out.contains("\nprocess_resident_memory_bytes "), "{out}");
        assert!(out.contains("\nprocess_start_time_seconds "), "{out}");
    }
}
