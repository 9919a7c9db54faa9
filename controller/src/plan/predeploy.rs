//! The pre-deploy gate: a service whose manifest sets `spec.preDeploy` and whose plan deploys
//! a new task definition first runs the pre-deploy task with that revision, and is created or
//! updated with it only once the task exited 0. Pure: the runs come from the status records
//! and the reads of `reconcile::predeploy`, the clock as an argument.
//!
//! | run of the wanted spec hash | plan |
//! | --- | --- |
//! | none | register the revision, run the task (nothing else of the deployment) |
//! | running | wait (the rest of the update, e.g. the desired count, still goes) |
//! | running past the timeout | stop the task; held as failed |
//! | failed or timed out | held: not deployed until the manifest changes |
//! | succeeded | the plan as it was |

use std::collections::{BTreeMap, BTreeSet};

use super::{Outcome, Plan, ServicePlan, Step};
use serde::{Deserialize, Serialize};

use crate::observe::runs::TaskExit;

/// Where a pre-deploy run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PreDeployState {
    /// Started; not stopped yet.
    Running,
    /// Stopped with exit code 0: the deployment goes on.
    Succeeded,
    /// Stopped with another exit code, or without one (the container never ran).
    Failed,
    /// Ran past `spec.preDeploy.timeout` and was stopped.
    TimedOut,
}

/// One pre-deploy run: the task, and once it stopped, how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreDeployRun {
    /// The spec hash whose deployment it gates.
    pub spec_hash: String,
    pub task_arn: String,
    /// The task definition revision it ran (the one the deployment will set).
    pub task_definition_arn: String,
    pub state: PreDeployState,
    /// Unix seconds when it was started (ECS `createdAt` when known).
    pub started_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// Once stopped: the exit code, ECS's stop code and reason.
    #[serde(flatten)]
    pub exit: TaskExit,
    /// `<log group>:<log stream>` of the app container (awslogs).
    pub log_stream: String,
}

impl PreDeployRun {
    pub fn failed(&self) -> bool {
        matches!(
            self.state,
            PreDeployState::Failed | PreDeployState::TimedOut
        )
    }

    /// Why the deployment is held, for the status and the plan.
    pub fn failure(&self, service: &str) -> String {
        let how = match (self.state, self.exit.exit_code) {
            (PreDeployState::TimedOut, _) => "ran past its timeout and was stopped".to_string(),
            (_, Some(code)) => format!("exited with code {code}"),
            (_, None) => "stopped before its container exited".to_string(),
        };
        let why = match self.exit.why() {
            why if why.is_empty() => why,
            why => format!(" ({why})"),
        };
        format!(
            "the pre-deploy task {} {how}{why}; logs: {}; {service} stays on its current revision until the manifest changes",
            self.task_arn, self.log_stream
        )
    }
}

/// Why a deployment waits, the same from the start of the task to its end (so the status
/// record is written once); the status names the task.
const RUNNING: &str = "the pre-deploy task runs first; the deployment waits for it";

/// Whether a service plan deploys a new revision (creates the service or changes its task
/// definition).
pub fn deploys_new_revision(sp: &ServicePlan) -> bool {
    sp.steps
        .iter()
        .any(|s| matches!(s, Step::RegisterTaskDefinition))
}

/// The services the gate applies to: those with a pre-deploy task whose plan deploys a new
/// revision.
pub fn gated(plan: &Plan) -> impl Iterator<Item = &ServicePlan> {
    plan.services.iter().filter(|sp| {
        sp.desired.as_ref().is_some_and(|d| d.pre_deploy.is_some()) && deploys_new_revision(sp)
    })
}

