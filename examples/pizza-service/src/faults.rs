//! Fault knobs: the switches the demo flips to make the service misbehave on purpose.
//!
//! Each knob maps to one alert of the demo: `failure_ratio` to failed-order and error-rate
//! alerts, `latency_ms` to latency SLOs, `cpu_burn_threads` and `memory_grow_mb_per_s` to
//! resource alerts, `crash_after_ms` (and `POST /admin/crash`) to task-down / outage alerts.
//! Every knob is bounded, so a typo in a demo script cannot take the host down with it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Most busy-loop threads the CPU knob may start.
pub const MAX_CPU_BURN_THREADS: u32 = 8;
/// Longest latency that can be added to an order, in milliseconds.
pub const MAX_LATENCY_MS: u64 = 60_000;
/// Fastest memory growth, in MiB per second.
pub const MAX_MEMORY_GROW_MB_PER_S: u64 = 1024;
/// Longest crash delay, in milliseconds (one day).
pub const MAX_CRASH_AFTER_MS: u64 = 86_400_000;
/// Exit code of a simulated crash: what a task killed by SIGKILL reports.
pub const CRASH_EXIT_CODE: i32 = 137;
/// Delay before `POST /admin/crash` exits, so that its response can still be written.
pub const CRASH_NOW_DELAY: Duration = Duration::from_millis(100);

const MIB: usize = 1024 * 1024;
/// How often the memory grower wakes up.
const GROW_TICK: Duration = Duration::from_millis(100);

/// How the process ends when a crash fault fires. The binary exits; tests record the code.
pub type ExitFn = Arc<dyn Fn(i32) + Send + Sync>;

/// The current fault knobs, as returned by `GET /admin/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Knobs {
    /// Probability that an order fails with a 500.
    pub failure_ratio: f64,
    /// Latency added to every `POST /orders`, in milliseconds.
    pub latency_ms: u64,
    /// Busy-loop threads requested.
    pub cpu_burn_threads: u32,
    /// Memory growth in MiB per second (0 = off, and what was held is freed).
    pub memory_grow_mb_per_s: u64,
    /// Pending crash delay in milliseconds, as last set (0 = none pending).
    pub crash_after_ms: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            failure_ratio: 0.0,
            latency_ms: 0,
            cpu_burn_threads: 0,
            memory_grow_mb_per_s: 0,
            crash_after_ms: 0,
        }
    }
}

/// A partial update of the knobs: the body of `PUT /admin/faults`. Absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_burn_threads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_grow_mb_per_s: Option<u64>,
    /// Schedules an exit after this many milliseconds, replacing any pending one; 0 cancels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_after_ms: Option<u64>,
}

impl KnobsPatch {
    /// Checks every field against its bound, so that a patch is applied whole or not at all.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(r) = self.failure_ratio {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("failure_ratio {r} is outside 0.0..=1.0"));
            }
        }
        check_max("latency_ms", self.latency_ms, MAX_LATENCY_MS)?;
        check_max(
            "cpu_burn_threads",
            self.cpu_burn_threads.map(u64::from),
            u64::from(MAX_CPU_BURN_THREADS),
        )?;
        check_max(
            "memory_grow_mb_per_s",
            self.memory_grow_mb_per_s,
            MAX_MEMORY_GROW_MB_PER_S,
        )?;
        check_max("crash_after_ms", self.crash_after_ms, MAX_CRASH_AFTER_MS)?;
        Ok(())
    }
}

fn check_max(name: &str, value: Option<u64>, max: u64) -> Result<(), String> {
    match value {
        Some(v) if v > max => Err(format!("{name} {v} is above the limit of {max}")),
        _ => Ok(()),
    }
}

/// The knobs plus what they have caused so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultStatus {
    #[serde(flatten)]
    pub knobs: Knobs,
    /// Memory currently held by the growth knob, in MiB.
    pub memory_held_mb: u64,
    /// Upper bound of `memory_held_mb`.
    pub memory_cap_mb: u64,
    /// Busy-loop threads currently running (lags `cpu_burn_threads` by a moment).
    pub cpu_burn_threads_running: u32,
}

