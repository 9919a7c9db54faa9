# Public application load balancer in the public subnets. It only speaks HTTPS: port 80 answers
# with a redirect to 443. There is no plain-HTTP mode.
#
# The certificate comes from one of:
#   - var.domain_name: an ACM certificate, DNS-validated in var.route53_zone_id, plus a Route53
#     alias record for the ALB (the normal case);
#   - var.certificate_arn: any ACM certificate you provide, e.g. a self-signed one imported for a
#     trial without a domain (README.md shows the two commands). Browsers warn about it.
#
# Grafana is served under var.grafana_path; var.service_routes add one target group and rule per
# operator-managed service that wants the ALB. Manifests with `traffic.ingress` need neither: the
# operator adds its own target group and rule per service to the HTTPS listener (its ARN is in
# operator_settings_yaml; derived priorities are 10000-50000, so keep hand-made ones below).

resource "aws_lb" "main" {
  name               = substr("${var.name}-alb", 0, 32)
  load_balancer_type = "application"
  internal           = false
  subnets            = aws_subnet.public[*].id
  security_groups    = [aws_security_group.alb.id]

  drop_invalid_header_fields = true
  desync_mitigation_mode     = "strictest"
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

# --- certificate: ACM for var.domain_name -------------------------------------------------------

resource "aws_acm_certificate" "main" {
  count = local.use_domain ? 1 : 0

  domain_name       = var.domain_name
  validation_method = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.route53_zone_id != ""
      error_message = "route53_zone_id is required when domain_name is set."
    }
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = local.use_domain ? {
    for o in aws_acm_certificate.main[0].domain_validation_options : o.domain_name => o
  } : {}

  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "main" {
  count = local.use_domain ? 1 : 0

  certificate_arn         = aws_acm_certificate.main[0].arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_route53_record" "alb" {
  count = local.use_domain ? 1 : 0

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.main.dns_name
    zone_id                = aws_lb.main.zone_id
    evaluate_target_health = true
  }
}

# --- listeners ---------------------------------------------------------------------------------

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.use_domain ? aws_acm_certificate_validation.main[0].certificate_arn : var.certificate_arn

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }

  lifecycle {
    precondition {
      condition     = local.use_domain || var.certificate_arn != ""
      error_message = "The ALB serves HTTPS only: set domain_name (and route53_zone_id), or certificate_arn (an ACM certificate you imported, see README.md)."
    }
  }
}

resource "aws_lb_listener" "http_redirect" {
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

# --- Grafana -----------------------------------------------------------------------------------

resource "aws_lb_target_group" "grafana" {
  name                 = "${substr(var.name, 0, 24)}-grafana"
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = local.ports.grafana
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  health_check {
    path                = "${var.grafana_path}/api/health"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener_rule" "grafana" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 1

  condition {
    path_pattern {
      values = [var.grafana_path, "${var.grafana_path}/*"]
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.grafana.arn
  }
}

# --- operator-managed services -------------------------------------------------------------------

resource "aws_lb_target_group" "service" {
  for_each = var.service_routes

  name                 = substr("${var.name}-${each.key}", 0, 32)
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = each.value.port
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  health_check {
    path                = each.value.health_check_path
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener_rule" "service" {
  for_each = var.service_routes

  listener_arn = aws_lb_listener.https.arn
  priority     = each.value.priority

  condition {
    path_pattern {
      values = each.value.path_patterns
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service[each.key].arn
  }
}
