//! The floor: the operator's first-apply writes (same operations, same count, comparable
//! payloads from the same rendered desired state) issued directly with the SDK in a tight loop
//! at the same concurrency. No source, no observe, no plan, no read-before-write.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use ecs_operator::aws::calls::CallKey;
use ecs_operator::aws::{sdk, AwsClients, CallCounter};
use ecs_operator::render::DesiredService;
use futures::stream::{self, StreamExt};

pub struct Floor {
    pub secs: f64,
    pub calls: BTreeMap<CallKey, u64>,
    pub errors: Vec<String>,
}

/// Creates every service's resources, `concurrency` services at a time.
pub async fn run(aws: &AwsClients, desired: &[DesiredService], concurrency: usize) -> Floor {
    let before = aws.calls.snapshot();
    let started = Instant::now();
    let errors: Vec<String> = stream::iter(desired)
        .map(|d| async move {
            create(aws, d)
                .await
                .err()
                .map(|e| format!("{}: {e:#}", d.name))
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|e| async move { e })
        .collect()
        .await;
    Floor {
        secs: started.elapsed().as_secs_f64(),
        calls: CallCounter::since(&before, &aws.calls.snapshot()),
        errors,
    }
}

/// The operator's create requests for one service, built by the same functions its actuator
/// uses (`ecs_operator::aws::sdk`), sent back to back.
async fn create(aws: &AwsClients, d: &DesiredService) -> Result<()> {
    let registered = sdk::register_task_definition(&aws.ecs, d)?
        .send()
        .await
        .context("RegisterTaskDefinition")?;
    let td_arn = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_string();
    let mut registry_arn = None;
    if let Some(want) = &d.discovery {
        let out = sdk::create_discovery(&aws.discovery, d, want, "floor", &d.name)?
            .send()
            .await
            .context("servicediscovery:CreateService")?;
        registry_arn = out.service().and_then(|s| s.arn()).map(str::to_string);
    }
    sdk::create_service(&aws.ecs, d, &td_arn, registry_arn.as_deref(), &d.spec_hash)?
        .send()
        .await
        .context("ecs:CreateService")?;
    if let Some(scaling) = &d.scaling {
        sdk::register_scalable_target(aws, scaling)
            .send()
            .await
            .context("RegisterScalableTarget")?;
        for p in &scaling.policies {
            sdk::put_scaling_policy(aws, scaling, p)?
                .send()
                .await
                .context("PutScalingPolicy")?;
        }
    }
    Ok(())
}
