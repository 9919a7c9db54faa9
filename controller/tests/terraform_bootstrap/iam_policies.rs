//! What the rendered IAM policies allow and deny (`scripts/iam-policies` with its example values,
//! asked through the small evaluator in iam_eval.rs), and how Terraform feeds the variables
//! behind them. The adoption, secrets, log group and repository checks all failed against the
//! policies before these permissions existed.

use std::collections::BTreeSet;

use hcl::expr::Expression;
use serde_json::Value;

use crate::iam_eval::{allowing_sids, decide, strings, Decision, Request};
use crate::iam_templates::{rendered, templatefile_of};
use crate::support::*;

// --- what the rendered policies allow ---------------------------------------------------------

fn value<'a>(values: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    values[key]
        .as_str()
        .unwrap_or_else(|| panic!("values.json {key}"))
}

#[test]
fn the_operator_may_adopt_an_untagged_service_but_never_touch_another_owners_or_the_platforms() {
    let (policies, values) = rendered();
    let operator = &policies["operator"];
    let (owner, id) = (
        value(&values, "owner_tag_key"),
        value(&values, "operator_id"),
    );
    let service = |name: &str| {
        format!(
            "arn:aws:ecs:{}:{}:service/{}/{name}",
            value(&values, "region"),
            value(&values, "account_id"),
            value(&values, "cluster_name")
        )
    };
    let (legacy, platform) = (service("legacy-billing"), service("grafana"));
    let ask = |action: &str, resource: &str, on: &[(&str, &str)], tags: &[(&str, &str)]| {
        decide(
            operator,
            &Request {
                action,
                resource,
                resource_tags: on,
                request_tags: tags,
                ..Request::default()
            },
        )
    };
    let mine = [(owner, id)];
    let theirs = [(owner, "other-operator")];
    let with_team = [(owner, id), ("team", "billing")];

    // Adoption: tag an untagged hand-made service with this operator's id (other tags may ride along).
    assert_eq!(
        ask("ecs:TagResource", &legacy, &[], &with_team),
        Decision::Allowed
    );
    let adopt = Request {
        action: "ecs:TagResource",
        resource: &legacy,
        request_tags: &with_team,
        ..Request::default()
    };
    assert_eq!(
        allowing_sids(operator, &adopt),
        ["EcsTagUnownedServicesToAdopt"]
    );
    // ... but not for another operator, and not without the ownership tag.
    assert_ne!(
        ask("ecs:TagResource", &legacy, &[], &theirs),
        Decision::Allowed
    );
    assert_ne!(
        ask("ecs:TagResource", &legacy, &[], &[("team", "x")]),
        Decision::Allowed
    );
    // Changing or deleting needs the tag first.
    for action in ["ecs:UpdateService", "ecs:DeleteService"] {
        assert_ne!(
            ask(action, &legacy, &[], &[]),
            Decision::Allowed,
            "{action} untagged"
        );
        assert_eq!(
            ask(action, &legacy, &mine, &[]),
            Decision::Allowed,
            "{action} owned"
        );
        assert_ne!(
            ask(action, &legacy, &theirs, &[]),
            Decision::Allowed,
            "{action} theirs"
        );
    }
    // A released hold: only the hold tag may be removed, only from an owned service.
    let held = [("ecs-operator.io/held", "")];
    assert_eq!(
        ask("ecs:UntagResource", &legacy, &mine, &held),
        Decision::Allowed
    );
    let release = Request {
        action: "ecs:UntagResource",
        resource: &legacy,
        resource_tags: &mine,
        request_tags: &held,
        ..Request::default()
    };
    assert_eq!(allowing_sids(operator, &release), ["EcsReleaseHolds"]);
    for (on, keys) in [
        (&mine[..], &[(owner, "")][..]),
        (&mine[..], &[("ecs-operator.io/held", ""), ("team", "")][..]),
        (&theirs[..], &held[..]),
        (&[][..], &held[..]),
    ] {
        assert_ne!(
            ask("ecs:UntagResource", &legacy, on, keys),
            Decision::Allowed,
            "untag {keys:?} on {on:?}"
        );
    }
    assert_ne!(
        ask("ecs:UntagResource", &platform, &mine, &held),
        Decision::Allowed
    );
    // Another operator's service is never retagged, and an owned one never handed over.
    assert_ne!(
        ask("ecs:TagResource", &legacy, &theirs, &mine),
        Decision::Allowed
    );
    assert_ne!(
        ask("ecs:TagResource", &legacy, &mine, &theirs),
        Decision::Allowed
    );
    assert_eq!(
        ask("ecs:TagResource", &legacy, &mine, &[("team", "x")]),
        Decision::Allowed
    );
    // The platform's own services carry no ownership tag: they are denied by name.
    for action in ["ecs:TagResource", "ecs:UpdateService", "ecs:DeleteService"] {
        assert_eq!(
            ask(action, &platform, &[], &mine),
            Decision::ExplicitlyDenied,
            "{action} on the platform's Grafana"
        );
    }
}

