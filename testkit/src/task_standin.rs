//! A stand-in for the one-off tasks ECS runs (RunTask, DescribeTasks, ListTasks by
//! `startedBy`, StopTask), answered through the fault proxy ([`crate::fault_proxy::Config`]'s
//! `answer`) while everything else goes to moto.
//!
//! moto 5.2.5's RunTask fails (500) on a Fargate task definition whose containers set no
//! memory of their own (the operator's set it on the task), and its tasks never stop by
//! themselves nor get an exit code. The stand-in answers as the ECS API reference describes:
//! RunTask starts one task per call (RUNNING, `startedBy`, `group`, the command override,
//! tags), refuses a launch type together with a capacity provider strategy
//! (InvalidParameterException) and answers `failures` when the test says capacity is short;
//! DescribeTasks reports a stopped task's app container `exitCode`, `stopCode` and
//! `stoppedReason`; ListTasks filters on `startedBy` and `desiredStatus` (RUNNING unless
//! asked); StopTask stops a task with `UserInitiated`. The test decides when a task exits and
//! with which code ([`TaskStandIn::exit`]).

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::fault_proxy::{Config, RequestInfo};

/// One task of the stand-in.
#[derive(Debug, Clone)]
pub struct StandInTask {
    pub arn: String,
    pub cluster: String,
    pub task_definition_arn: String,
    pub started_by: String,
    pub group: String,
    /// The app container's command override.
    pub command: Vec<String>,
    pub tags: Vec<(String, String)>,
    /// The whole RunTask request, for assertions.
    pub request: Value,
    pub created_at: f64,
    pub stopped: Option<Stopped>,
}

#[derive(Debug, Clone)]
pub struct Stopped {
    pub at: f64,
    pub exit_code: Option<i32>,
    pub stop_code: &'static str,
    pub reason: String,
}

#[derive(Default)]
struct State {
    tasks: Vec<StandInTask>,
    /// RunTask answers `failures` with this reason instead of starting a task.
    no_capacity: Option<String>,
    stop_calls: usize,
}

/// The stand-in; clones share the same tasks.
#[derive(Clone, Default)]
pub struct TaskStandIn {
    state: Arc<Mutex<State>>,
}

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn cluster_name(cluster: &str) -> String {
    cluster.rsplit('/').next().unwrap_or(cluster).to_string()
}

impl TaskStandIn {
    pub fn new() -> Self {
        Self::default()
    }

    /// A proxy configuration that answers task requests with this stand-in.
    pub fn config(&self) -> Config {
        let me = self.clone();
        Config {
            answer: Some(Arc::new(move |info: &RequestInfo, body: &[u8]| {
                me.answer(info, body)
            })),
            ..Config::default()
        }
    }

    /// Every task started so far.
    pub fn tasks(&self) -> Vec<StandInTask> {
        self.state.lock().unwrap().tasks.clone()
    }

    /// StopTask calls answered.
    pub fn stop_calls(&self) -> usize {
        self.state.lock().unwrap().stop_calls
    }

    /// The running tasks whose `startedBy` starts with `prefix` exit with `code`, as an
    /// essential container's exit stops a task.
    pub fn exit(&self, prefix: &str, code: i32) -> usize {
        let mut state = self.state.lock().unwrap();
        let mut n = 0;
        for task in state.tasks.iter_mut() {
            if task.stopped.is_none() && task.started_by.starts_with(prefix) {
                task.stopped = Some(Stopped {
                    at: now(),
                    exit_code: Some(code),
                    stop_code: "EssentialContainerExited",
                    reason: "Essential container in task exited".into(),
                });
                n += 1;
            }
        }
        n
    }

    /// RunTask answers `failures` with `reason` (e.g. no Fargate capacity) until cleared.
    pub fn short_of_capacity(&self, reason: Option<&str>) {
        self.state.lock().unwrap().no_capacity = reason.map(str::to_string);
    }

    fn answer(&self, info: &RequestInfo, body: &[u8]) -> Option<(u16, String)> {
        if info.service != "ECS" {
            return None;
        }
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match info.operation.as_str() {
            "RunTask" => Some(self.run_task(&request)),
            "DescribeTasks" => self.describe_tasks(&request),
            "ListTasks" if request.get("startedBy").is_some() => Some(self.list_tasks(&request)),
            "ListTasks" if request.get("family").is_some() => self.list_family(&request),
            "StopTask" => self.stop_task(&request),
            _ => None,
        }
    }

