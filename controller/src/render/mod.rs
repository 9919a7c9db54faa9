//! Rendering: manifest + settings -> the complete desired state. Pure: no I/O, no clock.
//!
//! - [`aws`]: the task definition, ECS service, Cloud Map service and scaling of one manifest,
//!   as typed values the planner compares field by field.
//! - [`monitoring`]: the Prometheus, Alertmanager and Grafana files of all manifests.
//! - [`task_policy`]: the IAM policy a service's task role needs for EFS mounts and ECS Exec.

pub mod aws;
pub mod monitoring;
pub mod task_policy;

pub use aws::{render_service, DesiredService};

use std::sync::Arc;

use crate::manifest::ManifestSet;
use crate::settings::Settings;

/// Renders the AWS desired state of every valid manifest of a set, in the set's order, shared
/// (`Arc`): the plan and the apply results hold the same copies.
pub fn render_services(set: &ManifestSet, settings: &Settings) -> Vec<Arc<DesiredService>> {
    // Each rendered straight into its Arc: collecting a rendered Vec into Arcs would reuse
    // its buffer in place and keep every service's inline size allocated.
    (set.manifests.iter())
        .map(|m| Arc::new(render_service(&m.manifest, settings)))
        .collect()
}