#[test]
fn managed_services_can_read_their_secrets_write_their_log_groups_and_pull_extra_images() {
    let (policies, values) = rendered();
    let execution = &policies["task-execution"];
    let (region, account) = (value(&values, "region"), value(&values, "account_id"));
    let ask = |action: &str, resource: &str, context: &[(&str, &str)]| {
        decide(
            execution,
            &Request {
                action,
                resource,
                context,
                ..Request::default()
            },
        )
    };

    // Every secret the example manifests reference is readable with the example values.
    let mut secrets = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("manifests/examples")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("example manifest YAML");
        if let Some(map) = doc["spec"]["container"]["secrets"].as_mapping() {
            secrets.extend(map.values().filter_map(|v| v.as_str().map(String::from)));
        }
    }
    assert!(
        !secrets.is_empty(),
        "the example manifests reference secrets"
    );
    for arn in &secrets {
        let action = if arn.contains(":ssm:") {
            "ssm:GetParameters"
        } else {
            "secretsmanager:GetSecretValue"
        };
        assert_eq!(ask(action, arn, &[]), Decision::Allowed, "{action} {arn}");
    }
    let default_secret =
        format!("arn:aws:secretsmanager:{region}:{account}:secret:ecs-services/db-AbCdEf");
    let other_secret =
        format!("arn:aws:secretsmanager:{region}:{account}:secret:payroll/db-AbCdEf");
    let grafana_secret = value(&values, "grafana_secret_arn");
    assert_eq!(
        ask("secretsmanager:GetSecretValue", &default_secret, &[]),
        Decision::Allowed
    );
    assert_ne!(
        ask("secretsmanager:GetSecretValue", &other_secret, &[]),
        Decision::Allowed
    );
    assert_ne!(
        ask("secretsmanager:GetSecretValue", grafana_secret, &[]),
        Decision::Allowed
    );
    let key = value(&values, "kms_key_arn");
    let via_secrets = format!("secretsmanager.{region}.amazonaws.com");
    assert_eq!(
        ask("kms:Decrypt", key, &[("kms:ViaService", &via_secrets)]),
        Decision::Allowed
    );
    assert_ne!(
        ask("kms:Decrypt", key, &[]),
        Decision::Allowed,
        "decrypt only through the services"
    );

    // Log groups: the default one and any under the prefix, nothing else.
    let stream =
        |group: &str| format!("arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:app/1");
    let prefix = value(&values, "service_log_group_prefix");
    for group in [
        value(&values, "services_log_group").to_string(),
        format!("{prefix}/checkout"),
    ] {
        assert_eq!(
            ask("logs:PutLogEvents", &stream(&group), &[]),
            Decision::Allowed,
            "{group}"
        );
    }
    assert_ne!(
        ask("logs:PutLogEvents", &stream("/ecs/elsewhere"), &[]),
        Decision::Allowed
    );

    // Images: every repository in ecr_repository_arns (this bootstrap's and the extra ones).
    for repo in strings(&values["ecr_repository_arns"]) {
        assert_eq!(
            ask("ecr:BatchGetImage", &repo, &[]),
            Decision::Allowed,
            "{repo}"
        );
    }
    let unknown = format!("arn:aws:ecr:{region}:{account}:repository/unknown");
    assert_ne!(ask("ecr:BatchGetImage", &unknown, &[]), Decision::Allowed);
}

