//! Scalable targets and scaling policies are remembered between sweeps (`observe::scaling`):
//! an idle pass reads none of them, a changed manifest's scaling is read and written in the
//! same pass, and a change made behind the operator's back is found by the next sweep.

use std::time::Duration;

use ecs_operator::aws::calls::is_read;
use ecs_operator::aws::CallCounter;
use ecs_operator::manifest::ManifestSet;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use testkit::*;

/// Long enough that the passes meant to fall between sweeps do, even with two aws CLI calls
/// (a Python start each, seconds on a loaded 2-core machine) between them: at 3 s a CI run
/// saw the sweep fall due early.
const SWEEP: Duration = Duration::from_secs(20);

/// One pass; returns (Application Auto Scaling reads, its writes, writes of any service).
async fn pass(r: &Reconciler, set: &ManifestSet) -> (u64, u64, u64) {
    let before = r.aws.calls.snapshot();
    let (plan, _) = r.plan(set, true).await.unwrap();
    let results = r.apply(&plan).await;
    assert!(results.iter().all(|x| x.error.is_none()), "{results:?}");
    let calls = CallCounter::since(&before, &r.aws.calls.snapshot());
    let scaling_reads = (calls.iter())
        .filter(|((service, op, _), _)| service.contains("Scaling") && is_read(op))
        .map(|(_, n)| n)
        .sum();
    let scaling_writes = (calls.iter())
        .filter(|((service, op, _), _)| service.contains("Scaling") && !is_read(op))
        .map(|(_, n)| n)
        .sum();
    let writes = (calls.iter())
        .filter(|((_, op, _), _)| !is_read(op))
        .map(|(_, n)| n)
        .sum();
    (scaling_reads, scaling_writes, writes)
}

fn scaled(name: &str, target: u32) -> String {
    manifest(
        name,
        "nginx:1.27",
        &format!("  scaling:\n    minTasks: 1\n    maxTasks: 4\n    targetCpuPercent: {target}\n"),
    )
}

#[tokio::test]
async fn scaling_is_read_when_a_manifest_changes_it_and_swept_for_drift() {
    let world = World::new("sweep");
    let r = Reconciler::new(
        clients().await,
        world.settings.clone(),
        ReconcileOptions {
            scaling_sweep: SWEEP,
            ..ReconcileOptions::default()
        },
    );
    let names = ["sweep-a", "sweep-b"];
    let docs = |target_a: u32| -> ManifestSet {
        let texts = [scaled(names[0], target_a), scaled(names[1], 60)];
        let files = ["a.yaml", "b.yaml"];
        let refs: Vec<(&str, &str)> = (files.iter().zip(texts.iter()))
            .map(|(f, t)| (*f, t.as_str()))
            .collect();
        manifests(&refs, &world.settings)
    };

    let (_, _, writes) = pass(&r, &docs(50)).await;
    assert!(writes > 0, "the first pass creates");
    // The next pass reads back what it wrote (the memory held the empty world), then nothing.
    let (reads, _, writes) = pass(&r, &docs(50)).await;
    assert_eq!(writes, 0);
    assert!(reads > 0, "what was written is read back once");
    let (reads, _, writes) = pass(&r, &docs(50)).await;
    assert_eq!(
        (reads, writes),
        (0, 0),
        "an idle pass between sweeps reads no scaling"
    );

    // A manifest changes its target: that service alone is read, and written, in this pass.
    let (reads, writes, _) = pass(&r, &docs(70)).await;
    assert_eq!(writes, 1, "one PutScalingPolicy");
    assert_eq!(reads, 2, "its target and its policies, one call each");
    let policy = |name: &str| {
        aws_cli(&[
            "application-autoscaling",
            "describe-scaling-policies",
            "--service-namespace",
            "ecs",
            "--resource-id",
            &format!("service/{}/{name}", world.settings.cluster),
        ])["ScalingPolicies"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .find(|p| {
                p["ResourceId"]
                    .as_str()
                    .is_some_and(|id| id.ends_with(&format!("/{name}")))
            })
    };
    assert_eq!(
        policy(names[0]).unwrap()["TargetTrackingScalingPolicyConfiguration"]["TargetValue"],
        70.0
    );

    // Behind the operator's back: b's policy is deleted. Until the sweep the memory stands...
    pass(&r, &docs(70)).await;
    aws_cli(&[
        "application-autoscaling",
        "delete-scaling-policy",
        "--service-namespace",
        "ecs",
        "--policy-name",
        &format!("{}-cpu", names[1]),
        "--resource-id",
        &format!("service/{}/{}", world.settings.cluster, names[1]),
        "--scalable-dimension",
        "ecs:service:DesiredCount",
    ]);
    assert!(policy(names[1]).is_none());
    let (reads, _, writes) = pass(&r, &docs(70)).await;
    assert_eq!((reads, writes), (0, 0), "between sweeps nothing is read");
    // ...and the sweep finds the deletion and puts the policy back.
    tokio::time::sleep(SWEEP).await;
    let (reads, writes, _) = pass(&r, &docs(70)).await;
    assert!(reads > 0, "the sweep reads every target and policy");
    assert_eq!(writes, 1, "the deleted policy is put back");
    assert!(policy(names[1]).is_some());
}
