# The platform's own ECS services: the operator, Prometheus, Alertmanager and Grafana, expressed
# once: local.platform_services holds what differs between them (size, task role, security group,
# volumes, containers, load balancer), and one task definition and one service resource take
# their for_each over it. Every property below therefore holds for all four by construction.
#
# All run on Fargate in the private subnets without a public IP, register in Cloud Map, use the
# deployment circuit breaker with rollback, and have read-only root file systems: whatever a
# container must write goes to a task volume (ephemeral) or to the EFS configuration share.
# (Exception: with var.enable_execute_command the main containers get a writable root file
# system, which the ECS Exec agent needs.)
#
# One-shot init containers (var.init_image, a busybox) prepare what the main container needs and
# exit; the main container starts only after they succeeded:
#   operator      writes the settings file (the same document as output operator_settings_yaml)
#   prometheus    gives its data volume to the prometheus user; seeds a minimal prometheus.yml
#   alertmanager  same, with a minimal alertmanager.yml
#   grafana       gives its data volume to the grafana user; provisions the data sources
# The seeds only exist until the operator's first pass writes the real files and reloads.

locals {
  platform_log = {
    for name in ["operator", "prometheus", "alertmanager", "grafana"] : name => {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.platform.name
        awslogs-region        = local.region
        awslogs-stream-prefix = name
      }
    }
  }

  settings_path = "/etc/ecs-operator/settings.yaml"

  prometheus_seed     = <<-EOT
    # Placeholder written before the operator's first reconcile; the operator replaces it.
    global:
      scrape_interval: ${var.default_scrape_interval}
      evaluation_interval: ${var.evaluation_interval}
  EOT
  alertmanager_seed   = <<-EOT
    # Placeholder written before the operator's first reconcile; the operator replaces it.
    route:
      receiver: "null"
    receivers:
      - name: "null"
  EOT
  grafana_datasources = <<-EOT
    apiVersion: 1
    datasources:
      - name: Prometheus
        uid: prometheus
        type: prometheus
        access: proxy
        url: ${local.internal_urls.prometheus}
        isDefault: true
        editable: false
      - name: Alertmanager
        uid: alertmanager
        type: alertmanager
        access: proxy
        url: ${local.internal_urls.alertmanager}
        editable: false
        jsonData:
          implementation: prometheus
  EOT

  # Creates $MAKE_DIRS, hands $OWNED_DIR (recursively) to $OWNER, makes $SHARED_DIRS
  # world-writable with the sticky bit (like /tmp), then writes $CONTENT to $TARGET (with
  # ONLY_IF_MISSING=1: only when $TARGET is missing or empty). POSIX sh, as found in busybox.
  init_script = <<-EOT
    set -eu
    for d in $${MAKE_DIRS:-}; do mkdir -p "$d"; done
    if [ -n "$${OWNED_DIR:-}" ]; then chown -R "$OWNER" "$OWNED_DIR"; fi
    for d in $${SHARED_DIRS:-}; do chmod 1777 "$d"; done
    if [ "$${ONLY_IF_MISSING:-0}" = 1 ] && [ -s "$TARGET" ]; then exit 0; fi
    printf '%s' "$CONTENT" > "$TARGET.tmp" && mv "$TARGET.tmp" "$TARGET"
  EOT

}

