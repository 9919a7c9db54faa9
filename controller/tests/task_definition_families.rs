//! Registering the task definitions of new services against moto_server: one
//! ListTaskDefinitionFamilies per apply replaces a DescribeTaskDefinition per new service, and a
//! revision left by an apply that stopped between RegisterTaskDefinition and CreateService is
//! still found and reused, never registered a second time.

use std::collections::BTreeMap;

use ecs_operator::aws::calls::CallKey;
use ecs_operator::aws::CallCounter;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use testkit::fault_proxy::{Config, Fault, FaultProxy};
use testkit::*;

const SERVICES: usize = 6;

fn count(calls: &BTreeMap<CallKey, u64>, service: &str, operation: &str) -> u64 {
    calls
        .iter()
        .filter(|((s, o, _), _)| s == service && o == operation)
        .map(|(_, n)| n)
        .sum()
}

/// The task definition calls of one apply, by operation.
#[derive(Debug, PartialEq)]
struct Registration {
    listings: u64,
    describes: u64,
    registers: u64,
    creates: u64,
}

fn registration(calls: &BTreeMap<CallKey, u64>) -> Registration {
    Registration {
        listings: count(calls, "ECS", "ListTaskDefinitionFamilies"),
        describes: count(calls, "ECS", "DescribeTaskDefinition"),
        registers: count(calls, "ECS", "RegisterTaskDefinition"),
        creates: count(calls, "ECS", "CreateService"),
    }
}

/// The revisions of `family` moto holds, active or not.
fn revisions(family: &str) -> usize {
    aws_cli(&["ecs", "list-task-definitions", "--family-prefix", family])["taskDefinitionArns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a.as_str()
                .and_then(|a| a.rsplit('/').next())
                .and_then(|f| f.rsplit_once(':'))
                .is_some_and(|(f, _)| f == family)
        })
        .count()
}

#[tokio::test]
async fn new_services_list_families_once_and_reuse_a_revision_left_before_their_create() {
    let world = World::new("families");
    // Families are account-wide and moto is shared by the tests: names unique to this world.
    let names: Vec<String> = (0..SERVICES)
        .map(|i| format!("fam-{}-{i}", std::process::id()))
        .collect();
    let docs: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("{n}.yaml"), manifest(n, "nginx:1.27", "")))
        .collect();
    let refs: Vec<(&str, &str)> = docs.iter().map(|(f, d)| (f.as_str(), d.as_str())).collect();
    let set = manifests(&refs, &world.settings);

    // First apply: ECS refuses every CreateService, so each service stops right after its
    // revision is registered (as a crash between the two calls would leave it).
    let proxy = FaultProxy::start(&moto_endpoint());
    proxy.set(Config::rule(|r| {
        (r.service == "ECS" && r.operation == "CreateService").then_some(Fault::AccessDenied)
    }));
    let r = Reconciler::new(
        production_clients(&proxy.endpoint()).await,
        world.settings.clone(),
        ReconcileOptions::default(),
    );
    let before = r.aws.calls.snapshot();
    let (plan, _) = r.plan(&set, true).await.unwrap();
    let results = r.apply(&plan).await;
    let calls = CallCounter::since(&before, &r.aws.calls.snapshot());
    assert!(
        results.iter().all(|res| res.error.is_some()),
        "every create was refused: {results:?}"
    );
    let all = SERVICES as u64;
    let expected = Registration {
        listings: 1,
        describes: 0,
        registers: all,
        creates: all,
    };
    assert_eq!(registration(&calls), expected, "{calls:?}");

    // Second apply, creates allowed: the families are listed, so each is described, its
    // latest revision matches, and it is reused: no second registration.
    proxy.clear();
    let before = r.aws.calls.snapshot();
    let (_, reads, writes) = apply_counted(&r, &set, true).await;
    let calls = CallCounter::since(&before, &r.aws.calls.snapshot());
    let expected = Registration {
        listings: 1,
        describes: all,
        registers: 0,
        creates: all,
    };
    assert_eq!(registration(&calls), expected, "{calls:?}");
    assert!(reads > 0 && writes > 0);
    for name in &names {
        assert_eq!(revisions(name), 1, "{name} was registered once");
        let service = describe_service(&world.settings.cluster, name);
        let td = service["taskDefinition"].as_str().unwrap();
        assert!(td.ends_with(&format!("{name}:1")), "{name} runs {td}");
    }

    // A third apply of the unchanged world writes nothing and lists nothing.
    let (_, _, writes) = apply_counted(&r, &set, true).await;
    assert_eq!(writes, 0);
}

#[tokio::test]
async fn a_single_new_service_describes_its_family_rather_than_listing_all() {
    let world = World::new("families-one");
    let name = format!("fam1-{}", std::process::id());
    let doc = manifest(&name, "nginx:1.27", "");
    let set = manifests(&[("one.yaml", &doc)], &world.settings);
    let r = world.reconciler().await;
    let before = r.aws.calls.snapshot();
    apply_counted(&r, &set, true).await;
    let calls = CallCounter::since(&before, &r.aws.calls.snapshot());
    // One page of the listing would replace a single describe: not worth it.
    assert_eq!(
        count(&calls, "ECS", "ListTaskDefinitionFamilies"),
        0,
        "{calls:?}"
    );
    assert_eq!(
        count(&calls, "ECS", "DescribeTaskDefinition"),
        1,
        "{calls:?}"
    );
}