/// Gates every service [`gated`] names on `runs` (the known run of each, any spec hash).
/// Returns the runs as they stand after this plan (a timed-out run is marked so).
/// Services in `unknown` (their earlier runs could not be read) wait.
pub fn gate(
    plan: &mut Plan,
    runs: &BTreeMap<String, PreDeployRun>,
    unknown: &BTreeSet<String>,
    now: u64,
) -> BTreeMap<String, PreDeployRun> {
    let mut after = BTreeMap::new();
    for sp in &mut plan.services {
        let Some(d) = sp.desired.clone() else {
            continue;
        };
        let Some(task) = &d.pre_deploy else { continue };
        if !deploys_new_revision(sp) {
            continue;
        }
        let run = runs
            .get(&sp.name)
            .filter(|r| r.spec_hash == d.spec_hash)
            .cloned();
        match run {
            None if unknown.contains(&sp.name) => {
                withhold_deployment(sp);
                sp.outcome = Outcome::Waiting(
                    "cannot tell whether the pre-deploy task of this spec ran (ListTasks failed); the deployment waits".into(),
                );
            }
            None => {
                withhold_deployment(sp);
                sp.steps.push(Step::RegisterTaskDefinition);
                sp.steps.push(Step::RunPreDeploy);
                sp.outcome = Outcome::Waiting(RUNNING.into());
            }
            Some(run) if run.state == PreDeployState::Succeeded => {
                after.insert(sp.name.clone(), run);
            }
            Some(mut run) if run.state == PreDeployState::Running => {
                withhold_deployment(sp);
                if now.saturating_sub(run.started_at) > task.timeout_seconds {
                    sp.steps.push(Step::StopPreDeploy {
                        task_arn: run.task_arn.clone(),
                    });
                    run.state = PreDeployState::TimedOut;
                    run.finished_at = Some(now);
                    run.exit.stopped_reason = Some(format!(
                        "stopped by ecs-operator after the timeout of {}s",
                        task.timeout_seconds
                    ));
                    sp.outcome = Outcome::Held(run.failure(&sp.name));
                } else {
                    sp.outcome = Outcome::Waiting(RUNNING.into());
                }
                after.insert(sp.name.clone(), run);
            }
            Some(run) => {
                withhold_deployment(sp);
                sp.outcome = Outcome::Held(run.failure(&sp.name));
                after.insert(sp.name.clone(), run);
            }
        }
        if sp.steps.is_empty() && sp.outcome == Outcome::Update {
            sp.outcome = Outcome::InSync;
        }
    }
    after
}

