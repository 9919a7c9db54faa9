# Every optional part switched on, for `./check`'s second `terraform plan` (against a local AWS
# emulator). Also a reference for what a fuller terraform.tfvars can look like. All IDs are fake.
domain_name                   = "ops.example.com"
route53_zone_id               = "Z0123456789ABCDEFGHIJ"
allowed_ingress_cidrs         = ["198.51.100.0/24", "203.0.113.0/24"]
az_count                      = 3
single_nat_gateway            = true
enable_bastion                = true
bastion_allowed_cidrs         = ["203.0.113.0/24"]
bastion_key_name              = "ops"
enable_manifest_notifications = true
enable_execute_command        = true
github_repository             = "example/ecs-operator"
operator_image_tag            = "v0.1.0"
service_task_role_arns        = ["arn:aws:iam::123456789012:role/checkout-task"]
# The roles manifests/examples/every-field.yaml hands to ECS for its canary deployment.
deployment_role_arn  = "arn:aws:iam::123456789012:role/ecs-infrastructure-load-balancers"
deployment_role_arns = ["arn:aws:iam::123456789012:role/checkout-deployment-hooks"]
service_routes = {
  pizza-service = {
    path_patterns     = ["/orders", "/orders/*"]
    port              = 8080
    health_check_path = "/healthz"
    priority          = 100
  }
}
# What manifests/examples/every-field.yaml and pizza-service.yaml need beyond the defaults: their
# secrets (checkout/...) and image repositories (scripts/iam-policies renders these values).
service_secret_arns = [
  "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ecs-services/*",
  "arn:aws:ssm:eu-central-1:123456789012:parameter/ecs-services/*",
  "arn:aws:secretsmanager:eu-central-1:123456789012:secret:checkout/*",
  "arn:aws:ssm:eu-central-1:123456789012:parameter/checkout/*",
]
service_ecr_repository_arns = [
  "arn:aws:ecr:eu-central-1:123456789012:repository/pizza-service",
  "arn:aws:ecr:eu-central-1:123456789012:repository/checkout",
]
# The SNS receiver of every-field.yaml: Alertmanager publishes its critical alerts there.
alert_sns_topic_arns = ["arn:aws:sns:eu-central-1:123456789012:shop-pager"]
