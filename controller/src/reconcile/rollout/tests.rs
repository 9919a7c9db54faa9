use super::*;
use crate::observe::{DeploymentStatus, ObservedDeployment, TaskCounts};
use crate::render::{render_service, DesiredService};
use crate::settings::Settings;

const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";

fn desired() -> DesiredService {
    let m = crate::yaml::from_str(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: web\nspec:\n  container:\n    image: nginx:1.27\n    port: 80\n  notify:\n    team: web\n",
    )
    .expect("a valid manifest");
    render_service(&m, &Settings::local_defaults())
}

fn deployment(
    id: &str,
    status: DeploymentStatus,
    revision: &str,
    rollout: RolloutState,
    running: i32,
) -> ObservedDeployment {
    ObservedDeployment {
        id: id.into(),
        status,
        task_definition_arn: revision.into(),
        rollout,
        reason: if id == "failed" {
            "ECS deployment circuit breaker: tasks failed to start.".into()
        } else {
            String::new()
        },
        created_at: Some(100),
        updated_at: Some(110),
        tasks: TaskCounts {
            desired: 2,
            running,
            pending: 2 - running,
        },
        failed_tasks: 0,
    }
}

fn service(runs: &str, deployments: Vec<ObservedDeployment>) -> ObservedService {
    let mut o = ObservedService::as_created(&desired());
    o.task_definition_arn = runs.into();
    o.deployments = deployments;
    o
}

#[test]
fn a_rollout_is_pending_until_ecs_completes_it() {
    let rolling = service(
        NEW,
        vec![
            deployment(
                "new",
                DeploymentStatus::Primary,
                NEW,
                RolloutState::InProgress,
                1,
            ),
            deployment(
                "old",
                DeploymentStatus::Active,
                OLD,
                RolloutState::Completed,
                2,
            ),
        ],
    );
    let p = progress(Some(&rolling), NEW);
    assert_eq!(
        p,
        Progress::Pending(
            "1 of 2 new tasks running, 1 pending, 0 failed; 2 old still running".into()
        )
    );
    assert!(!p.is_done());
    let done = service(
        NEW,
        vec![deployment(
            "new",
            DeploymentStatus::Primary,
            NEW,
            RolloutState::Completed,
            2,
        )],
    );
    assert_eq!(progress(Some(&done), NEW), Progress::Completed);
}

#[test]
fn without_a_rollout_state_the_counts_decide() {
    let unknown = || RolloutState::Unknown(String::new());
    let short = service(
        NEW,
        vec![deployment(
            "new",
            DeploymentStatus::Primary,
            NEW,
            unknown(),
            1,
        )],
    );
    assert!(matches!(progress(Some(&short), NEW), Progress::Pending(_)));
    let old_left = service(
        NEW,
        vec![
            deployment("new", DeploymentStatus::Primary, NEW, unknown(), 2),
            deployment("old", DeploymentStatus::Active, OLD, unknown(), 1),
        ],
    );
    assert!(matches!(
        progress(Some(&old_left), NEW),
        Progress::Pending(_)
    ));
    let settled = service(
        NEW,
        vec![deployment(
            "new",
            DeploymentStatus::Primary,
            NEW,
            unknown(),
            2,
        )],
    );
    assert_eq!(progress(Some(&settled), NEW), Progress::Completed);
}

#[test]
fn a_failed_or_rolled_back_rollout_is_never_completed() {
    let rolled_back = service(
        OLD,
        vec![
            deployment(
                "rollback",
                DeploymentStatus::Primary,
                OLD,
                RolloutState::Completed,
                2,
            ),
            deployment(
                "failed",
                DeploymentStatus::Active,
                NEW,
                RolloutState::Failed,
                0,
            ),
        ],
    );
    assert_eq!(
        progress(Some(&rolled_back), NEW),
        Progress::RolledBack("ECS deployment circuit breaker: tasks failed to start.".into())
    );
    let failed = service(
        NEW,
        vec![deployment(
            "failed",
            DeploymentStatus::Primary,
            NEW,
            RolloutState::Failed,
            0,
        )],
    );
    assert!(matches!(progress(Some(&failed), NEW), Progress::Failed(_)));
    // Drained after the rollback: the service runs another revision.
    let drained = service(
        OLD,
        vec![deployment(
            "rollback",
            DeploymentStatus::Primary,
            OLD,
            RolloutState::Completed,
            2,
        )],
    );
    assert_eq!(
        progress(Some(&drained), NEW),
        Progress::Superseded("web:1".into())
    );
    assert_eq!(progress(None, NEW), Progress::Gone);
}

#[test]
fn the_held_tag_round_trips_and_rejects_other_values() {
    let hold = HeldRollout {
        spec_hash: "3f9a".into(),
        revision: NEW.into(),
        deployment: "manual@1764700000".into(),
        reason: "rolled back by hand (ecs-operator rollback)".into(),
        since: 1_764_700_000,
    };
    let tag = hold.to_tag(HoldKind::Hand);
    assert_eq!(tag, "3f9a 1764700000 web:2 hand");
    assert!(tag.chars().all(tags::is_tag_value_char));
    let back = HeldRollout::from_tag(&tag).expect("its own value");
    assert_eq!(back.spec_hash, "3f9a");
    assert_eq!(back.since, 1_764_700_000);
    assert_eq!(back.revision, "web:2");
    let by_guard = HeldRollout::from_tag("3f9a 1 web:2 guard").expect("a guard's hold");
    assert_eq!(by_guard.reason, "rolled back by the SLO guard");
    for other in [
        "",
        "3f9a",
        "3f9a 1 web:2",
        "3f9a soon web:2 hand",
        "3f9a 1 web:2 someone",
        "3f9a 1 web:2 hand extra",
        " 1 web:2 hand",
    ] {
        assert_eq!(HeldRollout::from_tag(other), None, "{other:?}");
    }
}
