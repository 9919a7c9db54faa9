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
    /// For `EssentialContainerExited`, the essential container whose exit stopped the task
    /// (the application, or an essential sidecar); empty otherwise or when unknown.
    pub container: String,
}

/// ECS stops the other containers of a task when an essential one exits; they then exit by
/// SIGTERM (143) or, after the stop timeout, SIGKILL (137).
const STOPPED_BY_ECS: [i32; 2] = [137, 143];

/// The essential container whose exit stopped `task` (stop code `EssentialContainerExited`):
/// among the containers `essential` says are essential (all, when the task definition is
/// not known), the first by name that exited on its own (not by ECS's stop signals), else
/// the first that exited at all. ECS names the container in no field of its own.
pub fn exited_container(
    task: &aws_sdk_ecs::types::Task,
    essential: impl Fn(&str) -> bool,
) -> String {
    if task.stop_code().map(|c| c.as_str()) != Some("EssentialContainerExited") {
        return String::new();
    }
    let mut exited: Vec<(&str, i32)> = task
        .containers()
        .iter()
        .filter_map(|c| Some((c.name()?, c.exit_code()?)))
        .filter(|(name, _)| essential(name))
        .collect();
    exited.sort();
    exited
        .iter()
        .find(|(_, code)| !STOPPED_BY_ECS.contains(code))
        .or(exited.first())
        .map(|(name, _)| name.to_string())
        .unwrap_or_default()
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
                let essential = |name: &str| {
                    o.task_definition
                        .as_ref()
                        .is_none_or(|td| td.containers().any(|c| c.name == name && c.essential))
                };
                found.extend(out.tasks().iter().map(|task| {
                    StoppedTask {
                        container: exited_container(task, essential),
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

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Container, Task, TaskStopCode};

    use super::exited_container;

    fn task(code: TaskStopCode, exits: &[(&str, i32)]) -> Task {
        Task::builder()
            .stop_code(code)
            .set_containers(Some(
                exits
                    .iter()
                    .map(|(name, code)| Container::builder().name(*name).exit_code(*code).build())
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn the_essential_container_that_exited_on_its_own_is_the_one_that_stopped_the_task() {
        let essential = |name: &str| name != "init";
        // Envoy crashed; ECS then stopped the application (SIGTERM) and the router (SIGKILL).
        let crashed = task(
            TaskStopCode::EssentialContainerExited,
            &[("app", 143), ("envoy", 1), ("log_router", 137), ("init", 0)],
        );
        assert_eq!(exited_container(&crashed, essential), "envoy");
        // A non-essential container's exit code never names the culprit.
        let app = task(
            TaskStopCode::EssentialContainerExited,
            &[("app", 2), ("init", 1)],
        );
        assert_eq!(exited_container(&app, essential), "app");
        let scaled_in = task(TaskStopCode::ServiceSchedulerInitiated, &[("app", 143)]);
        assert_eq!(exited_container(&scaled_in, essential), "");
    }
}
