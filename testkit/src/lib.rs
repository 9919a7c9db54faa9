//! Test support shared by every test binary of the workspace (a dev-dependency only).
//!
//! | module | gives |
//! | --- | --- |
//! | [`moto`] | moto_server as AWS: the endpoint, a `World` per test, the `aws` CLI, clients, manifests |
//! | [`process`] | `ecs-operator run` as a child process, `eventually`, free ports |
//! | [`inventory`] | what exists in moto, read independently, and what is wrong with it |
//! | [`fake_aws`] | an in-process fake of ECS, Cloud Map and Application Auto Scaling with the behaviours moto lacks |
//! | [`fault_proxy`] | an HTTP proxy in front of moto that injects throttling, 5xx, drops and cuts |
//! | [`aws_pages`] | the proxy's option to page and limit requests as AWS does, not as moto does |
//! | [`metrics`] | reading the operator's `/metrics` text |
//! | [`task_standin`] | one-off ECS tasks (RunTask, DescribeTasks, StopTask) answered through the fault proxy, exiting when the test says |
//! | [`passes`] | the controller's pass (`pass::run`) as the leader, carrying its memory |
//! | [`figures`] | the figures reliability tests record for RELIABILITY.md |
//! | [`tools`] | the external tools of the full tier, required loudly |
//!
//! Everything is re-exported at the top, so a test says `use testkit::*;`.

pub mod aws_pages;
pub mod fake_aws;
pub mod fault_proxy;
pub mod figures;
pub mod inventory;
pub mod metrics;
pub mod moto;
pub mod passes;
pub mod process;
pub mod task_standin;
pub mod tools;

pub use figures::*;
pub use inventory::*;
pub use metrics::*;
pub use moto::*;
pub use passes::*;
pub use process::*;
