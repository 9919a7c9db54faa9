# IAM roles. The permission policies of the roles below live in policies/<role>.json.tftpl and are
# rendered with templatefile(); scripts/iam-policies renders the same files without Terraform
# (example values, for review and offline IAM evaluation). The templates use only ${name},
# ${jsonencode(name)} and %{ if name } ... %{ endif }, which that script renders exactly.
#
#   execution            task execution role of operator-managed services: pull images, write logs,
#                        read the secrets manifests may reference (see the variables below).
#   platform_execution   task execution role of the operator, Prometheus, Alertmanager and Grafana:
#                        the same plus reading the Grafana admin secret. Kept apart from
#                        `execution` so no manifest can mount the Grafana secret into a service.
#   operator             the operator's task role (least privilege, see below).
#   service_task         default task role of managed services (settings taskRoleArn): denied
#                        everything; teams bring their own roles through var.service_task_role_arns.
#   prometheus, alertmanager, grafana   task roles of the monitoring stack (EFS access only).

locals {
  service_arn_prefix  = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/${local.cluster_name}"
  ecr_repository_arns = [for r in aws_ecr_repository.this : r.arn]

  # Secrets manifests may reference (settings allowedSecretArns) and the keys that encrypt them.
  service_secret_arns = var.service_secret_arns != null ? var.service_secret_arns : [
    "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:ecs-services/*",
    "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/ecs-services/*",
  ]
  service_secrets_kms_key_arns = var.service_secrets_kms_key_arns != null ? var.service_secrets_kms_key_arns : [aws_kms_key.main.arn]

  # Roles the operator hands to ECS itself for blue/green, linear and canary deployments.
  deployment_role_arns = distinct(compact(concat([var.deployment_role_arn], var.deployment_role_arns)))
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

# --- execution roles --------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "Task execution role of services managed by the operator"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# Pulls from this bootstrap's repositories and var.service_ecr_repository_arns, writes to the
# services log group and under var.service_log_group_prefix, reads the secrets manifests may name
# (var.service_secret_arns, decrypted with var.service_secrets_kms_key_arns).
resource "aws_iam_role_policy" "execution" {
  name = "pull-images-write-logs-read-secrets"
  role = aws_iam_role.execution.id
  policy = templatefile("${path.module}/policies/task-execution.json.tftpl", {
    partition                    = local.partition
    region                       = local.region
    account_id                   = local.account_id
    ecr_repository_arns          = concat(local.ecr_repository_arns, var.service_ecr_repository_arns)
    services_log_group           = aws_cloudwatch_log_group.services.name
    service_log_group_prefix     = var.service_log_group_prefix
    service_secret_arns          = local.service_secret_arns
    service_secrets_kms_key_arns = local.service_secrets_kms_key_arns
  })
}

resource "aws_iam_role" "platform_execution" {
  name               = "${var.name}-platform-execution"
  description        = "Task execution role of the operator and the monitoring stack"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "platform_execution" {
  name = "pull-images-write-logs-read-grafana-secret"
  role = aws_iam_role.platform_execution.id
  policy = templatefile("${path.module}/policies/platform-execution.json.tftpl", {
    partition                   = local.partition
    region                      = local.region
    account_id                  = local.account_id
    operator_ecr_repository_arn = aws_ecr_repository.this["ecs-operator"].arn
    platform_log_group          = aws_cloudwatch_log_group.platform.name
    grafana_secret_arn          = aws_secretsmanager_secret.grafana_admin.arn
    kms_key_arn                 = aws_kms_key.main.arn
  })
}

# --- default task role of managed services ----------------------------------------------------

resource "aws_iam_role" "service_task" {
  name               = "${var.name}-service-task"
  description        = "Default task role of operator-managed services: no permissions"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# An explicit deny of everything: a policy attached to this shared role by mistake grants nothing.
# Services that need AWS access bring their own role (var.service_task_role_arns).
resource "aws_iam_role_policy" "service_task" {
  name   = "no-permissions"
  role   = aws_iam_role.service_task.id
  policy = templatefile("${path.module}/policies/service-task.json.tftpl", {})
}

# --- the operator -----------------------------------------------------------------------------

locals {
  # Changing or deleting needs the ownership tag on the resource; an untagged service may only be
  # tagged with this operator's id (adoption), a service tagged for another operator never. The
  # platform services below carry no ownership tag, so they are denied by name.
  operator_policy = templatefile("${path.module}/policies/operator.json.tftpl", {
    partition                 = local.partition
    region                    = local.region
    account_id                = local.account_id
    cluster_name              = aws_ecs_cluster.main.name
    owner_tag_key             = local.owner_tag_key
    operator_id               = var.operator_id
    passable_role_arns        = concat([aws_iam_role.execution.arn, aws_iam_role.service_task.arn], var.service_task_role_arns)
    deployment_roles_enabled  = length(local.deployment_role_arns) > 0
    deployment_role_arns      = local.deployment_role_arns
    platform_service_arns     = [for name in sort(keys(local.platform_services)) : "${local.service_arn_prefix}/${name}"]
    namespace_id              = aws_service_discovery_private_dns_namespace.main.id
    namespace_name            = aws_service_discovery_private_dns_namespace.main.name
    manifests_bucket          = aws_s3_bucket.manifests.id
    manifest_prefix           = local.manifest_prefix
    state_prefix              = local.state_prefix
    kms_key_arn               = aws_kms_key.main.arn
    efs_file_system_arn       = aws_efs_file_system.monitoring.arn
    operator_access_point_arn = aws_efs_access_point.monitoring["operator"].arn
    manifest_events_enabled   = var.enable_manifest_notifications
    manifest_events_queue_arn = var.enable_manifest_notifications ? aws_sqs_queue.manifest_events[0].arn : ""
    schedule_group_name       = local.schedule_group_name
    scheduler_role_arn        = aws_iam_role.scheduler.arn
  })
}

resource "aws_iam_role" "operator" {
  name               = "${var.name}-operator"
  description        = "Task role of the ecs-operator controller (owner tag ${var.operator_id})"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "operator" {
  name   = "reconcile-owned-services"
  role   = aws_iam_role.operator.id
  policy = local.operator_policy

  lifecycle {
    # IAM allows a role 10,240 characters of inline policy, not counting whitespace. Every
    # service_task_role_arns entry adds its ARN; fail at plan time rather than at apply.
    precondition {
      condition     = length(replace(local.operator_policy, "/\\s/", "")) <= 10240
      error_message = "the operator's inline policy exceeds IAM's 10,240 characters: fewer service_task_role_arns (or a role path wildcard) are needed."
    }
  }
}

# traffic.ingress: the operator's ELBv2 permissions (policies/operator-ingress.json.tftpl), a
# managed policy because the inline one needs most of IAM's 10,240 characters. The HTTPS
# listener, its rules, and the target groups the operator names (`eo-<service>-<hash>`);
# changes are further limited to what carries the owner tag.
resource "aws_iam_policy" "operator_ingress" {
  name        = "${var.name}-operator-ingress"
  description = "ecs-operator: target groups and listener rules of traffic.ingress (owner tag ${var.operator_id})"
  policy = templatefile("${path.module}/policies/operator-ingress.json.tftpl", {
    owner_tag_key             = local.owner_tag_key
    operator_id               = var.operator_id
    ingress_listener_arn      = aws_lb_listener.https.arn
    ingress_rule_arns         = "${replace(aws_lb_listener.https.arn, ":listener/", ":listener-rule/")}/*"
    ingress_target_group_arns = "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}:targetgroup/eo-*/*"
  })
}

resource "aws_iam_role_policy_attachment" "operator_ingress" {
  role       = aws_iam_role.operator.name
  policy_arn = aws_iam_policy.operator_ingress.arn
}

# --- monitoring stack task roles --------------------------------------------------------------

resource "aws_iam_role" "monitoring" {
  for_each = toset(["prometheus", "alertmanager", "grafana"])

  name               = "${var.name}-${each.key}"
  description        = "Task role of ${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# Prometheus and Alertmanager read the generated configuration through their own access point;
# write only to seed a placeholder before the operator's first pass (see services.tf).
# Alertmanager also publishes to the SNS topics of the manifests' sns receivers.
resource "aws_iam_role_policy" "monitoring_efs" {
  for_each = toset(["prometheus", "alertmanager"])

  name = "mount-monitoring-config"
  role = aws_iam_role.monitoring[each.key].id
  policy = templatefile("${path.module}/policies/monitoring.json.tftpl", {
    efs_file_system_arn   = aws_efs_file_system.monitoring.arn
    efs_access_point_arn  = aws_efs_access_point.monitoring[each.key].arn
    publish_alerts_to_sns = each.key == "alertmanager" && length(var.alert_sns_topic_arns) > 0
    alert_sns_topic_arns  = var.alert_sns_topic_arns
  })
}

# --- ECS Exec (only when enabled) -------------------------------------------------------------

data "aws_iam_policy_document" "exec" {
  statement {
    sid = "SessionManagerChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "WriteSessionLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.exec.arn}:*"]
  }

  statement {
    sid       = "DescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "DecryptSessions"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

# A managed policy rather than an inline one: the operator's inline policy needs most of the
# 10,240 characters IAM allows a role's inline policies together.
resource "aws_iam_policy" "exec" {
  count = var.enable_execute_command ? 1 : 0

  name        = "${var.name}-ecs-exec"
  description = "ECS Exec into the platform services (sessions logged, KMS-encrypted)"
  policy      = data.aws_iam_policy_document.exec.json
}

resource "aws_iam_role_policy_attachment" "exec" {
  for_each = var.enable_execute_command ? {
    operator     = aws_iam_role.operator.name
    prometheus   = aws_iam_role.monitoring["prometheus"].name
    alertmanager = aws_iam_role.monitoring["alertmanager"].name
    grafana      = aws_iam_role.monitoring["grafana"].name
  } : {}

  role       = each.value
  policy_arn = aws_iam_policy.exec[0].arn
}
