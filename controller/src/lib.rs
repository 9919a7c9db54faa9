//! ecs-operator: a Kubernetes-free operator for Amazon ECS.
//!
//! The data flow of one reconcile, module by module:
//!
//! ```text
//! source -> manifest (parse + validate) -> render (pure) -> observe -> plan (pure) -> apply
//! ```

pub mod aws;
pub mod controller;
pub mod diagnostics;
pub mod duration;
pub mod manifest;
pub mod monitoring;
pub mod reconcile;
pub mod render;
pub mod settings;
pub mod source;

pub use settings::Settings;
