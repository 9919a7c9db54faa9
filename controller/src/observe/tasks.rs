//! Stopped tasks: why a service's tasks stopped (ECS stop codes and reasons), read only for
//! services short of tasks or rolling out, so an idle pass over healthy services reads nothing.

use super::{ObservedService, Observer};
use crate::aws::AwsClients;

/// One task that stopped since the last observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedTask {
    pub service: String,
    pub arn: String,
    /// ECS stop code (`EssentialContainerExited`, `ServiceSchedulerInitiated`, ...), or
    /// `Unknown`.
    pub stop_code: String,
    pub reason: String,
}

/// Remembers at most this many task ARNs before starting over (a restart forgets them too).
const SEEN_LIMIT: usize = 100_000;

impl Observer {
    /// Stopped tasks of unsettled services not reported before. Best effort: a failed read
    /// leaves that service for the next pass.
    pub async fn stopped_tasks<'a>(
        &self,
        aws: &AwsClients,
        services: impl IntoIterator<Item = &'a ObservedService>,
    ) -> Vec<StoppedTask> {
        let mut found = Vec::new();
        for o in services.into_iter().filter(|o| o.unsettled()) {
            let Ok(list) = aws
                .ecs
                .list_tasks()
                .cluster(&o.cluster)
                .service_name(&o.name)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
                .send()
                .await
            else {
                continue;
            };
            let new: Vec<String> = {
                let seen = self.seen_stopped.lock().unwrap_or_else(|e| e.into_inner());
                list.task_arns()
                    .iter()
                    .filter(|a| !seen.contains(*a))
                    .cloned()
                    .collect()
            };
            for batch in new.chunks(100) {
                let Ok(out) = aws
                    .ecs
                    .describe_tasks()
                    .cluster(&o.cluster)
                    .set_tasks(Some(batch.to_vec()))
                    .send()
                    .await
                else {
                    continue;
                };
                found.extend(out.tasks().iter().map(|task| {
                    StoppedTask {
                        service: o.name.clone(),
                        arn: task.task_arn().unwrap_or_default().to_string(),
                        stop_code: task
                            .stop_code()
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_else(|| "Unknown".into()),
                        reason: task
                            .stopped_reason()
                            .unwrap_or("no reason given")
                            .to_string(),
                    }
                }));
            }
            let mut seen = self.seen_stopped.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() > SEEN_LIMIT {
                seen.clear();
            }
            seen.extend(new);
        }
        found
    }
}
