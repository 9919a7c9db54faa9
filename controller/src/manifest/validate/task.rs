//! Checks of the task's shape: sidecars, the order containers start in, FireLens, ports,
//! the CPU and memory they share, and EFS volumes. The rules are ECS's own
//! (RegisterTaskDefinition, ContainerDefinition, ContainerDependency, EFSVolumeConfiguration
//! in the ECS API reference; "Send Amazon ECS logs to an AWS service" for FireLens), checked
//! here because ECS refuses them only at registration (moto not at all).

use std::collections::{BTreeMap, BTreeSet};

use super::workload::{check_env, check_health_check, check_image, check_logging};
use super::Checker;
use crate::manifest::model::*;
use crate::settings::Settings;

/// ECS: at most 10 containers in one task definition (service quota "Containers per task
/// definition"); the application is one of them.
pub const MAX_SIDECARS: usize = 9;

/// Smallest container memory limit or reservation ECS accepts, MiB (ContainerDefinition
/// `memory`: "The Docker 20.10.0 or later daemon reserves a minimum of 6 MiB").
const MIN_CONTAINER_MEMORY: u32 = 6;

/// Container and volume names: "Up to 255 letters (uppercase and lowercase), numbers,
/// underscores, and hyphens are allowed" (ContainerDefinition `name`, Volume `name`).
pub fn is_container_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_efs_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        (8..=40).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// One container of the task, the application or a sidecar, as the checks see it.
struct Member<'a> {
    /// `spec.container` or `spec.sidecars[i]`.
    path: String,
    name: &'a str,
    essential: bool,
    has_health_check: bool,
    depends_on: &'a [ContainerDependency],
    mounts: &'a [Mount],
    logging: &'a Logging,
}

fn members(spec: &Spec) -> Vec<Member<'_>> {
    let k = &spec.container;
    let mut all = vec![Member {
        path: "spec.container".into(),
        name: CONTAINER_NAME,
        essential: true,
        has_health_check: !k.health_check.command.is_empty(),
        depends_on: &k.depends_on,
        mounts: &k.mounts,
        logging: &k.logging,
    }];
    all.extend(spec.sidecars.iter().enumerate().map(|(i, s)| {
        Member {
            path: format!("spec.sidecars[{i}]"),
            name: &s.name,
            essential: s.essential,
            has_health_check: s
                .health_check
                .as_ref()
                .is_some_and(|h| !h.command.is_empty()),
            depends_on: &s.depends_on,
            mounts: &s.mounts,
            logging: &s.logging,
        }
    }));
    all
}

/// Every check of sidecars, dependencies, ports, shares and volumes. The application is
/// always essential, so ECS's "at least one essential container" always holds.
pub(super) fn check_task_shape(c: &mut Checker, spec: &Spec, settings: Option<&Settings>) {
    c.check(spec.sidecars.len() <= MAX_SIDECARS, "spec.sidecars", || {
        format!(
            "{} sidecars: ECS allows 10 containers per task, the application included",
            spec.sidecars.len()
        )
    });
    for (i, s) in spec.sidecars.iter().enumerate() {
        check_sidecar(c, &format!("spec.sidecars[{i}]"), s, settings);
    }
    let all = members(spec);
    check_names(c, &all);
    check_dependencies(c, &all);
    check_firelens(c, spec, &all);
    check_ports(c, spec);
    check_shares(c, spec);
    check_volumes(c, spec, &all, settings);
}

