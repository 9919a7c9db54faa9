# Inputs. Every variable has a type, a description and, where one is sensible, a default.

# --- naming and tagging -----------------------------------------------------------------------

variable "project" {
  description = "Value of the Project tag on every resource."
  type        = string
  default     = "ecs-operator"
}

variable "name" {
  description = "Name prefix for every resource (lowercase letters, digits and dashes)."
  type        = string
  default     = "ecs-operator"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of [a-z0-9-], starting with a letter."
  }
}

variable "environment" {
  description = "Value of the Environment tag (e.g. prod, staging)."
  type        = string
  default     = "prod"
}

variable "tags" {
  description = "Extra tags added to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "region" {
  description = "AWS region to build in."
  type        = string
  default     = "eu-central-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-central-1."
  }
}

# --- the operator -----------------------------------------------------------------------------

variable "operator_id" {
  description = "Names this operator instance: the value of the ecs-operator.io/owner tag on everything it creates, and the scope of its IAM permissions."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.operator_id))
    error_message = "operator_id must be 1-64 characters of [A-Za-z0-9_-] (the settings file enforces the same)."
  }
}

variable "operator_image_tag" {
  description = "Immutable tag of the operator image in its ECR repository. Empty: the operator service is created with 0 tasks (first apply, before an image was pushed)."
  type        = string
  default     = ""
}

variable "operator_desired_count" {
  description = "Operator tasks to run once an image tag is set. One is enough; a second waits on the S3 leader lease."
  type        = number
  default     = 1

  validation {
    condition     = var.operator_desired_count >= 0 && var.operator_desired_count <= 2
    error_message = "operator_desired_count must be 0, 1 or 2."
  }
}

variable "operator_port" {
  description = "Port of the operator's HTTP endpoint (/healthz, /metrics, /sd/prometheus)."
  type        = number
  default     = 8080

  validation {
    # The private tier's network ACL admits the platform ports through its 1024-65535 rule.
    condition     = var.operator_port >= 1024 && var.operator_port <= 65535
    error_message = "operator_port must be an unprivileged port (1024-65535)."
  }
}

variable "operator_cpu" {
  description = "Fargate CPU units for the operator task."
  type        = number
  default     = 256
}

variable "operator_memory" {
  description = "Fargate memory (MiB) for the operator task."
  type        = number
  default     = 512
}

variable "keep_task_definition_revisions" {
  description = "Settings keepTaskDefinitionRevisions: task definition revisions the operator keeps per family."
  type        = number
  default     = 5

  validation {
    condition     = var.keep_task_definition_revisions >= 1
    error_message = "keep_task_definition_revisions must be at least 1."
  }
}

variable "max_prune" {
  description = "Settings maxPrune: at most this many services may be deleted in one reconcile pass."
  type        = number
  default     = 3

  validation {
    condition     = var.max_prune >= 0
    error_message = "max_prune must not be negative."
  }
}

variable "service_task_role_arns" {
  description = "Extra IAM roles manifests may use as task role (settings allowedTaskRoleArns); the operator may iam:PassRole only these, the default service task role and the execution role."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.service_task_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "service_task_role_arns must be IAM role ARNs."
  }
}

variable "deployment_role_arn" {
  description = "ECS infrastructure role for load balancers (settings deploymentRoleArn) that blue/green, linear and canary deployments use when a manifest names none; the operator may pass it to ecs.amazonaws.com. null: manifests must name one of deployment_role_arns."
  type        = string
  default     = null

  validation {
    condition     = var.deployment_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.deployment_role_arn))
    error_message = "deployment_role_arn must be an IAM role ARN."
  }
}

variable "deployment_role_arns" {
  description = "Extra IAM roles manifests may hand to ECS for deployments (settings allowedDeploymentRoleArns): load balancer infrastructure roles and lifecycle hook roles; the operator may iam:PassRole them to ecs.amazonaws.com only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.deployment_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "deployment_role_arns must be IAM role ARNs."
  }
}

variable "service_secret_arns" {
  description = "Secrets manifests may reference (settings allowedSecretArns): Secrets Manager secret and SSM parameter ARN patterns the execution role of managed services may read. null: secrets named ecs-services/* and parameters under /ecs-services/ in this account and region."
  type        = list(string)
  default     = null

  validation {
    condition = var.service_secret_arns == null ? true : length(var.service_secret_arns) > 0 && alltrue([
      for arn in var.service_secret_arns : can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/)[^\\s\"]+$", arn))
    ])
    error_message = "service_secret_arns must be null or a non-empty list of Secrets Manager secret or SSM parameter ARN patterns."
  }
}

variable "service_secrets_kms_key_arns" {
  description = "KMS keys the execution role of managed services may decrypt service secrets with (through Secrets Manager and SSM only). null: this bootstrap's key. Secrets under AWS managed keys need no entry."
  type        = list(string)
  default     = null

  validation {
    condition = var.service_secrets_kms_key_arns == null ? true : length(var.service_secrets_kms_key_arns) > 0 && alltrue([
      for arn in var.service_secrets_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", arn))
    ])
    error_message = "service_secrets_kms_key_arns must be null or a non-empty list of KMS key ARNs."
  }
}

