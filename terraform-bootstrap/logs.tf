# CloudWatch log groups: all KMS-encrypted, all with a retention.

# Container logs of the services the operator manages (settings logGroup; awslogs driver).
resource "aws_cloudwatch_log_group" "services" {
  name              = "/ecs/${var.name}/services"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# Container logs of the platform itself: operator, Prometheus, Alertmanager, Grafana.
resource "aws_cloudwatch_log_group" "platform" {
  name              = "/ecs/${var.name}/platform"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# ECS Exec session transcripts.
resource "aws_cloudwatch_log_group" "exec" {
  name              = "/ecs/${var.name}/exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/vpc/${var.name}/flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
