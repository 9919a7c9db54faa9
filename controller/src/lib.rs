//! ecs-operator: a Kubernetes-free operator for Amazon ECS.
//!
//! The data flow of one reconcile, module by module:
//!
//! ```text
//! source -> manifest (parse + validate) -> render (pure) -> observe (reads)
//!        -> plan (pure) -> actuate (writes) -> status (pure)
//! ```
//!
//! | module | holds |
//! | --- | --- |
//! | [`domain`] | shared facts: tag keys, annotations, service keys, built-in alerts, S3 locations |
//! | [`settings`] | the platform the operator runs in |
//! | [`source`] | where manifests come from: a directory or S3 (with an ETag cache) |
//! | [`manifest`] | the `MonitoredService` types, YAML with positions, validation |
//! | [`render`] | manifest + settings -> AWS desired state and monitoring files |
//! | [`observe`] | every read of AWS, normalised into render's types |
//! | [`plan`] | the pure diff of desired and observed, with the guards |
//! | [`actuate`] | every write: AWS, the monitoring directory, Grafana's API |
//! | [`status`] | conditions per manifest, derived from a pass; their S3 records |
//! | [`reconcile`] | the pass: the steps in order, the context they share, error classes |
//! | [`controller`] | the long-running runtime: scheduling, leader lease, HTTP, metrics |
//! | [`aws`] | the AWS boundary: one client factory, one retry layer, typed errors, SDK requests |
//! | [`error`] | the error of a step and its class (transient, waiting, stalled) |
//! | [`yaml`] | YAML behind one module: parsing with positions, writing |

pub mod actuate;
pub mod aws;
pub mod controller;
pub mod diagnostics;
pub mod domain;
pub mod duration;
pub mod error;
pub mod manifest;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod settings;
pub mod source;
pub mod status;
pub mod yaml;

pub use settings::Settings;
