//! Brings the whole stack up on 127.0.0.1: moto_server, the platform in it, the operator,
//! the pizza-service replicas (registered in Cloud Map the way ECS registers tasks),
//! Alertmanager and Prometheus.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

use crate::aws::{discovery_service_id, Aws, Platform};
use crate::clock::Clock;
use crate::ecs_standin::{Deployment, Fleets, Rollout};
use crate::inbox::Inbox;
use crate::procs::Supervisor;
use crate::prom::{Api, Tracker};
use crate::timing::Timing;
use crate::util::{free_port, http_ok, is_executable, wait_for, which};

/// The manifest's webhook URL, replaced by the inbox's.
pub const MANIFEST_WEBHOOK: &str = "http://127.0.0.1:9099/alerts/pizza";
pub const SERVICE: &str = "pizza-service";
pub const TEAM: &str = "pizza";
pub const CLUSTER: &str = "pizza-demo";
pub const NAMESPACE: &str = "pizza.internal";

/// Programs the demo runs.
pub struct Programs {
    pub ecs_operator: PathBuf,
    pub pizza_service: PathBuf,
    pub loadgen: PathBuf,
    pub moto_server: PathBuf,
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
}

impl Programs {
    pub fn find(bin_dir: Option<&Path>) -> anyhow::Result<Self> {
        let dir = match bin_dir {
            Some(d) => d.to_path_buf(),
            None => std::env::current_exe()?
                .parent()
                .context("the demo binary has no directory")?
                .to_path_buf(),
        };
        let built = |name: &str| -> anyhow::Result<PathBuf> {
            let p = dir.join(name);
            if is_executable(&p) {
                Ok(p)
            } else {
                bail!(
                    "{} not found: build it first (cargo build -p ecs-operator -p pizza-service -p pizza-demo; examples/demo/run does)",
                    p.display()
                )
            }
        };
        let installed = |names: &[&str], hint: &str| -> anyhow::Result<PathBuf> {
            names
                .iter()
                .find_map(|n| which(n))
                .with_context(|| format!("{} not on PATH: {hint}", names.join(" / ")))
        };
        Ok(Self {
            ecs_operator: built("ecs-operator")?,
            pizza_service: built("pizza-service")?,
            loadgen: built("loadgen")?,
            moto_server: installed(&["moto_server"], "run scripts/install-test-deps")?,
            prometheus: installed(&["prometheus"], "run scripts/install-monitoring-tools")?,
            alertmanager: installed(
                &["alertmanager", "prometheus-alertmanager"],
                "run scripts/install-monitoring-tools",
            )?,
        })
    }
}

/// One pizza-service process, standing in for an ECS task.
#[derive(Debug, Clone)]
pub struct Replica {
    pub name: String,
    pub port: u16,
    /// The Cloud Map instance id (in ECS: the task id).
    pub task: String,
    pub az: String,
    pub pid: u32,
    /// The task definition's environment (a release's replicas carry their revision's).
    pub env: Vec<(String, String)>,
}

impl Replica {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Everything running.
pub struct Stack<'a> {
    pub sup: &'a Supervisor,
    pub clock: Clock,
    pub work: PathBuf,
    pub programs: Programs,
    pub http: reqwest::Client,
    pub aws: Aws,
    pub platform: Platform,
    pub inbox: Inbox,
    pub operator_url: String,
    pub prometheus: Api,
    pub alertmanager_url: String,
    pub tracker: Tracker,
    pub replicas: Vec<Replica>,
    pub discovery_service_id: String,
    /// Scrape interval of the pizza-service job, in seconds.
    pub pizza_scrape_s: f64,
    /// What ECS knows of pizza-service's deployments and tasks (see `ecs_standin`).
    pub fleets: Fleets,
    /// The steady load's loadgen, once started; a release moves it to the new tasks.
    pub steady_pid: Option<u32>,
    /// The pizza manifest as uploaded last.
    pub pizza_manifest: String,
    pub timing: Timing,
}

pub struct Options {
    pub replicas: usize,
    pub bin_dir: Option<PathBuf>,
    pub repo: PathBuf,
    pub pizza_scrape_interval: Option<String>,
    pub timing: Timing,
}

fn step(clock: &Clock, text: &str) {
    println!("\n[{}] {text}", clock.now_stamp());
}