/// Owner of all fault state. Dropping it stops the CPU burners and the memory grower.
pub struct Faults {
    knobs: Mutex<Knobs>,
    cpu: CpuBurner,
    memory: Arc<MemoryBallast>,
    crash_timer: Mutex<Option<tokio::task::AbortHandle>>,
    exit: ExitFn,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("knobs", &self.knobs())
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// Creates the fault state with all knobs off. Must be called inside a Tokio runtime, which
    /// runs the memory grower.
    pub fn new(memory_cap_mb: u64, exit: ExitFn) -> Self {
        let memory = Arc::new(MemoryBallast::new(memory_cap_mb));
        tokio::spawn(grow_memory(Arc::downgrade(&memory)));
        Self {
            knobs: Mutex::new(Knobs::default()),
            cpu: CpuBurner::default(),
            memory,
            crash_timer: Mutex::new(None),
            exit,
        }
    }

    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        *lock(&self.knobs)
    }

    /// The knobs plus their effects.
    pub fn status(&self) -> FaultStatus {
        FaultStatus {
            knobs: self.knobs(),
            memory_held_mb: self.memory.held_mb(),
            memory_cap_mb: self.memory.cap_mb,
            cpu_burn_threads_running: self.cpu.running(),
        }
    }

    /// Validates and applies a patch; on error nothing changes.
    pub fn apply(&self, patch: &KnobsPatch) -> Result<FaultStatus, String> {
        patch.validate()?;
        if let Some(n) = patch.cpu_burn_threads {
            self.cpu.set(n)?;
        }
        let mut knobs = lock(&self.knobs);
        if let Some(n) = patch.cpu_burn_threads {
            knobs.cpu_burn_threads = n;
        }
        if let Some(r) = patch.failure_ratio {
            knobs.failure_ratio = r;
        }
        if let Some(ms) = patch.latency_ms {
            knobs.latency_ms = ms;
        }
        if let Some(rate) = patch.memory_grow_mb_per_s {
            knobs.memory_grow_mb_per_s = rate;
            self.memory.set_rate(rate);
        }
        if let Some(ms) = patch.crash_after_ms {
            knobs.crash_after_ms = ms;
            self.schedule_crash(ms);
        }
        let changed = *knobs;
        drop(knobs);
        tracing::info!(?changed, "fault knobs updated");
        Ok(self.status())
    }

    /// Exits the process shortly (after [`CRASH_NOW_DELAY`]), as `POST /admin/crash` asks.
    pub fn crash_soon(&self) {
        let exit = Arc::clone(&self.exit);
        tokio::spawn(async move {
            tokio::time::sleep(CRASH_NOW_DELAY).await;
            tracing::error!(code = CRASH_EXIT_CODE, "crashing on request");
            exit(CRASH_EXIT_CODE);
        });
    }

    fn schedule_crash(&self, after_ms: u64) {
        let mut timer = lock(&self.crash_timer);
        if let Some(previous) = timer.take() {
            previous.abort();
        }
        if after_ms == 0 {
            return;
        }
        let exit = Arc::clone(&self.exit);
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after_ms)).await;
            tracing::error!(code = CRASH_EXIT_CODE, after_ms, "crash fault fired");
            exit(CRASH_EXIT_CODE);
        });
        *timer = Some(task.abort_handle());
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        if let Some(timer) = lock(&self.crash_timer).take() {
            timer.abort();
        }
    }
}

/// Locks a mutex, recovering from poisoning: fault state stays usable after a panicked handler.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Busy-loop threads. Each has its own stop flag, so the count can be lowered one thread at a time.
#[derive(Default)]
struct CpuBurner {
    stops: Mutex<Vec<Arc<AtomicBool>>>,
    running: Arc<AtomicU32>,
}

impl CpuBurner {
    fn running(&self) -> u32 {
        self.running.load(Ordering::SeqCst)
    }

    fn set(&self, target: u32) -> Result<(), String> {
        let target = target.min(MAX_CPU_BURN_THREADS) as usize;
        let mut stops = lock(&self.stops);
        while stops.len() > target {
            if let Some(stop) = stops.pop() {
                stop.store(true, Ordering::SeqCst);
            }
        }
        while stops.len() < target {
            let stop = Arc::new(AtomicBool::new(false));
            let running = Arc::clone(&self.running);
            let flag = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("cpu-burn-{}", stops.len()))
                .spawn(move || burn(&flag, &running))
                .map_err(|e| format!("cannot start a cpu burn thread: {e}"))?;
            stops.push(stop);
        }
        Ok(())
    }
}

