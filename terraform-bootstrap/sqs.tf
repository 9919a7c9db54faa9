# Optional fast path (var.enable_manifest_notifications): S3 events for the manifests prefix and
# (through EventBridge) ECS service action and deployment state change events of the cluster go
# to an SQS queue the operator long-polls, so a pushed manifest is reconciled, and a service's
# status and discovery targets refreshed, at once instead of at the next poll. Messages the
# operator cannot handle end up in the dead-letter queue.

resource "aws_sqs_queue" "manifest_events_dlq" {
  count = var.enable_manifest_notifications ? 1 : 0

  name                              = "${var.name}-manifest-events-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "manifest_events" {
  count = var.enable_manifest_notifications ? 1 : 0

  name                              = "${var.name}-manifest-events"
  message_retention_seconds         = 86400
  receive_wait_time_seconds         = 20
  visibility_timeout_seconds        = 60
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.manifest_events_dlq[0].arn
    maxReceiveCount     = 5
  })
}

data "aws_iam_policy_document" "manifest_events_queue" {
  count = var.enable_manifest_notifications ? 1 : 0

  statement {
    sid       = "S3SendsManifestEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.manifest_events[0].arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.manifests.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "EventBridgeSendsEcsEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.manifest_events[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = [
        aws_cloudwatch_event_rule.ecs_service_events[0].arn,
        aws_cloudwatch_event_rule.ecs_task_events[0].arn,
      ]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.manifest_events[0].arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "manifest_events" {
  count = var.enable_manifest_notifications ? 1 : 0

  queue_url = aws_sqs_queue.manifest_events[0].id
  policy    = data.aws_iam_policy_document.manifest_events_queue[0].json
}

resource "aws_sqs_queue_redrive_allow_policy" "manifest_events_dlq" {
  count = var.enable_manifest_notifications ? 1 : 0

  queue_url = aws_sqs_queue.manifest_events_dlq[0].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.manifest_events[0].arn]
  })
}

# ECS service actions (steady state, tasks failing to start, ...) and deployment state changes
# (in progress, completed, failed) of this cluster's services.
resource "aws_cloudwatch_event_rule" "ecs_service_events" {
  count = var.enable_manifest_notifications ? 1 : 0

  name        = "${var.name}-ecs-service-events"
  description = "ECS service actions and deployment state changes of ${var.name}, for the operator"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Service Action", "ECS Deployment State Change"]
    resources     = [{ prefix = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/${aws_ecs_cluster.main.name}/" }]
  })
}

resource "aws_cloudwatch_event_target" "ecs_service_events" {
  count = var.enable_manifest_notifications ? 1 : 0

  rule      = aws_cloudwatch_event_rule.ecs_service_events[0].name
  target_id = "operator-events-queue"
  arn       = aws_sqs_queue.manifest_events[0].arn
}

# Tasks of this cluster's services that reached RUNNING or STOPPED: the operator reads that
# service's Cloud Map instances at once instead of sweeping every service every few seconds.
resource "aws_cloudwatch_event_rule" "ecs_task_events" {
  count = var.enable_manifest_notifications ? 1 : 0

  name        = "${var.name}-ecs-task-events"
  description = "Tasks of ${var.name}'s services starting or stopping, for the operator's service discovery"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.main.arn]
      group      = [{ prefix = "service:" }]
      lastStatus = ["RUNNING", "STOPPED"]
    }
  })
}

resource "aws_cloudwatch_event_target" "ecs_task_events" {
  count = var.enable_manifest_notifications ? 1 : 0

  rule      = aws_cloudwatch_event_rule.ecs_task_events[0].name
  target_id = "operator-events-queue"
  arn       = aws_sqs_queue.manifest_events[0].arn
}
