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
service_routes = {
  pizza-service = {
    path_patterns     = ["/orders", "/orders/*"]
    port              = 8080
    health_check_path = "/healthz"
    priority          = 100
  }
}
