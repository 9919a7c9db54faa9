# Optional GitOps path: GitHub Actions (.github/workflows/manifests.yml) validates manifests on
# pull requests and, on a push to main, syncs manifests/ to the bucket with a short-lived role
# assumed through GitHub's OIDC provider (no long-lived keys). Created only when
# var.github_repository is set.

locals {
  github_sync = var.github_repository != ""
  github_oidc_provider_arn = (
    var.github_oidc_provider_arn != "" ? var.github_oidc_provider_arn : one(aws_iam_openid_connect_provider.github[*].arn)
  )
}

# One OIDC provider per account and URL: reuse an existing one through var.github_oidc_provider_arn.
resource "aws_iam_openid_connect_provider" "github" {
  count = local.github_sync && var.github_oidc_provider_arn == "" ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # GitHub's published intermediate thumbprints (AWS no longer checks them for this provider, but
  # older provider versions require a value).
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]
}

data "aws_iam_policy_document" "github_assume" {
  count = local.github_sync ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Only workflows running on the main branch of this one repository.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"]
    }
  }
}

resource "aws_iam_role" "github_sync" {
  count = local.github_sync ? 1 : 0

  name                 = "${var.name}-manifests-sync"
  description          = "GitHub Actions (${var.github_repository}) syncs manifests/ to the bucket"
  assume_role_policy   = data.aws_iam_policy_document.github_assume[0].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "github_sync" {
  count = local.github_sync ? 1 : 0

  name = "sync-manifests"
  role = aws_iam_role.github_sync[0].id
  # List and write manifests/ only (policies/manifests-sync.json.tftpl).
  policy = templatefile("${path.module}/policies/manifests-sync.json.tftpl", {
    partition        = local.partition
    region           = local.region
    manifests_bucket = aws_s3_bucket.manifests.id
    manifest_prefix  = local.manifest_prefix
    kms_key_arn      = aws_kms_key.main.arn
  })
}
