//! Every AWS request the operator makes is allowed by the bootstrap's operator policy, and the
//! policy grants nothing the operator does not use (or says why it must).
//!
//! The operator runs its real life against moto with request recording on
//! (`ecs_operator::aws::audit`): a first apply of the example and generated manifests, an idle
//! pass, drift correction, image changes, scaling changes, a Cloud Map TTL change, adoption
//! of a hand-made service, a prune, a Cloud Map lookup, and `ecs-operator run` on the S3 source
//! with status records and the leader lease. The policy is rendered by `scripts/iam-policies`
//! with the values of the same world, and `tools/iam-simulate/evaluate.mjs` evaluates every
//! recorded request against it. moto enforces no IAM: this is the test that does.

#[path = "iam_evaluation/coverage.rs"]
mod coverage;
#[path = "iam_evaluation/policy.rs"]
mod policy;
#[path = "iam_evaluation/scenarios.rs"]
mod scenarios;
#[path = "iam_evaluation/task_needs.rs"]
mod task_needs;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use ecs_operator::aws::audit::RecordOptions;
use ecs_operator::aws::CallCounter;
use scenarios::*;
use serde_json::Value;
use testkit::*;

/// Permissions of the operator policy, as (Sid, action), that no recorded request uses, and
/// why each stays. The test fails on an unused one missing here, and on an entry here that was
/// used or is no longer in the policy.
const NOT_EXERCISED: [(&str, &str, &str); 5] = [
    (
        "DecryptManifestEvents",
        "kms:Decrypt",
        "SQS decrypts the messages of the KMS-encrypted events queue on the operator's behalf \
         when it receives them; ReceiveMessage names no key, so the recorder cannot record \
         that authorization (moto's queue is not encrypted)",
    ),
    (
        "ReadRetryRequests",
        "s3:GetObject",
        "read only while a rolled-back spec is held; moto has no deployment circuit breaker, \
         so no hold arises against it (holds and retries are tested against the ECS fake in \
         aws_fidelity.rs)",
    ),
    (
        "AutoscalingServiceLinkedRole",
        "iam:CreateServiceLinkedRole",
        "AWS calls it on the account's first ECS scalable target only, when \
         AWSServiceRoleForApplicationAutoScaling_ECSService does not exist yet; whether it \
         exists is not visible to a client, so it is not recorded",
    ),
    (
        "WriteMonitoringConfig",
        "elasticfilesystem:ClientMount",
        "ECS mounts the monitoring EFS access point with the task role when the operator's task \
         starts (IAM authorization of the mount): not an API call of the operator",
    ),
    (
        "WriteMonitoringConfig",
        "elasticfilesystem:ClientWrite",
        "as ClientMount: the operator writes the monitoring files through that mount",
    ),
];

/// Condition keys the recorder sends that the evaluator's catalogue does not match, and why
/// that is harmless here; any other ignored key means the request model is wrong.
const IGNORED_BY_THE_EVALUATOR: [&str; 1] = [
    // S3 sends the object's or bucket's ARN as encryption context; the simulator does not match
    // kms:EncryptionContext:<key> keys containing colons. No statement conditions on it.
    "kms:EncryptionContext:aws:s3:arn",
];

