# Network ACLs: one per subnet tier, the coarse, stateless filter at the subnet boundary. The
# security groups (security_groups.tf) stay the fine, stateful filter per role; README.md,
# "Security groups and network ACLs", says what each layer decides.
#
# A network ACL remembers no connection: every rule admits packets in one direction only, so each
# path needs a rule for its requests and one for its replies, which go to the client's ephemeral
# port. Ephemeral ports here are 1024-65535: the range NAT gateways and load balancers use (Linux
# tasks use 32768-60999, inside it). DNS (the VPC resolver), the task metadata endpoint and the
# time service are not filtered by network ACLs.
#
# Tiers: public (ALB, NAT gateways, the optional bastion) and private (ECS tasks, EFS mount targets,
# interface endpoints). There is no other tier: EFS and the endpoints live in the private subnets.

resource "aws_network_acl" "public" {
  vpc_id     = aws_vpc.main.id
  subnet_ids = aws_subnet.public[*].id

  tags = { Name = "${var.name}-public" }
}

resource "aws_network_acl" "private" {
  vpc_id     = aws_vpc.main.id
  subnet_ids = aws_subnet.private[*].id

  tags = { Name = "${var.name}-private" }
}

# The VPC's default ACL allows everything; adopted and left without rules (like the default
# security group), a subnet added later without an ACL of its own is closed, not open.
resource "aws_default_network_acl" "default" {
  default_network_acl_id = aws_vpc.main.default_network_acl_id

  tags = { Name = "${var.name}-default-closed" }

  lifecycle {
    # Subnets move to the tier ACLs above; Terraform must not try to move them back.
    ignore_changes = [subnet_ids]
  }
}

locals {
  ephemeral_ports = { from = 1024, to = 65535 }

  # Every rule but the internet replies and the bastion's SSH (below). Numbers below 200; rules
  # are evaluated in number order per direction, the first match decides, the rest is denied.
  nacl_rules = {
    # public tier, in: clients to the ALB; tasks' HTTPS to the NAT gateways
    public_in_https = {
      acl       = "public", egress = false, rule_number = 100, protocol = "tcp"
      from_port = 443, to_port = 443, cidr_block = "0.0.0.0/0"
    }
    # clients to the ALB's redirect to HTTPS
    public_in_http = {
      acl       = "public", egress = false, rule_number = 110, protocol = "tcp"
      from_port = 80, to_port = 80, cidr_block = "0.0.0.0/0"
    }
    # public tier, out: the NAT gateways forward tasks' HTTPS; the bastion's SSM agent
    public_out_https = {
      acl       = "public", egress = true, rule_number = 100, protocol = "tcp"
      from_port = 443, to_port = 443, cidr_block = "0.0.0.0/0"
    }
    # the ALB to its targets on their ports; the NAT gateways return replies to tasks
    public_out_vpc = {
      acl       = "public", egress = true, rule_number = 110, protocol = "tcp"
      from_port = 0, to_port = 65535, cidr_block = var.vpc_cidr
    }
    # replies to internet clients of the ALB (and SSH clients of the bastion)
    public_out_replies = {
      acl       = "public", egress = true, rule_number = 120, protocol = "tcp"
      from_port = local.ephemeral_ports.from, to_port = local.ephemeral_ports.to, cidr_block = "0.0.0.0/0"
    }
    # private tier, in: tasks to the interface endpoints
    private_in_endpoints = {
      acl       = "private", egress = false, rule_number = 100, protocol = "tcp"
      from_port = 443, to_port = 443, cidr_block = var.vpc_cidr
    }
    # the ALB and Prometheus to operator-managed services (their ports may be below 1024)
    private_in_services = {
      acl       = "private", egress = false, rule_number = 120, protocol = "tcp"
      from_port = var.service_ports.from_port, to_port = var.service_ports.to_port, cidr_block = var.vpc_cidr
    }
    # the platform ports (Grafana 3000, the operator's, Prometheus 9090, Alertmanager 9093), EFS
    # (2049, from the operator, Prometheus and Alertmanager) and replies from inside the VPC
    private_in_platform = {
      acl       = "private", egress = false, rule_number = 130, protocol = "tcp"
      from_port = local.ephemeral_ports.from, to_port = local.ephemeral_ports.to, cidr_block = var.vpc_cidr
    }
    # private tier, out: anywhere; the security groups narrow it (443 to the internet, named peers):
    # requests to the NAT gateways, endpoints, EFS and peers; replies to the ALB and peers
    private_out_all = {
      acl       = "private", egress = true, rule_number = 100, protocol = "tcp"
      from_port = 0, to_port = 65535, cidr_block = "0.0.0.0/0"
    }
  }

  nacl_ids = {
    public  = aws_network_acl.public.id
    private = aws_network_acl.private.id
  }
}

resource "aws_network_acl_rule" "rule" {
  for_each = local.nacl_rules

  network_acl_id = local.nacl_ids[each.value.acl]
  egress         = each.value.egress
  rule_number    = each.value.rule_number
  rule_action    = "allow"
  protocol       = each.value.protocol
  from_port      = each.value.from_port
  to_port        = each.value.to_port
  cidr_block     = each.value.cidr_block
}

# Replies from the internet, into both tiers: to the ALB and the NAT gateways (public), and to
# tasks, whose replies come from internet addresses through the NAT gateway and from S3's public
# addresses through the gateway endpoint (private). Being stateless, the rule also admits new
# connections to those ports from the internet: the private subnets have no route from it, and
# the security groups admit none.
resource "aws_network_acl_rule" "internet_replies" {
  #checkov:skip=CKV_AWS_231:Return traffic must reach every ephemeral port (1024-65535), 3389 included, or some NAT'd connections fail; the security groups keep 3389 closed.
  for_each = local.nacl_ids

  network_acl_id = each.value
  egress         = false
  rule_number    = 140
  rule_action    = "allow"
  protocol       = "tcp"
  from_port      = 1024
  to_port        = 65535
  cidr_block     = "0.0.0.0/0"
}

# Path MTU discovery: "fragmentation needed" (ICMP type 3, code 4) must come back, or large
# packets between the VPC (MTU 9001) and the internet (1500) stall.
resource "aws_network_acl_rule" "path_mtu_discovery" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; only type 3 code 4 (fragmentation needed) is allowed.
  for_each = local.nacl_ids

  network_acl_id = each.value
  egress         = false
  rule_number    = 150
  rule_action    = "allow"
  protocol       = "icmp"
  icmp_type      = 3
  icmp_code      = 4
  cidr_block     = "0.0.0.0/0"
}

# SSH to the bastion from var.bastion_allowed_cidrs (none by default): it then sits in a public
# subnet. Its replies leave through public_out_replies.
resource "aws_network_acl_rule" "bastion_ssh" {
  for_each = toset(var.bastion_allowed_cidrs)

  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 200 + index(var.bastion_allowed_cidrs, each.value)
  rule_action    = "allow"
  protocol       = "tcp"
  from_port      = 22
  to_port        = 22
  cidr_block     = each.value
}