#[test]
fn terraform_feeds_the_new_service_permissions_from_their_variables_and_settings() {
    let cfg = Config::load();
    let (_, _, vars) = templatefile_of(&cfg, "execution");
    let passed = |key: &str| object_attr(vars, key).unwrap_or_else(|| panic!("execution: {key}"));
    assert!(is_traversal_to(
        passed("service_secret_arns"),
        &["local", "service_secret_arns"]
    ));
    assert!(is_traversal_to(
        passed("service_log_group_prefix"),
        &["var", "service_log_group_prefix"]
    ));
    assert!(is_traversal_to(
        passed("service_secrets_kms_key_arns"),
        &["local", "service_secrets_kms_key_arns"]
    ));
    let Expression::FuncCall(concat) = passed("ecr_repository_arns") else {
        panic!("ecr_repository_arns is not concat(...)");
    };
    assert!(concat
        .args
        .iter()
        .any(|a| is_traversal_to(a, &["var", "service_ecr_repository_arns"])));
    // The operator validates manifests against the same list it is given as allowedSecretArns.
    let settings = cfg
        .local("operator_settings")
        .expect("local.operator_settings");
    assert!(object_attr(settings, "allowedSecretArns")
        .is_some_and(|e| is_traversal_to(e, &["local", "service_secret_arns"])));
}

/// Actions AWS authorizes only on "*" (no resource type in the Service Authorization
/// Reference), or allowed on "*" here under a condition that scopes them.
const STAR_RESOURCE_ACTIONS: [&str; 22] = [
    "ecr:GetAuthorizationToken",
    // EventBridge Scheduler's ListSchedules has no resource type; the operator names its
    // group in the request.
    "scheduler:ListSchedules",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitionFamilies",
    "ecs:ListTaskDefinitions",
    "ecs:ListServices",
    "ecs:ListTasks",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingActivities",
    "application-autoscaling:DescribeScalingPolicies",
    "servicediscovery:GetOperation",
    "servicediscovery:ListNamespaces",
    "servicediscovery:ListServices",
    "servicediscovery:ListTagsForResource",
    "servicediscovery:ListInstances",
    "servicediscovery:GetInstancesHealthStatus",
    "servicediscovery:DiscoverInstances",
    "servicediscovery:TagResource",
    "elasticloadbalancing:Describe*",
    // GetMetricData has no resource type (the queue workers' SQS metrics).
    "cloudwatch:GetMetricData",
];

#[test]
fn no_allow_statement_has_a_wildcard_action_or_an_unscoped_star_resource() {
    let (policies, _) = rendered();
    for (role, policy) in &policies {
        for s in policy["Statement"].as_array().unwrap() {
            let sid = s["Sid"].as_str().unwrap();
            if s["Effect"] == "Deny" {
                continue;
            }
            let actions = strings(&s["Action"]);
            for action in &actions {
                assert!(
                    !action.contains('*'),
                    "{role}/{sid}: wildcard action {action}"
                );
            }
            if strings(&s["Resource"]).iter().any(|r| r == "*") {
                for action in &actions {
                    assert!(
                        STAR_RESOURCE_ACTIONS
                            .iter()
                            .any(|a| crate::iam_eval::glob(a, action)),
                        "{role}/{sid}: {action} on \"*\""
                    );
                }
            }
        }
    }
}

