//! The controller's pass as tests drive it: `pass::run` over a complete source, as the
//! leader, with nothing backing off, carrying `Memory` (statuses, holds) from pass to pass as
//! the runtime does.

use std::collections::BTreeMap;

use ecs_operator::manifest::ManifestSet;
use ecs_operator::reconcile::pass::{self, Memory, PassInput, PassReport};
use ecs_operator::reconcile::rollback::RetryRequest;
use ecs_operator::reconcile::Reconciler;

/// One leader pass over `set` at Unix time `now`, with the `ecs-operator retry` requests
/// `retries`. Panics when nothing could be observed.
pub async fn leader_pass(
    r: &Reconciler,
    set: &ManifestSet,
    memory: &mut Memory,
    retries: &BTreeMap<String, RetryRequest>,
    now: u64,
) -> PassReport {
    let input = PassInput {
        set,
        source_ok: true,
        leader: true,
        held: &|_: &str| false,
        now,
        retries,
        only: None,
    };
    pass::run(r, input, memory, &mut [])
        .await
        .expect("observation succeeds")
}

/// One plan and apply over `set` (`complete`: the source is whole, so pruning may happen),
/// asserting every service applied cleanly; returns the plan and the (reads, writes) made.
pub async fn apply_counted(
    r: &Reconciler,
    set: &ManifestSet,
    complete: bool,
) -> (ecs_operator::plan::Plan, u64, u64) {
    use ecs_operator::aws::CallCounter;
    let before = r.aws.calls.snapshot();
    let (plan, _) = r.plan(set, complete).await.unwrap();
    let results = r.apply(&plan).await;
    for res in &results {
        assert!(res.error.is_none(), "{}: {:?}", res.name, res.error);
    }
    let totals = CallCounter::totals(&CallCounter::since(&before, &r.aws.calls.snapshot()), None);
    (plan, totals.reads, totals.writes)
}
