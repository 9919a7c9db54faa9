# IAM roles.
#
#   execution            task execution role of operator-managed services: pull from this
#                        bootstrap's ECR repositories, write to the services log group. Nothing else.
#   platform_execution   task execution role of the operator, Prometheus, Alertmanager and Grafana:
#                        the same plus reading the Grafana admin secret. Kept apart from
#                        `execution` so no manifest can mount the Grafana secret into a service.
#   operator             the operator's task role (least privilege, see below).
#   service_task         default task role of managed services (settings taskRoleArn): no
#                        permissions; teams bring their own roles through var.service_task_role_arns.
#   prometheus, alertmanager, grafana   task roles of the monitoring stack (EFS access only).

locals {
  service_arn_prefix         = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/${local.cluster_name}"
  task_arn_prefix            = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${local.cluster_name}"
  task_definition_arn_prefix = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition"
  ecr_repository_arns        = [for r in aws_ecr_repository.this : r.arn]
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

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = local.ecr_repository_arns
  }

  statement {
    sid       = "WriteServiceLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.services.arn}:*"]
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "Task execution role of services managed by the operator"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-images-write-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

data "aws_iam_policy_document" "platform_execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPullOperatorImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.this["ecs-operator"].arn]
  }

  statement {
    sid       = "WritePlatformLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.platform.arn}:*"]
  }

  statement {
    sid       = "ReadGrafanaSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.grafana_admin.arn]
  }

  statement {
    sid       = "DecryptGrafanaSecret"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "platform_execution" {
  name               = "${var.name}-platform-execution"
  description        = "Task execution role of the operator and the monitoring stack"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "platform_execution" {
  name   = "pull-images-write-logs-read-grafana-secret"
  role   = aws_iam_role.platform_execution.id
  policy = data.aws_iam_policy_document.platform_execution.json
}

# --- default task role of managed services ----------------------------------------------------

resource "aws_iam_role" "service_task" {
  name               = "${var.name}-service-task"
  description        = "Default task role of operator-managed services: no permissions"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# --- the operator -----------------------------------------------------------------------------

locals {
  passable_roles = concat(
    [aws_iam_role.execution.arn, aws_iam_role.service_task.arn],
    var.service_task_role_arns,
  )
}

data "aws_iam_policy_document" "operator" {
  # ECS --------------------------------------------------------------------------------------
  # Task definitions have no resource-level permissions for reads (and none at all for
  # DeregisterTaskDefinition): AWS requires "*" for these.
  statement {
    sid = "EcsReadTaskDefinitions"
    actions = [
      "ecs:DescribeTaskDefinition",
      "ecs:ListTaskDefinitionFamilies",
      "ecs:ListTaskDefinitions",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "EcsListInCluster"
    actions   = ["ecs:ListServices", "ecs:ListTasks"]
    resources = ["*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }

  statement {
    sid       = "EcsReadCluster"
    actions   = ["ecs:DescribeClusters"]
    resources = [aws_ecs_cluster.main.arn]
  }

  statement {
    sid     = "EcsReadServicesAndTasks"
    actions = ["ecs:DescribeServices", "ecs:DescribeTasks", "ecs:ListTagsForResource"]
    resources = [
      "${local.service_arn_prefix}/*",
      "${local.task_arn_prefix}/*",
      "${local.task_definition_arn_prefix}/*",
    ]
  }

  # Creating needs the ownership tag in the request.
  statement {
    sid       = "EcsRegisterOwnedTaskDefinitions"
    actions   = ["ecs:RegisterTaskDefinition"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }
  }

  statement {
    sid       = "EcsCreateOwnedServices"
    actions   = ["ecs:CreateService"]
    resources = ["${local.service_arn_prefix}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }

  statement {
    sid       = "EcsTagOnCreate"
    actions   = ["ecs:TagResource"]
    resources = ["${local.service_arn_prefix}/*", "${local.task_definition_arn_prefix}/*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["CreateService", "RegisterTaskDefinition"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }
  }

  # Changing or deleting needs the ownership tag on the resource.
  statement {
    sid       = "EcsChangeOwnedServices"
    actions   = ["ecs:UpdateService", "ecs:DeleteService", "ecs:TagResource"]
    resources = ["${local.service_arn_prefix}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }
  }

  statement {
    sid       = "EcsChangeOwnedTaskDefinitions"
    actions   = ["ecs:DeleteTaskDefinitions", "ecs:TagResource"]
    resources = ["${local.task_definition_arn_prefix}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }
  }

  # Untagging owned resources, but never the ownership tag itself.
  statement {
    sid       = "EcsUntagOwnedKeepOwnership"
    actions   = ["ecs:UntagResource"]
    resources = ["${local.service_arn_prefix}/*", "${local.task_definition_arn_prefix}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }

    condition {
      test     = "ForAllValues:StringNotEquals"
      variable = "aws:TagKeys"
      values   = [local.owner_tag_key]
    }
  }

  # No resource-level permission or condition key exists for DeregisterTaskDefinition; the
  # operator only deregisters revisions it finds carrying its ownership tag.
  statement {
    sid       = "EcsDeregisterTaskDefinitions"
    actions   = ["ecs:DeregisterTaskDefinition"]
    resources = ["*"]
  }

  statement {
    sid       = "PassOnlyListedRolesToEcsTasks"
    actions   = ["iam:PassRole"]
    resources = local.passable_roles

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  # Application Auto Scaling ------------------------------------------------------------------
  statement {
    sid = "AutoscalingRead"
    actions = [
      "application-autoscaling:DescribeScalableTargets",
      "application-autoscaling:DescribeScalingActivities",
      "application-autoscaling:DescribeScalingPolicies",
    ]
    resources = ["*"]
  }

  statement {
    sid = "AutoscalingEcsServicesOnly"
    actions = [
      "application-autoscaling:RegisterScalableTarget",
      "application-autoscaling:DeregisterScalableTarget",
      "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:DeleteScalingPolicy",
    ]
    resources = ["arn:${local.partition}:application-autoscaling:${local.region}:${local.account_id}:scalable-target/*"]

    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:service-namespace"
      values   = ["ecs"]
    }

    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:scalable-dimension"
      values   = ["ecs:service:DesiredCount"]
    }
  }

  statement {
    sid       = "AutoscalingTagOwnedTargets"
    actions   = ["application-autoscaling:TagResource"]
    resources = ["arn:${local.partition}:application-autoscaling:${local.region}:${local.account_id}:scalable-target/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }
  }

  # Application Auto Scaling checks that the caller may manage the alarms of target tracking
  # policies (it creates them itself, named TargetTracking-service/<cluster>/<service>-...).
  statement {
    sid       = "AutoscalingTargetTrackingAlarms"
    actions   = ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:TargetTracking-service/${local.cluster_name}/*"]
  }

  statement {
    sid       = "AutoscalingDescribeAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:*"]
  }

  # The first scalable target of an ECS service creates this service-linked role.
  statement {
    sid       = "AutoscalingServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["ecs.application-autoscaling.amazonaws.com"]
    }
  }

  # Cloud Map ---------------------------------------------------------------------------------
  statement {
    sid = "CloudMapRead"
    actions = [
      "servicediscovery:GetOperation",
      "servicediscovery:ListNamespaces",
      "servicediscovery:ListServices",
      "servicediscovery:ListTagsForResource",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "CloudMapReadNamespace"
    actions   = ["servicediscovery:GetNamespace"]
    resources = [aws_service_discovery_private_dns_namespace.main.arn]
  }

  statement {
    sid       = "CloudMapReadServices"
    actions   = ["servicediscovery:GetService"]
    resources = ["arn:${local.partition}:servicediscovery:${local.region}:${local.account_id}:service/*"]
  }

  statement {
    sid       = "CloudMapInstances"
    actions   = ["servicediscovery:ListInstances", "servicediscovery:GetInstancesHealthStatus"]
    resources = ["*"]
  }

  statement {
    sid       = "CloudMapDiscoverInNamespace"
    actions   = ["servicediscovery:DiscoverInstances"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "servicediscovery:NamespaceName"
      values   = [aws_service_discovery_private_dns_namespace.main.name]
    }
  }

  statement {
    sid     = "CloudMapCreateOwnedServicesInNamespace"
    actions = ["servicediscovery:CreateService"]
    resources = [
      aws_service_discovery_private_dns_namespace.main.arn,
      "arn:${local.partition}:servicediscovery:${local.region}:${local.account_id}:service/*",
    ]

    condition {
      test     = "StringEquals"
      variable = "servicediscovery:NamespaceArn"
      values   = [aws_service_discovery_private_dns_namespace.main.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }
  }

  statement {
    sid       = "CloudMapTagOnCreate"
    actions   = ["servicediscovery:TagResource"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }
  }

  statement {
    sid       = "CloudMapChangeOwnedServices"
    actions   = ["servicediscovery:UpdateService", "servicediscovery:DeleteService"]
    resources = ["arn:${local.partition}:servicediscovery:${local.region}:${local.account_id}:service/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner_tag_key}"
      values   = [var.operator_id]
    }
  }

  # S3: read manifests, read/write status records and the leader lease -------------------------
  statement {
    sid       = "ListManifestsAndState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.manifests.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        local.manifest_prefix,
        "${local.manifest_prefix}*",
        local.state_prefix,
        "${local.state_prefix}*",
      ]
    }
  }

  statement {
    sid       = "ReadManifests"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.manifests.arn}/${local.manifest_prefix}*"]
  }

  statement {
    sid     = "ReadWriteStatusAndLease"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [
      "${aws_s3_bucket.manifests.arn}/${local.state_prefix}status/*",
      "${aws_s3_bucket.manifests.arn}/${local.state_prefix}lease/*",
    ]
  }

  statement {
    sid       = "UseKeyForBucket"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = concat(
        ["s3.${local.region}.amazonaws.com"],
        var.enable_manifest_notifications ? ["sqs.${local.region}.amazonaws.com"] : [],
      )
    }
  }

  # Load balancers: the operator only looks up target groups named in manifests ----------------
  statement {
    sid = "ElbDescribe"
    actions = [
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
    ]
    resources = ["*"]
  }

  # EFS: write the monitoring configuration through the operator's access point --------------
  statement {
    sid       = "WriteMonitoringConfig"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.monitoring.arn]

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.monitoring["operator"].arn]
    }
  }

  # SQS fast path (only when enabled) -----------------------------------------------------------
  dynamic "statement" {
    for_each = var.enable_manifest_notifications ? [1] : []

    content {
      sid = "ConsumeManifestEvents"
      actions = [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
      ]
      resources = [aws_sqs_queue.manifest_events[0].arn]
    }
  }
}

resource "aws_iam_role" "operator" {
  name               = "${var.name}-operator"
  description        = "Task role of the ecs-operator controller (owner tag ${var.operator_id})"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "operator" {
  name   = "reconcile-owned-services"
  role   = aws_iam_role.operator.id
  policy = data.aws_iam_policy_document.operator.json
}

# --- monitoring stack task roles --------------------------------------------------------------

resource "aws_iam_role" "monitoring" {
  for_each = toset(["prometheus", "alertmanager", "grafana"])

  name               = "${var.name}-${each.key}"
  description        = "Task role of ${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "monitoring_efs" {
  for_each = toset(["prometheus", "alertmanager"])

  # Read the generated configuration; write only to seed a placeholder before the operator's
  # first pass (see services.tf).
  statement {
    sid       = "MountMonitoringConfig"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.monitoring.arn]

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.monitoring[each.key].arn]
    }
  }
}

resource "aws_iam_role_policy" "monitoring_efs" {
  for_each = data.aws_iam_policy_document.monitoring_efs

  name   = "mount-monitoring-config"
  role   = aws_iam_role.monitoring[each.key].id
  policy = each.value.json
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

resource "aws_iam_role_policy" "exec" {
  for_each = var.enable_execute_command ? {
    operator     = aws_iam_role.operator.id
    prometheus   = aws_iam_role.monitoring["prometheus"].id
    alertmanager = aws_iam_role.monitoring["alertmanager"].id
    grafana      = aws_iam_role.monitoring["grafana"].id
  } : {}

  name   = "ecs-exec"
  role   = each.value
  policy = data.aws_iam_policy_document.exec.json
}