#[test]
fn the_operator_passes_only_listed_roles_and_creates_or_changes_only_what_it_owns() {
    let cfg = Config::load();
    let (policies, values) = rendered();
    let operator = &policies["operator"];
    let owner = value(&values, "owner_tag_key");
    let mut pass_role_seen = false;
    for s in operator["Statement"].as_array().unwrap() {
        let sid = s["Sid"].as_str().unwrap();
        let actions = strings(&s["Action"]);
        let condition_keys: BTreeSet<String> = s["Condition"]
            .as_object()
            .into_iter()
            .flat_map(|ops| ops.values())
            .flat_map(|keys| keys.as_object().unwrap().keys().cloned())
            .collect();
        if s["Effect"] == "Deny" {
            assert_eq!(
                sid, "EcsNeverTouchPlatformServices",
                "the only Deny statement"
            );
            assert_eq!(s["Resource"], values["platform_service_arns"], "{sid}");
            continue;
        }
        if actions.iter().any(|a| a == "iam:PassRole") {
            pass_role_seen = true;
            assert_eq!(actions.len(), 1, "{sid}: iam:PassRole stands alone");
            // Task roles go to the tasks; deployment roles (load balancer infrastructure,
            // lifecycle hooks) to ECS itself. Each list to its own service only.
            let (roles, service) = if sid == "PassOnlyListedRolesToEcsForDeployments" {
                ("deployment_role_arns", "ecs.amazonaws.com")
            } else if sid == "PassSchedulerRole" {
                // The scheduled jobs' role, to EventBridge Scheduler only.
                ("scheduler_role_arn", "scheduler.amazonaws.com")
            } else {
                ("passable_role_arns", "ecs-tasks.amazonaws.com")
            };
            assert_eq!(s["Resource"], values[roles], "{sid}");
            assert_eq!(
                s["Condition"]["StringEquals"]["iam:PassedToService"], service,
                "{sid}"
            );
        }
        for create in [
            "ecs:CreateService",
            "ecs:RegisterTaskDefinition",
            "servicediscovery:CreateService",
        ] {
            if actions.iter().any(|a| a == create) {
                assert!(
                    condition_keys.contains(&format!("aws:RequestTag/{owner}")),
                    "{sid}: {create} must require the ownership tag in the request"
                );
            }
        }
        for change in [
            "ecs:UpdateService",
            "ecs:DeleteService",
            "servicediscovery:DeleteService",
        ] {
            if actions.iter().any(|a| a == change) {
                assert!(
                    condition_keys.contains(&format!("aws:ResourceTag/{owner}")),
                    "{sid}: {change} must require the ownership tag on the resource"
                );
            }
        }
    }
    assert!(
        pass_role_seen,
        "the operator needs iam:PassRole for task roles"
    );

    // Terraform passes the execution role, the default task role and var.service_task_role_arns.
    let (_, _, vars) = templatefile_of(&cfg, "operator");
    let Some(Expression::FuncCall(concat)) = object_attr(vars, "passable_role_arns") else {
        panic!("passable_role_arns is not concat(...)");
    };
    let Expression::Array(fixed) = &concat.args[0] else {
        panic!("passable_role_arns: the bootstrap's own roles first");
    };
    assert!(is_traversal_to(&fixed[0], &["aws_iam_role", "execution"]));
    assert!(is_traversal_to(
        &fixed[1],
        &["aws_iam_role", "service_task"]
    ));
    assert_eq!(fixed.len(), 2);
    assert!(is_traversal_to(
        &concat.args[1],
        &["var", "service_task_role_arns"]
    ));
    assert_eq!(concat.args.len(), 2);
}

#[test]
fn the_operator_policy_fits_iams_inline_limit_with_room_for_ten_more_task_roles() {
    let (policies, values) = rendered();
    let size = serde_json::to_string(&policies["operator"]).unwrap().len();
    let role_arn = strings(&values["passable_role_arns"]).last().unwrap().len() + 3;
    // IAM counts a role's inline policies together, without whitespace, against 10,240.
    assert!(
        size + 10 * role_arn <= 10_240,
        "the operator policy is {size} characters; ten more task roles would add {}",
        10 * role_arn
    );
}
