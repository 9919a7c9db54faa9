# Cloud Map private DNS namespace: every task registers as <service>.<namespace> (A records,
# awsvpc). The operator creates the Cloud Map services of managed services in this namespace; the
# four platform services are registered here.

resource "aws_service_discovery_private_dns_namespace" "main" {
  name        = var.service_discovery_namespace
  description = "${var.name}: service discovery for the platform and operator-managed services"
  vpc         = aws_vpc.main.id
}

resource "aws_service_discovery_service" "platform" {
  for_each = toset(["operator", "prometheus", "alertmanager", "grafana"])

  name = each.key

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.main.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  # ECS reports task health to Cloud Map; unhealthy tasks leave DNS.
  health_check_custom_config {
    failure_threshold = 1
  }
}
