//! The demo's stand-in for the part of ECS that moto does not emulate: deployments and tasks.
//!
//! moto stores a service's task definition but never starts a task, and its `deployments`
//! array is frozen at creation (one PRIMARY deployment of the first task definition). A
//! rollout could never be seen. So the operator talks to moto through this proxy on
//! 127.0.0.1: every request is forwarded unchanged, and two answers are completed from the
//! stand-in's [`Fleet`] of the services it runs:
//!
//! - `DescribeServices`: the service's `deployments` (PRIMARY / ACTIVE, task definition,
//!   counts, `rolloutState`, times) and its `runningCount`, as ECS reports them.
//! - `DescribeTasks`: the tasks the demo runs (pizza-service processes), with their task
//!   definition, which the operator uses to label scrape targets by revision.
//!
//! What the fleet holds is decided by the release scenarios (`releases.rs`), which start and
//! stop the replicas the way a rolling ECS deployment does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

const DESCRIBE_SERVICES: &str = "AmazonEC2ContainerServiceV20141113.DescribeServices";
const DESCRIBE_TASKS: &str = "AmazonEC2ContainerServiceV20141113.DescribeTasks";
const ACCOUNT: &str = "123456789012";

/// ECS's `rolloutState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollout {
    InProgress,
    Completed,
}

/// One entry of a service's `deployments`.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    /// PRIMARY (the newest) or ACTIVE (older ones still running tasks).
    pub primary: bool,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub rollout: Rollout,
    pub created_at: f64,
    pub updated_at: f64,
}

impl Deployment {
    pub fn new(task_definition: &str, desired: i32, running: i32, rollout: Rollout) -> Self {
        let now = epoch();
        Deployment {
            id: format!("ecs-svc/{:019}", rand::random::<u64>() % 10u64.pow(19)),
            primary: true,
            task_definition: task_definition.to_string(),
            desired,
            running,
            rollout,
            created_at: now,
            updated_at: now,
        }
    }

    fn to_json(&self) -> Value {
        let (state, how) = match self.rollout {
            Rollout::InProgress => ("IN_PROGRESS", "in progress"),
            Rollout::Completed => ("COMPLETED", "completed"),
        };
        json!({
            "id": self.id,
            "status": if self.primary { "PRIMARY" } else { "ACTIVE" },
            "taskDefinition": self.task_definition,
            "desiredCount": self.desired,
            "pendingCount": (self.desired - self.running).max(0),
            "runningCount": self.running,
            "failedTasks": 0,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "launchType": "FARGATE",
            "rolloutState": state,
            "rolloutStateReason": format!("ECS deployment {} {how}.", self.id),
        })
    }
}

/// What ECS knows of one service the stand-in runs.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// Newest first.
    pub deployments: Vec<Deployment>,
    /// Task id -> task definition ARN.
    pub tasks: BTreeMap<String, String>,
}

impl Fleet {
    /// A task of `task_definition` runs: its deployment counts it (and is updated, as ECS
    /// updates a deployment whose counts change).
    pub fn task_started(&mut self, task: &str, task_definition: &str) {
        self.tasks
            .insert(task.to_string(), task_definition.to_string());
        if let Some(d) =
            (self.deployments.iter_mut()).find(|d| d.task_definition == task_definition)
        {
            d.running += 1;
            d.updated_at = epoch();
        }
    }

    /// A task stopped: its deployment no longer counts it.
    pub fn task_stopped(&mut self, task: &str) {
        let Some(task_definition) = self.tasks.remove(task) else {
            return;
        };
        if let Some(d) =
            (self.deployments.iter_mut()).find(|d| d.task_definition == task_definition)
        {
            d.running = (d.running - 1).max(0);
            d.updated_at = epoch();
        }
    }

    /// The task definition of the PRIMARY deployment.
    pub fn primary_task_definition(&self) -> Option<String> {
        (self.deployments.iter())
            .find(|d| d.primary)
            .map(|d| d.task_definition.clone())
    }

