//! The platform's own ECS services (services.tf): one task definition and one service resource,
//! each with `for_each = local.platform_services`. The checks follow that `for_each` to every
//! instance, so they prove for the operator, Prometheus, Alertmanager and Grafana what they proved
//! when each had its own blocks.

use std::collections::BTreeSet;

use hcl::expr::{Expression, Operation, TraversalOperator, UnaryOperator};
use hcl::Block;

use crate::support::*;

const PLATFORM: [&str; 4] = ["operator", "prometheus", "alertmanager", "grafana"];

/// Every (resource name, instance key, block) of a resource kind: one instance per key of an
/// object `for_each`, or the resource name itself for a single block.
fn instances<'a>(cfg: &'a Config, kind: &'a str) -> Vec<(String, String, &'a Block)> {
    cfg.resources(kind)
        .flat_map(|(name, block)| {
            let keys: Vec<String> = match for_each_object(cfg, block) {
                Some(entries) => entries.into_iter().map(|(k, _)| k).collect(),
                None => {
                    assert!(
                        attr(block.body(), "for_each").is_none(),
                        "{kind}.{name}: for_each must be an object literal or a local holding one"
                    );
                    vec![name.to_string()]
                }
            };
            keys.into_iter()
                .map(move |key| (name.to_string(), key, block))
        })
        .collect()
}

/// The container definitions of one task definition instance: `jsonencode([...])`, or
/// `jsonencode(each.value.<key>)` followed into the instance's entry.
fn containers<'a>(cfg: &'a Config, block: &'a Block, instance: &str) -> &'a [Expression] {
    let definitions = attr(block.body(), "container_definitions").expect("container_definitions");
    let Expression::FuncCall(call) = definitions else {
        panic!("{instance}: container_definitions is not jsonencode(...)");
    };
    assert_eq!(call.name.name.as_str(), "jsonencode", "{instance}");
    let list = call
        .args
        .first()
        .and_then(|arg| for_instance(cfg, block, instance, arg));
    match list {
        Some(Expression::Array(items)) => items,
        other => panic!("{instance}: container definitions are not a list literal: {other:?}"),
    }
}

fn container<'a>(containers: &'a [Expression], name: &str) -> Option<&'a Expression> {
    containers
        .iter()
        .find(|c| object_attr(c, "name") == Some(&Expression::String(name.into())))
}

#[test]
fn every_ecs_service_is_private_with_a_circuit_breaker_that_rolls_back() {
    let cfg = Config::load();
    let services = instances(&cfg, "aws_ecs_service");
    let names: BTreeSet<&str> = services.iter().map(|(_, key, _)| key.as_str()).collect();
    for expected in PLATFORM {
        assert!(
            names.contains(expected),
            "no ECS service instance {expected}: {names:?}"
        );
    }
    for (resource, name, service) in services {
        let name = format!("aws_ecs_service.{resource}[{name}]");
        let breaker = sub_block(service.body(), "deployment_circuit_breaker")
            .unwrap_or_else(|| panic!("{name}: no deployment_circuit_breaker"));
        assert_eq!(
            as_bool(attr(breaker.body(), "enable")),
            Some(true),
            "{name}: circuit breaker"
        );
        assert_eq!(
            as_bool(attr(breaker.body(), "rollback")),
            Some(true),
            "{name}: rollback"
        );
        let network = sub_block(service.body(), "network_configuration")
            .unwrap_or_else(|| panic!("{name}: no network_configuration"));
        assert_eq!(
            as_bool(attr(network.body(), "assign_public_ip")),
            Some(false),
            "{name}: public IP"
        );
        assert!(
            attr(network.body(), "subnets")
                .is_some_and(|e| is_traversal_to(e, &["aws_subnet", "private"])),
            "{name}: must run in the private subnets"
        );
    }
}

#[test]
fn each_platform_service_runs_in_its_own_security_group_and_registers_under_its_name() {
    let cfg = Config::load();
    for (resource, name, service) in instances(&cfg, "aws_ecs_service") {
        let network = sub_block(service.body(), "network_configuration").unwrap();
        let Some(Expression::Array(groups)) = attr(network.body(), "security_groups") else {
            panic!("aws_ecs_service.{resource}[{name}]: security_groups is not a list");
        };
        assert_eq!(groups.len(), 1, "{name}: exactly one security group");
        let group = for_instance(&cfg, service, &name, &groups[0]).unwrap();
        assert!(
            is_traversal_to(group, &["aws_security_group", &name]),
            "{name}: runs in {group:?}, not aws_security_group.{name}"
        );
        let registry = sub_block(service.body(), "service_registries")
            .and_then(|r| attr(r.body(), "registry_arn"))
            .expect("service_registries.registry_arn");
        assert!(
            is_traversal_to(registry, &["aws_service_discovery_service", "platform"])
                && indexed_by_instance(registry, &name),
            "{name}: registers as {registry:?}, not aws_service_discovery_service.platform[{name}]"
        );
    }
}

/// Whether `resource.name[<index>].attr` is indexed by this instance: `"<instance>"` or `each.key`.
fn indexed_by_instance(expr: &Expression, instance: &str) -> bool {
    let Expression::Traversal(t) = expr else {
        return false;
    };
    t.operators.iter().any(|op| match op {
        TraversalOperator::Index(Expression::String(s)) => s == instance,
        TraversalOperator::Index(index) => is_traversal_to(index, &["each", "key"]),
        _ => false,
    })
}

