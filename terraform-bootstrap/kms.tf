# One customer managed key for everything this bootstrap encrypts at rest: CloudWatch log groups,
# the manifests bucket, the SQS queues, ECR, EFS, the Grafana secret and ECS Exec sessions.

resource "aws_kms_key" "main" {
  description             = "${var.name}: logs, manifests, queues, images, EFS and secrets"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = local.kms_key_policy
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}

# A key policy is a resource policy: its "Resource": "*" means "this key" (AWS requires it there),
# so it is written as plain JSON here rather than through aws_iam_policy_document, whose
# identity-policy checks (CKV_AWS_109/111/356) would read it as "every resource". checkov's
# key-policy checks (CKV_AWS_33: no wildcard principal, CKV2_AWS_64: policy defined) apply to it.
locals {
  kms_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The account administers the key through IAM (the AWS default key policy statement);
        # without it the key becomes unmanageable.
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # CloudWatch Logs encrypts log groups of this account and region only.
        Sid       = "CloudWatchLogsUsesKey"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt*",
          "kms:Decrypt*",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"
          }
        }
      },
      {
        # S3 (manifest notifications) and EventBridge (ECS service events) publish into the
        # KMS-encrypted events queue.
        Sid       = "S3PublishesToEncryptedQueue"
        Effect    = "Allow"
        Principal = { Service = ["s3.amazonaws.com", "events.amazonaws.com"] }
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })
}
