# Security groups, one per role, and their rules.
#
# Ingress from address ranges exists in three places only: the ALB on 80/443 from
# var.allowed_ingress_cidrs, the interface endpoints on 443 from the VPC CIDR, and SSH to the
# optional bastion from var.bastion_allowed_cidrs (empty by default). Everything else names its
# peer security group. Egress to the internet is TCP 443 only (AWS APIs, image registries, alert
# receivers); DNS and the task metadata endpoint are not filtered by security groups.

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Application load balancer: HTTP/HTTPS from the allowed CIDRs"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${var.name}-alb" }
}

resource "aws_security_group" "operator" {
  name        = "${var.name}-operator"
  description = "The ecs-operator controller task"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${var.name}-operator" }
}

resource "aws_security_group" "prometheus" {
  name        = "${var.name}-prometheus"
  description = "Prometheus task"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${var.name}-prometheus" }
}

resource "aws_security_group" "alertmanager" {
  name        = "${var.name}-alertmanager"
  description = "Alertmanager task"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${var.name}-alertmanager" }
}

resource "aws_security_group" "grafana" {
  name        = "${var.name}-grafana"
  description = "Grafana task"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${var.name}-grafana" }
}

resource "aws_security_group" "services" {
  name        = "${var.name}-services"
  description = "Services managed by the operator (settings network.securityGroups)"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${var.name}-services" }
}

resource "aws_security_group" "efs" {
  name        = "${var.name}-efs"
  description = "EFS mount targets of the monitoring configuration file system"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${var.name}-efs" }
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "Interface VPC endpoints: HTTPS from inside the VPC"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${var.name}-endpoints" }
}

# --- ingress from address ranges ----------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = toset(var.allowed_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP, answered with a redirect to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.allowed_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS to the interface endpoints from inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = aws_vpc.main.cidr_block
}

# --- egress to the internet (HTTPS only) --------------------------------------------------------

resource "aws_vpc_security_group_egress_rule" "https_out" {
  for_each = {
    operator     = aws_security_group.operator.id
    prometheus   = aws_security_group.prometheus.id
    alertmanager = aws_security_group.alertmanager.id
    grafana      = aws_security_group.grafana.id
    services     = aws_security_group.services.id
  }

  security_group_id = each.value
  description       = "HTTPS out: AWS APIs, image registries, webhooks"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# --- between the platform's own groups ----------------------------------------------------------

# Each entry opens one path: ingress on `to` from `from`, and the matching egress on `from`.
locals {
  peer_rules = {
    alb_to_grafana = {
      from        = "alb", to = "grafana", port = local.ports.grafana, to_port = local.ports.grafana
      description = "ALB forwards to Grafana"
    }
    alb_to_services = {
      from        = "alb", to = "services", port = var.service_ports.from_port, to_port = var.service_ports.to_port
      description = "ALB forwards to operator-managed services"
    }
    prometheus_to_services = {
      from        = "prometheus", to = "services", port = var.service_ports.from_port, to_port = var.service_ports.to_port
      description = "Prometheus scrapes operator-managed services"
    }
    prometheus_to_operator = {
      from        = "prometheus", to = "operator", port = local.ports.operator, to_port = local.ports.operator
      description = "Prometheus reads the operator's service discovery and metrics"
    }
    prometheus_to_alertmanager = {
      from        = "prometheus", to = "alertmanager", port = local.ports.alertmanager, to_port = local.ports.alertmanager
      description = "Prometheus sends alerts and scrapes Alertmanager"
    }
    operator_to_prometheus = {
      from        = "operator", to = "prometheus", port = local.ports.prometheus, to_port = local.ports.prometheus
      description = "Operator reloads Prometheus"
    }
    operator_to_alertmanager = {
      from        = "operator", to = "alertmanager", port = local.ports.alertmanager, to_port = local.ports.alertmanager
      description = "Operator reloads Alertmanager"
    }
    operator_to_grafana = {
      from        = "operator", to = "grafana", port = local.ports.grafana, to_port = local.ports.grafana
      description = "Operator upserts dashboards through the Grafana API"
    }
    grafana_to_prometheus = {
      from        = "grafana", to = "prometheus", port = local.ports.prometheus, to_port = local.ports.prometheus
      description = "Grafana queries Prometheus"
    }
    grafana_to_alertmanager = {
      from        = "grafana", to = "alertmanager", port = local.ports.alertmanager, to_port = local.ports.alertmanager
      description = "Grafana reads alert state from Alertmanager"
    }
    operator_to_efs = {
      from        = "operator", to = "efs", port = 2049, to_port = 2049
      description = "Operator writes monitoring configuration (NFS)"
    }
    prometheus_to_efs = {
      from        = "prometheus", to = "efs", port = 2049, to_port = 2049
      description = "Prometheus reads its configuration (NFS)"
    }
    alertmanager_to_efs = {
      from        = "alertmanager", to = "efs", port = 2049, to_port = 2049
      description = "Alertmanager reads its configuration (NFS)"
    }
  }

  sg_ids = {
    alb          = aws_security_group.alb.id
    operator     = aws_security_group.operator.id
    prometheus   = aws_security_group.prometheus.id
    alertmanager = aws_security_group.alertmanager.id
    grafana      = aws_security_group.grafana.id
    services     = aws_security_group.services.id
    efs          = aws_security_group.efs.id
  }
}

resource "aws_vpc_security_group_ingress_rule" "peer" {
  for_each = local.peer_rules

  security_group_id            = local.sg_ids[each.value.to]
  referenced_security_group_id = local.sg_ids[each.value.from]
  description                  = each.value.description
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.to_port
}

resource "aws_vpc_security_group_egress_rule" "peer" {
  for_each = local.peer_rules

  security_group_id            = local.sg_ids[each.value.from]
  referenced_security_group_id = local.sg_ids[each.value.to]
  description                  = each.value.description
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.to_port
}
