//! The load generator: open-loop request scheduling plus the fault scenarios of the demo.
//!
//! * [`schedule`] is the pure arithmetic of an open-loop schedule (request `i` is due at `i / rate`),
//! * [`runner`] sends `POST /orders` on that schedule and counts outcomes,
//! * [`admin`] is a small client of the service's admin API,
//! * [`scenarios`] combines them into the named scenarios (`steady`, `surge`, `failures`, ...),
//! * [`cli`] is the command line of the `loadgen` binary.
//!
//! Every loop here is bounded in count and in time, and stops early on Ctrl-C / SIGTERM, in which
//! case scenarios still undo the fault knobs they set.

pub mod admin;
pub mod cli;
pub mod duration;
pub mod runner;
pub mod scenarios;
pub mod schedule;
pub mod stop;
