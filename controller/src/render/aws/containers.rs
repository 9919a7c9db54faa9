//! The containers of a task definition beyond the application's image and ports: sidecars,
//! the order they start in (`dependsOn`), FireLens, mounts and EFS volumes; and the parts
//! every container shares (environment, logs, health check), built once for all of them.
//!
//! Lists are sorted (sidecars and volumes by name, dependencies by container, mounts by path):
//! ECS keeps the order it is given, and a reordering in the manifest is not a change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{secs, ContainerDefinition, ContainerHealthCheck, LogConfiguration, PortMapping};
use crate::manifest::{self, HealthCheck, LogDriver, LogMode, Logging, Sidecar, Spec};
use crate::settings::Settings;

/// ECS `dependsOn[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    pub container_name: String,
    /// `START`, `HEALTHY`, `COMPLETE` or `SUCCESS`.
    pub condition: String,
}

/// ECS `mountPoints[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub source_volume: String,
    pub container_path: String,
    pub read_only: bool,
}

/// ECS `firelensConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirelensConfiguration {
    /// `fluentbit` or `fluentd`.
    #[serde(rename = "type")]
    pub router: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// ECS `volumes[]` with an `efsVolumeConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    pub efs: EfsVolumeConfiguration,
}

/// ECS `efsVolumeConfiguration`, its `authorizationConfig` flattened in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EfsVolumeConfiguration {
    pub file_system_id: String,
    /// Absent: the file system's root (ECS treats `/` the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    pub transit_encryption: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    /// `authorizationConfig.iam`: mount with the task role.
    pub iam: bool,
}

/// The name of a sidecar's port mapping: ports are unique across a task, so this is too.
pub fn port_mapping_name(port: u16) -> String {
    format!("port-{port}")
}

