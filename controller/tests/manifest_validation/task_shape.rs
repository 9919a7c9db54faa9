//! The task's shape: sidecars, `dependsOn`, FireLens, ports, CPU / memory shares and EFS
//! volumes. Each case breaks one ECS rule and names the field and line it must be reported at.

use super::*;

/// BASE plus one sidecar; line 13 is `sidecars:`, 14 its name, 15 image, 16 cpu, 17 memory,
/// 18 ports.
fn with_sidecar(extra: &str) -> String {
    with_spec(&format!(
        "  sidecars:\n    - name: envoy\n      image: envoy:1.31\n      cpu: 64\n      memory: 128\n      ports: [9901]\n{extra}"
    ))
}

/// BASE with `lines` after the container's port (line 10), so they start at line 11.
fn with_container(lines: &str) -> String {
    with_line(
        10,
        &format!("    port: 8080\n{}", lines.trim_end_matches('\n')),
    )
}

const EFS: &str = "  volumes:\n    - name: data\n      efs:\n        fileSystemId: fs-0123abcd\n";

#[test]
fn a_task_with_a_sidecar_a_firelens_router_and_an_efs_volume_is_valid() {
    let text = with_container(
        "    dependsOn:\n      - container: envoy\n        condition: HEALTHY\n    mounts:\n      - volume: data\n        path: /data\n    logging:\n      driver: firelens\n      options:\n        Name: cloudwatch_logs\n",
    ) + "  sidecars:\n    - name: envoy\n      image: envoy:1.31\n      ports: [9901]\n      healthCheck:\n        command: [CMD, /healthcheck]\n      metrics: {port: 9901, path: /stats/prometheus}\n    - name: log_router\n      image: fluent-bit:3\n      memoryReservation: 50\n      firelens: {type: fluentbit}\n"
        + EFS
        + "        accessPointId: fsap-0123456789abcdef0\n        iam: true\n";
    let set = load(&text);
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}\n{text}");
}

#[test]
fn sidecar_names_follow_ecs_and_are_unique_in_the_task() {
    let text = with_sidecar("").replace("name: envoy", "name: en.voy");
    assert_error(&text, "spec.sidecars[0].name", 14, "letters, digits");
    let text = with_sidecar("").replace("name: envoy", "name: app");
    assert_error(&text, "spec.sidecars[0].name", 14, "application container");
    let twice = "    - name: envoy\n      image: envoy:2\n";
    assert_error(
        &with_sidecar(twice),
        "spec.sidecars[1].name",
        19,
        "names two containers",
    );
}

#[test]
fn a_dependency_must_name_another_container_of_the_task() {
    let dep = |name: &str| {
        format!("      dependsOn:\n        - container: {name}\n          condition: START\n")
    };
    assert_error(
        &with_sidecar(&dep("db")),
        "spec.sidecars[0].dependsOn[0].container",
        20,
        "not a container of this task",
    );
    assert_error(
        &with_sidecar(&dep("envoy")),
        "spec.sidecars[0].dependsOn[0].container",
        20,
        "itself",
    );
    let set = load(&with_sidecar(&dep("app")));
    assert!(
        set.rejected.is_empty(),
        "a sidecar may wait for the application"
    );
    let bad = with_sidecar(&dep("app")).replace("condition: START", "condition: READY");
    assert_error(
        &bad,
        "spec.sidecars[0].dependsOn[0].condition",
        21,
        "unknown variant",
    );
}

#[test]
fn containers_waiting_for_each_other_in_a_circle_are_rejected() {
    let text = with_container("    dependsOn:\n      - container: envoy\n        condition: START\n")
        + "  sidecars:\n    - name: envoy\n      image: envoy:1.31\n      dependsOn:\n        - container: app\n          condition: START\n";
    assert_error(&text, "spec.container.dependsOn", 11, "app -> envoy -> app");
}

