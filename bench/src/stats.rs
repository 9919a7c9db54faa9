//! The arithmetic of the benchmark: per-service figures, ratios, call breakdowns, and the call
//! counts of the peers and of real AWS, derived from documented behaviour and page sizes.

use std::collections::BTreeMap;

use ecs_operator::aws::calls::{is_read, CallKey};
use ecs_operator::aws::CallCounter;

/// Calls made in one measured step, split into reads and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    pub reads: u64,
    pub writes: u64,
    /// Attempts that did not succeed (throttled, 4xx, 5xx, transport).
    pub failed: u64,
}

impl Split {
    pub fn of(calls: &BTreeMap<CallKey, u64>) -> Split {
        let t = CallCounter::totals(calls, None);
        Split {
            reads: t.reads,
            writes: t.writes,
            failed: t.failed,
        }
    }

    pub fn total(&self) -> u64 {
        self.reads + self.writes
    }
}

/// A count spread over `n` services.
pub fn per_service(total: u64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        total as f64 / n as f64
    }
}

/// `ours / floor`, when the floor is measurable.
pub fn ratio(ours: f64, floor: f64) -> Option<f64> {
    (floor > 0.0 && ours.is_finite()).then(|| ours / floor)
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Calls per `Service:Operation`, over all outcomes.
pub fn by_operation(calls: &BTreeMap<CallKey, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for ((service, operation, _), n) in calls {
        *out.entry(format!("{service}:{operation}")).or_default() += n;
    }
    out
}

/// Write calls per `Service:Operation`.
pub fn writes_by_operation(calls: &BTreeMap<CallKey, u64>) -> BTreeMap<String, u64> {
    by_operation(calls)
        .into_iter()
        .filter(|(k, _)| !is_read(k.split(':').nth(1).unwrap_or(k)))
        .collect()
}

/// The operation with the most calls (ties: the first by name).
pub fn dominant(calls: &BTreeMap<CallKey, u64>) -> Option<(String, u64)> {
    by_operation(calls)
        .into_iter()
        .fold(None, |best: Option<(String, u64)>, (k, n)| match best {
            Some((_, b)) if b >= n => best,
            _ => Some((k, n)),
        })
}

/// Differences between two per-operation maps, as `op: a vs b`; empty when they agree.
pub fn mismatches(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                a.get(k).copied().unwrap_or(0),
                b.get(k).copied().unwrap_or(0),
            );
            (x != y).then(|| format!("{k}: {x} vs {y}"))
        })
        .collect()
}

/// Calls needed to read `items` in pages of `page` (a listing always costs one call).
pub fn pages(items: u64, page: u64) -> u64 {
    items.div_ceil(page.max(1)).max(1)
}

/// A per-resource refresher like `terraform plan` / `refresh`: one read per resource per run.
/// Each service has an ECS service (DescribeServices), a task definition
/// (DescribeTaskDefinition) and a Cloud Map service (GetService); a scaled one also a scalable
/// target (DescribeScalableTargets) and a policy (DescribeScalingPolicies).
pub fn terraform_refresh_reads(n: u64, scaled: u64) -> u64 {
    3 * n + 2 * scaled
}

/// Terraform creating the same resources from empty: the same creates as ours, and the AWS
/// provider ends every Create with its Read (one read-back per resource).
pub fn terraform_first_apply(n: u64, scaled: u64) -> Split {
    Split {
        reads: terraform_refresh_reads(n, scaled),
        writes: 3 * n + 2 * scaled,
        failed: 0,
    }
}

/// A deploy tool that describes one service per call (ecspresso-style `diff` / `verify` on an
/// unchanged service): DescribeServices + DescribeTaskDefinition per service per run.
pub fn ecspresso_reads(n: u64) -> u64 {
    2 * n
}

/// Page sizes of the list / batch calls one idle pass makes.
#[derive(Debug, Clone, Copy)]
pub struct PageSizes {
    /// ECS ListServices (None: the emulator returns everything at once).
    pub ecs_list_services: Option<u64>,
    /// ECS DescribeServices names per call.
    pub describe_services: u64,
    /// Cloud Map ListServices (None: unpaginated).
    pub cloud_map_list_services: Option<u64>,
    /// DescribeScalableTargets resource ids per call (the operator's batch).
    pub describe_scalable_targets: u64,
    /// DescribeScalingPolicies per page.
    pub describe_scaling_policies: u64,
    /// S3 ListObjectsV2 keys per page.
    pub list_objects: u64,
}

impl PageSizes {
    /// Real AWS, from the API references: ECS ListServices returns 10 per page when
    /// MaxResults is not set (the operator does not set it; at most 100), Cloud Map
    /// ListServices 100, DescribeScalableTargets 50, DescribeScalingPolicies 10 (also its
    /// maximum), S3 ListObjectsV2 1000.
    pub const AWS: PageSizes = PageSizes {
        ecs_list_services: Some(10),
        describe_services: 10,
        cloud_map_list_services: Some(100),
        describe_scalable_targets: 50,
        describe_scaling_policies: 10,
        list_objects: 1000,
    };

    /// Real AWS with `max_results(100)` on ECS ListServices.
    pub const AWS_LIST_100: PageSizes = PageSizes {
        ecs_list_services: Some(100),
        ..PageSizes::AWS
    };

