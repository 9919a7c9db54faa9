//! What managed tasks need from the platform: the requests ECS makes on behalf of each example
//! task with the execution role (pull the image, write the logs, read the secrets), evaluated
//! against `task-execution.json`; and Alertmanager's SNS notifications, evaluated against its
//! `monitoring.json`. Both with the example platform of `scripts/iam-policies` (its values are
//! the ones `manifests/examples/` are written for), so a manifest that needs something the
//! bootstrap does not grant fails here.

use std::collections::BTreeMap;

use ecs_operator::manifest::MonitoredService;
use ecs_operator::render::aws::{ContainerDefinition, DesiredService};
use ecs_operator::settings::Settings;
use serde_json::{json, Value};
use testkit::*;

use crate::policy;

fn string(values: &Value, key: &str) -> String {
    values[key].as_str().unwrap().to_string()
}

fn strings(values: &Value, key: &str) -> Vec<String> {
    values[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The operator's settings as the bootstrap writes them (`outputs.tf`, `operator_settings`),
/// from the values the policies were rendered with; plus the cluster and network
/// every-field.yaml places itself in, which the bootstrap does not have (the operator policy
/// covers its one cluster only: that example is not deployable on the bootstrap as it is).
fn bootstrap_settings(values: &Value) -> Settings {
    let roles = strings(values, "passable_role_arns");
    let mut s = Settings::local_defaults();
    s.operator_id = string(values, "operator_id");
    s.region = Some(string(values, "region"));
    s.cluster = string(values, "cluster_name");
    s.allowed_clusters = vec!["shop".into()];
    s.networks.insert("private".into(), s.network.clone());
    s.execution_role_arn = roles[0].clone();
    s.task_role_arn = Some(roles[1].clone());
    s.allowed_task_role_arns = roles[2..].to_vec();
    s.allowed_deployment_role_arns = strings(values, "deployment_role_arns");
    s.service_discovery_namespace_id = Some(string(values, "namespace_id"));
    s.service_discovery_namespace_name = Some(string(values, "namespace_name"));
    s.log_group = string(values, "services_log_group");
    s.scheduler = Some(ecs_operator::settings::SchedulerSettings {
        role_arn: string(values, "scheduler_role_arn"),
        group_name: Some(string(values, "schedule_group_name")),
        dead_letter_queue_arn: Some(string(values, "dead_letter_arn")),
    });
    s.ingress = Some(ecs_operator::settings::IngressSettings {
        listener_arn: string(values, "ingress_listener_arn"),
        vpc_id: "vpc-0123456789abcdef0".into(),
        public_host: "apps.example.com".into(),
        scheme: "https".into(),
        idle_timeout: ecs_operator::duration::PromDuration::from_secs(60),
    });
    s
}

/// Every example manifest, validated against `settings`.
fn examples(settings: &Settings) -> Vec<MonitoredService> {
    let docs: Vec<(String, String)> =
        std::fs::read_dir(policy::repo_root().join("manifests/examples"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
    let docs: Vec<(&str, &str)> = docs.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let set = manifests(&docs, settings);
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(
        problems.is_empty(),
        "the examples are valid on the bootstrap: {problems:?}"
    );
    assert_eq!(set.manifests.len(), docs.len());
    set.manifests.iter().map(|m| m.manifest.clone()).collect()
}

/// The requests ECS makes with the execution role to start one task of `d`: for each of its
/// containers (the application and the sidecars).
fn task_start_requests(d: &DesiredService, values: &Value) -> Vec<Value> {
    d.task_definition
        .containers()
        .flat_map(|c| container_start_requests(&d.name, c, values))
        .collect()
}

/// The execution role's requests for one container: its image, its awslogs stream (FireLens
/// logs go through the router instead) and its secrets.
fn container_start_requests(service: &str, c: &ContainerDefinition, values: &Value) -> Vec<Value> {
    let call = |what: &str| format!("{service}:{}:{what}", c.name);
    let line = |what: &str, action: &str, resource: &str, context: Value| json!({"call": call(what), "action": action, "resource": resource, "context": context});
    let mut lines = Vec::new();
    // An image in a private ECR repository: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>`
    // followed by `:tag` or `@digest`. Public images (public.ecr.aws, Docker Hub) need no IAM.
    if let Some((host, path)) = c.image.split_once('/') {
        let parts: Vec<&str> = host.split('.').collect();
        if let [account, "dkr", "ecr", region, "amazonaws", "com"] = parts[..] {
            let repo = path.split(['@', ':']).next().unwrap();
            let arn = format!("arn:aws:ecr:{region}:{account}:repository/{repo}");
            lines.push(line("image", "ecr:GetAuthorizationToken", "*", json!({})));
            lines.push(line("image", "ecr:BatchGetImage", &arn, json!({})));
            lines.push(line("image", "ecr:GetDownloadUrlForLayer", &arn, json!({})));
        }
    }
    // The awslogs driver writes to `<prefix>/<container>/<task id>` in the task's log group.
    if c.log_configuration.log_driver == "awslogs" {
        let options = &c.log_configuration.options;
        let group = &options["awslogs-group"];
        let stream = format!(
            "{}/{}/0123456789abcdef0123456789abcdef",
            options["awslogs-stream-prefix"], c.name
        );
        let region = string(values, "region");
        let account = string(values, "account_id");
        let arn = format!("arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}");
        for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
            lines.push(line("logs", action, &arn, json!({})));
        }
    }
    // Each secret, decrypted through its service with the services' key (the bootstrap's).
    let key = strings(values, "service_secrets_kms_key_arns")[0].clone();
    for (_, arn) in &c.secrets {
        let (action, service) = if arn.contains(":ssm:") {
            ("ssm:GetParameters", "ssm")
        } else {
            ("secretsmanager:GetSecretValue", "secretsmanager")
        };
        let secret_region = arn.split(':').nth(3).unwrap();
        lines.push(line("secret", action, arn, json!({})));
        let via = format!("{service}.{secret_region}.amazonaws.com");
        lines.push(line(
            "secret",
            "kms:Decrypt",
            &key,
            json!({"kms:ViaService": via}),
        ));
    }
    lines
}

#[test]
fn the_execution_role_lets_ecs_start_every_example_task() {
    let dir = policy::work_dir("task-execution");
    let (policies, values) = policy::render(&json!({}), &dir);
    let settings = bootstrap_settings(&values);
    let mut lines = Vec::new();
    for m in examples(&settings) {
        let d = ecs_operator::render::render_service(&m, &settings);
        assert_eq!(
            d.task_definition.execution_role_arn,
            settings.execution_role_arn
        );
        lines.extend(task_start_requests(&d, &values));
    }
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    for needed in [
        "ecr:BatchGetImage",
        "logs:PutLogEvents",
        "ssm:GetParameters",
        "kms:Decrypt",
    ] {
        assert!(
            actions.contains(&needed),
            "the examples exercise {needed}: {actions:?}"
        );
    }
    let requests = policy::write_requests("task-execution", &lines, &dir);
    let keys: BTreeMap<String, Value> = strings(&values, "service_secrets_kms_key_arns")
        .into_iter()
        .map(|k| (k, policy::key_policy("aws", &string(&values, "account_id"))))
        .collect();
    let report = policy::evaluate(
        "task-execution",
        &policies["task-execution"],
        &requests,
        &keys,
        &dir,
    );
    println!("{}", report.stdout);
    let denies = report.denies();
    assert!(
        denies.is_empty(),
        "ECS cannot start the example tasks with the execution role:\n{}",
        denies.join("\n")
    );
}

#[test]
fn alertmanager_may_publish_to_every_sns_topic_the_examples_notify() {
    let dir = policy::work_dir("alertmanager");
    let (policies, values) = policy::render(&json!({}), &dir);
    let settings = bootstrap_settings(&values);
    let examples = examples(&settings);
    let refs: Vec<&MonitoredService> = examples.iter().collect();
    let files = ecs_operator::render::monitoring::render(&refs, &settings).files;
    let config: serde_yaml::Value =
        serde_yaml::from_str(&files["alertmanager/alertmanager.yml"]).unwrap();
    // What Alertmanager will do: sns:Publish to each receiver's topic, with its task role.
    let mut lines = Vec::new();
    for receiver in config["receivers"].as_sequence().unwrap() {
        for sns in receiver["sns_configs"].as_sequence().into_iter().flatten() {
            let topic = sns["topic_arn"].as_str().unwrap();
            let name = receiver["name"].as_str().unwrap();
            lines.push(json!({"call": name, "action": "sns:Publish", "resource": topic}));
        }
    }
    assert!(!lines.is_empty(), "the examples notify through SNS");
    let requests = policy::write_requests("alertmanager", &lines, &dir);
    let report = policy::evaluate(
        "alertmanager",
        &policies["monitoring"],
        &requests,
        &BTreeMap::new(),
        &dir,
    );
    println!("{}", report.stdout);
    let denies = report.denies();
    assert!(
        denies.is_empty(),
        "Alertmanager's task role may not publish the examples' alerts:\n{}",
        denies.join("\n")
    );
}

/// The task role policy `ecs-operator task-policy` prints for every-field.yaml's EFS volume
/// (an access point, IAM authorisation, mounted read-write by the application and read-only by
/// Envoy), evaluated against the requests EFS checks when ECS mounts it for a task: allowed for
/// that file system through that access point, denied for another file system or access point
/// and for root access; and once every mount is read-only, ClientWrite is denied too.
#[test]
fn the_task_role_policy_lets_ecs_mount_exactly_the_efs_volume_asked_for() {
    let dir = policy::work_dir("task-role-efs");
    let (_, values) = policy::render(&json!({}), &dir);
    let settings = bootstrap_settings(&values);
    let example = |name: &str| {
        std::fs::read_to_string(policy::repo_root().join("manifests/examples").join(name)).unwrap()
    };
    // every-field.yaml depends on minimal.yaml's service.
    let (text, minimal) = (example("every-field.yaml"), example("minimal.yaml"));
    let settings_path = dir.join("settings.yaml");
    std::fs::write(&settings_path, serde_json::to_string(&settings).unwrap()).unwrap();
    let evaluate = |name: &str, text: &str, expect_denied: &[&str]| {
        // What `ecs-operator task-policy` prints for the two manifests.
        let manifests_dir = dir.join(format!("{name}-manifests"));
        std::fs::create_dir_all(&manifests_dir).unwrap();
        std::fs::write(manifests_dir.join("every-field.yaml"), text).unwrap();
        std::fs::write(manifests_dir.join("minimal.yaml"), &minimal).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecs-operator"))
            .arg("task-policy")
            .arg(&manifests_dir)
            .arg("--settings")
            .arg(&settings_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            printed.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["checkout"],
            "minimal.yaml needs nothing of its task role"
        );
        let m: MonitoredService = ecs_operator::yaml::from_str(text).unwrap();
        let volume = &m.spec.volumes[0];
        let role_arn = printed["checkout"]["taskRoleArn"].as_str().unwrap();
        let policy = &printed["checkout"]["policy"];
        let region = string(&values, "region");
        let account = role_arn.split(':').nth(4).unwrap().to_string();
        let arn = |kind: &str, id: &str| {
            format!("arn:aws:elasticfilesystem:{region}:{account}:{kind}/{id}")
        };
        let fs = arn("file-system", &volume.efs.file_system_id);
        let ap = arn(
            "access-point",
            volume.efs.access_point_id.as_deref().unwrap(),
        );
        let other_fs = arn("file-system", "fs-0fffffffffffffff0");
        let other_ap = arn("access-point", "fsap-0fffffffffffffff0");
        let via = |access_point: &str| json!({"elasticfilesystem:AccessPointArn": access_point, "elasticfilesystem:AccessedViaMountTarget": "true"});
        let lines = [
            json!({"call": "mount", "action": "elasticfilesystem:ClientMount", "resource": fs, "context": via(&ap)}),
            json!({"call": "write", "action": "elasticfilesystem:ClientWrite", "resource": fs, "context": via(&ap)}),
            json!({"call": "mount-other-file-system", "action": "elasticfilesystem:ClientMount", "resource": other_fs, "context": via(&ap)}),
            json!({"call": "write-other-file-system", "action": "elasticfilesystem:ClientWrite", "resource": other_fs, "context": via(&ap)}),
            json!({"call": "mount-other-access-point", "action": "elasticfilesystem:ClientMount", "resource": fs, "context": via(&other_ap)}),
            json!({"call": "root-access", "action": "elasticfilesystem:ClientRootAccess", "resource": fs, "context": via(&ap)}),
        ];
        let requests = policy::write_requests(name, &lines, &dir);
        let report = policy::evaluate(name, policy, &requests, &BTreeMap::new(), &dir);
        println!("{}", report.stdout);
        let denied: Vec<String> = report.json["denies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["call"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(denied, expect_denied, "{name}:\n{}", report.stdout);
    };
    let elsewhere = [
        "mount-other-file-system",
        "write-other-file-system",
        "mount-other-access-point",
        "root-access",
    ];
    evaluate("task-role-efs", &text, &elsewhere);
    let read_only = text.replace("readOnly: false", "readOnly: true");
    assert_ne!(read_only, text);
    let mut denied = vec!["write"];
    denied.extend(elsewhere);
    evaluate("task-role-efs-read-only", &read_only, &denied);
}
