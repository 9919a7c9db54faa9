//! The operator against moto paged as AWS pages (`testkit::aws_pages` in the fault proxy):
//! DescribeScalingPolicies 10 a page, ECS ListServices 10 a page unless asked for up to 100,
//! DescribeServices at most 10 names, Cloud Map listings re-paged. moto itself answers every
//! listing in one page, so without the layer a missed `nextToken` would go unseen.

use std::collections::BTreeSet;

use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use testkit::fault_proxy::{Config, FaultProxy};
use testkit::*;

const SERVICES: usize = 24;

#[tokio::test]
async fn every_page_is_followed_and_no_request_exceeds_an_aws_limit() {
    let world = World::new("awspages");
    let prefix = unique_prefix("awspages");
    let names: BTreeSet<String> = (0..SERVICES).map(|i| format!("{prefix}-{i:02}")).collect();
    let docs: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("{n}.yaml"), scaled_manifest(n, "nginx:1.27")))
        .collect();
    let refs: Vec<(&str, &str)> = docs.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
    let set = manifests(&refs, &world.settings);

    let proxy = FaultProxy::start(&moto_endpoint());
    proxy.set(Config {
        aws_pages: true,
        ..Config::default()
    });
    let aws = production_clients(&proxy.endpoint()).await;
    let reconciler = Reconciler::new(aws, world.settings.clone(), ReconcileOptions::default());
    let (plan, _) = reconciler.plan(&set, true).await.expect("the first plan");
    let results = reconciler.apply(&plan).await;
    assert!(
        results.iter().all(|r| r.error.is_none()),
        "{:#?}",
        results
            .iter()
            .filter(|r| r.error.is_some())
            .collect::<Vec<_>>()
    );

    proxy.reset_stats();
    let (plan, _) = reconciler.plan(&set, true).await.expect("the second plan");
    assert!(
        !plan.has_changes(),
        "every policy and service was found over its pages, so nothing is planned: {plan:#?}"
    );
    let stats = proxy.stats();
    let refused: u64 = stats
        .answered
        .iter()
        .filter(|((_, status), _)| *status >= 400)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        refused, 0,
        "no request broke an AWS limit: {:?}",
        stats.answered
    );
    assert_eq!(
        stats.refused_total(),
        0,
        "the layer refused none: {:?}",
        stats.refused
    );
    let forwarded = |key: &str| stats.forwarded.get(key).copied().unwrap_or(0);
    // DescribeScalingPolicies lists every ECS policy of the region (other tests' too).
    let policies = aws_cli(&[
        "application-autoscaling",
        "describe-scaling-policies",
        "--service-namespace",
        "ecs",
    ])["ScalingPolicies"]
        .as_array()
        .map_or(0, Vec::len) as u64;
    assert!(policies >= SERVICES as u64);
    assert_eq!(
        forwarded("ApplicationAutoScaling/DescribeScalingPolicies"),
        policies.div_ceil(10),
        "{policies} policies are read 10 a page: {:?}",
        stats.forwarded
    );
    assert_eq!(
        forwarded("ECS/DescribeServices"),
        (SERVICES as u64).div_ceil(10),
        "{:?}",
        stats.forwarded
    );
    assert_eq!(forwarded("ECS/ListServices"), 1, "{:?}", stats.forwarded);

    // What the operator created is exactly what was asked, read straight from moto.
    let moto = clients().await;
    let inv = inventory(&moto, &world.settings.cluster, &prefix, &names).await;
    let problems = inventory_problems(
        &inv,
        &world.settings.operator_id,
        &names,
        &reconciler.discovery_description(),
        Some(1),
        true,
    );
    assert!(problems.is_empty(), "{problems:#?}");
    clean_up(&moto, &world.settings.cluster, &inv).await;
}
