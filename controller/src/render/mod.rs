//! Rendering: manifest + settings -> the complete desired state. Pure: no I/O, no clock.

pub mod aws;

pub use aws::{render_service, DesiredService};