fn check_sidecar(c: &mut Checker, path: &str, s: &Sidecar, settings: Option<&Settings>) {
    check_image(c, &format!("{path}.image"), &s.image);
    check_env(c, path, &s.env, &s.secrets, settings);
    check_logging(c, &format!("{path}.logging"), &s.logging);
    if let Some(hc) = &s.health_check {
        check_health_check(c, &format!("{path}.healthCheck"), hc);
        c.check(
            !hc.command.is_empty(),
            format_args!("{path}.healthCheck.command"),
            || "a sidecar's health check is its command: give [\"CMD\", ...] or [\"CMD-SHELL\", ...]".into(),
        );
    }
    for (i, port) in s.ports.iter().enumerate() {
        c.check(*port >= 1, format_args!("{path}.ports[{i}]"), || {
            "must be between 1 and 65535".into()
        });
    }
    if let Some(m) = &s.metrics {
        c.check(
            s.ports.contains(&m.port),
            format_args!("{path}.metrics.port"),
            || {
                format!(
                    "{} is not one of this sidecar's ports ({:?}): ECS maps only those",
                    m.port, s.ports
                )
            },
        );
        c.check(
            m.path.starts_with('/') && !m.path.contains(char::is_whitespace),
            format_args!("{path}.metrics.path"),
            || format!("{:?} must be an absolute HTTP path", m.path),
        );
        if let Some(ports) = settings.and_then(|s| s.monitoring.scrape_ports) {
            c.check(ports.contains(m.port), format_args!("{path}.metrics.port"), || {
                format!(
                    "metrics on port {} would never be scraped: Prometheus may reach services on ports {}-{} only (settings monitoring.scrapePorts)",
                    m.port, ports.from, ports.to
                )
            });
        }
    }
    if let Some(f) = &s.firelens {
        // FirelensConfiguration `options`: the valid keys (ECS API reference).
        for key in f.options.keys() {
            c.check(
                matches!(
                    key.as_str(),
                    "enable-ecs-log-metadata" | "config-file-type" | "config-file-value"
                ),
                format_args!("{path}.firelens.options.{key}"),
                || format!("{key:?} is not a FireLens router option: use enable-ecs-log-metadata, config-file-type or config-file-value"),
            );
        }
    }
}