    /// A new PRIMARY deployment; the previous ones become ACTIVE.
    pub fn deploy(&mut self, d: Deployment) {
        for old in &mut self.deployments {
            old.primary = false;
            old.updated_at = epoch();
        }
        self.deployments.insert(0, d);
    }
}

/// The fleets by service name, shared by the proxy and the release scenarios.
#[derive(Debug, Clone, Default)]
pub struct Fleets(Arc<Mutex<BTreeMap<String, Fleet>>>);

impl Fleets {
    /// Runs `f` on the fleet of `service` (created empty if new).
    pub fn with<T>(&self, service: &str, f: impl FnOnce(&mut Fleet) -> T) -> T {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(service.to_string()).or_default())
    }

    fn snapshot(&self) -> BTreeMap<String, Fleet> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    fleets: Fleets,
}

/// Starts the proxy on 127.0.0.1 in front of `upstream` (moto); returns its endpoint.
///
/// It serves from its own thread and runtime: when the demo stops its processes it blocks
/// its own thread, and the operator's last requests (releasing its lease, writing status)
/// must still be answered, or the operator could not exit on SIGTERM.
pub fn start(upstream: &str, fleets: Fleets) -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let proxy = Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()?,
        fleets,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("ecs-stand-in".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let app = Router::new().fallback(forward).with_state(proxy);
                let _ = axum::serve(listener, app).await;
            })
        })?;
    Ok(endpoint)
}

async fn forward(State(p): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 256 << 20).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = p
        .http
        .request(parts.method.clone(), format!("{}{path}", p.upstream));
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.body(body.clone()).send().await {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("moto: {e}")).into_response(),
    };
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            headers.insert(name.clone(), value.clone());
        }
    }
    let Ok(bytes) = answer.bytes().await else {
        return (StatusCode::BAD_GATEWAY, "moto's answer was cut").into_response();
    };
    let bytes = if status.is_success() {
        match target.as_str() {
            DESCRIBE_SERVICES => patch_json(&bytes, |v| describe_services(v, &p.fleets)),
            DESCRIBE_TASKS => patch_json(&bytes, |v| describe_tasks(&body, v, &p.fleets)),
            _ => bytes.to_vec(),
        }
    } else {
        bytes.to_vec()
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn patch_json(bytes: &[u8], patch: impl FnOnce(&mut Value)) -> Vec<u8> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            patch(&mut v);
            serde_json::to_vec(&v).unwrap_or_else(|_| bytes.to_vec())
        }
        Err(_) => bytes.to_vec(),
    }
}

/// Replaces the `deployments` (and `runningCount`) of the services the stand-in runs.
fn describe_services(answer: &mut Value, fleets: &Fleets) {
    let fleets = fleets.snapshot();
    for service in answer["services"].as_array_mut().into_iter().flatten() {
        let Some(fleet) = service["serviceName"].as_str().and_then(|n| fleets.get(n)) else {
            continue;
        };
        if fleet.deployments.is_empty() {
            continue;
        }
        service["deployments"] = fleet.deployments.iter().map(Deployment::to_json).collect();
        service["runningCount"] = json!(fleet.deployments.iter().map(|d| d.running).sum::<i32>());
    }
}

