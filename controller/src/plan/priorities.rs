//! Listener rule priorities the manifests did not write.
//!
//! A derived priority is a hash of the cluster and service name
//! ([`derived_priority`](crate::render::aws::derived_priority)), and 40,001 slots fill up
//! quickly: by the birthday bound two of 300 services collide with even odds. So a derived
//! priority is a starting point, resolved here against the listener as observed and against
//! the other manifests of the pass, before anything is planned.
//!
//! # Guarantees
//! - Stable: a service whose rule exists keeps the priority that rule has; only a rule about
//!   to be created is placed, and it is placed the same way by every pass of the same world.
//! - Never taken: a new rule goes to the first priority at or after its derived one (wrapping
//!   within [`DERIVED_PRIORITY`]) that no rule on the listener holds and no other manifest of
//!   the pass claims. Written priorities are claimed first and stay as written; a written
//!   priority held by another rule is a conflict of that service (`plan::ingress`).
//!
//! # Caveats
//! - Priority orders rule evaluation. Services whose host and path patterns overlap should
//!   write their priorities; a derived one says nothing about order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::ingress::own_rule;
use crate::observe::Observed;
use crate::render::aws::{DesiredService, DERIVED_PRIORITY};

/// The priority each service's rule gets in this pass, by service name: written ones as written,
/// derived ones resolved. Services without an ingress are absent.
#[derive(Debug, Default, PartialEq)]
pub struct ResolvedPriorities(BTreeMap<String, i32>);

impl ResolvedPriorities {
    /// Resolves the derived priorities of `desired` against the listener in `observed`.
    pub fn resolve(
        desired: &[Arc<DesiredService>],
        observed: &Observed,
        operator_id: &str,
    ) -> Self {
        let mut out = BTreeMap::new();
        let mut taken: BTreeSet<i32> = observed.ingress.rules.iter().map(|r| r.priority).collect();
        let mut to_place = Vec::new();
        for d in desired {
            let Some(ingress) = &d.ingress else { continue };
            if !ingress.rule.derived {
                taken.insert(ingress.rule.priority);
                out.insert(d.name.clone(), ingress.rule.priority);
            } else if let Some(rule) = own_rule(observed, operator_id, &d.name) {
                out.insert(d.name.clone(), rule.priority);
            } else {
                to_place.push((d.name.as_str(), ingress.rule.priority));
            }
        }
        // In name order, so that the same world places the same way whatever the file order.
        to_place.sort_unstable();
        for (name, start) in to_place {
            let placed = free_from(start, &taken).unwrap_or(start);
            taken.insert(placed);
            out.insert(name.to_string(), placed);
        }
        Self(out)
    }

    /// `d` with its resolved priority: borrowed when it is the rendered one.
    pub fn apply(&self, d: &Arc<DesiredService>) -> Arc<DesiredService> {
        match (&d.ingress, self.0.get(&d.name)) {
            (Some(ingress), Some(&p)) if ingress.rule.priority != p => {
                let mut owned = DesiredService::clone(d);
                if let Some(i) = owned.ingress.as_mut() {
                    i.rule.priority = p;
                }
                Arc::new(owned)
            }
            _ => Arc::clone(d),
        }
    }
}

/// The first priority at or after `start` not in `taken`, wrapping within the derived range;
/// `None` when every one is taken.
fn free_from(start: i32, taken: &BTreeSet<i32>) -> Option<i32> {
    let (lo, hi) = (
        *DERIVED_PRIORITY.start() as i32,
        *DERIVED_PRIORITY.end() as i32,
    );
    let start = start.clamp(lo, hi);
    (start..=hi).chain(lo..start).find(|p| !taken.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_free_priority_wraps_around_the_range() {
        let hi = *DERIVED_PRIORITY.end() as i32;
        let lo = *DERIVED_PRIORITY.start() as i32;
        let taken = BTreeSet::from([hi - 1, hi]);
        assert_eq!(free_from(hi - 1, &taken), Some(lo));
        assert_eq!(free_from(20_000, &taken), Some(20_000));
        let all: BTreeSet<i32> = (lo..=hi).collect();
        assert_eq!(free_from(lo, &all), None);
    }
}
