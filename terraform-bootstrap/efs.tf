# EFS holds the monitoring configuration the operator generates (prometheus.yml, rule files,
# alertmanager.yml) so Prometheus and Alertmanager, in their own tasks, read what it writes and
# reload on its POST /-/reload. Encrypted at rest with the customer key and in transit (TLS +
# IAM authorization on every mount); reachable on 2049 from those three tasks only.
#
# All three access points expose the same directory (/monitoring) as the same POSIX user, so files
# written through one are readable through the others; separate access points let each task
# role be scoped to its own (elasticfilesystem:AccessPointArn).

resource "aws_efs_file_system" "monitoring" {
  creation_token   = "${var.name}-monitoring"
  encrypted        = true
  kms_key_id       = aws_kms_key.main.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  tags = { Name = "${var.name}-monitoring" }
}

resource "aws_efs_backup_policy" "monitoring" {
  file_system_id = aws_efs_file_system.monitoring.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_efs_mount_target" "monitoring" {
  count = var.az_count

  file_system_id  = aws_efs_file_system.monitoring.id
  subnet_id       = aws_subnet.private[count.index].id
  security_groups = [aws_security_group.efs.id]
}

resource "aws_efs_access_point" "monitoring" {
  for_each = toset(["operator", "prometheus", "alertmanager"])

  file_system_id = aws_efs_file_system.monitoring.id

  posix_user {
    uid = 65534
    gid = 65534
  }

  root_directory {
    path = local.monitoring_config_dir

    creation_info {
      owner_uid   = 65534
      owner_gid   = 65534
      permissions = "0755"
    }
  }

  tags = { Name = "${var.name}-${each.key}" }
}

data "aws_iam_policy_document" "efs" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["*"]
    resources = [aws_efs_file_system.monitoring.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyMountWithoutAccessPoint"
    effect    = "Deny"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"]
    resources = [aws_efs_file_system.monitoring.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Null"
      variable = "elasticfilesystem:AccessPointArn"
      values   = ["true"]
    }
  }
}

resource "aws_efs_file_system_policy" "monitoring" {
  file_system_id = aws_efs_file_system.monitoring.id
  policy         = data.aws_iam_policy_document.efs.json
}