#[test]
fn healthy_needs_a_health_check_and_complete_needs_a_non_essential_container() {
    let wait = |condition: &str| {
        with_container(&format!(
            "    dependsOn:\n      - container: envoy\n        condition: {condition}\n"
        )) + "  sidecars:\n    - name: envoy\n      image: envoy:1.31\n"
    };
    assert_error(
        &wait("HEALTHY"),
        "spec.container.dependsOn[0].condition",
        13,
        "HEALTHY needs a health check",
    );
    assert_error(
        &wait("COMPLETE"),
        "spec.container.dependsOn[0].condition",
        13,
        "essential",
    );
    assert_error(
        &wait("SUCCESS"),
        "spec.container.dependsOn[0].condition",
        13,
        "essential",
    );
    let set = load(&(wait("SUCCESS") + "      essential: false\n"));
    assert!(
        set.rejected.is_empty(),
        "SUCCESS of a non-essential init container is fine"
    );
    let set = load(&(wait("HEALTHY") + "      healthCheck:\n        command: [CMD, /ok]\n"));
    assert!(
        set.rejected.is_empty(),
        "HEALTHY of a checked sidecar is fine"
    );
    let text = with_sidecar("      healthCheck:\n        interval: 10s\n");
    assert_error(&text, "spec.sidecars[0].healthCheck.command", 19, "command");
}

#[test]
fn one_firelens_router_per_task_and_firelens_logs_need_it() {
    let router = |name: &str| {
        format!(
            "    - name: {name}\n      image: fluent-bit:3\n      firelens: {{type: fluentbit}}\n"
        )
    };
    let text = with_spec(&format!("  sidecars:\n{}{}", router("a"), router("b")));
    assert_error(
        &text,
        "spec.sidecars[1].firelens",
        19,
        "one FireLens log router",
    );
    let text = with_container("    logging:\n      driver: firelens\n");
    assert_error(
        &text,
        "spec.container.logging.driver",
        12,
        "needs a log router",
    );
    let text = with_spec(&format!("  sidecars:\n{}", router("a")))
        .replace("firelens: {type: fluentbit}", "firelens: {type: logstash}");
    assert_error(
        &text,
        "spec.sidecars[0].firelens.type",
        16,
        "unknown variant",
    );
    let text = with_container("    logging:\n      options:\n        Name: x\n");
    assert_error(
        &text,
        "spec.container.logging.options",
        12,
        "firelens driver only",
    );
}

#[test]
fn every_port_of_the_task_is_unique_and_sidecar_metrics_use_one_of_its_ports() {
    let text = with_sidecar("").replace("ports: [9901]", "ports: [8080]");
    assert_error(
        &text,
        "spec.sidecars[0].ports[0]",
        18,
        "also spec.container.port",
    );
    let router =
        "    - name: log_router\n      image: fluent-bit:3\n      firelens: {type: fluentd}\n";
    let text = with_sidecar(router).replace("ports: [9901]", "ports: [24224]");
    assert_error(
        &text,
        "spec.sidecars[0].ports[0]",
        18,
        "FireLens router spec.sidecars[1]",
    );
    let text = with_sidecar("      metrics: {port: 9902}\n");
    assert_error(
        &text,
        "spec.sidecars[0].metrics.port",
        19,
        "not one of this sidecar's ports",
    );
}

#[test]
fn the_sidecars_must_leave_cpu_and_memory_for_the_application() {
    let text = with_sidecar("").replace("cpu: 64", "cpu: 256");
    assert_error(
        &text,
        "spec.container.cpu",
        8,
        "reserve 256 of the task's 256",
    );
    let text = with_sidecar("").replace("memory: 128", "memoryReservation: 512");
    assert_error(
        &text,
        "spec.sidecars[0].memoryReservation",
        17,
        "less than the task's 512",
    );
    let two = "    - name: agent\n      image: agent:1\n      memory: 400\n";
    assert_error(
        &with_sidecar(two),
        "spec.container.memory",
        9,
        "reserve 528 of the task's 512",
    );
    let text = with_sidecar("      memoryReservation: 200\n");
    assert_error(
        &text,
        "spec.sidecars[0].memoryReservation",
        19,
        "above the container's memory limit",
    );
}

