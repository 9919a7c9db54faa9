//! `pizza-service`: the demo microservice of the ecs-operator alerting demo, plus its load generator.
//!
//! The service takes pizza orders over HTTP, keeps the most recent ones in memory and exposes
//! Prometheus metrics (business counters, RED metrics and process metrics). Fault knobs, settable
//! at start-up and at run time, make it fail orders, slow down, burn CPU, grow memory or die, so
//! that every alert of the demo can be triggered on purpose.
//!
//! The crate is a library with two thin binaries (`pizza-service` and `loadgen`) so that the tests
//! can start the real service in-process on an ephemeral port and drive it with the real load
//! generator.

pub mod app;
pub mod config;
pub mod faults;
pub mod loadgen;
pub mod metrics;
pub mod orders;
pub mod process;

pub use app::{start, AppState, RunningService};
pub use config::ServiceConfig;