    /// moto 5.2: ECS and Cloud Map ListServices unpaginated, 100 scaling policies per page.
    pub const MOTO: PageSizes = PageSizes {
        ecs_list_services: None,
        describe_services: 10,
        cloud_map_list_services: None,
        describe_scalable_targets: 50,
        describe_scaling_policies: 100,
        list_objects: 1000,
    };
}

/// Reads of one idle pass over `n` services (`scaled` of them autoscaled, one policy each)
/// with warm caches, given the page sizes: what the observe module's batching implies.
/// Scalable targets and policies are read only by a pass that `sweep`s them.
pub fn idle_reads(n: u64, scaled: u64, sizes: PageSizes, sweep: bool) -> u64 {
    if n == 0 {
        return 2;
    }
    let list = |items: u64, page: Option<u64>| page.map_or(1, |p| pages(items, p));
    let scaling = n.div_ceil(sizes.describe_scalable_targets)
        + if scaled > 0 {
            pages(scaled, sizes.describe_scaling_policies)
        } else {
            0
        };
    list(n, sizes.ecs_list_services)
        + n.div_ceil(sizes.describe_services)
        + list(n, sizes.cloud_map_list_services)
        + if sweep { scaling } else { 0 }
        + pages(n, sizes.list_objects)
}

/// Peak RSS growth per manifest between two sizes, in KiB.
pub fn kib_per_manifest(small: (usize, u64), large: (usize, u64)) -> Option<f64> {
    let (n0, kib0) = small;
    let (n1, kib1) = large;
    (n1 > n0).then(|| (kib1 as f64 - kib0 as f64) / (n1 - n0) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_operator::aws::calls::Outcome;

    fn calls(list: &[(&str, &str, Outcome, u64)]) -> BTreeMap<CallKey, u64> {
        list.iter()
            .map(|(s, o, out, n)| ((s.to_string(), o.to_string(), *out), *n))
            .collect()
    }

    #[test]
    fn per_service_and_ratio_divide_and_refuse_a_zero_denominator() {
        assert_eq!(per_service(53, 500), 0.106);
        assert_eq!(per_service(7, 0), 0.0);
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(3.0, 0.0), None);
    }

    #[test]
    fn median_takes_the_middle_sample_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn calls_split_into_reads_and_writes_and_sum_over_outcomes_per_operation() {
        let c = calls(&[
            ("ECS", "DescribeServices", Outcome::Ok, 50),
            ("ECS", "CreateService", Outcome::Ok, 9),
            ("ECS", "CreateService", Outcome::Throttled, 1),
            ("S3", "ListObjectsV2", Outcome::Ok, 1),
        ]);
        assert_eq!(
            Split::of(&c),
            Split {
                reads: 51,
                writes: 10,
                failed: 1
            }
        );
        assert_eq!(by_operation(&c)["ECS:CreateService"], 10);
        assert_eq!(
            writes_by_operation(&c).keys().collect::<Vec<_>>(),
            ["ECS:CreateService"]
        );
        assert_eq!(dominant(&c), Some(("ECS:DescribeServices".into(), 50)));
        let mut other = writes_by_operation(&c);
        assert!(mismatches(&writes_by_operation(&c), &other).is_empty());
        other.insert("ECS:CreateService".into(), 9);
        assert_eq!(
            mismatches(&writes_by_operation(&c), &other),
            ["ECS:CreateService: 10 vs 9"]
        );
    }

    #[test]
    fn peers_read_once_per_resource_or_twice_per_service() {
        // 100 services, 50 autoscaled: 300 + 100 reads for a Terraform-style refresh.
        assert_eq!(terraform_refresh_reads(100, 50), 400);
        assert_eq!(terraform_first_apply(10, 5).writes, 40);
        assert_eq!(ecspresso_reads(100), 200);
    }

    #[test]
    fn page_counts_round_up_and_a_listing_costs_at_least_one_call() {
        assert_eq!(pages(0, 10), 1);
        assert_eq!(pages(10, 10), 1);
        assert_eq!(pages(11, 10), 2);
    }

    #[test]
    fn idle_reads_follow_the_batch_and_page_sizes() {
        // moto, 500 services, 250 scaled: 1 + 50 + 1 + 10 + 3 + 1 at a sweep, 53 between.
        assert_eq!(idle_reads(500, 250, PageSizes::MOTO, true), 66);
        assert_eq!(idle_reads(500, 250, PageSizes::MOTO, false), 53);
        // real AWS: 50 + 50 + 5 + 10 + 25 + 1, and 5 ListServices with MaxResults 100.
        assert_eq!(idle_reads(500, 250, PageSizes::AWS, true), 141);
        assert_eq!(idle_reads(500, 250, PageSizes::AWS_LIST_100, true), 96);
        assert_eq!(idle_reads(500, 250, PageSizes::AWS_LIST_100, false), 61);
        // 10 services, 5 scaled, moto: 1 + 1 + 1 + 1 + 1 + 1.
        assert_eq!(idle_reads(10, 5, PageSizes::MOTO, true), 6);
    }

    #[test]
    fn rss_growth_per_manifest_needs_two_distinct_sizes() {
        assert_eq!(kib_per_manifest((10, 20_000), (510, 30_000)), Some(20.0));
        assert_eq!(kib_per_manifest((10, 20_000), (10, 30_000)), None);
    }
}