fn check_names(c: &mut Checker, all: &[Member<'_>]) {
    let mut seen = BTreeSet::from([CONTAINER_NAME]);
    for m in &all[1..] {
        let path = format!("{}.name", m.path);
        c.check(is_container_name(m.name), &path, || {
            format!(
                "{:?} must be 1-255 letters, digits, '_' or '-' (ECS container name)",
                m.name
            )
        });
        c.check(seen.insert(m.name), &path, || {
            if m.name == CONTAINER_NAME {
                format!("{CONTAINER_NAME:?} is the application container's name")
            } else {
                format!(
                    "{:?} names two containers: names are unique in a task",
                    m.name
                )
            }
        });
    }
}

fn check_dependencies(c: &mut Checker, all: &[Member<'_>]) {
    let by_name: BTreeMap<&str, &Member<'_>> = all.iter().map(|m| (m.name, m)).collect();
    for m in all {
        let mut targets = BTreeSet::new();
        for (i, d) in m.depends_on.iter().enumerate() {
            let path = format!("{}.dependsOn[{i}]", m.path);
            let Some(target) = by_name.get(d.container.as_str()) else {
                let known: Vec<&str> = by_name.keys().copied().collect();
                c.fail(
                    format!("{path}.container"),
                    format!(
                        "{:?} is not a container of this task (containers: {})",
                        d.container,
                        known.join(", ")
                    ),
                );
                continue;
            };
            c.check(
                target.name != m.name,
                format_args!("{path}.container"),
                || "a container cannot wait for itself".into(),
            );
            c.check(
                targets.insert(target.name),
                format_args!("{path}.container"),
                || format!("{:?} is awaited twice", d.container),
            );
            match d.condition {
                DependencyCondition::Healthy => {
                    c.check(
                        target.has_health_check,
                        format_args!("{path}.condition"),
                        || {
                            format!(
                                "HEALTHY needs a health check on {:?} (its healthCheck.command)",
                                d.container
                            )
                        },
                    );
                }
                DependencyCondition::Complete | DependencyCondition::Success => {
                    // "This condition can't be set on an essential container." (ContainerDependency)
                    c.check(!target.essential, format_args!("{path}.condition"), || {
                        format!(
                            "{} waits for {:?} to exit, but it is essential (its exit stops the task): set essential: false on it",
                            d.condition.ecs_name(),
                            d.container
                        )
                    });
                }
                DependencyCondition::Start => {}
            }
        }
    }
    if let Some(cycle) = dependency_cycle(all) {
        let first = all
            .iter()
            .find(|m| m.name == cycle[0])
            .expect("in the task");
        c.fail(
            format!("{}.dependsOn", first.path),
            format!(
                "containers wait for each other in a circle ({}): none could start",
                cycle.join(" -> ")
            ),
        );
    }
}

/// The first cycle of `dependsOn`, as the names around it (first name repeated at the end).
fn dependency_cycle<'a>(all: &'a [Member<'a>]) -> Option<Vec<&'a str>> {
    let edges: BTreeMap<&str, Vec<&str>> = all
        .iter()
        .map(|m| {
            let to = m.depends_on.iter().map(|d| d.container.as_str());
            (m.name, to.filter(|t| *t != m.name).collect())
        })
        .collect();
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in all {
        if let Some(cycle) = visit(m.name, &edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn check_firelens(c: &mut Checker, spec: &Spec, all: &[Member<'_>]) {
    let routers: Vec<(usize, &Sidecar)> = spec
        .sidecars
        .iter()
        .enumerate()
        .filter(|(_, s)| s.firelens.is_some())
        .collect();
    for (i, _) in routers.iter().skip(1) {
        c.fail(
            format!("spec.sidecars[{i}].firelens"),
            format!(
                "a task has one FireLens log router, and {:?} is one already",
                routers[0].1.name
            ),
        );
    }
    for (i, s) in &routers {
        c.check(
            s.logging.driver != LogDriver::Firelens,
            format_args!("spec.sidecars[{i}].logging.driver"),
            || "the FireLens router cannot send its own logs through FireLens: use awslogs".into(),
        );
    }
    for m in all {
        if m.logging.driver == LogDriver::Firelens {
            c.check(!routers.is_empty(), format_args!("{}.logging.driver", m.path), || {
                "firelens needs a log router: a sidecar with firelens: {type: fluentbit} (or fluentd)".into()
            });
        }
    }
}

/// Where a FireLens router listens inside the task ("FireLens listens on port 24224", ECS
/// Developer Guide, FireLens task definition example).
pub const FIRELENS_PORT: u16 = 24224;

/// awsvpc: host ports equal container ports, so every port is unique across the task (the
/// FireLens router's included).
fn check_ports(c: &mut Checker, spec: &Spec) {
    let mut used: BTreeMap<u16, String> = BTreeMap::new();
    if let Some(i) = spec.sidecars.iter().position(|s| s.firelens.is_some()) {
        used.insert(
            FIRELENS_PORT,
            format!("the port of the FireLens router spec.sidecars[{i}]"),
        );
    }
    let mut claim = |c: &mut Checker, port: u16, path: String| {
        match used.get(&port) {
        Some(first) => c.fail(
            &path,
            format!("port {port} is also {first}: in awsvpc mode every container port of a task is a port of the task, so each is unique"),
        ),
        None => {
            used.insert(port, path);
        }
    }
    };
    claim(c, spec.container.port, "spec.container.port".into());
    if let Some(p) =
        (spec.metrics.port).filter(|p| spec.metrics.enabled && *p != spec.container.port)
    {
        claim(c, p, "spec.metrics.port".into());
    }
    for (i, s) in spec.sidecars.iter().enumerate() {
        for (j, port) in s.ports.iter().enumerate() {
            claim(c, *port, format!("spec.sidecars[{i}].ports[{j}]"));
        }
    }
}

/// Sidecars share the task's CPU and memory: ECS requires that their sum fit the task
/// (RegisterTaskDefinition `cpu` / `memory`); the operator also keeps some for the
/// application, which gets no reservation of its own.
fn check_shares(c: &mut Checker, spec: &Spec) {
    let k = &spec.container;
    let cpu: u32 = spec.sidecars.iter().map(|s| s.cpu).sum();
    c.check(spec.sidecars.is_empty() || cpu < k.cpu, "spec.container.cpu", || {
        format!(
            "the sidecars reserve {cpu} of the task's {} CPU units: leave some for the application (raise cpu or lower the sidecars')",
            k.cpu
        )
    });
    let mut memory = 0;
    for (i, s) in spec.sidecars.iter().enumerate() {
        let path = format!("spec.sidecars[{i}]");
        for (field, value) in [
            ("memory", s.memory),
            ("memoryReservation", s.memory_reservation),
        ] {
            if let Some(mib) = value {
                c.check(
                    (MIN_CONTAINER_MEMORY..k.memory).contains(&mib),
                    format_args!("{path}.{field}"),
                    || format!("{mib} MiB: a container gets {MIN_CONTAINER_MEMORY} MiB or more and less than the task's {} MiB", k.memory),
                );
            }
        }
        if let (Some(limit), Some(reserved)) = (s.memory, s.memory_reservation) {
            c.check(
                reserved <= limit,
                format_args!("{path}.memoryReservation"),
                || format!("{reserved} MiB is above the container's memory limit ({limit} MiB)"),
            );
        }
        // What ECS counts against the task: the reservation, else the limit.
        memory += s.memory_reservation.or(s.memory).unwrap_or(0);
    }
    c.check(spec.sidecars.is_empty() || memory < k.memory, "spec.container.memory", || {
        format!(
            "the sidecars reserve {memory} of the task's {} MiB: leave some for the application (raise memory or lower the sidecars')",
            k.memory
        )
    });
}

fn check_volumes(c: &mut Checker, spec: &Spec, all: &[Member<'_>], settings: Option<&Settings>) {
    let mut names = BTreeSet::new();
    for (i, v) in spec.volumes.iter().enumerate() {
        let path = format!("spec.volumes[{i}]");
        c.check(
            is_container_name(&v.name),
            format_args!("{path}.name"),
            || {
                format!(
                    "{:?} must be 1-255 letters, digits, '_' or '-' (ECS volume name)",
                    v.name
                )
            },
        );
        c.check(
            names.insert(v.name.as_str()),
            format_args!("{path}.name"),
            || format!("{:?} names two volumes", v.name),
        );
        c.check(
            all.iter()
                .any(|m| m.mounts.iter().any(|x| x.volume == v.name)),
            format_args!("{path}.name"),
            || {
                format!(
                    "{:?} is mounted by no container: add it to a container's mounts or remove it",
                    v.name
                )
            },
        );
        check_efs(c, &format!("{path}.efs"), &v.efs);
        if let Some(settings) = settings.filter(|_| v.efs.iam) {
            let has_role =
                spec.container.task_role_arn.is_some() || settings.task_role_arn.is_some();
            c.check(has_role, format_args!("{path}.efs.iam"), || {
                "EFS IAM authorisation mounts with the task role, and this task has none (container.taskRoleArn or the settings' taskRoleArn)".into()
            });
        }
    }
    for m in all {
        let mut paths = BTreeSet::new();
        for (j, mount) in m.mounts.iter().enumerate() {
            let path = format!("{}.mounts[{j}]", m.path);
            c.check(
                names.contains(mount.volume.as_str()),
                format_args!("{path}.volume"),
                || format!("{:?} is not one of spec.volumes", mount.volume),
            );
            c.check(
                mount.path.starts_with('/')
                    && mount.path.len() > 1
                    && !mount.path.contains(char::is_whitespace),
                format_args!("{path}.path"),
                || {
                    format!(
                        "{:?} must be an absolute path inside the container (not /)",
                        mount.path
                    )
                },
            );
            c.check(
                paths.insert(mount.path.trim_end_matches('/')),
                format_args!("{path}.path"),
                || format!("{:?} is mounted twice in this container", mount.path),
            );
        }
    }
}

/// EFSVolumeConfiguration and EFSAuthorizationConfig rules (ECS API reference).
fn check_efs(c: &mut Checker, path: &str, efs: &EfsVolume) {
    c.check(
        is_efs_id(&efs.file_system_id, "fs-"),
        format_args!("{path}.fileSystemId"),
        || {
            format!(
                "{:?} is not an EFS file system id (fs- and 8-40 hex digits)",
                efs.file_system_id
            )
        },
    );
    if let Some(ap) = &efs.access_point_id {
        c.check(
            is_efs_id(ap, "fsap-"),
            format_args!("{path}.accessPointId"),
            || format!("{ap:?} is not an EFS access point id (fsap- and 8-40 hex digits)"),
        );
        // "If an access point is used, transit encryption must be enabled."
        c.check(
            efs.transit_encryption,
            format_args!("{path}.transitEncryption"),
            || "an access point needs transit encryption: set transitEncryption: true".into(),
        );
        // "the root directory parameter must either be omitted or set to /"
        c.check(
            efs.root_directory.as_deref().is_none_or(|d| d == "/"),
            format_args!("{path}.rootDirectory"),
            || "with an access point the root directory is the access point's: leave rootDirectory out (or /)".into(),
        );
    }
    // "Transit encryption must be turned on if Amazon EFS IAM authorization is used."
    c.check(
        !efs.iam || efs.transit_encryption,
        format_args!("{path}.iam"),
        || "EFS IAM authorisation needs transit encryption: set transitEncryption: true".into(),
    );
    c.check(
        !efs.root_access || efs.iam,
        format_args!("{path}.rootAccess"),
        || "rootAccess is granted through the task role: it needs iam: true".into(),
    );
    if let Some(dir) = &efs.root_directory {
        c.check(
            dir.starts_with('/') && dir.len() <= 255 && !dir.contains(char::is_whitespace),
            format_args!("{path}.rootDirectory"),
            || format!("{dir:?} must be an absolute path of the file system"),
        );
    }
}
