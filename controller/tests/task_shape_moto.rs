//! Sidecars, FireLens and EFS volumes against moto_server: the task definition is registered
//! as asked (read back with the aws CLI), an unchanged world writes nothing, a sidecar's new
//! image is exactly one new revision whose plan names `sidecars[envoy].image`, and a removed
//! sidecar is a revision without it.
//!
//! moto 5.2.5 keeps container definitions whole (`dependsOn`, `firelensConfiguration`,
//! `healthCheck`, `mountPoints`, `memoryReservation`) and `volumes` with their
//! `efsVolumeConfiguration` (filling in `rootDirectory: /`); it enforces none of ECS's rules on
//! them, which `manifest_validation.rs` (task_shape) covers.

use ecs_operator::manifest::ManifestSet;
use serde_json::{json, Value};
use testkit::*;

const TASK_ROLE: &str = "arn:aws:iam::123456789012:role/shaped-task";

/// The service: the application waits for Envoy to be healthy and logs through the FireLens
/// router; Envoy mounts the EFS volume read-only, the application read-write.
fn shaped(envoy_image: &str, with_envoy: bool) -> String {
    let envoy = format!(
        "    - name: envoy
      image: {envoy_image}
      cpu: 128
      memory: 256
      ports: [9901]
      dependsOn:
        - {{container: log_router, condition: START}}
      healthCheck:
        command: [CMD-SHELL, curl -f localhost:9901/ready]
      mounts:
        - {{volume: shared, path: /etc/envoy, readOnly: true}}
"
    );
    let app_waits = if with_envoy {
        "    dependsOn:\n      - {container: envoy, condition: HEALTHY}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: shaped
spec:
  container:
    image: nginx:1.27
    cpu: 512
    memory: 1024
{app_waits}    logging:
      driver: firelens
      options: {{Name: cloudwatch_logs, region: us-east-1, log_group_name: shaped}}
    mounts:
      - {{volume: shared, path: /srv/shared}}
  sidecars:
{}    - name: log_router
      image: fluent-bit:3
      memoryReservation: 50
      firelens: {{type: fluentbit, options: {{enable-ecs-log-metadata: 'true'}}}}
  volumes:
    - name: shared
      efs:
        fileSystemId: fs-0123abcd
        accessPointId: fsap-0123456789abcdef0
        iam: true
  notify:
    team: test
",
        if with_envoy { envoy.as_str() } else { "" }
    )
}

fn registered(world: &World) -> Value {
    let service = aws_cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        &world.settings.cluster,
        "--services",
        "shaped",
    ]);
    let arn = service["services"][0]["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    aws_cli(&["ecs", "describe-task-definition", "--task-definition", &arn])["taskDefinition"]
        .clone()
}

fn container<'a>(td: &'a Value, name: &str) -> &'a Value {
    td["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {td}"))
}

fn set(world: &World, text: &str) -> ManifestSet {
    let set = manifests(&[("shaped.yaml", text)], &world.settings);
    assert!(
        set.rejected.is_empty(),
        "{:?}",
        set.diagnostics().map(|d| d.to_string()).collect::<Vec<_>>()
    );
    set
}

#[tokio::test]
async fn sidecars_firelens_and_efs_are_registered_as_asked_and_changed_one_revision_at_a_time() {
    let mut world = World::new("shape");
    world.settings.task_role_arn = Some(TASK_ROLE.into());
    let r = world.reconciler().await;

    apply_counted(&r, &set(&world, &shaped("envoy:1.31", true)), true).await;
    let td = registered(&world);
    let revision = td["revision"].as_i64().unwrap();
    let app = container(&td, "app");
    // The application logs through the router: it waits for it to start, as ECS would.
    assert_eq!(
        app["dependsOn"],
        json!([
            {"containerName": "envoy", "condition": "HEALTHY"},
            {"containerName": "log_router", "condition": "START"}
        ])
    );
    assert_eq!(app["logConfiguration"]["logDriver"], "awsfirelens");
    assert_eq!(
        app["logConfiguration"]["options"]["Name"],
        "cloudwatch_logs"
    );
    assert_eq!(
        app["mountPoints"],
        json!([{"sourceVolume": "shared", "containerPath": "/srv/shared", "readOnly": false}])
    );
    let envoy = container(&td, "envoy");
    assert_eq!(envoy["image"], "envoy:1.31");
    assert_eq!(
        (envoy["cpu"].clone(), envoy["memory"].clone()),
        (json!(128), json!(256))
    );
    assert_eq!(envoy["essential"], true);
    assert_eq!(envoy["portMappings"][0]["containerPort"], 9901);
    assert_eq!(
        envoy["dependsOn"],
        json!([{"containerName": "log_router", "condition": "START"}])
    );
    assert_eq!(
        envoy["healthCheck"]["command"],
        json!(["CMD-SHELL", "curl -f localhost:9901/ready"])
    );
    assert_eq!(envoy["mountPoints"][0]["readOnly"], true);
    let router = container(&td, "log_router");
    assert_eq!(
        router["firelensConfiguration"],
        json!({"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true"}})
    );
    assert_eq!(router["memoryReservation"], 50);
    assert_eq!(router["logConfiguration"]["logDriver"], "awslogs");
    let efs = &td["volumes"][0]["efsVolumeConfiguration"];
    assert_eq!(td["volumes"][0]["name"], "shared");
    assert_eq!(efs["fileSystemId"], "fs-0123abcd");
    assert_eq!(efs["transitEncryption"], "ENABLED");
    assert_eq!(
        efs["authorizationConfig"],
        json!({"accessPointId": "fsap-0123456789abcdef0", "iam": "ENABLED"})
    );
    assert_eq!(td["taskRoleArn"], TASK_ROLE);

    // A fresh process remembers no task definition: it describes the registered one and
    // reads it back through the observer, which must find it equal to the manifest's.
    let r = world.reconciler().await;
    let (plan, _, writes) =
        apply_counted(&r, &set(&world, &shaped("envoy:1.31", true)), true).await;
    assert_eq!(
        writes, 0,
        "an unchanged shaped service: {:?}",
        plan.services[0].changes
    );

    let (plan, _, writes) =
        apply_counted(&r, &set(&world, &shaped("envoy:1.32", true)), true).await;
    let changed: Vec<&str> = plan.services[0]
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .filter(|f| f.starts_with("taskDefinition"))
        .collect();
    assert_eq!(changed, ["taskDefinition.sidecars[envoy].image"]);
    assert_eq!(
        writes, 3,
        "RegisterTaskDefinition + UpdateService + TagResource"
    );
    let td = registered(&world);
    assert_eq!(td["revision"].as_i64().unwrap(), revision + 1);
    assert_eq!(container(&td, "envoy")["image"], "envoy:1.32");
    assert_eq!(container(&td, "app")["image"], "nginx:1.27");

    let (plan, _, _) = apply_counted(&r, &set(&world, &shaped("envoy:1.32", false)), true).await;
    let changed: Vec<&str> = plan.services[0]
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert!(
        changed.contains(&"taskDefinition.sidecars[envoy]"),
        "{changed:?}"
    );
    let td = registered(&world);
    assert_eq!(td["revision"].as_i64().unwrap(), revision + 2);
    let names: Vec<&str> = td["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "log_router"]);
    assert_eq!(
        container(&td, "app")["dependsOn"],
        json!([{"containerName": "log_router", "condition": "START"}])
    );
    let r = world.reconciler().await;
    let (_, _, writes) = apply_counted(&r, &set(&world, &shaped("envoy:1.32", false)), true).await;
    assert_eq!(writes, 0);
}
