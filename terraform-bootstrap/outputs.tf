# Outputs: the individual facts, and the operator's settings file assembled from them.

# The settings document (controller/src/settings.rs, manifests/schema/settings.schema.json).
# The operator task gets exactly this file (services.tf); `terraform output -raw
# operator_settings_yaml` prints it for running the operator anywhere else.
locals {
  operator_settings = {
    operatorId = var.operator_id
    region     = local.region
    cluster    = aws_ecs_cluster.main.name
    network = {
      subnets        = aws_subnet.private[*].id
      securityGroups = [aws_security_group.services.id]
      assignPublicIp = false
    }
    executionRoleArn              = aws_iam_role.execution.arn
    taskRoleArn                   = aws_iam_role.service_task.arn
    allowedTaskRoleArns           = var.service_task_role_arns
    deploymentRoleArn             = var.deployment_role_arn
    allowedDeploymentRoleArns     = var.deployment_role_arns
    allowedSecretArns             = local.service_secret_arns
    serviceDiscoveryNamespaceId   = aws_service_discovery_private_dns_namespace.main.id
    serviceDiscoveryNamespaceName = aws_service_discovery_private_dns_namespace.main.name
    logGroup                      = aws_cloudwatch_log_group.services.name
    manifestSource                = "s3://${aws_s3_bucket.manifests.id}/${local.manifest_prefix}"
    stateLocation                 = "s3://${aws_s3_bucket.manifests.id}/${local.state_prefix}"
    keepTaskDefinitionRevisions   = var.keep_task_definition_revisions
    maxPrune                      = var.max_prune
    scheduler = {
      roleArn            = aws_iam_role.scheduler.arn
      groupName          = local.schedule_group_name
      deadLetterQueueArn = aws_sqs_queue.jobs_dlq.arn
    }
    # traffic.ingress: the operator adds one rule per service to this listener (alb.tf).
    ingress = {
      listenerArn = aws_lb_listener.https.arn
      vpcId       = aws_vpc.main.id
      publicHost  = local.use_domain ? var.domain_name : aws_lb.main.dns_name
      scheme      = "https"
      idleTimeout = "${aws_lb.main.idle_timeout}s"
    }
    monitoring = {
      configDir       = local.monitoring_config_dir
      prometheusUrl   = local.internal_urls.prometheus
      alertmanagerUrl = local.internal_urls.alertmanager
      # Public: it ends up in alert links that developers click. (Inside the VPC Grafana is
      # also reachable at local.internal_urls.grafana.)
      grafanaUrl = "${local.public_base_url}${var.grafana_path}"
      # The API inside the VPC: the public ALB may have a self-signed certificate (trial
      # setup) and narrowed ingress that excludes the NAT addresses.
      grafanaApiUrl         = local.internal_urls.grafana
      serviceDiscoveryUrl   = "${local.internal_urls.operator}/sd/prometheus"
      defaultScrapeInterval = var.default_scrape_interval
      evaluationInterval    = var.evaluation_interval
      groupWait             = var.group_wait
      # The ports the prometheus_to_services rule opens: validation rejects manifests whose
      # metrics Prometheus could not reach.
      scrapePorts = {
        from = var.service_ports.from_port
        to   = var.service_ports.to_port
      }
    }
  }

  operator_settings_yaml = yamlencode(local.operator_settings)
}

output "operator_settings_yaml" {
  description = "The operator's settings file (YAML). Write it with: terraform output -raw operator_settings_yaml > settings.yaml"
  value       = yamlencode(local.operator_settings)
}

output "https_listener_arn" {
  description = "The HTTPS listener the operator adds its services' rules to (settings ingress.listenerArn)."
  value       = aws_lb_listener.https.arn
}

output "region" {
  description = "AWS region of everything created here."
  value       = local.region
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.main.name
}

output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.main.arn
}

output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.main.id
}

output "private_subnet_ids" {
  description = "Private subnets (ECS tasks, EFS mount targets, interface endpoints)."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets (ALB, NAT gateways)."
  value       = aws_subnet.public[*].id
}