/// Adds the stand-in's tasks to a DescribeTasks answer (moto lists them as MISSING).
fn describe_tasks(request: &[u8], answer: &mut Value, fleets: &Fleets) {
    let Ok(request) = serde_json::from_slice::<Value>(request) else {
        return;
    };
    let cluster = request["cluster"].as_str().unwrap_or("default");
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    let region = crate::aws::REGION;
    let fleets = fleets.snapshot();
    let mut found = Vec::new();
    for asked in request["tasks"].as_array().into_iter().flatten() {
        let Some(asked) = asked.as_str() else {
            continue;
        };
        let id = asked.rsplit('/').next().unwrap_or(asked);
        for (service, fleet) in &fleets {
            if let Some(task_definition) = fleet.tasks.get(id) {
                found.push(json!({
                    "taskArn": format!("arn:aws:ecs:{region}:{ACCOUNT}:task/{cluster}/{id}"),
                    "clusterArn": format!("arn:aws:ecs:{region}:{ACCOUNT}:cluster/{cluster}"),
                    "taskDefinitionArn": task_definition,
                    "group": format!("service:{service}"),
                    "lastStatus": "RUNNING",
                    "desiredStatus": "RUNNING",
                    "launchType": "FARGATE",
                }));
            }
        }
    }
    if found.is_empty() {
        return;
    }
    let ids: Vec<String> = found
        .iter()
        .filter_map(|t| t["taskArn"].as_str())
        .filter_map(|a| a.rsplit('/').next())
        .map(str::to_string)
        .collect();
    if let Some(failures) = answer["failures"].as_array_mut() {
        failures.retain(|f| {
            let arn = f["arn"].as_str().unwrap_or_default();
            !ids.iter().any(|id| arn.ends_with(id.as_str()))
        });
    }
    match answer["tasks"].as_array_mut() {
        Some(tasks) => tasks.extend(found),
        None => answer["tasks"] = Value::Array(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleets() -> Fleets {
        let fleets = Fleets::default();
        fleets.with("pizza-service", |f| {
            f.deploy(Deployment::new(
                "arn:td/pizza-service:1",
                2,
                2,
                Rollout::Completed,
            ));
            f.deploy(Deployment::new(
                "arn:td/pizza-service:2",
                2,
                0,
                Rollout::InProgress,
            ));
            f.tasks
                .insert("aaa".into(), "arn:td/pizza-service:2".into());
        });
        fleets
    }

    #[test]
    fn a_rollout_shows_as_primary_and_active_deployments_of_the_stand_in_service_only() {
        let mut answer = json!({"services": [
            {"serviceName": "pizza-service", "deployments": [{"id": "frozen"}], "runningCount": 2},
            {"serviceName": "hello", "deployments": [{"id": "untouched"}]}
        ]});
        describe_services(&mut answer, &fleets());
        let d = &answer["services"][0]["deployments"];
        assert_eq!(d[0]["status"], "PRIMARY");
        assert_eq!(d[0]["taskDefinition"], "arn:td/pizza-service:2");
        assert_eq!(d[0]["rolloutState"], "IN_PROGRESS");
        assert_eq!(d[0]["pendingCount"], 2);
        assert_eq!(d[1]["status"], "ACTIVE");
        assert_eq!(d[1]["rolloutState"], "COMPLETED");
        assert_eq!(answer["services"][0]["runningCount"], 2);
        assert_eq!(answer["services"][1]["deployments"][0]["id"], "untouched");
    }

    #[test]
    fn stand_in_tasks_replace_moto_s_missing_failures() {
        let request = br#"{"cluster": "pizza-demo", "tasks": ["aaa", "zzz"]}"#;
        let mut answer = json!({"tasks": [], "failures": [
            {"arn": "arn:aws:ecs:us-east-1:123456789012:task/pizza-demo/aaa", "reason": "MISSING"},
            {"arn": "arn:aws:ecs:us-east-1:123456789012:task/pizza-demo/zzz", "reason": "MISSING"}
        ]});
        describe_tasks(request, &mut answer, &fleets());
        assert_eq!(answer["tasks"].as_array().unwrap().len(), 1);
        assert_eq!(
            answer["tasks"][0]["taskDefinitionArn"],
            "arn:td/pizza-service:2"
        );
        assert_eq!(
            answer["tasks"][0]["taskArn"],
            "arn:aws:ecs:us-east-1:123456789012:task/pizza-demo/aaa"
        );
        assert_eq!(answer["failures"].as_array().unwrap().len(), 1);
    }
}
