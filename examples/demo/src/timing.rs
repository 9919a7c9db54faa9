//! How fast the pipeline runs: the demo's shortened timing, or the operator's production
//! defaults (`--production-timing`). Only the operator's settings and flags change; the
//! manifests keep their own values (pizza-service is scraped every 15 s either way).

use serde::Serialize;

/// The monitoring and operator timing of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// `demo` or `production`.
    pub name: &'static str,
    /// `monitoring.evaluationInterval`.
    pub evaluation_s: f64,
    /// `monitoring.defaultScrapeInterval`: jobs without their own (the operator's).
    pub default_scrape_s: f64,
    /// `monitoring.groupWait` (critical alerts).
    pub group_wait_critical_s: f64,
    /// `monitoring.warningGroupWait`.
    pub group_wait_warning_s: f64,
    /// `monitoring.builtinAlertFor` overrides; none: the `for` the operator ships.
    pub builtin_for: &'static [(&'static str, &'static str)],
    /// `run --interval`, `--rollout-interval` and `--poll-interval`.
    pub pass_s: f64,
    pub rollout_pass_s: f64,
    pub poll_s: f64,
    /// How long a scenario may wait for its notification unless `--scenario-timeout` says.
    pub scenario_timeout_s: u64,
    /// How long `cpu-spike` burns: the 2-minute CPU average must pass 90 %, then the
    /// alert's `for` (5 s in the demo, 2 m as shipped) must pass while it still burns.
    pub cpu_spike_duration: &'static str,
}

impl Timing {
    pub const DEMO: Timing = Timing {
        name: "demo",
        evaluation_s: 1.0,
        default_scrape_s: 1.0,
        group_wait_critical_s: 0.0,
        group_wait_warning_s: 0.0,
        builtin_for: &[("TargetDown", "5s"), ("CpuNearLimit", "5s")],
        pass_s: 5.0,
        rollout_pass_s: 5.0,
        poll_s: 1.0,
        scenario_timeout_s: 150,
        cpu_spike_duration: "4m",
    };

    /// The operator's defaults (settings and `run` flags), as shipped.
    pub const PRODUCTION: Timing = Timing {
        name: "production",
        evaluation_s: 15.0,
        default_scrape_s: 15.0,
        group_wait_critical_s: 10.0,
        group_wait_warning_s: 10.0,
        builtin_for: &[],
        pass_s: 60.0,
        rollout_pass_s: 15.0,
        poll_s: 10.0,
        scenario_timeout_s: 420,
        cpu_spike_duration: "7m",
    };

    pub fn group_wait_s(&self, severity: &str) -> f64 {
        if severity == "critical" {
            self.group_wait_critical_s
        } else {
            self.group_wait_warning_s
        }
    }

    /// The settings' `monitoring` overrides this timing needs (none for production).
    pub fn monitoring_overrides(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if *self == Timing::PRODUCTION {
            return m;
        }
        let s = |x: f64| serde_json::json!(format!("{x}s"));
        m.insert("defaultScrapeInterval".into(), s(self.default_scrape_s));
        m.insert("evaluationInterval".into(), s(self.evaluation_s));
        m.insert("groupWait".into(), s(self.group_wait_critical_s));
        m.insert("warningGroupWait".into(), s(self.group_wait_warning_s));
        let builtin: serde_json::Map<String, serde_json::Value> = self
            .builtin_for
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect();
        m.insert("builtinAlertFor".into(), builtin.into());
        m
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        format!(
            "{} timing: evaluation every {} s, operator scraped every {} s, group_wait {} s (critical) / {} s (warning), builtinAlertFor {}, operator pass every {} s ({} s while a service rolls out), source polled every {} s",
            self.name,
            self.evaluation_s,
            self.default_scrape_s,
            self.group_wait_critical_s,
            self.group_wait_warning_s,
            if self.builtin_for.is_empty() {
                "as shipped (TargetDown 1m, CpuNearLimit 2m, ...)".to_string()
            } else {
                self.builtin_for
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            self.pass_s,
            self.rollout_pass_s,
            self.poll_s
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The production timing is what the operator ships: its settings defaults and its
    /// `run` flags' defaults. A changed default must change this table too.
    #[test]
    fn production_timing_matches_the_operator_s_defaults() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let settings = std::fs::read_to_string(repo.join("controller/src/settings.rs")).unwrap();
        let p = Timing::PRODUCTION;
        for (function, value) in [
            ("default_scrape_interval", p.default_scrape_s),
            ("default_evaluation_interval", p.evaluation_s),
            ("default_group_wait", p.group_wait_critical_s),
            ("default_warning_group_wait", p.group_wait_warning_s),
        ] {
            let at = settings
                .find(&format!("fn {function}()"))
                .unwrap_or_else(|| panic!("{function} in settings.rs"));
            assert!(
                settings[at..]
                    .lines()
                    .nth(1)
                    .unwrap()
                    .contains(&format!("\"{value}s\"")),
                "{function} is not {value}s"
            );
        }
        let flags = std::fs::read_to_string(repo.join("controller/src/cli/controller.rs")).unwrap();
        for (field, value) in [
            ("interval", p.pass_s),
            ("poll_interval", p.poll_s),
            ("rollout_interval", p.rollout_pass_s),
        ] {
            let at = flags
                .find(&format!("pub {field}: std::time::Duration"))
                .unwrap_or_else(|| panic!("--{field} in cli/controller.rs"));
            let attribute = flags[..at].trim_end().lines().last().unwrap();
            assert!(
                attribute.contains(&format!("default_value = \"{value}s\"")),
                "--{field} default is not {value}s: {attribute}"
            );
        }
    }
}