output "security_group_ids" {
  description = "Security groups by role."
  value = {
    alb          = aws_security_group.alb.id
    operator     = aws_security_group.operator.id
    prometheus   = aws_security_group.prometheus.id
    alertmanager = aws_security_group.alertmanager.id
    grafana      = aws_security_group.grafana.id
    services     = aws_security_group.services.id
    efs          = aws_security_group.efs.id
    endpoints    = aws_security_group.endpoints.id
  }
}

output "services_security_group_id" {
  description = "Security group of operator-managed services (settings network.securityGroups)."
  value       = aws_security_group.services.id
}

output "execution_role_arn" {
  description = "Task execution role of operator-managed services."
  value       = aws_iam_role.execution.arn
}

output "service_task_role_arn" {
  description = "Default task role of operator-managed services (no permissions)."
  value       = aws_iam_role.service_task.arn
}

output "operator_task_role_arn" {
  description = "The operator's own task role."
  value       = aws_iam_role.operator.arn
}

output "platform_execution_role_arn" {
  description = "Task execution role of the operator and the monitoring stack."
  value       = aws_iam_role.platform_execution.arn
}

output "service_discovery_namespace_id" {
  description = "Cloud Map namespace id."
  value       = aws_service_discovery_private_dns_namespace.main.id
}

output "service_discovery_namespace_name" {
  description = "Cloud Map namespace name."
  value       = aws_service_discovery_private_dns_namespace.main.name
}

output "manifests_bucket" {
  description = "Bucket holding manifests/ (synced from git) and state/ (written by the operator)."
  value       = aws_s3_bucket.manifests.id
}

output "logs_bucket" {
  description = "Bucket receiving S3 and ALB access logs."
  value       = aws_s3_bucket.logs.id
}

output "services_log_group" {
  description = "CloudWatch log group of operator-managed services."
  value       = aws_cloudwatch_log_group.services.name
}

output "platform_log_group" {
  description = "CloudWatch log group of the operator, Prometheus, Alertmanager and Grafana."
  value       = aws_cloudwatch_log_group.platform.name
}

output "ecr_repository_urls" {
  description = "ECR repository URLs by image name."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "nat_public_ips" {
  description = "Public IPs the private subnets reach the internet from (add them to allowed_ingress_cidrs if you restrict it and tasks must call the ALB)."
  value       = aws_eip.nat[*].public_ip
}

output "alb_arn" {
  description = "ARN of the ALB (manifests' spec.loadBalancer.loadBalancerArn, for request-count scaling)."
  value       = aws_lb.main.arn
}

output "alb_dns_name" {
  description = "DNS name of the ALB."
  value       = aws_lb.main.dns_name
}

output "grafana_url" {
  description = "Where Grafana is reachable from outside (user from grafana_admin_user, password in the secret below)."
  value       = local.grafana_public_url
}

output "grafana_admin_secret_arn" {
  description = "Secrets Manager secret holding the Grafana admin password."
  value       = aws_secretsmanager_secret.grafana_admin.arn
}

output "service_target_group_arns" {
  description = "Target groups created for var.service_routes, by route name."
  value       = { for k, tg in aws_lb_target_group.service : k => tg.arn }
}

output "efs_file_system_id" {
  description = "EFS file system holding the generated monitoring configuration."
  value       = aws_efs_file_system.monitoring.id
}

output "kms_key_arn" {
  description = "Customer managed KMS key."
  value       = aws_kms_key.main.arn
}

output "manifest_events_queue_url" {
  description = "SQS queue of manifest change events (null unless enable_manifest_notifications)."
  value       = var.enable_manifest_notifications ? aws_sqs_queue.manifest_events[0].url : null
}

output "bastion_instance_id" {
  description = "Bastion instance id (null unless enable_bastion); connect with aws ssm start-session --target <id>."
  value       = var.enable_bastion ? aws_instance.bastion[0].id : null
}

output "manifests_sync_role_arn" {
  description = "Role for the GitHub Actions manifests sync (null unless github_repository is set): the workflow's ECS_OPERATOR_SYNC_ROLE_ARN."
  value       = one(aws_iam_role.github_sync[*].arn)
}
