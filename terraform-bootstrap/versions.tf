# Terraform and provider requirements, and the one AWS provider this bootstrap uses.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }

  # State: keep it remote in a real account (S3 backend with a DynamoDB lock or S3 native
  # locking). Left unconfigured here so `terraform init` works in an empty account; see README.md.
}

provider "aws" {
  region = var.region

  # Every taggable resource gets these. The operator's ownership tag (ecs-operator.io/owner) is
  # deliberately NOT in this list: the services created here (the operator itself, Prometheus,
  # Alertmanager, Grafana) must never look like something the operator owns, or it would prune
  # them for lacking a manifest.
  default_tags {
    tags = merge(var.tags, {
      Project     = var.project
      ManagedBy   = "terraform"
      Environment = var.environment
    })
  }
}
