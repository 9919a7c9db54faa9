# The ECS cluster: Fargate and Fargate Spot, Container Insights, and ECS Exec sessions logged to
# a KMS-encrypted log group (and encrypted in transit with the customer key).

resource "aws_ecs_cluster" "main" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.main.arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
      }
    }
  }
}

# Services use on-demand Fargate unless their manifest asks for Spot. The platform services below
# stay on on-demand Fargate: losing Prometheus or the operator to a Spot interruption costs more
# than it saves.
resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
    base              = 1
  }
}