#[test]
fn the_operator_container_health_check_runs_the_binary_itself() {
    let cfg = Config::load();
    let (_, _, task) = instances(&cfg, "aws_ecs_task_definition")
        .into_iter()
        .find(|(_, key, _)| key == "operator")
        .expect("an aws_ecs_task_definition instance operator");
    let containers = containers(&cfg, task, "operator");
    let health = container(containers, "operator")
        .and_then(|c| object_attr(c, "healthCheck"))
        .expect("the operator container has a healthCheck object");
    let expected = Expression::Array(
        ["CMD", "/usr/local/bin/ecs-operator", "healthcheck"]
            .iter()
            .map(|s| Expression::String(s.to_string()))
            .collect(),
    );
    assert_eq!(object_attr(health, "command"), Some(&expected));
}

/// `true`, or `!var.enable_execute_command` (the ECS Exec agent needs a writable root).
/// hcl-rs 0.18 parses `!var.x` as the traversal `(!var).x`: both shapes are accepted.
fn read_only_unless_exec(expr: Option<&Expression>) -> bool {
    let not_of = |e: &Expression, then: &dyn Fn(&Expression) -> bool| match e {
        Expression::Operation(op) => matches!(
            op.as_ref(),
            Operation::Unary(u) if u.operator == UnaryOperator::Not && then(&u.expr)
        ),
        _ => false,
    };
    match expr {
        Some(Expression::Bool(true)) => true,
        Some(e @ Expression::Operation(_)) => not_of(e, &|inner| {
            is_traversal_to(inner, &["var", "enable_execute_command"])
        }),
        Some(Expression::Traversal(t)) => {
            not_of(
                &t.expr,
                &|inner| matches!(inner, Expression::Variable(v) if v.as_str() == "var"),
            ) && matches!(
                t.operators.as_slice(),
                [TraversalOperator::GetAttr(id)] if id.as_str() == "enable_execute_command"
            )
        }
        _ => false,
    }
}

#[test]
fn every_platform_container_has_a_read_only_root_file_system_unless_ecs_exec_is_on() {
    let cfg = Config::load();
    let mut seen = BTreeSet::new();
    for (resource, name, task) in instances(&cfg, "aws_ecs_task_definition") {
        for c in containers(&cfg, task, &name) {
            let container = as_str(object_attr(c, "name")).unwrap_or("?");
            seen.insert(format!("{name}/{container}"));
            assert!(
                read_only_unless_exec(object_attr(c, "readonlyRootFilesystem")),
                "aws_ecs_task_definition.{resource}[{name}] container {container} ({:?}): \
                 readonlyRootFilesystem must be true or !var.enable_execute_command",
                object_attr(c, "readonlyRootFilesystem")
            );
        }
    }
    // The four main containers and their four init containers.
    assert_eq!(seen.len(), 8, "{seen:?}");
}

#[test]
fn platform_tasks_mount_the_efs_share_with_tls_and_iam_through_their_own_access_point() {
    let cfg = Config::load();
    let access_points: BTreeSet<String> = cfg
        .resources("aws_efs_access_point")
        .filter_map(|(_, b)| attr(b.body(), "for_each"))
        .flat_map(|fe| possible_strings(&cfg, fe, None))
        .collect();
    let mut mounts = BTreeSet::new();
    for (resource, name, task) in instances(&cfg, "aws_ecs_task_definition") {
        let dynamic = sub_blocks(task.body(), "dynamic").find(|d| label(d, 0) == "volume");
        let Some(dynamic) = dynamic else {
            // Volumes written out as plain blocks: each EFS one must use TLS and IAM.
            for volume in sub_blocks(task.body(), "volume") {
                if let Some(efs) = sub_block(volume.body(), "efs_volume_configuration") {
                    assert_efs_secure(efs.body(), &format!("{resource}[{name}]"));
                }
            }
            continue;
        };
        let volumes = attr(dynamic.body(), "for_each")
            .and_then(|fe| for_instance(&cfg, task, &name, fe))
            .expect("dynamic volume for_each");
        let content = sub_block(dynamic.body(), "content").expect("dynamic volume content");
        let efs = sub_blocks(content.body(), "dynamic")
            .find(|d| label(d, 0) == "efs_volume_configuration")
            .and_then(|d| sub_block(d.body(), "content"))
            .expect("efs_volume_configuration");
        assert_efs_secure(efs.body(), &format!("{resource}[{name}]"));
        for (volume, access_point) in object_entries(volumes) {
            match access_point {
                Expression::Null => {}
                Expression::String(ap) => {
                    assert_eq!(
                        ap, &name,
                        "{name}: volume {volume} uses another task's access point"
                    );
                    assert!(access_points.contains(ap), "{name}: no access point {ap}");
                    mounts.insert(name.clone());
                }
                other => panic!("{name}: volume {volume}: {other:?}"),
            }
        }
    }
    let expected: BTreeSet<String> = ["operator", "prometheus", "alertmanager"]
        .map(String::from)
        .into();
    assert_eq!(mounts, expected, "tasks mounting the monitoring share");
}

fn assert_efs_secure(efs: &hcl::Body, what: &str) {
    assert_eq!(
        as_str(attr(efs, "transit_encryption")),
        Some("ENABLED"),
        "{what}: EFS transit encryption"
    );
    let iam = sub_block(efs, "authorization_config").and_then(|a| as_str(attr(a.body(), "iam")));
    assert_eq!(iam, Some("ENABLED"), "{what}: EFS IAM authorization");
}