# What differs between the four platform services. Keys are the service names (also the Cloud Map
# names, the platform log stream prefixes and the task definition family suffixes).
#   volumes        task volumes: name => EFS access point key (the monitoring share, mounted with
#                  TLS and IAM authorization), or null for task storage
#   load_balancers target groups the service registers with (container, port)
#   containers     the container definitions, init container first
locals {
  platform_services = {
    operator = {
      cpu                               = var.operator_cpu
      memory                            = var.operator_memory
      task_role_arn                     = aws_iam_role.operator.arn
      security_group_id                 = aws_security_group.operator.id
      desired_count                     = var.operator_image_tag == "" ? 0 : var.operator_desired_count
      health_check_grace_period_seconds = null
      volumes                           = { settings = null, monitoring = "operator" }
      load_balancers                    = []
      containers = [
        {
          name                   = "settings"
          image                  = var.init_image
          essential              = false
          readonlyRootFilesystem = true
          entryPoint             = ["sh", "-c"]
          command                = [local.init_script]
          environment = [
            { name = "TARGET", value = local.settings_path },
            { name = "CONTENT", value = local.operator_settings_yaml },
          ]
          mountPoints      = [{ sourceVolume = "settings", containerPath = dirname(local.settings_path) }]
          logConfiguration = local.platform_log.operator
        },
        {
          name                   = "operator"
          image                  = "${aws_ecr_repository.this["ecs-operator"].repository_url}:${var.operator_image_tag == "" ? "unset" : var.operator_image_tag}"
          essential              = true
          readonlyRootFilesystem = !var.enable_execute_command
          command                = ["run", "--settings", local.settings_path]
          environment = concat(
            [
              { name = "ECS_OPERATOR_SETTINGS", value = local.settings_path },
              { name = "ECS_OPERATOR_LISTEN", value = "0.0.0.0:${var.operator_port}" },
              { name = "ECS_OPERATOR_LOG_FORMAT", value = "json" },
              { name = "ECS_OPERATOR_GRAFANA_USER", value = var.grafana_admin_user },
              { name = "AWS_REGION", value = local.region },
              { name = "RUST_LOG", value = "info" },
            ],
            var.enable_manifest_notifications ? [
              { name = "ECS_OPERATOR_EVENTS_QUEUE_URL", value = aws_sqs_queue.manifest_events[0].url },
            ] : [],
          )
          secrets = [
            { name = "ECS_OPERATOR_GRAFANA_PASSWORD", valueFrom = aws_secretsmanager_secret.grafana_admin.arn },
          ]
          portMappings = [{ containerPort = var.operator_port, protocol = "tcp" }]
          mountPoints = [
            { sourceVolume = "settings", containerPath = dirname(local.settings_path), readOnly = true },
            { sourceVolume = "monitoring", containerPath = local.monitoring_config_dir, readOnly = false },
          ]
          dependsOn = [{ containerName = "settings", condition = "SUCCESS" }]
          # The binary probes its own /healthz (works in a distroless image: no shell, no curl).
          healthCheck = {
            command     = ["CMD", "/usr/local/bin/ecs-operator", "healthcheck"]
            interval    = 15
            timeout     = 5
            retries     = 3
            startPeriod = 30
          }
          linuxParameters  = { initProcessEnabled = true }
          stopTimeout      = 30
          logConfiguration = local.platform_log.operator
        },
      ]
    }

    prometheus = {
      cpu                               = var.monitoring_task_sizes["prometheus"].cpu
      memory                            = var.monitoring_task_sizes["prometheus"].memory
      task_role_arn                     = aws_iam_role.monitoring["prometheus"].arn
      security_group_id                 = aws_security_group.prometheus.id
      desired_count                     = 1
      health_check_grace_period_seconds = null
      volumes                           = { data = null, monitoring = "prometheus" }
      load_balancers                    = []
      containers = [
        {
          name                   = "prepare"
          image                  = var.init_image
          essential              = false
          readonlyRootFilesystem = true
          entryPoint             = ["sh", "-c"]
          command                = [local.init_script]
          environment = [
            { name = "OWNED_DIR", value = "/prometheus" },
            { name = "OWNER", value = "65534:65534" },
            { name = "ONLY_IF_MISSING", value = "1" },
            { name = "TARGET", value = "${local.monitoring_config_dir}/prometheus.yml" },
            { name = "CONTENT", value = local.prometheus_seed },
          ]
          mountPoints = [
            { sourceVolume = "data", containerPath = "/prometheus" },
            { sourceVolume = "monitoring", containerPath = local.monitoring_config_dir },
          ]
          logConfiguration = local.platform_log.prometheus
        },
        {
          name                   = "prometheus"
          image                  = var.prometheus_image
          essential              = true
          user                   = "65534:65534"
          readonlyRootFilesystem = !var.enable_execute_command
          command = [
            "--config.file=${local.monitoring_config_dir}/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=${var.prometheus_retention}",
            "--web.listen-address=:9090",
            "--web.enable-lifecycle",
          ]
          portMappings = [{ containerPort = 9090, protocol = "tcp" }]
          mountPoints = [
            { sourceVolume = "data", containerPath = "/prometheus" },
            { sourceVolume = "monitoring", containerPath = local.monitoring_config_dir, readOnly = true },
          ]
          dependsOn = [{ containerName = "prepare", condition = "SUCCESS" }]
          healthCheck = {
            command     = ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:9090/-/healthy || exit 1"]
            interval    = 15
            timeout     = 5
            retries     = 3
            startPeriod = 60
          }
          stopTimeout      = 60
          logConfiguration = local.platform_log.prometheus
        },
      ]
    }

    alertmanager = {
      cpu                               = var.monitoring_task_sizes["alertmanager"].cpu
      memory                            = var.monitoring_task_sizes["alertmanager"].memory
      task_role_arn                     = aws_iam_role.monitoring["alertmanager"].arn
      security_group_id                 = aws_security_group.alertmanager.id
      desired_count                     = 1
      health_check_grace_period_seconds = null
      volumes                           = { data = null, monitoring = "alertmanager" }
      load_balancers                    = []
      containers = [
        {
          name                   = "prepare"
          image                  = var.init_image
          essential              = false
          readonlyRootFilesystem = true
          entryPoint             = ["sh", "-c"]
          command                = [local.init_script]
          environment = [
            { name = "OWNED_DIR", value = "/alertmanager" },
            { name = "OWNER", value = "65534:65534" },
            { name = "ONLY_IF_MISSING", value = "1" },
            { name = "TARGET", value = "${local.monitoring_config_dir}/alertmanager.yml" },
            { name = "CONTENT", value = local.alertmanager_seed },
          ]
          mountPoints = [
            { sourceVolume = "data", containerPath = "/alertmanager" },
            { sourceVolume = "monitoring", containerPath = local.monitoring_config_dir },
          ]
          logConfiguration = local.platform_log.alertmanager
        },
        {
          name                   = "alertmanager"
          image                  = var.alertmanager_image
          essential              = true
          user                   = "65534:65534"
          readonlyRootFilesystem = !var.enable_execute_command
          command = [
            "--config.file=${local.monitoring_config_dir}/alertmanager.yml",
            "--storage.path=/alertmanager",
            "--web.listen-address=:9093",
            # A single instance: no gossip port.
            "--cluster.listen-address=",
          ]
          portMappings = [{ containerPort = 9093, protocol = "tcp" }]
          mountPoints = [
            { sourceVolume = "data", containerPath = "/alertmanager" },
            { sourceVolume = "monitoring", containerPath = local.monitoring_config_dir, readOnly = true },
          ]
          dependsOn = [{ containerName = "prepare", condition = "SUCCESS" }]
          healthCheck = {
            command     = ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:9093/-/healthy || exit 1"]
            interval    = 15
            timeout     = 5
            retries     = 3
            startPeriod = 30
          }
          logConfiguration = local.platform_log.alertmanager
        },
      ]
    }

    # Grafana's SQLite database lives on task storage: dashboards are re-created by the operator
    # and the admin password comes from Secrets Manager, so nothing is lost with a task.
    grafana = {
      cpu                               = var.monitoring_task_sizes["grafana"].cpu
      memory                            = var.monitoring_task_sizes["grafana"].memory
      task_role_arn                     = aws_iam_role.monitoring["grafana"].arn
      security_group_id                 = aws_security_group.grafana.id
      desired_count                     = 1
      health_check_grace_period_seconds = 90
      volumes                           = { data = null, tmp = null }
      load_balancers = [
        { target_group_arn = aws_lb_target_group.grafana.arn, container_name = "grafana", container_port = local.ports.grafana },
      ]
      containers = [
        {
          name                   = "prepare"
          image                  = var.init_image
          essential              = false
          readonlyRootFilesystem = true
          entryPoint             = ["sh", "-c"]
          command                = [local.init_script]
          environment = [
            { name = "OWNED_DIR", value = "/var/lib/grafana" },
            { name = "OWNER", value = "472:0" },
            {
              name = "MAKE_DIRS", value = join(" ", [
                "/var/lib/grafana/plugins", "/var/lib/grafana/logs",
                "/var/lib/grafana/provisioning/datasources", "/var/lib/grafana/provisioning/dashboards",
                "/var/lib/grafana/provisioning/plugins", "/var/lib/grafana/provisioning/alerting",
              ])
            },
            { name = "SHARED_DIRS", value = "/grafana-tmp" },
            { name = "TARGET", value = "/var/lib/grafana/provisioning/datasources/platform.yaml" },
            { name = "CONTENT", value = local.grafana_datasources },
          ]
          mountPoints = [
            { sourceVolume = "data", containerPath = "/var/lib/grafana" },
            { sourceVolume = "tmp", containerPath = "/grafana-tmp" },
          ]
          logConfiguration = local.platform_log.grafana
        },
        {
          name                   = "grafana"
          image                  = var.grafana_image
          essential              = true
          user                   = "472"
          readonlyRootFilesystem = !var.enable_execute_command
          environment = [
            { name = "GF_PATHS_DATA", value = "/var/lib/grafana" },
            { name = "GF_PATHS_LOGS", value = "/var/lib/grafana/logs" },
            { name = "GF_PATHS_PLUGINS", value = "/var/lib/grafana/plugins" },
            { name = "GF_PATHS_PROVISIONING", value = "/var/lib/grafana/provisioning" },
            { name = "GF_SERVER_ROOT_URL", value = local.grafana_public_url },
            { name = "GF_SERVER_SERVE_FROM_SUB_PATH", value = "true" },
            { name = "GF_SECURITY_ADMIN_USER", value = var.grafana_admin_user },
            { name = "GF_SECURITY_COOKIE_SECURE", value = "true" },
            { name = "GF_SECURITY_DISABLE_GRAVATAR", value = "true" },
            { name = "GF_USERS_ALLOW_SIGN_UP", value = "false" },
            { name = "GF_AUTH_ANONYMOUS_ENABLED", value = "false" },
            { name = "GF_ANALYTICS_REPORTING_ENABLED", value = "false" },
            { name = "GF_ANALYTICS_CHECK_FOR_UPDATES", value = "false" },
            { name = "GF_LOG_MODE", value = "console" },
          ]
          secrets = [
            { name = "GF_SECURITY_ADMIN_PASSWORD", valueFrom = aws_secretsmanager_secret.grafana_admin.arn },
          ]
          portMappings = [{ containerPort = 3000, protocol = "tcp" }]
          mountPoints = [
            { sourceVolume = "data", containerPath = "/var/lib/grafana" },
            { sourceVolume = "tmp", containerPath = "/tmp" },
          ]
          dependsOn = [{ containerName = "prepare", condition = "SUCCESS" }]
          healthCheck = {
            command     = ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:3000${var.grafana_path}/api/health || exit 1"]
            interval    = 15
            timeout     = 5
            retries     = 3
            startPeriod = 60
          }
          logConfiguration = local.platform_log.grafana
        },
      ]
    }
  }
}

