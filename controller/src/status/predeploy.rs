//! The pre-deploy run of a service's spec, kept in its status record so that every replica, a
//! restarted leader and `ecs-operator apply` know it ran (and how) and never run it twice for
//! the same spec hash (`reconcile::predeploy`). The run's types live with the gate that reads
//! them ([`crate::plan::predeploy`]).

use std::collections::BTreeMap;

use super::{ConditionType, Reason, ServiceStatus};
pub use crate::plan::predeploy::{PreDeployRun, PreDeployState};

/// Sets `s`'s conditions for the run of the spec the manifest wants (`desired_hash`): a failed
/// one stalls the service; a running one keeps it waiting.
pub fn apply(
    s: &mut ServiceStatus,
    run: &PreDeployRun,
    desired_hash: Option<&str>,
    previous: Option<&ServiceStatus>,
    now: u64,
) {
    s.pre_deploy = Some(Box::new(run.clone()));
    if desired_hash != Some(run.spec_hash.as_str()) {
        return;
    }
    if run.state != PreDeployState::Succeeded {
        // The spec is not deployed: what runs is still the last applied one.
        s.last_applied_hash = previous.and_then(|p| p.last_applied_hash.clone());
    }
    match run.state {
        PreDeployState::Failed | PreDeployState::TimedOut => {
            let message = run.failure(&s.name);
            s.last_error = Some(message.clone());
            s.set_condition(
                ConditionType::Ready,
                false,
                Reason::PreDeployFailed,
                &message,
                previous,
                now,
            );
            s.set_condition(
                ConditionType::Stalled,
                true,
                Reason::PreDeployFailed,
                &message,
                previous,
                now,
            );
        }
        PreDeployState::Running => {
            let message = format!(
                "the pre-deploy task {} is running; the deployment waits for it (logs: {})",
                run.task_arn, run.log_stream
            );
            s.set_condition(
                ConditionType::Ready,
                false,
                Reason::Waiting,
                &message,
                previous,
                now,
            );
        }
        PreDeployState::Succeeded => {}
    }
}

/// Writes a pass's runs (`reconcile::predeploy`) into the statuses [`super::derive`] made,
/// judged against the spec hash each service's plan wants.
pub fn record(
    statuses: &mut BTreeMap<String, ServiceStatus>,
    runs: &BTreeMap<String, PreDeployRun>,
    plan: &crate::plan::Plan,
    previous: &BTreeMap<String, ServiceStatus>,
    now: u64,
) {
    for (name, run) in runs {
        let Some(s) = statuses.get_mut(name) else {
            continue;
        };
        let desired = (plan.services.iter())
            .find(|sp| &sp.name == name)
            .and_then(|sp| sp.desired.as_ref())
            .map(|d| d.spec_hash.as_str());
        apply(s, run, desired, previous.get(name), now);
    }
}
