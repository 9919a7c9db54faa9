# Scheduled jobs (`spec.jobs` of the manifests): EventBridge Scheduler starts each job's task
# with this role, in the schedule group the operator creates and tags itself
# (`ecs-operator-<operator_id>`). Runs it could not start end up in the jobs' dead-letter queue.

locals {
  schedule_group_name = "ecs-operator-${var.operator_id}"
}

resource "aws_sqs_queue" "jobs_dlq" {
  name                              = "${var.name}-jobs-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 300
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/${local.schedule_group_name}/*"]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  description        = "Role EventBridge Scheduler assumes to start the operator's scheduled jobs"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

# RunTask of the operator's task definitions in the cluster only, tagging those tasks with the
# owner tag at launch (ECS authorises tags on RunTask as ecs:TagResource), passing their roles
# to ECS tasks only, and the dead-letter queue.
resource "aws_iam_role_policy" "scheduler" {
  name = "run-operator-jobs"
  role = aws_iam_role.scheduler.id
  policy = templatefile("${path.module}/policies/scheduler.json.tftpl", {
    partition          = local.partition
    region             = local.region
    account_id         = local.account_id
    cluster_arn        = aws_ecs_cluster.main.arn
    cluster_name       = aws_ecs_cluster.main.name
    owner_tag_key      = local.owner_tag_key
    operator_id        = var.operator_id
    passable_role_arns = concat([aws_iam_role.execution.arn, aws_iam_role.service_task.arn], var.service_task_role_arns)
    dead_letter_arn    = aws_sqs_queue.jobs_dlq.arn
    kms_key_arn        = aws_kms_key.main.arn
  })
}

output "scheduler_role_arn" {
  description = "The role EventBridge Scheduler assumes for the manifests' scheduled jobs (settings scheduler.roleArn)."
  value       = aws_iam_role.scheduler.arn
}

output "scheduler_dead_letter_queue_arn" {
  description = "The dead-letter queue of job runs EventBridge Scheduler could not start (settings scheduler.deadLetterQueueArn)."
  value       = aws_sqs_queue.jobs_dlq.arn
}