/// The pizza manifest as uploaded: the webhook URL points at the inbox (and, when asked, the
/// scrape interval is replaced). Returns the text and what was changed.
pub fn pizza_manifest(
    original: &str,
    inbox_url: &str,
    scrape_interval: Option<&str>,
) -> anyhow::Result<(String, Vec<String>)> {
    if original.matches(MANIFEST_WEBHOOK).count() != 1 {
        bail!("the pizza manifest should name {MANIFEST_WEBHOOK} exactly once");
    }
    let url = format!("{inbox_url}/alerts/{TEAM}");
    let mut text = original.replace(MANIFEST_WEBHOOK, &url);
    let mut changes = vec![format!(
        "spec.notify.receivers[0].webhook.url: {MANIFEST_WEBHOOK} -> {url}"
    )];
    if let Some(interval) = scrape_interval {
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .windows(2)
            .position(|w| w[0] == "  metrics:" && w[1].starts_with("    interval: "))
            .context("the pizza manifest has no spec.metrics.interval line to replace")?;
        let old = lines[at + 1]
            .trim_start_matches("    interval: ")
            .to_string();
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        out[at + 1] = format!("    interval: {interval}");
        text = out.join("\n") + "\n";
        changes.push(format!(
            "spec.metrics.interval: {old} -> {interval} (--pizza-scrape-interval)"
        ));
    }
    Ok((text, changes))
}

