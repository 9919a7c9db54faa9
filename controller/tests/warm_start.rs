//! The warm-start cache against moto_server: what a controller's leader leaves in the state
//! bucket lets a new process skip every manifest download and task definition description
//! whose object or revision did not change, and an unchanged world writes it no more. Full
//! tier.

use ecs_operator::aws::CallCounter;
use ecs_operator::domain::S3Location;
use ecs_operator::source::{Source, SourceLocation};
use ecs_operator::status::warm::{WarmCache, WarmStore, VERSION};
use ecs_operator::status::{ServiceStatus, StatusStore};
use std::collections::BTreeSet;
use testkit::*;

type Calls = std::collections::BTreeMap<ecs_operator::aws::calls::CallKey, u64>;

/// Calls of `service` / `operation` between two snapshots, whatever their outcome.
fn calls_of(before: &Calls, after: &Calls, service: &str, operation: &str) -> u64 {
    CallCounter::since(before, after)
        .iter()
        .filter(|((s, o, _), _)| s == service && o == operation)
        .map(|(_, n)| *n)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_process_reads_the_cache_once_and_only_what_changed_since() {
    let world = World::new("warm");
    let bucket = format!("warm-{}", world.settings.cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{bucket}")]);
    let work = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("wm");
    let names: Vec<String> = (0..3).map(|i| format!("{prefix}-{i}")).collect();
    let upload = |name: &str, image: &str| {
        let file = work.path().join(format!("{name}.yaml"));
        std::fs::write(&file, manifest(name, image, "")).unwrap();
        aws_cli(&[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{bucket}/manifests/{name}.yaml"),
        ]);
    };
    for n in &names {
        upload(n, "nginx:1.27");
    }
    let mut settings = world.settings.clone();
    settings.manifest_source = format!("s3://{bucket}/manifests/");
    let location = SourceLocation::parse(&settings.manifest_source).unwrap();
    let state = S3Location {
        bucket: bucket.clone(),
        prefix: "state/".into(),
    };

    // The first process converges and leaves its caches.
    let first = ecs_operator::reconcile::Reconciler::new(
        clients().await,
        settings.clone(),
        Default::default(),
    );
    let mut source = Source::new(location.clone());
    let fetched = source.fetch(Some(&first.aws), &settings).await.unwrap();
    let (plan, _) = first.plan(&fetched.set, true).await.unwrap();
    first.apply(&plan).await;
    let (plan, _) = first.plan(&fetched.set, true).await.unwrap();
    assert!(!plan.has_changes(), "converged");
    let running: BTreeSet<String> = (plan.services.iter())
        .filter_map(|s| s.observed.as_ref())
        .map(|o| o.task_definition_arn.clone())
        .collect();
    assert_eq!(running.len(), 3);
    // The leader's status records, as its passes write them.
    let mut records = StatusStore::new(Some(state.clone()));
    for n in &names {
        let status = ServiceStatus {
            name: n.clone(),
            last_error: Some("first".into()),
            ..ServiceStatus::default()
        };
        records.statuses.insert(n.clone(), status);
    }
    assert!(records.flush(&first.aws).await.is_empty());
    let cache = WarmCache {
        version: VERSION,
        manifests: source.export(),
        task_definitions: first.observer.export(&running),
        statuses: records.export(),
    };
    assert_eq!(cache.statuses.len(), 3);
    assert_eq!(cache.manifests.len(), 3);
    assert_eq!(cache.task_definitions.len(), 3);
    let mut store = WarmStore::new(Some(state.clone()));
    assert!(
        store.save(&first.aws, &cache).await.unwrap(),
        "written once"
    );
    assert!(
        !store.save(&first.aws, &cache).await.unwrap(),
        "an unchanged cache is not written again"
    );

    // One manifest changes while no process runs, and another writer (a replica,
    // `ecs-operator retry`) rewrites one status record.
    upload(&names[0], "nginx:1.28");
    let rewritten = work.path().join("status.json");
    let status = ServiceStatus {
        name: names[2].clone(),
        last_error: Some("rewritten".into()),
        ..ServiceStatus::default()
    };
    std::fs::write(&rewritten, serde_json::to_vec(&status).unwrap()).unwrap();
    aws_cli(&[
        "s3api",
        "put-object",
        "--bucket",
        &bucket,
        "--key",
        &format!("state/status/{}.json", names[2]),
        "--body",
        rewritten.to_str().unwrap(),
    ]);

    // A new process: the cache (one GetObject), then only the changed manifest and no
    // task definition it already knows.
    let second = ecs_operator::reconcile::Reconciler::new(
        clients().await,
        settings.clone(),
        Default::default(),
    );
    let before = second.aws.calls.snapshot();
    let mut loader = WarmStore::new(Some(state.clone()));
    let loaded = loader
        .load(&second.aws)
        .await
        .expect("the cache is read back");
    assert_eq!(loaded, cache);
    let mut source = Source::new(location.clone());
    source.import(loaded.manifests, &settings);
    second.observer.import(loaded.task_definitions);
    let mut statuses = StatusStore::new(Some(state.clone()));
    statuses.load_known(&second.aws, loaded.statuses).await;
    assert_eq!(statuses.statuses.len(), 3, "every record is known");
    assert_eq!(
        statuses.statuses[&names[2]].last_error.as_deref(),
        Some("rewritten"),
        "a record rewritten since the cache is read from S3"
    );
    assert_eq!(
        statuses.statuses[&names[1]].last_error.as_deref(),
        Some("first")
    );
    let fetched = source.fetch(Some(&second.aws), &settings).await.unwrap();
    assert_eq!(
        fetched.downloaded, 1,
        "only the changed manifest is downloaded"
    );
    let (plan, _) = second.plan(&fetched.set, true).await.unwrap();
    let after = second.aws.calls.snapshot();
    assert_eq!(
        calls_of(&before, &after, "S3", "GetObject"),
        3,
        "the cache, one manifest and one status record"
    );
    assert_eq!(
        calls_of(&before, &after, "ECS", "DescribeTaskDefinition"),
        0,
        "every running revision came from the cache"
    );
    let changed: Vec<&str> = (plan.services.iter())
        .filter(|s| !s.steps.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        changed,
        [names[0].as_str()],
        "the warm process plans the change, and only it"
    );

    // A cache of another format version is ignored, never half-read.
    aws_cli(&[
        "s3api",
        "put-object",
        "--bucket",
        &bucket,
        "--key",
        "state/cache/warm.json",
        "--body",
        work.path()
            .join(format!("{}.yaml", names[1]))
            .to_str()
            .unwrap(),
    ]);
    assert!(WarmStore::new(Some(state))
        .load(&second.aws)
        .await
        .is_none());
}
