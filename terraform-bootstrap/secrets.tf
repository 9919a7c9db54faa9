# Grafana's admin password: generated here, stored in Secrets Manager (encrypted with the customer
# key) and injected into the Grafana and operator containers by ECS; it never appears in a task
# definition. It does sit in the Terraform state: keep the state in an encrypted, access-controlled
# backend.

resource "random_password" "grafana_admin" {
  length           = 32
  special          = true
  override_special = "-_.~"
}

resource "aws_secretsmanager_secret" "grafana_admin" {
  name                    = "${var.name}/grafana-admin-password"
  description             = "Grafana admin password (user ${var.grafana_admin_user})"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "grafana_admin" {
  secret_id     = aws_secretsmanager_secret.grafana_admin.id
  secret_string = random_password.grafana_admin.result
}