resource "aws_ecs_task_definition" "platform" {
  for_each = local.platform_services

  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.platform_execution.arn
  task_role_arn            = each.value.task_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  dynamic "volume" {
    for_each = each.value.volumes

    content {
      name = volume.key

      dynamic "efs_volume_configuration" {
        for_each = volume.value == null ? [] : [volume.value]

        content {
          file_system_id     = aws_efs_file_system.monitoring.id
          transit_encryption = "ENABLED"

          authorization_config {
            access_point_id = aws_efs_access_point.monitoring[efs_volume_configuration.value].id
            iam             = "ENABLED"
          }
        }
      }
    }
  }

  container_definitions = jsonencode(each.value.containers)
}

resource "aws_ecs_service" "platform" {
  for_each = local.platform_services

  name             = each.key
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.platform[each.key].arn
  desired_count    = each.value.desired_count
  platform_version = "LATEST"

  enable_execute_command            = var.enable_execute_command
  enable_ecs_managed_tags           = true
  propagate_tags                    = "SERVICE"
  health_check_grace_period_seconds = each.value.health_check_grace_period_seconds

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [each.value.security_group_id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = each.value.load_balancers

    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = load_balancer.value.container_name
      container_port   = load_balancer.value.container_port
    }
  }

  service_registries {
    registry_arn = aws_service_discovery_service.platform[each.key].arn
  }

  # Tasks start only once their roles carry their policies, the EFS share is reachable in every
  # zone and Grafana's listener rule exists (depends_on cannot vary per instance: the union).
  depends_on = [
    aws_ecs_cluster_capacity_providers.main,
    aws_iam_role_policy.operator,
    aws_iam_role_policy_attachment.operator_ingress,
    aws_iam_role_policy.platform_execution,
    aws_iam_role_policy.monitoring_efs,
    aws_efs_mount_target.monitoring,
    aws_lb_listener_rule.grafana,
  ]
}

# The resources had one block per service before; these keep existing deployments in place.
moved {
  from = aws_ecs_task_definition.operator
  to   = aws_ecs_task_definition.platform["operator"]
}

moved {
  from = aws_ecs_task_definition.prometheus
  to   = aws_ecs_task_definition.platform["prometheus"]
}

moved {
  from = aws_ecs_task_definition.alertmanager
  to   = aws_ecs_task_definition.platform["alertmanager"]
}

moved {
  from = aws_ecs_task_definition.grafana
  to   = aws_ecs_task_definition.platform["grafana"]
}

moved {
  from = aws_ecs_service.operator
  to   = aws_ecs_service.platform["operator"]
}

moved {
  from = aws_ecs_service.prometheus
  to   = aws_ecs_service.platform["prometheus"]
}

moved {
  from = aws_ecs_service.alertmanager
  to   = aws_ecs_service.platform["alertmanager"]
}

moved {
  from = aws_ecs_service.grafana
  to   = aws_ecs_service.platform["grafana"]
}
