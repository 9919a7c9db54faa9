# Values derived once and shared by the other files.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# Zones are pinned by name (an allowlist), so the set cannot grow behind our back when AWS adds
# a zone: var.availability_zones if given, else the region's lettered zones a-f; the first
# var.az_count of those that exist (and need no opt-in) are used.
data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-name"
    values = length(var.availability_zones) > 0 ? var.availability_zones : [for l in ["a", "b", "c", "d", "e", "f"] : "${var.region}${l}"]
  }

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) >= var.az_count
      error_message = "fewer usable availability zones than az_count."
    }
  }
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # The tag the operator puts on everything it owns. Used in IAM conditions below; never put on
  # the resources this bootstrap creates (see versions.tf).
  owner_tag_key = "ecs-operator.io/owner"

  cluster_name = var.name

  # Layout of the manifests bucket.
  manifest_prefix = "manifests/"
  state_prefix    = "state/"

  # Where the monitoring configuration the operator writes lives, in every container that mounts
  # it: the same path everywhere, so file references inside prometheus.yml resolve for Prometheus.
  monitoring_config_dir = "/monitoring"

  # Ports of the platform services.
  ports = {
    operator     = var.operator_port
    prometheus   = 9090
    alertmanager = 9093
    grafana      = 3000
  }

  # Internal URLs through Cloud Map (private DNS).
  internal_urls = {
    operator     = "http://operator.${var.service_discovery_namespace}:${var.operator_port}"
    prometheus   = "http://prometheus.${var.service_discovery_namespace}:9090"
    alertmanager = "http://alertmanager.${var.service_discovery_namespace}:9093"
    grafana      = "http://grafana.${var.service_discovery_namespace}:3000${var.grafana_path}"
  }

  use_domain         = var.domain_name != ""
  public_base_url    = "https://${local.use_domain ? var.domain_name : aws_lb.main.dns_name}"
  grafana_public_url = "${local.public_base_url}${var.grafana_path}/"
}