/// Actions the scenarios must produce: a scenario that stops exercising one fails here rather
/// than leaving its statements untested.
const EXPECTED_ACTIONS: [&str; 62] = [
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitionFamilies",
    "ecs:ListTaskDefinitions",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:CreateService",
    "ecs:UpdateService",
    "ecs:DeleteService",
    "ecs:TagResource",
    "ecs:UntagResource",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "ecs:ListTasks",
    "ecs:DescribeTasks",
    "iam:PassRole",
    "servicediscovery:ListServices",
    "servicediscovery:CreateService",
    "servicediscovery:TagResource",
    "servicediscovery:ListTagsForResource",
    "servicediscovery:UpdateService",
    "servicediscovery:DeleteService",
    "servicediscovery:DiscoverInstances",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:DeleteScalingPolicy",
    "application-autoscaling:DeregisterScalableTarget",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "ecs:RunTask",
    "ecs:StopTask",
    "scheduler:GetScheduleGroup",
    "scheduler:CreateScheduleGroup",
    "scheduler:ListTagsForResource",
    "scheduler:ListSchedules",
    "scheduler:GetSchedule",
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:SetRulePriorities",
    "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:DeleteTargetGroup",
    "cloudwatch:GetMetricData",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_request_of_the_operators_life_is_allowed_by_its_policy_and_every_statement_is_needed(
) {
    let started = Instant::now();
    let dir = policy::work_dir("operator");
    let binary = operator_binary(&dir);
    let w = IamWorld::new();
    let in_process = dir.join("requests-in-process.jsonl");
    let record = RecordOptions {
        path: in_process.clone(),
        partition: "aws".into(),
        account_id: ACCOUNT.into(),
    };
    let r = reconciler(recording_clients(&record).await, &w.settings);

    // A Cloud Map service named like one of ours in another namespace. Real AWS's ListServices
    // leaves it out (namespace filter); moto lists it, and GetService shows it is not ours:
    // the same read a same-named service that is not the operator's costs on real AWS, here
    // on every run rather than whenever another test's names happen to collide.
    let elsewhere = World::new("iam-other");
    aws_cli(&[
        "servicediscovery",
        "create-service",
        "--name",
        &w.name("api"),
        "--namespace-id",
        elsewhere
            .settings
            .service_discovery_namespace_id
            .as_deref()
            .unwrap(),
    ]);

    // First apply: the examples and generated manifests.
    let api = |tag: &str, extra: &str| w.generated("api", tag, extra);
    let mut docs = w.examples();
    docs.push(api("1", &(scaling(1, 3, 60, Some(70)) + &discovery("10s"))));
    docs.push(w.generated("worker", "1", &scaling(1, 2, 50, None)));
    assert!(pass(&r, &w.set(&docs), "first apply").await > 0);
    // Idle: nothing to write.
    assert_eq!(pass(&r, &w.set(&docs), "idle pass").await, 0);

    // Drift behind the operator's back: a desired count and a deleted scaling policy.
    let cluster = w.settings.cluster.clone();
    aws_cli(&[
        "ecs",
        "update-service",
        "--cluster",
        &cluster,
        "--service",
        "hello",
        "--desired-count",
        "7",
    ]);
    let api_id = format!("service/{cluster}/{}", w.name("api"));
    aws_cli(&[
        "application-autoscaling",
        "delete-scaling-policy",
        "--service-namespace",
        "ecs",
        "--scalable-dimension",
        "ecs:service:DesiredCount",
        "--resource-id",
        &api_id,
        "--policy-name",
        &format!("{}-cpu", w.name("api")),
    ]);
    assert!(pass(&r, &w.set(&docs), "drift").await > 0);

    // Two image changes (one revision kept: older ones the operator registered are
    // deregistered), then scaling and Cloud Map TTL changes, then no scaling at all.
    for tag in ["2", "3"] {
        docs[3] = api(tag, &(scaling(1, 3, 60, Some(70)) + &discovery("10s")));
        assert!(pass(&r, &w.set(&docs), "image change").await > 0);
    }
    docs[3] = api("3", &(scaling(2, 5, 50, None) + &discovery("30s")));
    assert!(pass(&r, &w.set(&docs), "scaling and TTL change").await > 0);
    docs[3] = api("3", &discovery("30s"));
    assert!(pass(&r, &w.set(&docs), "scaling removed").await > 0);
    // A Cloud Map rename: the service moves to the new name, and the old one, now a leftover,
    // is read (its tags) and deleted.
    let renamed = format!("{}-v2", w.name("api"));
    docs[3] = api("3", &format!("{}      name: {renamed}\n", discovery("30s")));
    assert!(pass(&r, &w.set(&docs), "Cloud Map rename").await > 0);
    pass(&r, &w.set(&docs), "Cloud Map leftover").await;

    // traffic.ingress beyond pizza-service's: a target group with attributes, a change of its
    // health check, the rule's priority and paths, then the ingress removed (rule, then group).
    let ingress = |body: &str| {
        format!(
            "{}  traffic:\n    ingress:\n{body}",
            scaling(1, 2, 50, None)
        )
    };
    docs.push(w.generated(
        "web",
        "1",
        &ingress("      paths: ['/web/*']\n      stickiness: 1h\n      deregistrationDelay: 30s\n"),
    ));
    assert!(pass(&r, &w.set(&docs), "ingress created").await > 0);
    let web = docs.len() - 1;
    docs[web] = w.generated(
        "web",
        "1",
        &ingress("      paths: ['/web/*', '/w/*']\n      priority: 4321\n      stickiness: 1h\n      deregistrationDelay: 30s\n      healthCheck: {path: /ready}\n"),
    );
    assert!(pass(&r, &w.set(&docs), "ingress changed").await >= 3);
    docs[web] = w.generated("web", "1", &scaling(1, 2, 50, None));
    assert!(pass(&r, &w.set(&docs), "ingress removed").await > 0);
    assert!(pass(&r, &w.set(&docs), "target group deleted").await > 0);

    // Adoption of a hand-made service with the same name.
    let adopted = w.name("adopt");
    w.world.hand_made_service(&cluster, &adopted);
    let (file, text) = w.generated("adopt", "1", "");
    let text = text.replace(
        "spec:",
        "  annotations:\n    ecs-operator.io/adopt: \"true\"\nspec:",
    );
    docs.push((file, text));
    assert!(pass(&r, &w.set(&docs), "adoption").await > 0);

    // A prune: the worker's manifest is gone (it asked for lifecycle.prune).
    docs.retain(|(name, _)| !name.starts_with(&w.name("worker")));
    assert!(pass(&r, &w.set(&docs), "prune").await > 0);

    // A hold of `ecs-operator rollback` that no longer stands (its spec is not the
    // manifest's): the operator removes its tag, and only that tag.
    let hello_arn = format!(
        "arn:aws:ecs:{}:{ACCOUNT}:service/{cluster}/hello",
        w.settings.region.as_deref().unwrap()
    );
    aws_cli(&[
        "ecs",
        "tag-resource",
        "--resource-arn",
        &hello_arn,
        "--tags",
        &format!(
            "key={},value=stale 1 hello:1 hand",
            ecs_operator::domain::tags::HELD
        ),
    ]);
    let before = r.aws.calls.snapshot();
    let (mut plan, _) = r.plan(&w.set(&docs), true).await.unwrap();
    ecs_operator::reconcile::rollback::release_holds(&mut plan, &BTreeMap::new());
    assert!(r.apply(&plan).await.iter().all(|r| r.error.is_none()));
    let writes = CallCounter::totals(&CallCounter::since(&before, &r.aws.calls.snapshot()), None);
    assert_eq!(writes.writes, 1, "one UntagResource");

    // A Cloud Map lookup for every scraped service, as the discovery refresh makes it.
    let set = w.set(&docs);
    let targets: Vec<_> = set
        .manifests
        .iter()
        .filter_map(|m| ecs_operator::render::render_service(&m.manifest, &w.settings).scrape)
        .collect();
    let namespace = w.settings.service_discovery_namespace_name.clone().unwrap();
    let lookup = ecs_operator::observe::instances::Lookup {
        targets,
        ..Default::default()
    };
    ecs_operator::observe::instances::discover(&r.aws, &namespace, &lookup).await;
    // The queue metrics of every-field's queue worker, as the controller reads them after a
    // full pass (GetMetricData, which has no resource type).
    let mut registry = prometheus_client::registry::Registry::default();
    let queues = ecs_operator::controller::queue_metrics::QueueMetrics::register(&mut registry);
    queues.refresh(&r.aws, &set, Instant::now()).await;

    // The controller on the S3 source: manifests, status records, the lease, discovery, and
    // why tasks stopped.
    w.stopped_task();
    let by_process = dir.join("requests-run.jsonl");
    docs.push(w.generated("late", "1", ""));
    upload(&w.bucket, &docs, &dir);
    run_operator(&binary, &w.settings, &w.events_queue.0, &by_process, &dir).await;

    // Pre-deploy tasks and scheduled jobs (RunTask, StopTask, EventBridge Scheduler).
    let jobs_record = RecordOptions {
        path: dir.join("requests-jobs.jsonl"),
        ..record.clone()
    };
    one_off_tasks_and_jobs(&w, &jobs_record).await;

    // Evaluate every recorded request against the policy rendered for this world.
    let lines: Vec<Value> = [&in_process, &by_process, &jobs_record.path]
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    let requests = policy::write_requests("requests", &lines, &dir);
    let (policies, values) = policy::render(&w.policy_values(), &dir);
    let key_policies =
        BTreeMap::from([(w.kms_key_arn.clone(), policy::key_policy("aws", ACCOUNT))]);
    // The operator's role has its inline policy and the managed ingress one (operator-ingress,
    // iam.tf): IAM evaluates their statements together.
    let mut operator = policies["operator"].clone();
    let ingress = policies["operator-ingress"]["Statement"]
        .as_array()
        .unwrap();
    (operator["Statement"].as_array_mut().unwrap()).extend(ingress.iter().cloned());
    let report = policy::evaluate("operator", &operator, &requests, &key_policies, &dir);
    println!("{}", report.stdout);

    let actions = coverage::actions_of(&lines);
    let missing: Vec<&str> = EXPECTED_ACTIONS
        .iter()
        .filter(|a| !actions.contains_key(**a))
        .copied()
        .collect();
    let unused = report.strings("unusedStatements");
    let unexercised = coverage::unexercised_permissions(&operator, &report.json);
    let justified: BTreeSet<(String, String)> = NOT_EXERCISED
        .iter()
        .map(|(sid, action, _)| (sid.to_string(), action.to_string()))
        .collect();
    let unjustified: Vec<_> = unexercised.difference(&justified).collect();
    let stale: Vec<_> = justified.difference(&unexercised).collect();
    let ignored = coverage::ignored_keys(&report.json, &IGNORED_BY_THE_EVALUATOR);
    let seconds = started.elapsed().as_secs_f64();
    record_figures(
        "iam_evaluation",
        "the operator's recorded requests against its bootstrap policy",
        serde_json::json!({
            "requests": report.count("evaluated"),
            "distinct_actions": report.count("distinctActions"),
            "denies": report.count("denies"),
            "unused_statements": unused,
            "unexercised_permissions": unexercised,
            "policy_statements": report.json["statementUse"].as_object().unwrap().len(),
            "values": values,
            "seconds": seconds,
        }),
    );
    println!(
        "iam evaluation: {} requests, {} distinct actions, {} denies, unused statements {unused:?}, \
         unexercised permissions {unexercised:?}, {seconds:.1} s",
        report.count("evaluated"),
        report.count("distinctActions"),
        report.count("denies"),
    );

    // Every failed check is reported at once: a deny must not hide an unjustified permission.
    let denies = report.denies();
    let checks = [
        (
            denies.is_empty(),
            format!(
                "{} requests of the operator are denied by its policy (report: {}):\n{}",
                denies.len(),
                dir.join("operator-report.json").display(),
                denies.join("\n")
            ),
        ),
        (
            missing.is_empty(),
            format!("the scenarios no longer exercise {missing:?}; recorded: {actions:?}"),
        ),
        (
            unjustified.is_empty(),
            format!(
                "permissions no request used, and not in NOT_EXERCISED: {unjustified:?} (remove \
                 them from terraform-bootstrap/policies/operator.json.tftpl, or say why they are \
                 needed)"
            ),
        ),
        (
            stale.is_empty(),
            format!("NOT_EXERCISED names permissions that are used or gone: {stale:?}"),
        ),
        (
            ignored.is_empty(),
            format!("the recorder sends condition keys that do not apply: {ignored:?}"),
        ),
    ];
    let failed: Vec<&String> = checks
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, m)| m)
        .collect();
    assert!(
        failed.is_empty(),
        "{}",
        failed
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