variable "service_log_group_prefix" {
  description = "Manifests may send container logs to their own log group (spec.container.logging.logGroup) under this prefix: the execution role may write to <prefix>/*. The groups must exist (the operator does not create them). The settings logGroup stays the default."
  type        = string
  default     = "/ecs/services"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.#-]+)+$", var.service_log_group_prefix))
    error_message = "service_log_group_prefix must look like /ecs/services (no trailing slash, no wildcard)."
  }
}

variable "service_ecr_repository_arns" {
  description = "ECR repositories, besides this bootstrap's, that operator-managed services pull images from (possibly in other accounts, whose repository policy must then allow this account)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.service_ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/[a-z0-9._/*-]+$", arn))])
    error_message = "service_ecr_repository_arns must be ECR repository ARNs."
  }
}

variable "service_ports" {
  description = "Container port range of operator-managed services: the ALB and Prometheus may reach the services security group on these ports only."
  type = object({
    from_port = number
    to_port   = number
  })
  default = {
    from_port = 8080
    to_port   = 8080
  }

  validation {
    condition     = var.service_ports.from_port >= 1 && var.service_ports.from_port <= var.service_ports.to_port && var.service_ports.to_port <= 65535
    error_message = "service_ports must be a valid port range."
  }
}

variable "service_routes" {
  description = "ALB routes to operator-managed services: one ip target group and listener rule each. Manifests name the target group by ARN (output service_target_group_arns) in spec.loadBalancer.targetGroupArn. Example: { pizza-service = { path_patterns = [\"/orders\", \"/orders/*\"], port = 8080, health_check_path = \"/healthz\", priority = 100 } }."
  type = map(object({
    path_patterns     = list(string)
    port              = number
    health_check_path = string
    priority          = number
  }))
  default = {}

  validation {
    condition     = alltrue([for k, r in var.service_routes : r.priority >= 10 && r.priority <= 50000 && length(r.path_patterns) > 0])
    error_message = "each service route needs path patterns and a priority in 10..50000 (1-9 are used by Grafana)."
  }
}

variable "enable_manifest_notifications" {
  description = "Send S3 events for the manifests prefix to an SQS queue (KMS-encrypted, with a DLQ) so the operator can reconcile immediately instead of waiting for its next poll."
  type        = bool
  default     = false
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the platform services (sessions are logged to CloudWatch, KMS-encrypted)."
  type        = bool
  default     = false
}

# --- network ----------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC. Subnets are carved out of it with cidrsubnet (/20s in a /16)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "az_count" {
  description = "Availability zones to spread subnets (and, unless single_nat_gateway, NAT gateways) over."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zones" {
  description = "Zone names to build in (at least az_count of them). Empty: the first az_count of the region's zones a-f."
  type        = list(string)
  default     = []
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, but a zone outage cuts egress for the others) instead of one per zone."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints instead of the NAT gateway (each costs per AZ-hour). S3 always gets a free gateway endpoint."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager"]

  validation {
    condition     = alltrue([for s in var.interface_endpoints : can(regex("^[a-z0-9.-]+$", s))])
    error_message = "interface_endpoints are service names such as ecr.api or logs."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group (containers, VPC flow logs, ECS Exec, WAF)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ..., 3653)."
  }
}

# --- storage ----------------------------------------------------------------------------------

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent versions of manifests and status records are deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "access_log_expiration_days" {
  description = "Days S3 and ALB access logs are kept in the log bucket."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1
    error_message = "access_log_expiration_days must be at least 1."
  }
}

variable "ecr_repositories" {
  description = "ECR repositories to create, as {name}/{entry}: the operator and the demo service by default."
  type        = list(string)
  default     = ["ecs-operator", "pizza-service"]

  validation {
    condition     = contains(var.ecr_repositories, "ecs-operator")
    error_message = "ecr_repositories must include ecs-operator (the operator's own image)."
  }
}

variable "ecr_keep_images" {
  description = "How many images each ECR repository keeps; older ones expire."
  type        = number
  default     = 30

  validation {
    condition     = var.ecr_keep_images >= 1
    error_message = "ecr_keep_images must be at least 1."
  }
}

# --- edge: ALB, DNS, WAF ----------------------------------------------------------------------

variable "domain_name" {
  description = "DNS name for the ALB (e.g. ops.example.com): an ACM certificate (DNS-validated in route53_zone_id) and a Route53 alias. Empty: certificate_arn is required instead."
  type        = string
  default     = ""
}

