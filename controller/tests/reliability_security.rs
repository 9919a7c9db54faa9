//! Nothing in a manifest reaches beyond what the operator may touch: other clusters, other
//! operators' services, another service's Cloud Map name, task roles outside
//! `allowedTaskRoleArns`, files outside the config directory. No secret is logged or written.
//! The HTTP endpoint has no mutating route and `/status` honours its token.

use std::collections::BTreeSet;
use std::time::Duration;

use ecs_operator::plan::Outcome;
use ecs_operator::reconcile::{ReconcileOptions, Reconciler};
use testkit::*;

fn with_metadata(text: &str, name: &str, extra: &str) -> String {
    text.replace(
        &format!("  name: {name}\n"),
        &format!("  name: {name}\n{extra}"),
    )
}

fn service_in(cluster: &str, name: &str) -> serde_json::Value {
    describe_service(cluster, name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_cannot_reach_another_cluster_or_pass_a_role_that_is_not_allowed() {
    let world = World::new("scope");
    let p = unique_prefix("sc");
    let allowed_role = "arn:aws:iam::123456789012:role/app-allowed";
    let mut settings = world.settings.clone();
    settings.allowed_task_role_arns = vec![allowed_role.into()];

    // A cluster the operator does not manage, with a hand-made service in it.
    let foreign = format!("foreign-{}", world.settings.cluster);
    aws_cli(&["ecs", "create-cluster", "--cluster-name", &foreign]);
    let victim = format!("{p}-victim");
    world.hand_made_service(&foreign, &victim);
    let before = service_in(&foreign, &victim);

    let adopt = "  annotations:\n    ecs-operator.io/adopt: \"true\"\n";
    let placed = format!("  placement:\n    cluster: {foreign}\n");
    let role =
        |arn: &str| format!("  container:\n    image: nginx:1.27\n    taskRoleArn: \"{arn}\"\n");
    // (file, manifest, field the error must name)
    let mut cases: Vec<(String, String, &str)> = vec![
        (
            "victim.yaml".into(),
            with_metadata(&manifest(&victim, "nginx:1.27", &placed), &victim, adopt),
            "spec.placement.cluster",
        ),
        (
            "other.yaml".into(),
            manifest(&format!("{p}-other"), "nginx:1.27", &placed),
            "spec.placement.cluster",
        ),
        (
            "exec.yaml".into(),
            manifest(&format!("{p}-exec"), "nginx:1.27", "")
                .replace(
                    "    image: nginx:1.27\n",
                    "    image: nginx:1.27\n    executionRoleArn: arn:aws:iam::123456789012:role/admin\n",
                ),
            "spec.container.executionRoleArn",
        ),
    ];
    let hostile_roles = [
        "arn:aws:iam::123456789012:role/admin",
        "arn:aws:iam::123456789012:role/app-allowed ",
        "arn:aws:iam::123456789012:role/App-Allowed",
        "arn:aws:iam::123456789012:role/app-allowed/../admin",
        "arn:aws:iam::*:role/app-allowed",
        "arn:aws:iam::123456789012:role/*",
        "arn:aws:iam::999999999999:role/app-allowed",
    ];
    for (i, arn) in hostile_roles.iter().enumerate() {
        let name = format!("{p}-role{i}");
        let text = format!(
            "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\nspec:\n{}  notify:\n    team: test\n",
            role(arn)
        );
        cases.push((format!("role{i}.yaml"), text, "spec.container.taskRoleArn"));
    }
    let ok_name = format!("{p}-ok");
    let ok = format!(
        "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {ok_name}\nspec:\n{}  notify:\n    team: test\n",
        role(allowed_role)
    );
    let mut docs: Vec<(&str, &str)> = cases
        .iter()
        .map(|(f, t, _)| (f.as_str(), t.as_str()))
        .collect();
    docs.push(("ok.yaml", &ok));
    let set = manifests(&docs, &settings);
    assert_eq!(
        set.manifests.iter().map(|m| m.name()).collect::<Vec<_>>(),
        [ok_name.as_str()],
        "only the manifest within bounds is accepted"
    );
    for (file, _, field) in &cases {
        let found = set
            .diagnostics()
            .any(|d| d.file == *file && d.path == *field);
        assert!(
            found,
            "{file}: no error at {field}: {:#?}",
            set.diagnostics().map(|d| d.to_string()).collect::<Vec<_>>()
        );
    }

    // Reconcile everything: the plan never names the foreign cluster, the foreign service is
    // untouched, only the allowed role reaches a task definition.
    let r = Reconciler::new(
        clients().await,
        settings.clone(),
        ReconcileOptions::default(),
    );
    let (plan, observed) = r.plan(&set, true).await.unwrap();
    assert!(plan.services.iter().all(|s| s.cluster == settings.cluster));
    assert!(observed
        .services
        .keys()
        .all(|key| key.cluster == settings.cluster));
    let results = r.apply(&plan).await;
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    let after = service_in(&foreign, &victim);
    assert_eq!(before["taskDefinition"], after["taskDefinition"]);
    assert_eq!(before["desiredCount"], after["desiredCount"]);
    assert_eq!(before["tags"], after["tags"]);
    let foreign_services = aws_cli(&["ecs", "list-services", "--cluster", &foreign]);
    assert_eq!(foreign_services["serviceArns"].as_array().unwrap().len(), 1);
    // Task definitions: the accepted manifest's uses the allowed role; no rejected manifest
    // registered anything.
    let moto = clients().await;
    let mut families: Vec<String> = cases
        .iter()
        .map(|(_, text, _)| {
            text.lines()
                .find_map(|l| l.strip_prefix("  name: "))
                .unwrap()
                .to_string()
        })
        .filter(|n| n != &victim)
        .collect();
    families.push(ok_name.clone());
    let mut registered = Vec::new();
    for family in &families {
        let listed = moto
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .send()
            .await
            .unwrap();
        registered.extend(
            listed
                .task_definition_arns()
                .iter()
                .filter(|a| a.contains(&format!("/{family}:")))
                .cloned(),
        );
    }
    assert_eq!(
        registered.len(),
        1,
        "only the valid manifest registered: {registered:?}"
    );
    let td = moto
        .ecs
        .describe_task_definition()
        .task_definition(&registered[0])
        .send()
        .await
        .unwrap();
    assert!(registered[0].contains(&format!("/{ok_name}:")));
    assert_eq!(
        td.task_definition().unwrap().task_role_arn(),
        Some(allowed_role)
    );
    record_figures(
        "scope",
        "manifests aiming at another cluster, a foreign service (with adopt), the execution role or task roles outside allowedTaskRoleArns",
        serde_json::json!({
            "hostile_manifests": cases.len(),
            "rejected": cases.len(),
            "foreign_resources_changed": 0,
            "task_roles_outside_the_allow_list_registered": 0,
            "lost": 0,
        }),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_takes_over_hand_made_services_but_never_another_operators() {
    let world = World::new("adoptother");
    let p = unique_prefix("ad");
    let name = format!("{p}-shared");
    // Another operator instance shares the account and the cluster and owns this service.
    let mut theirs = world.settings.clone();
    theirs.operator_id = format!("other-{}", world.settings.operator_id);
    let other = Reconciler::new(clients().await, theirs.clone(), ReconcileOptions::default());
    // Without Cloud Map (whose foreign description alone would already be a conflict), so
    // that the ECS ownership check is what is tested.
    let no_discovery = "  traffic:\n    discovery:\n      enabled: false\n";
    let set = manifests(
        &[("s.yaml", &manifest(&name, "nginx:1.26", no_discovery))],
        &theirs,
    );
    let (plan, _) = other.plan(&set, true).await.unwrap();
    assert!(other.apply(&plan).await.iter().all(|r| r.error.is_none()));
    let before = service_in(&world.settings.cluster, &name);

    // Our manifest asks to adopt the same name.
    let adopting = with_metadata(
        &manifest(&name, "nginx:1.27", no_discovery),
        &name,
        "  annotations:\n    ecs-operator.io/adopt: \"true\"\n",
    );
    let r = world.reconciler().await;
    let set = manifests(&[("s.yaml", &adopting)], &world.settings);
    let (plan, _) = r.plan(&set, true).await.unwrap();
    let sp = plan.services.iter().find(|s| s.name == name).unwrap();
    assert!(
        matches!(&sp.outcome, Outcome::Conflict(_)),
        "another operator's service is not adoptable: {:?} {:?}",
        sp.outcome,
        sp.steps
    );
    r.apply(&plan).await;
    let after = service_in(&world.settings.cluster, &name);
    assert_eq!(before["taskDefinition"], after["taskDefinition"]);
    assert_eq!(before["tags"], after["tags"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_cannot_claim_another_services_cloud_map_name() {
    let world = World::new("dnsclaim");
    let p = unique_prefix("dn");
    let (a, b, c, d) = (
        format!("{p}-a"),
        format!("{p}-b"),
        format!("{p}-c"),
        format!("{p}-d"),
    );
    let r = world.reconciler().await;
    let prune = "  lifecycle:\n    prune: true\n";
    let a_text = manifest(&a, "nginx:1.27", prune);
    let set = manifests(&[("a.yaml", &a_text)], &world.settings);
    let (plan, _) = r.plan(&set, true).await.unwrap();
    assert!(r.apply(&plan).await.iter().all(|x| x.error.is_none()));

    // b names a's Cloud Map service as its own; c and d both claim a third name.
    let claim = |name: &str, dns: &str| {
        manifest(
            name,
            "nginx:1.27",
            &format!("  traffic:\n    discovery:\n      name: {dns}\n{prune}"),
        )
    };
    let b_text = claim(&b, &a);
    let shared = format!("{p}-x");
    let c_text = claim(&c, &shared);
    let d_text = claim(&d, &shared);
    let set = manifests(
        &[
            ("a.yaml", &a_text),
            ("b.yaml", &b_text),
            ("c.yaml", &c_text),
            ("d.yaml", &d_text),
        ],
        &world.settings,
    );
    let accepted: BTreeSet<&str> = set.manifests.iter().map(|m| m.name()).collect();
    assert_eq!(
        accepted,
        BTreeSet::from([a.as_str()]),
        "claimants are rejected: {:#?}",
        set.diagnostics().map(|d| d.to_string()).collect::<Vec<_>>()
    );
    for file in ["b.yaml", "c.yaml", "d.yaml"] {
        assert!(
            set.diagnostics()
                .any(|d| d.file == file && d.path == "spec.traffic.discovery.name"),
            "{file}: {:#?}",
            set.diagnostics().map(|d| d.to_string()).collect::<Vec<_>>()
        );
    }
    let (plan, _) = r.plan(&set, true).await.unwrap();
    assert!(r.apply(&plan).await.iter().all(|x| x.error.is_none()));

    // Whatever happened, a's Cloud Map service serves a alone and survives b going away.
    let moto = clients().await;
    let names: BTreeSet<String> = [a.clone()].into();
    let inv = inventory(&moto, &world.settings.cluster, &p, &names).await;
    let problems = inventory_problems(
        &inv,
        &world.settings.operator_id,
        &names,
        &r.discovery_description(),
        Some(1),
        false,
    );
    assert!(problems.is_empty(), "{problems:#?}");
    let set = manifests(&[("a.yaml", &a_text)], &world.settings);
    let (plan, _) = r.plan(&set, true).await.unwrap();
    assert!(r.apply(&plan).await.iter().all(|x| x.error.is_none()));
    let inv = inventory(&moto, &world.settings.cluster, &p, &names).await;
    assert_eq!(
        inv.discovery
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        [a.as_str()]
    );
}

#[test]
fn nothing_is_written_outside_the_config_directory() {
    use ecs_operator::actuate::files::MonitoringWriter;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    let listing = |root: &std::path::Path| -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p.clone());
                }
                found.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
        found
    };
    let outside_before = listing(work.path());

    // Paths no renderer should produce, handed to the writer directly.
    let hostile = [
        "../escaped.yml",
        "../../escaped.yml",
        "prometheus/../../escaped.yml",
        "prometheus/rules/../../../escaped.yml",
        "/tmp/escaped-absolute.yml",
        "./prometheus/rules/dot.rules.yml",
        "prometheus/rules/..",
        "",
    ];
    let mut output = ecs_operator::render::monitoring::MonitoringOutput::default();
    for path in hostile {
        output.files.insert(path.to_string(), "x: 1\n".into());
    }
    let mut writer = MonitoringWriter::new(dir.clone(), None, None);
    let report = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(writer.sync(&output));
    assert!(report.written.is_empty(), "{report:?}");
    assert_eq!(
        report
            .errors
            .iter()
            .filter(|e| e.contains("outside the config directory"))
            .count(),
        hostile.len(),
        "{report:?}"
    );
    assert_eq!(listing(work.path()), outside_before);
    assert!(!std::path::Path::new("/tmp/escaped-absolute.yml").exists());

    // Names that would build such paths never get past validation: service names, teams and
    // discovery names are DNS labels.
    let traversal = [
        "../x",
        "a/b",
        "..",
        "x/../../y",
        "/abs",
        "a\\b",
        "a\0b",
        ".hidden",
    ];
    for bad in traversal {
        let quoted = serde_json::to_string(bad).unwrap();
        for text in [
            manifest("ok-name", "nginx:1.27", "")
                .replace("name: ok-name", &format!("name: {quoted}")),
            manifest("ok-name", "nginx:1.27", "").replace("team: test", &format!("team: {quoted}")),
            manifest(
                "ok-name",
                "nginx:1.27",
                &format!("  traffic:\n    discovery:\n      name: {quoted}\n"),
            ),
        ] {
            let set = manifests(
                &[("t.yaml", &text)],
                &ecs_operator::Settings::local_defaults(),
            );
            assert!(set.manifests.is_empty(), "{bad:?} accepted in:\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_endpoint_has_no_mutating_route_and_status_requires_its_token() {
    use ecs_operator::controller::http::{router, Shared};
    let token = "s3cr3t-status-token";
    let shared = std::sync::Arc::new(Shared::new(Some(token.into())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(shared)).await.unwrap();
    });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{addr}");
    let routes = [
        "/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/sd/prometheus",
        "/status",
        "/status/anything",
        "/-/reload",
        "/admin",
    ];
    let mut tried = 0;
    for route in routes {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let r = http
                .request(method.parse().unwrap(), format!("{base}{route}"))
                .header("authorization", format!("Bearer {token}"))
                .body("{}")
                .send()
                .await
                .unwrap();
            tried += 1;
            assert!(
                r.status() == 405 || r.status() == 404,
                "{method} {route}: {}",
                r.status()
            );
        }
    }
    let status = |auth: Option<String>| {
        let mut req = http.get(format!("{base}/status"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move { req.send().await.unwrap() }
    };
    assert_eq!(status(None).await.status(), 401);
    assert_eq!(status(Some("Bearer wrong".into())).await.status(), 401);
    assert_eq!(status(Some(token.into())).await.status(), 401);
    assert_eq!(status(Some(format!("Basic {token}"))).await.status(), 401);
    assert_eq!(status(Some(format!("Bearer {token}x"))).await.status(), 401);
    let denied = status(None).await.text().await.unwrap();
    assert!(!denied.contains(token));
    let ok = status(Some(format!("Bearer {token}"))).await;
    assert_eq!(ok.status(), 200);
    let query = http
        .get(format!("{base}/status?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query.status(),
        401,
        "a token in the query string is not accepted"
    );
    for open in ["/healthz", "/metrics", "/sd/prometheus"] {
        let r = http.get(format!("{base}{open}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{open}");
        assert!(!r.text().await.unwrap().contains(token));
    }
    record_figures(
        "http",
        "every route of the operator's HTTP port with POST/PUT/DELETE/PATCH, and /status with missing, wrong and right tokens",
        serde_json::json!({
            "mutating_requests_tried": tried,
            "mutating_requests_accepted": 0,
            "status_requests_without_the_token_answered": 0,
            "lost": 0,
        }),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn planted_secrets_never_reach_logs_status_records_endpoints_or_generated_files() {
    let world = World::new("secrets");
    let p = unique_prefix("se");
    let nonce = unique_prefix("");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let manifests_dir = dir.join("manifests");
    std::fs::create_dir_all(&manifests_dir).unwrap();

    // The secrets. The operator may know where they are, never what they are.
    let slack_url = format!("https://hooks.slack.com/services/T0/B0/PLANTEDslack{nonce}");
    let aws_secret = format!("PLANTEDawssecret{nonce}");
    let session_token = format!("PLANTEDsessiontoken{nonce}");
    let status_token = format!("PLANTEDstatustoken{nonce}");
    let env_password = format!("PLANTEDenvpassword{nonce}");
    let literal_secret = format!("PLANTEDliteral{nonce}");
    let unrelated = format!("PLANTEDgithubtoken{nonce}");
    let planted = [
        (
            "Slack webhook URL (in the file apiUrlFile names)",
            slack_url.as_str(),
        ),
        ("AWS_SECRET_ACCESS_KEY", aws_secret.as_str()),
        ("AWS_SESSION_TOKEN", session_token.as_str()),
        ("status token", status_token.as_str()),
        ("literal value of env DB_PASSWORD", env_password.as_str()),
        (
            "literal value under container.secrets",
            literal_secret.as_str(),
        ),
        ("GITHUB_TOKEN in the environment", unrelated.as_str()),
    ];
    let slack_file = dir.join("slack-url");
    std::fs::write(&slack_file, &slack_url).unwrap();

    let ok = format!("{p}-ok");
    let env_bad = format!("{p}-env");
    let literal_bad = format!("{p}-lit");
    let files = [
        (
            ok.clone(),
            manifest(
                &ok,
                "nginx:1.27",
                "  container:\n    image: nginx:1.27\n    env:\n      LOG_LEVEL: debug\n    secrets:\n      DB_PASSWORD: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf\n",
            )
            .replacen("  container:\n    image: nginx:1.27\n", "", 1)
            .replace(
                "    team: test\n",
                &format!(
                    "    team: test\n    receivers:\n      - slack:\n          channel: \"#alerts\"\n          apiUrlFile: {}\n",
                    slack_file.display()
                ),
            ),
        ),
        (
            env_bad.clone(),
            manifest(&env_bad, "nginx:1.27", "")
                .replace(
                    "    image: nginx:1.27\n",
                    &format!("    image: nginx:1.27\n    env:\n      DB_PASSWORD: {env_password}\n"),
                ),
        ),
        (
            literal_bad.clone(),
            manifest(&literal_bad, "nginx:1.27", "").replace(
                "    image: nginx:1.27\n",
                &format!("    image: nginx:1.27\n    secrets:\n      API_KEY: {literal_secret}\n"),
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(manifests_dir.join(format!("{name}.yaml")), text).unwrap();
    }
    let state_bucket = format!("sec-{}", world.settings.cluster.to_lowercase());
    aws_cli(&["s3", "mb", &format!("s3://{state_bucket}")]);
    let monitoring = dir.join("monitoring");
    let mut settings = world.settings.clone();
    settings.manifest_source = manifests_dir.display().to_string();
    settings.state_location = Some(format!("s3://{state_bucket}/state/"));
    settings.monitoring.config_dir = Some(monitoring.display().to_string());
    let settings_path = dir.join("settings.json");
    std::fs::write(&settings_path, serde_json::to_string(&settings).unwrap()).unwrap();

    let command = || {
        let mut cmd = operator_command(env!("CARGO_BIN_EXE_ecs-operator"), &moto_endpoint());
        cmd.env("AWS_SECRET_ACCESS_KEY", &aws_secret)
            .env("AWS_SESSION_TOKEN", &session_token)
            .env("GITHUB_TOKEN", &unrelated)
            .env("ECS_OPERATOR_STATUS_TOKEN", &status_token)
            .env("RUST_LOG", "debug");
        cmd
    };
    let mut evidence: Vec<(String, String)> = Vec::new();
    let mut capture = |what: &str, out: std::process::Output| {
        evidence.push((
            format!("{what} stdout"),
            String::from_utf8_lossy(&out.stdout).into(),
        ));
        evidence.push((
            format!("{what} stderr"),
            String::from_utf8_lossy(&out.stderr).into(),
        ));
        out.status
    };
    let validate = command()
        .args(["validate", "--settings"])
        .arg(&settings_path)
        .arg(&manifests_dir)
        .output()
        .unwrap();
    assert_eq!(capture("validate", validate).code(), Some(1));
    let rendered = dir.join("rendered");
    let render = command()
        .args(["render", "--settings"])
        .arg(&settings_path)
        .arg("--write")
        .arg(&rendered)
        .arg(manifests_dir.join(format!("{ok}.yaml")))
        .output()
        .unwrap();
    assert!(capture("render", render).success());
    let apply = command()
        .args(["apply", "--emulator", "--settings"])
        .arg(&settings_path)
        .output()
        .unwrap();
    capture("apply", apply);

    let op = RunningOperator::start(
        command(),
        &settings_path,
        &[
            "--interval",
            "1s",
            "--poll-interval",
            "300ms",
            "--sd-refresh",
            "1s",
            "--lease-ttl",
            "6s",
        ],
        &dir.join("run.log"),
    );
    eventually("two passes", Duration::from_secs(30), async || {
        metric_sum(&op.metrics().await, "ecs_operator_reconciles_total", |_| {
            true
        }) >= 2.0
    })
    .await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", op.port);
    let status = http
        .get(url("/status"))
        .bearer_auth(&status_token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let status_body = status.text().await.unwrap();
    assert!(
        status_body.contains("looks like a secret") && status_body.contains(&env_bad),
        "the rejection is reported in /status: {status_body}"
    );
    evidence.push(("/status".into(), status_body));
    let denied = http.get(url("/status")).send().await.unwrap();
    assert_eq!(
        denied.status(),
        401,
        "the running operator enforces its token"
    );
    for path in ["/metrics", "/sd/prometheus", "/healthz", "/readyz"] {
        evidence.push((path.into(), op.get(path).await.unwrap_or_default()));
        for method in ["POST", "PUT", "DELETE"] {
            let r = http
                .request(method.parse().unwrap(), url(path))
                .bearer_auth(&status_token)
                .send()
                .await
                .unwrap();
            assert!(r.status() == 405 || r.status() == 404, "{method} {path}");
        }
    }
    // Stop gracefully (SIGTERM), so that everything it would write is written.
    op.signal("TERM");
    let mut op = op;
    let _ = op.child.wait();
    evidence.push(("run log".into(), op.log_text()));

    // Status records in S3.
    let moto = clients().await;
    let listed = moto
        .s3
        .list_objects_v2()
        .bucket(&state_bucket)
        .send()
        .await
        .unwrap();
    let mut records = 0;
    for o in listed.contents() {
        let key = o.key().unwrap();
        let body = moto
            .s3
            .get_object()
            .bucket(&state_bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        records += usize::from(key.contains("/status/"));
        evidence.push((
            format!("s3://{state_bucket}/{key}"),
            String::from_utf8_lossy(&body).into(),
        ));
    }
    assert!(records >= 3, "a status record per manifest: {records}");
    // Every generated file.
    for root in [&monitoring, &rendered] {
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    evidence.push((
                        path.display().to_string(),
                        String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into(),
                    ));
                }
            }
        }
    }
    let alertmanager =
        std::fs::read_to_string(monitoring.join("alertmanager/alertmanager.yml")).unwrap();
    assert!(
        alertmanager.contains(&format!("api_url_file: {}", slack_file.display())),
        "the Slack receiver points at the file:\n{alertmanager}"
    );
    let debug_lines: usize = evidence
        .iter()
        .filter(|(what, _)| what.contains("stderr") || what == "run log")
        .map(|(_, text)| text.matches("\"level\":\"DEBUG\"").count())
        .sum();
    assert!(debug_lines > 0, "the operator really logged at debug level");

    let mut leaks = Vec::new();
    for (what, secret) in planted {
        for (place, text) in &evidence {
            if text.contains(secret) {
                leaks.push(format!("{what} found in {place}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    let bytes: usize = evidence.iter().map(|(_, t)| t.len()).sum();
    record_figures(
        "secrets",
        "secrets planted in files, manifests and the environment; logs at RUST_LOG=debug, status records, HTTP answers and generated files searched",
        serde_json::json!({
            "secrets_planted": planted.len(),
            "places_searched": evidence.len(),
            "bytes_searched": bytes,
            "debug_log_lines": debug_lines,
            "leaks": leaks.len(),
            "lost": 0,
        }),
    );
}
