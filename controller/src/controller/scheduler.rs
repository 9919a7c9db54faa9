//! When passes run and when a failed service is tried again.
//!
//! A pass runs when the source changed, when the jittered resync interval elapsed, or when a
//! service's backoff expired. A service that failed is held (planned, not applied) until its
//! [`Action`] says it may be tried again; the error class decides the delay (Flux's
//! Stalled / Waiting / transient).
//!
//! The clock (an `Instant` passed in) and the random jitter (an injected RNG) are inputs, so
//! every decision here is unit-tested without sleeping.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};

use crate::reconcile::ErrorClass;

/// What to do with a service after a pass, as in kube-rs's `Action`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Applied or in sync: nothing until the next regular pass or a change.
    AwaitChange,
    /// Failed: hold it, and try again after this long.
    RequeueAfter(Duration),
}

/// Longest hold, whatever the class and the number of failures.
pub const MAX_DELAY: Duration = Duration::from_secs(300);

impl Action {
    /// The requeue for the `failures`-th consecutive error of `class`. `jitter` scales the
    /// delay (0.5-1.5 from the scheduler's RNG) so that many services failing together do not
    /// retry in lockstep.
    pub fn for_error(class: ErrorClass, failures: u32, jitter: f64) -> Action {
        let base = match class {
            ErrorClass::Transient => Duration::from_secs(5) * 2u32.saturating_pow(failures.min(6)),
            ErrorClass::Waiting => Duration::from_secs(15),
            ErrorClass::Stalled => MAX_DELAY,
        };
        Action::RequeueAfter(base.min(MAX_DELAY).mul_f64(jitter))
    }
}

/// Decides when passes run and which services are held.
pub struct Scheduler {
    interval: Duration,
    /// The pass interval while a service rolls out (never longer than `interval`).
    rollout_interval: Duration,
    next_full: Instant,
    /// Per service: consecutive failures and when it may be tried again.
    failures: BTreeMap<String, (u32, Instant)>,
    rng: Box<dyn RngCore + Send>,
}

impl Scheduler {
    /// A scheduler whose first pass is due at `now`.
    pub fn new(interval: Duration, now: Instant, rng: Box<dyn RngCore + Send>) -> Self {
        Self {
            interval,
            rollout_interval: interval,
            next_full: now,
            failures: BTreeMap::new(),
            rng,
        }
    }

    /// With jitter from the operating system's randomness.
    pub fn with_os_rng(interval: Duration, now: Instant) -> Self {
        Self::new(interval, now, Box::new(rand::rngs::StdRng::from_os_rng()))
    }

    /// Whether a pass should run now.
    pub fn due(&self, now: Instant, source_changed: bool) -> bool {
        source_changed || now >= self.next_full || self.earliest().is_some_and(|t| now >= t)
    }

    /// While a service rolls out, passes run every `rollout_interval` (if shorter than the
    /// interval): the SLO guard judges a rollout once per pass, and a bad release should
    /// not serve for a whole resync interval before it is judged.
    pub fn with_rollout_interval(mut self, rollout_interval: Duration) -> Self {
        self.rollout_interval = rollout_interval.min(self.interval);
        self
    }

    /// A pass ran: the next full pass is one jittered (+-10%) interval away, the rollout
    /// interval when a service is `rolling_out`.
    pub fn passed(&mut self, now: Instant, rolling_out: bool) {
        let jitter = self.rng.random_range(0.9..1.1);
        let interval = if rolling_out {
            self.rollout_interval
        } else {
            self.interval
        };
        self.next_full = now + interval.mul_f64(jitter);
    }

    /// Records a service's outcome (`None` = success) and returns what happens next.
    pub fn record(&mut self, name: &str, error: Option<ErrorClass>, now: Instant) -> Action {
        let Some(class) = error else {
            self.failures.remove(name);
            return Action::AwaitChange;
        };
        let n = self.failures.get(name).map(|(n, _)| n + 1).unwrap_or(1);
        let action = Action::for_error(class, n, self.rng.random_range(0.5..1.5));
        if let Action::RequeueAfter(delay) = action {
            self.failures.insert(name.to_string(), (n, now + delay));
        }
        action
    }

    /// Whether a service is held (backing off) at `now`.
    pub fn holds(&self, name: &str, now: Instant) -> bool {
        self.failures
            .get(name)
            .is_some_and(|(_, until)| now < *until)
    }

    /// How long to sleep before looking again: the poll interval, or less when a pass is
    /// due sooner; never less than 200 ms.
    pub fn wake_in(&self, now: Instant, poll: Duration) -> Duration {
        poll.min(self.next_full.saturating_duration_since(now))
            .max(Duration::from_millis(200))
    }