#[test]
fn efs_volumes_follow_the_ecs_rules() {
    let mounted = |efs_extra: &str| {
        with_container("    mounts:\n      - volume: data\n        path: /data\n") + EFS + efs_extra
    };
    // Lines: 11-13 mounts, 14-15 notify, 16 volumes, 17 name, 18 efs, 19 fileSystemId, 20 on.
    let text = mounted("").replace("fs-0123abcd", "fs-xyz");
    assert_error(
        &text,
        "spec.volumes[0].efs.fileSystemId",
        19,
        "not an EFS file system id",
    );
    let text = mounted(
        "        accessPointId: fsap-0123456789abcdef0\n        transitEncryption: false\n",
    );
    assert_error(
        &text,
        "spec.volumes[0].efs.transitEncryption",
        21,
        "access point needs transit encryption",
    );
    let text = mounted("        iam: true\n        transitEncryption: false\n");
    assert_error(
        &text,
        "spec.volumes[0].efs.iam",
        20,
        "needs transit encryption",
    );
    let text =
        mounted("        accessPointId: fsap-0123456789abcdef0\n        rootDirectory: /srv\n");
    assert_error(
        &text,
        "spec.volumes[0].efs.rootDirectory",
        21,
        "leave rootDirectory out",
    );
    let text = mounted("        rootAccess: true\n");
    assert_error(
        &text,
        "spec.volumes[0].efs.rootAccess",
        20,
        "needs iam: true",
    );
    let text = mounted("        accessPointId: fsap-0123456789abcdef0\n        rootDirectory: /\n");
    assert!(
        load(&text).rejected.is_empty(),
        "/ is the access point's root"
    );
}

#[test]
fn mounts_name_a_volume_at_an_absolute_path_once_and_every_volume_is_mounted() {
    let text = with_container("    mounts:\n      - volume: cache\n        path: /data\n") + EFS;
    assert_error(
        &text,
        "spec.container.mounts[0].volume",
        12,
        "not one of spec.volumes",
    );
    assert_error(&text, "spec.volumes[0].name", 17, "mounted by no container");
    let text = with_container("    mounts:\n      - volume: data\n        path: data\n") + EFS;
    assert_error(&text, "spec.container.mounts[0].path", 13, "absolute path");
    let text = with_container(
        "    mounts:\n      - volume: data\n        path: /data\n      - volume: data\n        path: /data/\n",
    ) + EFS;
    assert_error(&text, "spec.container.mounts[1].path", 15, "mounted twice");
}

#[test]
fn efs_iam_authorisation_needs_a_task_role() {
    let mut settings = ecs_operator::Settings::local_defaults();
    settings.task_role_arn = None;
    let text = with_container("    mounts:\n      - volume: data\n        path: /data\n")
        + EFS
        + "        iam: true\n";
    assert_error_with(&text, &settings, "spec.volumes[0].efs.iam", 20, "task role");
}

#[test]
fn a_sidecar_s_env_and_secrets_are_checked_like_the_application_s() {
    let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:envoy-token";
    let text = with_sidecar(&format!(
        "      env:\n        ADMIN_PASSWORD: hunter2\n      secrets:\n        TOKEN: {secret}\n"
    ));
    assert_error(
        &text,
        "spec.sidecars[0].env.ADMIN_PASSWORD",
        20,
        "spec.sidecars[0].secrets",
    );
    let mut settings = ecs_operator::Settings::local_defaults();
    settings.allowed_secret_arns =
        vec!["arn:aws:secretsmanager:eu-west-1:123456789012:secret:checkout/*".into()];
    assert_error_with(
        &text,
        &settings,
        "spec.sidecars[0].secrets.TOKEN",
        22,
        "allowedSecretArns",
    );
}