impl Drop for CpuBurner {
    fn drop(&mut self) {
        for stop in lock(&self.stops).drain(..) {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Spins on integer arithmetic until told to stop, checking the flag about every millisecond.
fn burn(stop: &AtomicBool, running: &AtomicU32) {
    running.fetch_add(1, Ordering::SeqCst);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.rotate_left(5) ^ 0x5DEE_CE66D).wrapping_mul(31);
        }
    }
    running.fetch_sub(1, Ordering::SeqCst);
}

/// Memory allocated by the growth knob, in 1 MiB chunks whose every byte is written, so that it
/// counts in the resident set (and in the task's memory utilisation) rather than only in virtual
/// size.
struct MemoryBallast {
    chunks: Mutex<Vec<Box<[u8]>>>,
    held_mb: AtomicU64,
    rate_mb_per_s: AtomicU64,
    cap_mb: u64,
}

impl MemoryBallast {
    fn new(cap_mb: u64) -> Self {
        Self {
            chunks: Mutex::new(Vec::new()),
            held_mb: AtomicU64::new(0),
            rate_mb_per_s: AtomicU64::new(0),
            cap_mb,
        }
    }

    fn held_mb(&self) -> u64 {
        self.held_mb.load(Ordering::SeqCst)
    }

    fn rate(&self) -> u64 {
        self.rate_mb_per_s.load(Ordering::SeqCst)
    }

    /// Sets the growth rate; 0 also frees everything held.
    fn set_rate(&self, rate: u64) {
        self.rate_mb_per_s.store(rate, Ordering::SeqCst);
        if rate == 0 {
            let mut chunks = lock(&self.chunks);
            chunks.clear();
            chunks.shrink_to_fit();
            self.held_mb.store(0, Ordering::SeqCst);
        }
    }

    /// Adds up to `mb` MiB without passing the cap; returns how many were added.
    fn grow(&self, mb: u64) -> u64 {
        let mut chunks = lock(&self.chunks);
        let room = self.cap_mb.saturating_sub(chunks.len() as u64);
        let add = mb.min(room);
        for _ in 0..add {
            chunks.push(vec![0xA5u8; MIB].into_boxed_slice());
        }
        self.held_mb.store(chunks.len() as u64, Ordering::SeqCst);
        add
    }
}

/// Background loop of the growth knob. It holds only a weak reference, so it ends once the fault
/// state is dropped.
async fn grow_memory(ballast: Weak<MemoryBallast>) {
    let mut tick = tokio::time::interval(GROW_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = Instant::now();
    let mut budget_mb = 0.0_f64;
    loop {
        tick.tick().await;
        let Some(ballast) = ballast.upgrade() else {
            break;
        };
        let now = Instant::now();
        let elapsed = now.duration_since(last).as_secs_f64();
        last = now;
        let rate = ballast.rate();
        if rate == 0 {
            budget_mb = 0.0;
            continue;
        }
        budget_mb += rate as f64 * elapsed;
        let whole = budget_mb.floor();
        budget_mb -= whole;
        let wanted = whole as u64;
        if ballast.grow(wanted) < wanted {
            // At the cap: do not save up growth to release in a burst once memory is freed.
            budget_mb = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_outside_the_bounds_is_rejected_whole() {
        let patch = KnobsPatch {
            failure_ratio: Some(0.5),
            cpu_burn_threads: Some(99),
            ..Default::default()
        };
        assert!(patch.validate().is_err());
        assert!(KnobsPatch {
            failure_ratio: Some(f64::NAN),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(KnobsPatch {
            failure_ratio: Some(1.5),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(KnobsPatch {
            failure_ratio: Some(1.0),
            latency_ms: Some(10),
            ..Default::default()
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn the_ballast_never_grows_past_its_cap_and_frees_on_zero() {
        let ballast = MemoryBallast::new(3);
        ballast.set_rate(10);
        assert_eq!(ballast.grow(2), 2);
        assert_eq!(ballast.grow(5), 1);
        assert_eq!(ballast.held_mb(), 3);
        ballast.set_rate(0);
        assert_eq!(ballast.held_mb(), 0);
        assert!(lock(&ballast.chunks).is_empty());
    }
}