/// `metrics.interval` of a manifest, in seconds (15 when it names none it can read).
pub fn scrape_interval_of(manifest: &str) -> f64 {
    let lines: Vec<&str> = manifest.lines().collect();
    lines
        .windows(2)
        .find(|w| w[0] == "  metrics:" && w[1].starts_with("    interval: "))
        .and_then(|w| crate::util::parse_duration(w[1].trim_start_matches("    interval: ")).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(15.0)
}

impl<'a> Stack<'a> {
    pub async fn start(
        sup: &'a Supervisor,
        clock: Clock,
        work: &Path,
        options: &Options,
    ) -> anyhow::Result<Stack<'a>> {
        let programs = Programs::find(options.bin_dir.as_deref())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;

        // 1. The AWS control plane.
        step(
            &clock,
            "1/5 The AWS control plane: moto_server on 127.0.0.1",
        );
        let moto_port = free_port()?;
        sup.spawn(
            "moto_server",
            Command::new(&programs.moto_server)
                .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
                // moto never starts tasks; ECS would report the replicas the demo runs.
                .env("MOTO_ECS_SERVICE_RUNNING", options.replicas.to_string()),
            None,
        )?;
        let endpoint = format!("http://127.0.0.1:{moto_port}");
        wait_for(
            "moto_server to answer",
            Duration::from_secs(60),
            Duration::from_millis(200),
            async || {
                http_ok(&http, &format!("{endpoint}/moto-api/"))
                    .await
                    .then_some(())
            },
        )
        .await?;
        let aws = Aws::new(&endpoint)?;
        let fleets = Fleets::default();
        let ecs_endpoint = crate::ecs_standin::start(&endpoint, fleets.clone())?;
        println!(
            "  the operator's AWS endpoint is {ecs_endpoint}: moto behind the demo's ECS stand-in (deployments and tasks of the replicas it runs)"
        );
        let platform = Platform::create(&aws, CLUSTER, NAMESPACE).await?;
        println!(
            "  created VPC {}, subnets {}, security group {}, ECS cluster {}, Cloud Map namespace {} ({}), bucket s3://{}",
            platform.vpc,
            platform.subnets.join(" "),
            platform.security_group,
            platform.cluster,
            platform.namespace_name,
            platform.namespace_id,
            platform.bucket
        );
        println!(
            "  created a load balancer with HTTPS listener {} (traffic.ingress routes from it)",
            platform.listener
        );
        let inbox = Inbox::start(clock).await?;
        println!(
            "  alert inbox (the pizza team's webhook) at {}/alerts/{TEAM}",
            inbox.url
        );

        // 2. Settings and manifests.
        step(&clock, "2/5 Operator settings and manifests in S3");
        let operator_port = free_port()?;
        let prometheus_port = free_port()?;
        let alertmanager_port = free_port()?;
        let operator_url = format!("http://127.0.0.1:{operator_port}");
        let prometheus_url = format!("http://127.0.0.1:{prometheus_port}");
        let alertmanager_url = format!("http://127.0.0.1:{alertmanager_port}");
        let monitoring_dir = work.join("monitoring");
        let timing = options.timing;
        let mut monitoring = json!({
            "configDir": monitoring_dir.display().to_string(),
            "prometheusUrl": prometheus_url,
            "alertmanagerUrl": alertmanager_url,
            "serviceDiscoveryUrl": format!("{operator_url}/sd/prometheus"),
        });
        if let Some(m) = monitoring.as_object_mut() {
            m.extend(timing.monitoring_overrides());
        }
        let settings = json!({
            "operatorId": "demo",
            "region": crate::aws::REGION,
            "cluster": platform.cluster,
            "network": {
                "subnets": platform.subnets,
                "securityGroups": [platform.security_group],
                "assignPublicIp": false
            },
            "executionRoleArn": "arn:aws:iam::123456789012:role/pizza-demo-task-execution",
            "serviceDiscoveryNamespaceId": platform.namespace_id,
            "serviceDiscoveryNamespaceName": platform.namespace_name,
            "logGroup": "/ecs/pizza-demo",
            "manifestSource": format!("s3://{}/manifests/", platform.bucket),
            "stateLocation": format!("s3://{}/state/", platform.bucket),
            "monitoring": monitoring,
            "ingress": {
                "listenerArn": platform.listener,
                "vpcId": platform.vpc,
                "publicHost": crate::aws::PUBLIC_HOST,
            },
        });
        let settings_path = work.join("settings.json");
        std::fs::write(&settings_path, serde_json::to_string_pretty(&settings)?)?;
        println!("  settings: {}", settings_path.display());
        println!("    {}", timing.describe());

        let examples = options.repo.join("manifests/examples");
        let original = std::fs::read_to_string(examples.join("pizza-service.yaml"))
            .with_context(|| format!("reading {}", examples.display()))?;
        let (pizza, changes) = pizza_manifest(
            &original,
            &inbox.url,
            options.pizza_scrape_interval.as_deref(),
        )?;
        let pizza_scrape_s = scrape_interval_of(&pizza);
        let manifests_dir = work.join("manifests");
        std::fs::create_dir_all(&manifests_dir)?;
        std::fs::write(manifests_dir.join("pizza-service.yaml"), &pizza)?;
        std::fs::copy(
            examples.join("minimal.yaml"),
            manifests_dir.join("minimal.yaml"),
        )?;
        for name in ["pizza-service.yaml", "minimal.yaml"] {
            let body = std::fs::read(manifests_dir.join(name))?;
            aws.s3_put(&format!("{}/manifests/{name}", platform.bucket), body)
                .await?;
        }
        println!(
            "  uploaded manifests/examples/pizza-service.yaml to s3://{}/manifests/, identical to the file in the repository except:",
            platform.bucket
        );
        for c in &changes {
            println!("    {c}");
        }
        println!("  uploaded manifests/examples/minimal.yaml (service hello, team web) unchanged");

        // 3. The operator.
        step(
            &clock,
            "3/5 ecs-operator run: reconciles ECS, Cloud Map and autoscaling, writes the monitoring files",
        );
        let mut cmd = Command::new(&programs.ecs_operator);
        cmd.args(["run", "--settings"])
            .arg(&settings_path)
            .args([
                "--emulator",
                "--listen",
                &format!("127.0.0.1:{operator_port}"),
                "--interval",
                &format!("{}s", timing.pass_s),
                "--rollout-interval",
                &format!("{}s", timing.rollout_pass_s),
                "--poll-interval",
                &format!("{}s", timing.poll_s),
            ])
            .envs(aws.env())
            .env("AWS_ENDPOINT_URL", &ecs_endpoint)
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "json");
        sup.spawn("ecs-operator", &mut cmd, None)?;
        let started = Instant::now();
        wait_for(
            "the operator's /readyz",
            Duration::from_secs(120),
            Duration::from_millis(200),
            async || {
                http_ok(&http, &format!("{operator_url}/readyz"))
                    .await
                    .then_some(())
            },
        )
        .await?;
        let files = [
            "prometheus/prometheus.yml",
            "prometheus/rules/pizza-service.rules.yml",
            "alertmanager/alertmanager.yml",
        ];
        let inbox_hook = format!("{}/alerts/{TEAM}", inbox.url);
        wait_for(
            "the monitoring files",
            Duration::from_secs(60),
            Duration::from_millis(200),
            async || {
                let am = std::fs::read_to_string(monitoring_dir.join(files[2])).ok()?;
                (files.iter().all(|f| monitoring_dir.join(f).exists()) && am.contains(&inbox_hook))
                    .then_some(())
            },
        )
        .await?;
        println!(
            "  ready after {:.1} s; wrote {}",
            started.elapsed().as_secs_f64(),
            files
                .iter()
                .map(|f| format!("monitoring/{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let status: Value = http
            .get(format!("{operator_url}/status"))
            .send()
            .await?
            .json()
            .await?;
        for s in status["services"].as_array().into_iter().flatten() {
            let ready = s["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            println!(
                "  /status: {} Ready={} ({})",
                s["name"].as_str().unwrap_or("?"),
                ready.map(|c| c["status"].to_string()).unwrap_or_default(),
                ready.and_then(|c| c["reason"].as_str()).unwrap_or_default()
            );
        }

        // 4. The replicas, registered like ECS tasks.
        step(
            &clock,
            &format!(
                "4/5 {} pizza-service replicas, registered in Cloud Map as ECS registers tasks",
                options.replicas
            ),
        );
        let discovery_service_id = wait_for(
            "the operator to create the pizza-service Cloud Map service",
            Duration::from_secs(60),
            Duration::from_millis(500),
            async || {
                discovery_service_id(&aws, &platform.namespace_id, SERVICE)
                    .await
                    .ok()
                    .flatten()
            },
        )
        .await?;
        let mut stack = Stack {
            sup,
            clock,
            work: work.to_path_buf(),
            programs,
            http,
            aws,
            platform,
            inbox,
            operator_url,
            prometheus: Api::new(&prometheus_url),
            alertmanager_url,
            tracker: Tracker::empty(),
            replicas: Vec::new(),
            discovery_service_id,
            pizza_scrape_s,
            fleets,
            steady_pid: None,
            pizza_manifest: pizza,
            timing,
        };
        for i in 0..options.replicas {
            let replica = Replica {
                name: format!("pizza-{}", i + 1),
                port: free_port()?,
                task: task_id(i),
                az: ["us-east-1a", "us-east-1b"][i % 2].to_string(),
                pid: 0,
                env: Vec::new(),
            };
            stack.replicas.push(replica);
            stack.start_replica(i).await?;
        }
        for i in 0..options.replicas {
            stack.register(i).await?;
        }
        let task_definition = stack.task_definition().await?;
        stack.fleets.with(SERVICE, |f| {
            let n = stack.replicas.len() as i32;
            f.deploy(Deployment::new(&task_definition, n, n, Rollout::Completed));
            for r in &stack.replicas {
                f.tasks.insert(r.task.clone(), task_definition.clone());
            }
        });
        for r in &stack.replicas {
            println!(
                "  {} listens on {} (task {}, {}), registered in Cloud Map service {}",
                r.name,
                r.url(),
                r.task,
                r.az,
                stack.discovery_service_id
            );
        }
        println!(
            "  (service hello of team web runs no replica: its NoTargets alert fires after its 1m `for` and goes nowhere, as team web has no receiver)"
        );
        let sd = format!("{}/sd/prometheus?service={SERVICE}", stack.operator_url);
        let want = options.replicas;
        let groups: Vec<Value> = wait_for(
            "the operator's service discovery to list every replica",
            Duration::from_secs(60),
            Duration::from_millis(200),
            async || {
                let v: Vec<Value> = stack.http.get(&sd).send().await.ok()?.json().await.ok()?;
                (v.len() == want).then_some(v)
            },
        )
        .await?;
        println!("  {sd} now lists {} targets", groups.len());

        // 5. Alertmanager and Prometheus.
        step(
            &clock,
            "5/5 Alertmanager and Prometheus (Debian builds) on the operator's files",
        );
        let am_config = monitoring_dir.join("alertmanager/alertmanager.yml");
        sup.spawn(
            "alertmanager",
            Command::new(&stack.programs.alertmanager)
                .arg(format!("--config.file={}", am_config.display()))
                .arg(format!(
                    "--storage.path={}",
                    work.join("alertmanager-data").display()
                ))
                .arg(format!(
                    "--web.listen-address=127.0.0.1:{alertmanager_port}"
                ))
                .arg("--cluster.listen-address="),
            None,
        )?;
        let prom_config = monitoring_dir.join("prometheus/prometheus.yml");
        sup.spawn(
            "prometheus",
            Command::new(&stack.programs.prometheus)
                .arg(format!("--config.file={}", prom_config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    work.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
                .arg("--web.enable-lifecycle"),
            None,
        )?;
        for (name, url) in [
            ("Alertmanager", stack.alertmanager_url.clone()),
            ("Prometheus", prometheus_url.clone()),
        ] {
            wait_for(
                &format!("{name} to be ready"),
                Duration::from_secs(60),
                Duration::from_millis(200),
                async || {
                    http_ok(&stack.http, &format!("{url}/-/ready"))
                        .await
                        .then_some(())
                },
            )
            .await?;
        }
        stack.tracker = Tracker::start(stack.prometheus.clone(), clock, Duration::from_millis(100));
        println!(
            "  Prometheus {prometheus_url} and Alertmanager {} ready",
            stack.alertmanager_url
        );
        Ok(stack)
    }

    /// Starts (or restarts) replica `i` on its port.
    pub async fn start_replica(&mut self, i: usize) -> anyhow::Result<()> {
        let r = self.replicas[i].clone();
        let pid = self.sup.spawn(
            &r.name,
            Command::new(&self.programs.pizza_service)
                .args([
                    "--listen",
                    &format!("127.0.0.1:{}", r.port),
                    "--instance-id",
                    &r.task,
                ])
                .envs(r.env.iter().map(|(k, v)| (k, v)))
                .env("RUST_LOG", "warn"),
            None,
        )?;
        self.replicas[i].pid = pid;
        let url = format!("{}/healthz", r.url());
        wait_for(
            &format!("{} to answer /healthz", r.name),
            Duration::from_secs(30),
            Duration::from_millis(100),
            async || http_ok(&self.http, &url).await.then_some(()),
        )
        .await?;
        Ok(())
    }

    /// Registers replica `i` in the Cloud Map service, with the attributes ECS sets.
    pub async fn register(&self, i: usize) -> anyhow::Result<()> {
        let r = &self.replicas[i];
        crate::aws::register_instance(
            &self.aws,
            &self.discovery_service_id,
            &r.task,
            &[
                ("AWS_INSTANCE_IPV4", "127.0.0.1".to_string()),
                ("AWS_INSTANCE_PORT", r.port.to_string()),
                ("AVAILABILITY_ZONE", r.az.clone()),
                ("ECS_CLUSTER_NAME", self.platform.cluster.clone()),
            ],
        )
        .await
    }

    /// The task definition pizza-service's ECS service names now (asked of moto directly).
    pub async fn task_definition(&self) -> anyhow::Result<String> {
        let v = self
            .aws
            .ecs(
                "DescribeServices",
                json!({"cluster": self.platform.cluster, "services": [SERVICE]}),
            )
            .await?;
        v["services"][0]["taskDefinition"]
            .as_str()
            .map(str::to_string)
            .context("moto does not describe the pizza-service ECS service")
    }

    pub fn targets_csv(&self) -> String {
        self.replicas
            .iter()
            .map(Replica::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts `loadgen` with `args`; its JSON summary goes to `<work>/<name>.json`.
    pub fn loadgen(&self, name: &str, targets: &str, args: &[&str]) -> anyhow::Result<u32> {
        let mut cmd = Command::new(&self.programs.loadgen);
        cmd.args(["--targets", targets]).args(args);
        self.sup
            .spawn(name, &mut cmd, Some(&self.loadgen_output(name)))
    }

    pub fn loadgen_output(&self, name: &str) -> PathBuf {
        self.work.join(format!("{name}.json"))
    }

    /// The summary line a finished loadgen printed.
    pub fn loadgen_summary(&self, name: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.loadgen_output(name)).ok()?;
        serde_json::from_str(text.lines().last()?).ok()
    }
}

/// A task id shaped like ECS's (32 hex digits), unique per run.
pub fn task_id(i: usize) -> String {
    let r: u128 = rand::random();
    format!("{:032x}", (r & !0xff) | i as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../manifests/examples/pizza-service.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn the_uploaded_pizza_manifest_differs_only_in_the_webhook_url() {
        let text = original();
        let (out, changes) = pizza_manifest(&text, "http://127.0.0.1:4242", None).unwrap();
        assert_eq!(changes.len(), 1);
        let diff: Vec<(&str, &str)> = text
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(
            diff,
            vec![(
                "          url: http://127.0.0.1:9099/alerts/pizza",
                "          url: http://127.0.0.1:4242/alerts/pizza"
            )]
        );
        assert_eq!(text.lines().count(), out.lines().count());
        assert_eq!(scrape_interval_of(&out), 15.0);
    }

    #[test]
    fn a_scrape_interval_override_changes_that_line_too_and_says_so() {
        let (out, changes) =
            pizza_manifest(&original(), "http://127.0.0.1:4242", Some("1s")).unwrap();
        assert_eq!(changes.len(), 2);
        assert!(changes[1].contains("15s -> 1s"), "{changes:?}");
        assert_eq!(scrape_interval_of(&out), 1.0);
    }
}
