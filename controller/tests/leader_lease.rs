//! The leader lease against moto through the fault proxy: election on a fresh bucket whatever
//! S3 answers for the missing object, lease calls bounded by their own timeout, and S3
//! throttling of the manifest source never costing the leader its lease.

use std::time::{Duration, Instant};

use ecs_operator::aws::AwsClients;
use ecs_operator::controller::lease::Lease;
use testkit::fault_proxy::{Config, Fault, FaultProxy, RequestInfo};
use testkit::*;

const TTL: Duration = Duration::from_secs(3);

fn bucket(tag: &str) -> String {
    let name = unique_prefix(tag).to_lowercase();
    aws_cli(&["s3", "mb", &format!("s3://{name}")]);
    name
}

fn is_lease(r: &RequestInfo) -> bool {
    r.is_s3() && r.path.ends_with("lease/leader.json")
}

fn lease(aws: &AwsClients, bucket: &str, holder: &str) -> Lease {
    Lease::new(bucket, "state/lease/leader.json", holder, TTL).with_client(aws.lease_s3(TTL / 5))
}

async fn elect_one_of_two(aws: &AwsClients, bucket: &str) {
    let mut a = lease(aws, bucket, "a");
    let mut b = lease(aws, bucket, "b");
    assert!(
        a.tick(aws).await,
        "the first replica takes the missing lease"
    );
    assert!(!b.tick(aws).await, "the second finds it taken");
    assert!(a.tick(aws).await, "and the first renews it");
    assert!(!b.tick(aws).await);
}

#[tokio::test]
async fn a_fresh_bucket_elects_one_leader_when_s3_answers_404_for_the_missing_lease() {
    let proxy = FaultProxy::start(&moto_endpoint());
    let aws = production_clients(&proxy.endpoint()).await;
    elect_one_of_two(&aws, &bucket("lease404")).await;
}

#[tokio::test]
async fn a_fresh_bucket_elects_one_leader_when_s3_answers_403_for_the_missing_lease() {
    // Without s3:ListBucket on the prefix, S3 answers a missing key with 403.
    let proxy = FaultProxy::start(&moto_endpoint());
    proxy.set(Config::rule(|r| {
        (is_lease(r) && r.operation == "GetObject").then_some(Fault::AccessDenied)
    }));
    let aws = production_clients(&proxy.endpoint()).await;
    elect_one_of_two(&aws, &bucket("lease403")).await;
    assert!(proxy.stats().injected_of(Fault::AccessDenied) >= 2);
}

#[tokio::test]
async fn a_lease_call_never_waits_past_its_timeout() {
    let proxy = FaultProxy::start(&moto_endpoint());
    let aws = production_clients(&proxy.endpoint()).await;
    let bucket = bucket("leaseslow");
    let mut a = lease(&aws, &bucket, "a");
    assert!(a.tick(&aws).await);
    // Every lease write now hangs for 5-6 s; the timeout is TTL/5 (600 ms), two attempts.
    let mut config =
        Config::rule(|r| (is_lease(r) && r.operation == "PutObject").then_some(Fault::Delay));
    config.delay_ms = (5_000, 6_000);
    proxy.set(config);
    let started = Instant::now();
    a.tick(&aws).await;
    let took = started.elapsed();
    assert!(
        took < TTL - TTL / 5,
        "a renewal must give up before the fence deadline: took {took:?}"
    );
    proxy.clear();
}

#[tokio::test]
async fn s3_throttling_of_the_source_never_costs_the_leader_its_lease() {
    let proxy = FaultProxy::start(&moto_endpoint());
    // A fresh client, as after a restart: its adaptive rate limiter has no history yet.
    let aws = production_clients(&proxy.endpoint()).await;
    let bucket = bucket("leasethrottle");
    let mut leader = lease(&aws, &bucket, "leader");
    assert!(leader.tick(&aws).await);
    // The source's S3 calls get SlowDown (the lease's are untouched), as on a busy bucket.
    proxy.set(Config::rule(|r| {
        (r.is_s3() && !is_lease(r)).then_some(Fault::Throttle)
    }));
    let source = {
        let aws = aws.clone();
        let bucket = bucket.clone();
        tokio::spawn(async move {
            for _ in 0..7 {
                let _ = aws
                    .s3
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix("manifests/")
                    .send()
                    .await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        let tick = Instant::now();
        let still = leader.tick(&aws).await;
        slowest = slowest.max(tick.elapsed());
        assert!(
            still,
            "the leader lost its lease {:?} into the source's throttling",
            started.elapsed()
        );
        tokio::time::sleep(TTL / 3).await;
    }
    assert!(
        slowest < TTL / 5 + Duration::from_millis(500),
        "a renewal waited {slowest:?} behind the source's throttling"
    );
    source.abort();
    assert!(proxy.stats().injected_of(Fault::Throttle) > 0);
}