    fn earliest(&self) -> Option<Instant> {
        self.failures.values().map(|(_, t)| *t).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler(now: Instant) -> Scheduler {
        Scheduler::new(
            Duration::from_secs(60),
            now,
            Box::new(rand::rngs::StdRng::seed_from_u64(7)),
        )
    }

    #[test]
    fn transient_errors_back_off_exponentially_up_to_five_minutes() {
        let delays: Vec<Duration> = (1..=8)
            .map(|n| match Action::for_error(ErrorClass::Transient, n, 1.0) {
                Action::RequeueAfter(d) => d,
                Action::AwaitChange => unreachable!(),
            })
            .collect();
        assert_eq!(delays[0], Duration::from_secs(10));
        assert_eq!(delays[1], Duration::from_secs(20));
        assert_eq!(delays[4], Duration::from_secs(160));
        assert!(delays.iter().all(|d| *d <= MAX_DELAY));
        assert_eq!(delays[7], MAX_DELAY);
    }

    #[test]
    fn the_class_decides_the_delay_and_jitter_scales_it() {
        assert_eq!(
            Action::for_error(ErrorClass::Waiting, 9, 1.0),
            Action::RequeueAfter(Duration::from_secs(15))
        );
        assert_eq!(
            Action::for_error(ErrorClass::Stalled, 1, 0.5),
            Action::RequeueAfter(Duration::from_secs(150))
        );
    }

    #[test]
    fn a_failed_service_is_held_until_its_backoff_expires_then_due() {
        let t0 = Instant::now();
        let mut s = scheduler(t0);
        s.passed(t0, false);
        let Action::RequeueAfter(delay) = s.record("web", Some(ErrorClass::Waiting), t0) else {
            panic!("an error requeues");
        };
        assert!(delay >= Duration::from_millis(7_500) && delay <= Duration::from_millis(22_500));
        assert!(s.holds("web", t0 + delay / 2));
        assert!(!s.holds("other", t0));
        assert!(
            !s.due(t0 + delay / 2, false),
            "nothing due before the backoff ends"
        );
        assert!(
            s.due(t0 + delay, false),
            "the expired backoff makes a pass due"
        );
        assert!(!s.holds("web", t0 + delay));
        assert_eq!(s.record("web", None, t0 + delay), Action::AwaitChange);
        assert!(!s.due(t0 + delay, false), "success forgets the failure");
    }

    #[test]
    fn passes_are_due_on_change_or_after_a_jittered_interval() {
        let t0 = Instant::now();
        let mut s = scheduler(t0);
        assert!(s.due(t0, false), "the first pass is due at once");
        s.passed(t0, false);
        assert!(!s.due(t0 + Duration::from_secs(53), false));
        assert!(s.due(t0 + Duration::from_secs(1), true));
        assert!(s.due(t0 + Duration::from_secs(67), false));
        let wake = s.wake_in(t0, Duration::from_secs(10));
        assert_eq!(wake, Duration::from_secs(10));
        let wake = s.wake_in(t0 + Duration::from_secs(70), Duration::from_secs(10));
        assert_eq!(wake, Duration::from_millis(200));
    }

    #[test]
    fn while_a_service_rolls_out_passes_come_every_rollout_interval() {
        let t0 = Instant::now();
        let mut s = scheduler(t0).with_rollout_interval(Duration::from_secs(15));
        s.passed(t0, true);
        assert!(!s.due(t0 + Duration::from_secs(13), false));
        assert!(s.due(t0 + Duration::from_secs(17), false));
        s.passed(t0, false);
        assert!(
            !s.due(t0 + Duration::from_secs(17), false),
            "back to the interval"
        );
        let longer = scheduler(t0).with_rollout_interval(Duration::from_secs(600));
        assert_eq!(
            longer.rollout_interval,
            Duration::from_secs(60),
            "never longer"
        );
    }

    #[test]
    fn consecutive_failures_grow_the_hold() {
        let t0 = Instant::now();
        let mut s = scheduler(t0);
        let first = s.record("web", Some(ErrorClass::Transient), t0);
        let second = s.record("web", Some(ErrorClass::Transient), t0);
        let (Action::RequeueAfter(a), Action::RequeueAfter(b)) = (first, second) else {
            panic!("errors requeue");
        };
        // 10 s and 20 s bases with 0.5-1.5 jitter: the second is at least 10 s.
        assert!(
            a <= Duration::from_secs(15) && b >= Duration::from_secs(10),
            "{a:?} {b:?}"
        );
    }
}