variable "route53_zone_id" {
  description = "Route53 hosted zone that holds domain_name (required when domain_name is set)."
  type        = string
  default     = ""
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener when domain_name is empty, e.g. a self-signed one imported for a trial (README.md). Ignored when domain_name is set."
  type        = string
  default     = ""

  validation {
    condition     = var.certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "allowed_ingress_cidrs" {
  description = "CIDRs allowed to reach the ALB on 80 and 443. The ALB is the only thing open to these."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.allowed_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_ingress_cidrs must be valid CIDR blocks."
  }
}

variable "alb_deletion_protection" {
  description = "Deletion protection on the ALB. Set false (and apply) before terraform destroy."
  type        = bool
  default     = true
}

variable "enable_waf" {
  description = "Attach a WAFv2 web ACL (AWS managed rules: common, known bad inputs, IP reputation, anonymous IPs) to the ALB, with logging."
  type        = bool
  default     = true
}

# --- monitoring stack -------------------------------------------------------------------------

variable "service_discovery_namespace" {
  description = "Name of the Cloud Map private DNS namespace (services become <name>.<namespace>)."
  type        = string
  default     = "internal"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$", var.service_discovery_namespace))
    error_message = "service_discovery_namespace must be a DNS name."
  }
}

variable "init_image" {
  description = "Small image with a shell used by the one-shot init containers (write the settings file, seed config, fix volume ownership)."
  type        = string
  default     = "public.ecr.aws/docker/library/busybox:1.36"
}

variable "prometheus_image" {
  description = "Prometheus image: the 3.13 long-term-support line (supported until July 2027). The operator writes one merged prometheus.yml."
  type        = string
  default     = "prom/prometheus:v3.13.3"
}

variable "prometheus_retention" {
  description = "Prometheus --storage.tsdb.retention.time. Data lives on the task's ephemeral storage and is lost when the task is replaced."
  type        = string
  default     = "15d"
}

variable "alertmanager_image" {
  description = "Alertmanager image (a current release; Alertmanager has no long-term-support line)."
  type        = string
  default     = "prom/alertmanager:v0.35.1"
}

variable "alert_sns_topic_arns" {
  description = "SNS topics Alertmanager may publish alerts to: the topicArn of every sns receiver in the manifests (notify.receivers[].sns). Topics encrypted with a customer managed key also need that key policy to let Alertmanager's role use it."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.alert_sns_topic_arns : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_*-]+$", arn))])
    error_message = "alert_sns_topic_arns must be SNS topic ARNs."
  }
}

variable "grafana_image" {
  description = "Grafana image. Keep its major.minor equal to @grafana/schema in tools/grafana-schema/package.json, the types the operator's dashboards are validated against (a test checks it)."
  type        = string
  default     = "grafana/grafana:12.4.14"
}

variable "grafana_path" {
  description = "Path under which the ALB serves Grafana."
  type        = string
  default     = "/grafana"

  validation {
    condition     = can(regex("^/[a-z0-9-]+$", var.grafana_path))
    error_message = "grafana_path must look like /grafana."
  }
}

variable "grafana_admin_user" {
  description = "Grafana admin user name (its password is generated and kept in Secrets Manager)."
  type        = string
  default     = "admin"
}

variable "monitoring_task_sizes" {
  description = "Fargate CPU units and memory (MiB) of the Prometheus, Alertmanager and Grafana tasks."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    prometheus   = { cpu = 512, memory = 1024 }
    alertmanager = { cpu = 256, memory = 512 }
    grafana      = { cpu = 256, memory = 512 }
  }

  validation {
    condition     = alltrue([for k in ["prometheus", "alertmanager", "grafana"] : contains(keys(var.monitoring_task_sizes), k)])
    error_message = "monitoring_task_sizes needs entries for prometheus, alertmanager and grafana."
  }
}

variable "default_scrape_interval" {
  description = "Settings monitoring.defaultScrapeInterval: scrape interval of jobs whose manifest sets none."
  type        = string
  default     = "15s"
}

variable "evaluation_interval" {
  description = "Settings monitoring.evaluationInterval: Prometheus rule evaluation interval."
  type        = string
  default     = "15s"
}

variable "group_wait" {
  description = "Settings monitoring.groupWait: Alertmanager group_wait for critical routes."
  type        = string
  default     = "10s"
}

# --- bastion ----------------------------------------------------------------------------------

variable "enable_bastion" {
  description = "Create a bastion host (as in the original walkthrough). Off by default: ECS Exec and SSM Session Manager cover most needs."
  type        = bool
  default     = false
}

variable "bastion_instance_type" {
  description = "Instance type of the bastion."
  type        = string
  default     = "t3.micro"
}

variable "bastion_allowed_cidrs" {
  description = "CIDRs allowed to SSH to the bastion. Empty (the default): no SSH rule and no public IP; reach it with SSM Session Manager."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.bastion_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0" && c != "::/0"])
    error_message = "bastion_allowed_cidrs must be valid CIDR blocks narrower than the whole internet."
  }
}

variable "bastion_key_name" {
  description = "EC2 key pair for SSH to the bastion (only useful with bastion_allowed_cidrs). Empty: none."
  type        = string
  default     = ""
}

# --- GitOps -----------------------------------------------------------------------------------

variable "github_repository" {
  description = "owner/name of the GitHub repository whose Actions workflow syncs manifests/ to the bucket (OIDC role). Empty: no role."
  type        = string
  default     = ""

  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_branch" {
  description = "Branch whose workflow runs may assume the manifests sync role."
  type        = string
  default     = "main"
}

variable "github_oidc_provider_arn" {
  description = "ARN of an existing GitHub OIDC provider in the account (there can be only one). Empty: create it."
  type        = string
  default     = ""
}
