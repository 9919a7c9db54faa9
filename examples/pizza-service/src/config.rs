//! Command-line flags of the `pizza-service` binary, each with an environment fallback so that an
//! ECS task definition can configure the service through its `environment` block alone.

use std::net::SocketAddr;

use clap::Parser;

use crate::faults::{self, KnobsPatch};

/// Start-up configuration of the service.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pizza-service",
    version,
    about = "Takes pizza orders and exposes Prometheus metrics, with fault knobs."
)]
pub struct ServiceConfig {
    /// Address to listen on (use 0.0.0.0:8080 inside a container).
    #[arg(long, env = "PIZZA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Name of this replica in metrics and responses; defaults to the host name.
    #[arg(long, env = "PIZZA_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Probability (0.0..=1.0) that an order fails with a 500.
    #[arg(long, env = "PIZZA_FAILURE_RATIO", default_value_t = 0.0, value_parser = parse_ratio)]
    pub failure_ratio: f64,

    /// Latency added to every POST /orders, in milliseconds.
    #[arg(long, env = "PIZZA_LATENCY_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(..=faults::MAX_LATENCY_MS))]
    pub latency_ms: u64,

    /// Busy-loop threads to start with (0 = off).
    #[arg(long, env = "PIZZA_CPU_BURN_THREADS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(..=i64::from(faults::MAX_CPU_BURN_THREADS)))]
    pub cpu_burn_threads: u32,

    /// Memory to allocate and touch per second, in MiB (0 = off), up to --memory-cap-mb.
    #[arg(long, env = "PIZZA_MEMORY_GROW_MB_PER_S", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(..=faults::MAX_MEMORY_GROW_MB_PER_S))]
    pub memory_grow_mb_per_s: u64,

    /// Upper bound of the memory the growth knob may hold, in MiB.
    #[arg(long, env = "PIZZA_MEMORY_CAP_MB", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(..=65_536))]
    pub memory_cap_mb: u64,

    /// Exit with code 137 this many milliseconds after start (0 = never).
    #[arg(long, env = "PIZZA_CRASH_AFTER_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(..=faults::MAX_CRASH_AFTER_MS))]
    pub crash_after_ms: u64,

    /// How many recent orders to keep in memory for GET /orders.
    #[arg(long, env = "PIZZA_MAX_ORDERS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_orders: u64,

    /// Log format: `human` (default) or `json`.
    #[arg(long, env = "PIZZA_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    pub log_format: String,
}

impl ServiceConfig {
    /// A configuration for tests and embedding: ephemeral loopback port, no faults.
    pub fn for_tests() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            instance_id: Some("test".to_owned()),
            failure_ratio: 0.0,
            latency_ms: 0,
            cpu_burn_threads: 0,
            memory_grow_mb_per_s: 0,
            memory_cap_mb: 512,
            crash_after_ms: 0,
            max_orders: 1000,
            log_format: "human".to_owned(),
        }
    }

    /// The instance id to report: the flag, else the host name, else a pid-based name.
    pub fn resolved_instance_id(&self) -> String {
        if let Some(id) = self
            .instance_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            return id.to_owned();
        }
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| format!("pizza-{}", std::process::id()))
    }

    /// The fault knobs given at start-up, as a patch applied once the runtime is up.
    pub fn initial_faults(&self) -> KnobsPatch {
        KnobsPatch {
            failure_ratio: Some(self.failure_ratio),
            latency_ms: Some(self.latency_ms),
            cpu_burn_threads: Some(self.cpu_burn_threads),
            memory_grow_mb_per_s: Some(self.memory_grow_mb_per_s),
            crash_after_ms: (self.crash_after_ms > 0).then_some(self.crash_after_ms),
        }
    }
}

/// Parses a probability and rejects anything outside 0.0..=1.0 (including NaN).
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("not a number: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0.0..=1.0"))
    }
}