    fn run_task(&self, r: &Value) -> (u16, String) {
        if r.get("launchType").is_some() && r.get("capacityProviderStrategy").is_some() {
            return error(
                "InvalidParameterException",
                "Specify either Launch Type or Capacity Provider Strategy, but not both.",
            );
        }
        if r.get("networkConfiguration").is_none() {
            return error(
                "InvalidParameterException",
                "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            );
        }
        let mut state = self.state.lock().unwrap();
        if let Some(reason) = &state.no_capacity {
            return (
                200,
                json!({"tasks": [], "failures": [{"reason": reason, "detail": "stand-in"}]})
                    .to_string(),
            );
        }
        let cluster = cluster_name(r["cluster"].as_str().unwrap_or("default"));
        let id = format!("{:032x}", rand::random::<u128>());
        let command = r["overrides"]["containerOverrides"][0]["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let tags = (r["tags"].as_array().into_iter().flatten())
            .map(|t| {
                (
                    t["key"].as_str().unwrap_or_default().to_string(),
                    t["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let td = r["taskDefinition"].as_str().unwrap_or_default().to_string();
        let task = StandInTask {
            arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{id}"),
            cluster,
            task_definition_arn: td,
            started_by: r["startedBy"].as_str().unwrap_or_default().to_string(),
            group: r["group"].as_str().unwrap_or_default().to_string(),
            command,
            tags,
            request: r.clone(),
            created_at: now(),
            stopped: None,
        };
        let answer = json!({"tasks": [task_json(&task)], "failures": []});
        state.tasks.push(task);
        (200, answer.to_string())
    }

    fn describe_tasks(&self, r: &Value) -> Option<(u16, String)> {
        let wanted: Vec<&str> = (r["tasks"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        let state = self.state.lock().unwrap();
        let ours: Vec<&StandInTask> = (state.tasks.iter())
            .filter(|t| wanted.contains(&t.arn.as_str()))
            .collect();
        if ours.is_empty() {
            return None;
        }
        let failures: Vec<Value> = (wanted.iter())
            .filter(|w| !ours.iter().any(|t| t.arn == **w))
            .map(|w| json!({"arn": w, "reason": "MISSING"}))
            .collect();
        let tasks: Vec<Value> = ours.iter().map(|t| task_json(t)).collect();
        Some((
            200,
            json!({"tasks": tasks, "failures": failures}).to_string(),
        ))
    }

    fn list_tasks(&self, r: &Value) -> (u16, String) {
        let cluster = cluster_name(r["cluster"].as_str().unwrap_or("default"));
        let started_by = r["startedBy"].as_str().unwrap_or_default();
        let want_stopped = r["desiredStatus"].as_str() == Some("STOPPED");
        let state = self.state.lock().unwrap();
        let arns: Vec<&str> = (state.tasks.iter())
            .filter(|t| t.cluster == cluster && t.started_by == started_by)
            .filter(|t| t.stopped.is_some() == want_stopped)
            .map(|t| t.arn.as_str())
            .collect();
        (200, json!({"taskArns": arns}).to_string())
    }

    /// ListTasks by family: the stand-in's tasks of that family, when it has any.
    fn list_family(&self, r: &Value) -> Option<(u16, String)> {
        let family = r["family"].as_str()?;
        let want_stopped = r["desiredStatus"].as_str() == Some("STOPPED");
        let state = self.state.lock().unwrap();
        let of_family: Vec<&StandInTask> = (state.tasks.iter())
            .filter(|t| family_of(&t.task_definition_arn) == family)
            .collect();
        if of_family.is_empty() {
            return None;
        }
        let arns: Vec<&str> = (of_family.iter())
            .filter(|t| t.stopped.is_some() == want_stopped)
            .map(|t| t.arn.as_str())
            .collect();
        Some((200, json!({"taskArns": arns}).to_string()))
    }

    /// A task EventBridge Scheduler started for a job (ECS group `group`) that has stopped
    /// with `exit_code`; its ARN.
    pub fn scheduled_run(
        &self,
        cluster: &str,
        task_definition_arn: &str,
        group: &str,
        exit_code: i32,
    ) -> String {
        let id = format!("{:032x}", rand::random::<u128>());
        let cluster = cluster_name(cluster);
        let task = StandInTask {
            arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{id}"),
            cluster,
            task_definition_arn: task_definition_arn.to_string(),
            started_by: "chronos-schedule".into(),
            group: group.to_string(),
            command: Vec::new(),
            tags: Vec::new(),
            request: Value::Null,
            created_at: now() - 60.0,
            stopped: Some(Stopped {
                at: now(),
                exit_code: Some(exit_code),
                stop_code: "EssentialContainerExited",
                reason: "Essential container in task exited".into(),
            }),
        };
        let arn = task.arn.clone();
        self.state.lock().unwrap().tasks.push(task);
        arn
    }

    fn stop_task(&self, r: &Value) -> Option<(u16, String)> {
        let arn = r["task"].as_str()?;
        let mut state = self.state.lock().unwrap();
        state.stop_calls += 1;
        let task = state.tasks.iter_mut().find(|t| t.arn == arn)?;
        if task.stopped.is_none() {
            task.stopped = Some(Stopped {
                at: now(),
                exit_code: None,
                stop_code: "UserInitiated",
                reason: r["reason"]
                    .as_str()
                    .unwrap_or("Task stopped by user")
                    .to_string(),
            });
        }
        Some((200, json!({"task": task_json(task)}).to_string()))
    }
}

fn family_of(task_definition_arn: &str) -> &str {
    let last = task_definition_arn
        .rsplit('/')
        .next()
        .unwrap_or(task_definition_arn);
    last.split(':').next().unwrap_or(last)
}

fn error(code: &str, message: &str) -> (u16, String) {
    (400, json!({"__type": code, "message": message}).to_string())
}

fn task_json(t: &StandInTask) -> Value {
    let (last_status, container) = match &t.stopped {
        None => ("RUNNING", json!({"name": "app", "lastStatus": "RUNNING"})),
        Some(s) => (
            "STOPPED",
            match s.exit_code {
                Some(code) => json!({"name": "app", "lastStatus": "STOPPED", "exitCode": code}),
                None => json!({"name": "app", "lastStatus": "STOPPED"}),
            },
        ),
    };
    let mut task = json!({
        "taskArn": t.arn,
        "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{}", t.cluster),
        "taskDefinitionArn": t.task_definition_arn,
        "lastStatus": last_status,
        "desiredStatus": if t.stopped.is_some() { "STOPPED" } else { "RUNNING" },
        "startedBy": t.started_by,
        "group": t.group,
        "createdAt": t.created_at,
        "containers": [container],
        "overrides": {"containerOverrides": [{"name": "app", "command": t.command}]},
        "tags": t.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
    });
    if let Some(s) = &t.stopped {
        task["stoppedAt"] = json!(s.at);
        task["stopCode"] = json!(s.stop_code);
        task["stoppedReason"] = json!(s.reason);
    }
    task
}