/// Takes the new revision out of a service's plan: no register, no CreateService (and what
/// needs the service: scaling), no task definition in UpdateService, no spec-hash tag. What
/// else an update corrects (desired count, network, tags) still goes.
fn withhold_deployment(sp: &mut ServicePlan) {
    if let Some(at) = sp.steps.iter().position(|s| *s == Step::CreateService) {
        sp.steps.truncate(at);
    }
    sp.withhold_new_revision();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::render::aws::PreDeployTask;

    fn plan_with(steps: Vec<Step>) -> Plan {
        let text = "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: web\nspec:\n  container:\n    image: nginx:1\n  notify:\n    team: web\n  preDeploy:\n    command: [migrate]\n    timeout: 10m\n";
        let m = crate::yaml::from_str(text).unwrap();
        let d = crate::render::render_service(&m, &crate::Settings::local_defaults());
        assert_eq!(
            d.pre_deploy,
            Some(PreDeployTask {
                command: vec!["migrate".into()],
                timeout_seconds: 600
            })
        );
        Plan {
            services: vec![ServicePlan {
                name: "web".into(),
                cluster: "main".into(),
                outcome: Outcome::Update,
                changes: Vec::new(),
                steps,
                wave: 0,
                desired: Some(Arc::new(d)),
                observed: None,
                registry_arn: None,
                target_group_arn: None,
            }],
            ..Plan::default()
        }
    }

    fn update() -> Vec<Step> {
        vec![
            Step::RegisterTaskDefinition,
            Step::UpdateService {
                desired_count: Some(3),
                new_task_definition: true,
                fields: BTreeSet::new(),
            },
        ]
    }

    fn run(plan: &Plan, state: PreDeployState, started_at: u64) -> BTreeMap<String, PreDeployRun> {
        let hash = plan.services[0].desired.as_ref().unwrap().spec_hash.clone();
        BTreeMap::from([(
            "web".to_string(),
            PreDeployRun {
                spec_hash: hash,
                task_arn: "arn:aws:ecs:us-east-1:1:task/main/abc".into(),
                task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/web:2".into(),
                state,
                started_at,
                finished_at: None,
                exit: TaskExit {
                    exit_code: (state == PreDeployState::Failed).then_some(3),
                    ..TaskExit::default()
                },
                log_stream: "/ecs/services:web/app/abc".into(),
            },
        )])
    }

    #[test]
    fn without_a_run_the_revision_is_registered_and_the_task_run_before_anything_deploys() {
        let mut plan = plan_with(update());
        gate(&mut plan, &BTreeMap::new(), &BTreeSet::new(), 100);
        let sp = &plan.services[0];
        assert_eq!(
            sp.steps,
            vec![
                Step::UpdateService {
                    desired_count: Some(3),
                    new_task_definition: false,
                    fields: BTreeSet::new(),
                },
                Step::RegisterTaskDefinition,
                Step::RunPreDeploy,
            ]
        );
        assert!(matches!(sp.outcome, Outcome::Waiting(_)));
    }

    #[test]
    fn a_new_service_is_not_created_before_its_pre_deploy_task_succeeded() {
        let mut plan = plan_with(vec![
            Step::CreateDiscovery,
            Step::RegisterTaskDefinition,
            Step::CreateService,
            Step::RegisterScalableTarget,
        ]);
        gate(&mut plan, &BTreeMap::new(), &BTreeSet::new(), 100);
        assert_eq!(
            plan.services[0].steps,
            vec![
                Step::CreateDiscovery,
                Step::RegisterTaskDefinition,
                Step::RunPreDeploy
            ]
        );
        let mut plan = plan_with(vec![Step::RegisterTaskDefinition, Step::CreateService]);
        let runs = run(&plan, PreDeployState::Succeeded, 100);
        gate(&mut plan, &runs, &BTreeSet::new(), 200);
        assert_eq!(
            plan.services[0].steps,
            vec![Step::RegisterTaskDefinition, Step::CreateService],
            "a success lets the plan through unchanged"
        );
    }

    #[test]
    fn a_running_task_waits_until_its_timeout_then_is_stopped_and_held() {
        let mut plan = plan_with(update());
        let runs = run(&plan, PreDeployState::Running, 100);
        let after = gate(&mut plan, &runs, &BTreeSet::new(), 700);
        assert!(matches!(plan.services[0].outcome, Outcome::Waiting(_)));
        assert_eq!(after["web"].state, PreDeployState::Running);
        let mut plan = plan_with(update());
        let after = gate(&mut plan, &runs, &BTreeSet::new(), 701);
        assert!(plan.services[0].steps.contains(&Step::StopPreDeploy {
            task_arn: "arn:aws:ecs:us-east-1:1:task/main/abc".into()
        }));
        assert_eq!(after["web"].state, PreDeployState::TimedOut);
        assert!(matches!(&plan.services[0].outcome, Outcome::Held(why) if why.contains("timeout")));
    }

    #[test]
    fn a_failed_run_holds_the_deployment_and_a_run_of_another_spec_does_not_count() {
        let mut plan = plan_with(update());
        let runs = run(&plan, PreDeployState::Failed, 100);
        gate(&mut plan, &runs, &BTreeSet::new(), 200);
        let sp = &plan.services[0];
        assert!(
            matches!(&sp.outcome, Outcome::Held(why) if why.contains("exited with code 3") && why.contains("web/app/abc")),
            "{:?}",
            sp.outcome
        );
        assert!(!sp.steps.contains(&Step::RegisterTaskDefinition));
        let mut plan = plan_with(update());
        let mut other = runs.clone();
        other.get_mut("web").unwrap().spec_hash = "an-older-spec".into();
        gate(&mut plan, &other, &BTreeSet::new(), 200);
        assert!(plan.services[0].steps.contains(&Step::RunPreDeploy));
    }
}