/// Environment or secrets as ECS name/value pairs, sorted by name.
pub(super) fn pairs(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The ECS container health check, when a command is given.
pub(super) fn health_check(hc: &HealthCheck) -> Option<ContainerHealthCheck> {
    (!hc.command.is_empty()).then(|| ContainerHealthCheck {
        command: hc.command.clone(),
        interval: secs(hc.interval),
        timeout: secs(hc.timeout),
        retries: hc.retries as i32,
        start_period: secs(hc.grace_period).min(300),
    })
}

/// awslogs into the service's log group (stream prefix: the service name, unless set), or
/// ECS's `awsfirelens` driver with the manifest's FireLens options.
pub(super) fn log_configuration(
    logging: &Logging,
    service: &str,
    settings: &Settings,
) -> LogConfiguration {
    if logging.driver == LogDriver::Firelens {
        return LogConfiguration {
            log_driver: "awsfirelens".into(),
            options: logging.options.clone(),
        };
    }
    let mut options = BTreeMap::new();
    options.insert(
        "awslogs-group".to_string(),
        logging
            .log_group
            .clone()
            .unwrap_or_else(|| settings.log_group.clone()),
    );
    options.insert(
        "awslogs-stream-prefix".to_string(),
        logging
            .stream_prefix
            .clone()
            .unwrap_or_else(|| service.to_string()),
    );
    if let Some(region) = &settings.region {
        options.insert("awslogs-region".to_string(), region.clone());
    }
    let mode = match logging.mode {
        LogMode::NonBlocking => "non-blocking",
        LogMode::Blocking => "blocking",
    };
    options.insert("mode".to_string(), mode.to_string());
    if logging.mode == LogMode::NonBlocking {
        options.insert("max-buffer-size".to_string(), "25m".to_string());
    }
    LogConfiguration {
        log_driver: "awslogs".into(),
        options,
    }
}

pub(super) fn depends_on(deps: &[manifest::ContainerDependency]) -> Vec<ContainerDependency> {
    let mut out: Vec<ContainerDependency> = deps
        .iter()
        .map(|d| ContainerDependency {
            container_name: d.container.clone(),
            condition: d.condition.ecs_name().into(),
        })
        .collect();
    out.sort_by(|a, b| a.container_name.cmp(&b.container_name));
    out
}

pub(super) fn mount_points(mounts: &[manifest::Mount]) -> Vec<MountPoint> {
    let mut out: Vec<MountPoint> = mounts
        .iter()
        .map(|m| MountPoint {
            source_volume: m.volume.clone(),
            container_path: m.path.clone(),
            read_only: m.read_only,
        })
        .collect();
    out.sort_by(|a, b| a.container_path.cmp(&b.container_path));
    out
}

fn sidecar(s: &Sidecar, service: &str, settings: &Settings) -> ContainerDefinition {
    ContainerDefinition {
        name: s.name.clone(),
        image: s.image.clone(),
        essential: s.essential,
        cpu: (s.cpu > 0).then_some(s.cpu as i32),
        memory: s.memory.map(|m| m as i32),
        memory_reservation: s.memory_reservation.map(|m| m as i32),
        port_mappings: s
            .ports
            .iter()
            .map(|p| PortMapping {
                name: port_mapping_name(*p),
                container_port: i32::from(*p),
                protocol: "tcp".into(),
            })
            .collect(),
        entry_point: s.command.clone(),
        command: s.args.clone(),
        environment: pairs(&s.env),
        secrets: pairs(&s.secrets),
        health_check: s.health_check.as_ref().and_then(health_check),
        log_configuration: log_configuration(&s.logging, service, settings),
        readonly_root_filesystem: s.read_only_root_filesystem,
        depends_on: depends_on(&s.depends_on),
        mount_points: mount_points(&s.mounts),
        firelens_configuration: s.firelens.as_ref().map(|f| FirelensConfiguration {
            router: f.router.ecs_name().into(),
            options: f.options.clone(),
        }),
    }
}

/// The sidecars of the task, sorted by name.
pub(super) fn sidecars(
    spec: &Spec,
    service: &str,
    settings: &Settings,
) -> Vec<ContainerDefinition> {
    let mut out: Vec<ContainerDefinition> = spec
        .sidecars
        .iter()
        .map(|s| sidecar(s, service, settings))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// "By default, Amazon ECS configures the container dependency so that the Firelens container
/// starts before any container that uses it" (ECS Developer Guide, FireLens): written out for
/// every container logging through the router that does not already wait for it, so the task
/// definition says what runs and reads back the same whether or not ECS stores its default.
pub(super) fn wait_for_log_router(td: &mut super::TaskDefinition) {
    let Some(router) = (td.sidecars.iter())
        .find(|s| s.firelens_configuration.is_some())
        .map(|s| s.name.clone())
    else {
        return;
    };
    for c in std::iter::once(&mut td.container).chain(td.sidecars.iter_mut()) {
        let logs_through_router = c.log_configuration.log_driver == "awsfirelens";
        if logs_through_router && !c.depends_on.iter().any(|d| d.container_name == router) {
            c.depends_on.push(ContainerDependency {
                container_name: router.clone(),
                condition: manifest::DependencyCondition::Start.ecs_name().into(),
            });
            c.depends_on
                .sort_by(|a, b| a.container_name.cmp(&b.container_name));
        }
    }
}

/// The EFS volumes of the task, sorted by name. `rootDirectory: /` is written as absent,
/// which ECS treats the same.
pub(super) fn volumes(spec: &Spec) -> Vec<Volume> {
    let mut out: Vec<Volume> = spec
        .volumes
        .iter()
        .map(|v| Volume {
            name: v.name.clone(),
            efs: EfsVolumeConfiguration {
                file_system_id: v.efs.file_system_id.clone(),
                root_directory: v.efs.root_directory.clone().filter(|d| d != "/"),
                transit_encryption: v.efs.transit_encryption,
                access_point_id: v.efs.access_point_id.clone(),
                iam: v.efs.iam,
            },
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use crate::aws::sdk;
    use crate::observe::ecs::normalise_task_definition;
    use crate::settings::Settings;

    /// A service with an Envoy sidecar waiting for the application, a FireLens router and an
    /// access-point EFS volume, mounted read-only by the sidecar.
    pub(crate) const SHAPED: &str = "apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: shaped
spec:
  container:
    image: web:1
    cpu: 512
    memory: 1024
    healthCheck:
      command: [CMD, /ok]
    logging:
      driver: firelens
      options: {Name: cloudwatch_logs, region: eu-west-1}
    mounts:
      - {volume: shared, path: /srv/shared}
  sidecars:
    - name: envoy
      image: envoy:1.31
      cpu: 128
      memory: 256
      memoryReservation: 128
      ports: [9901]
      env: {LEVEL: info}
      dependsOn:
        - {container: app, condition: HEALTHY}
        - {container: log_router, condition: START}
      healthCheck:
        command: [CMD-SHELL, curl -f localhost:9901/ready]
      mounts:
        - {volume: shared, path: /etc/envoy, readOnly: true}
    - name: log_router
      image: fluent-bit:3
      memoryReservation: 50
      firelens: {type: fluentbit, options: {enable-ecs-log-metadata: 'true'}}
  volumes:
    - name: shared
      efs: {fileSystemId: fs-0123abcd, accessPointId: fsap-0123456789abcdef0, iam: true}
  notify:
    team: web
";

    #[test]
    fn what_is_registered_reads_back_as_the_rendered_task_definition() {
        let m = crate::yaml::from_str(SHAPED).unwrap();
        assert!(crate::manifest::validate::validate(&m, None).is_empty());
        let d = crate::render::render_service(&m, &Settings::local_defaults());
        let td = &d.task_definition;
        assert_eq!(
            td.sidecars
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["envoy", "log_router"]
        );
        let registered = aws_sdk_ecs::types::TaskDefinition::builder()
            .family(&td.family)
            .cpu(&td.cpu)
            .memory(&td.memory)
            .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
            .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
            .execution_role_arn(&td.execution_role_arn)
            .set_task_role_arn(td.task_role_arn.clone())
            // ECS's order is the request's; the observation sorts like the renderer.
            .set_container_definitions(Some(
                td.containers()
                    .rev()
                    .map(|c| sdk::container_definition(c).unwrap())
                    .collect(),
            ))
            .set_volumes(Some(
                td.volumes.iter().map(|v| sdk::volume(v).unwrap()).collect(),
            ))
            .build();
        assert_eq!(normalise_task_definition(&registered), *td);
        let envoy = &registered.container_definitions()[1];
        assert_eq!(envoy.name(), Some("envoy"));
        assert_eq!(envoy.depends_on().len(), 2);
        let efs = registered.volumes()[0].efs_volume_configuration().unwrap();
        assert_eq!(efs.transit_encryption().unwrap().as_str(), "ENABLED");
        let auth = efs.authorization_config().unwrap();
        assert_eq!(auth.iam().unwrap().as_str(), "ENABLED");
        assert_eq!(auth.access_point_id(), Some("fsap-0123456789abcdef0"));
    }

    #[test]
    fn a_service_without_sidecars_or_volumes_keeps_its_spec_hash() {
        let text = "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: plain\nspec:\n  container:\n    image: web:1\n  notify:\n    team: web\n";
        let d = crate::render::render_service(
            &crate::yaml::from_str(text).unwrap(),
            &Settings::local_defaults(),
        );
        let json = serde_json::to_value(&d.task_definition).unwrap();
        for absent in ["sidecars", "volumes"] {
            assert!(json.get(absent).is_none(), "{absent} in {json}");
        }
        for absent in [
            "dependsOn",
            "mountPoints",
            "firelensConfiguration",
            "cpu",
            "memory",
        ] {
            assert!(
                json["container"].get(absent).is_none(),
                "{absent} in {json}"
            );
        }
    }
}
