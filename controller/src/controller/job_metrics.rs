//! Metrics of one-off and scheduled tasks, from the status records: a failed pre-deploy task
//! (`PreDeployFailed`), and per scheduled job its last success and whether its latest run
//! failed (`JobRunMissed`, `JobRunFailed`).

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::status::{ConditionType, Reason, ServiceStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PreDeployLabels {
    pub service: String,
    pub spec_hash: String,
    /// Empty when the task stopped without an exit code (or timed out).
    pub exit_code: String,
    pub log_stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub service: String,
    /// Not `job`: Prometheus owns that label on every scraped series.
    pub job_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobFailureLabels {
    pub service: String,
    /// Not `job`: Prometheus owns that label on every scraped series.
    pub job_name: String,
    pub exit_code: String,
    pub stop_code: String,
    pub log_stream: String,
}

#[derive(Clone, Default)]
pub struct JobMetrics {
    pub pre_deploy_failed: Family<PreDeployLabels, Gauge>,
    pub last_success: Family<JobLabels, Gauge>,
    pub last_run_failed: Family<JobFailureLabels, Gauge>,
}

impl JobMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = JobMetrics::default();
        registry.register(
            "ecs_operator_pre_deploy_failed",
            "1 while a managed service's spec is held because its pre-deploy task failed: the spec hash, exit code and log stream",
            m.pre_deploy_failed.clone(),
        );
        registry.register(
            "ecs_operator_job_last_success_timestamp_seconds",
            "Unix time of a scheduled job's last successful run (or of its schedule's creation, before any)",
            m.last_success.clone(),
        );
        registry.register(
            "ecs_operator_job_last_run_failed",
            "1 while a scheduled job's latest run failed: its exit code, stop code and log stream",
            m.last_run_failed.clone(),
        );
        m
    }

    /// Replaces every series with what the statuses say (services gone disappear).
    pub fn record(&self, statuses: &BTreeMap<String, ServiceStatus>) {
        self.pre_deploy_failed.clear();
        self.last_success.clear();
        self.last_run_failed.clear();
        for (name, status) in statuses {
            let held = status
                .condition(ConditionType::Stalled)
                .is_some_and(|c| c.status && c.reason == Reason::PreDeployFailed);
            if let (true, Some(run)) = (held, &status.pre_deploy) {
                self.pre_deploy_failed
                    .get_or_create(&PreDeployLabels {
                        service: name.clone(),
                        spec_hash: run.spec_hash.clone(),
                        exit_code: run
                            .exit
                            .exit_code
                            .map(|c| c.to_string())
                            .unwrap_or_default(),
                        log_stream: run.log_stream.clone(),
                    })
                    .set(1);
            }
            for (job, js) in &status.jobs {
                let labels = JobLabels {
                    service: name.clone(),
                    job_name: job.clone(),
                };
                self.last_success
                    .get_or_create(&labels)
                    .set(js.last_success_or_since() as i64);
                if let Some(run) = js.failing() {
                    self.last_run_failed
                        .get_or_create(&JobFailureLabels {
                            service: name.clone(),
                            job_name: job.clone(),
                            exit_code: run
                                .exit
                                .exit_code
                                .map(|c| c.to_string())
                                .unwrap_or_default(),
                            stop_code: run.exit.stop_code.clone().unwrap_or_default(),
                            log_stream: run.log_stream.clone(),
                        })
                        .set(1);
                }
            }
        }
    }
}
