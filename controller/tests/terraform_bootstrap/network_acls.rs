//! The network ACLs (nacl.tf), evaluated the way AWS does: per subnet tier and direction, rules
//! in number order, the first match decides, anything unmatched is denied, and no memory of
//! connections, so every path needs its requests admitted one way and its replies (to the
//! client's ephemeral port) the other. Variable defaults and locals are followed to their values.

use std::collections::BTreeSet;

use hcl::expr::{Expression, TraversalOperator};
use hcl::Block;

use crate::support::*;

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    acl: String,
    egress: bool,
    number: u64,
    allow: bool,
    protocol: String,
    ports: (u64, u64),
    icmp: Option<(u64, u64)>,
    cidr: String,
}

/// An expression followed through `var.<name>` defaults and `local.<name>` values (and their
/// object attributes) to a literal.
fn resolve<'a>(cfg: &'a Config, expr: &'a Expression) -> &'a Expression {
    let Expression::Traversal(t) = expr else {
        return expr;
    };
    let Expression::Variable(root) = &t.expr else {
        return expr;
    };
    let mut ops = t.operators.iter();
    let name = match ops.next() {
        Some(TraversalOperator::GetAttr(id)) => id.as_str(),
        _ => return expr,
    };
    let mut value = match root.as_str() {
        "var" => cfg.variable_default(name),
        "local" => cfg.local(name),
        _ => None,
    }
    .unwrap_or_else(|| panic!("cannot follow {expr:?}"));
    for op in ops {
        let TraversalOperator::GetAttr(id) = op else {
            panic!("cannot follow {expr:?}");
        };
        value = object_attr(resolve(cfg, value), id.as_str())
            .unwrap_or_else(|| panic!("no {id} in {expr:?}"));
    }
    resolve(cfg, value)
}

fn number(cfg: &Config, expr: Option<&Expression>, what: &str) -> u64 {
    expr.and_then(|e| as_u64(Some(resolve(cfg, e))))
        .unwrap_or_else(|| panic!("{what}: not a number: {expr:?}"))
}

fn string(cfg: &Config, expr: Option<&Expression>, what: &str) -> String {
    expr.and_then(|e| as_str(Some(resolve(cfg, e))))
        .unwrap_or_else(|| panic!("{what}: not a string: {expr:?}"))
        .to_string()
}

/// A rule from an attribute source (`each.value` entry or the resource body itself).
fn rule<'a>(
    cfg: &'a Config,
    name: String,
    acl: String,
    get: &dyn Fn(&str) -> Option<&'a Expression>,
) -> Rule {
    let protocol = string(cfg, get("protocol"), &name);
    let icmp = (protocol == "icmp").then(|| {
        (
            number(cfg, get("icmp_type"), &name),
            number(cfg, get("icmp_code"), &name),
        )
    });
    let ports = if protocol == "icmp" {
        (0, 0)
    } else {
        (
            number(cfg, get("from_port"), &name),
            number(cfg, get("to_port"), &name),
        )
    };
    let allow = match string(cfg, get("rule_action"), &name).as_str() {
        "allow" => true,
        "deny" => false,
        other => panic!("{name}: rule_action {other}"),
    };
    Rule {
        egress: as_bool(get("egress").map(|e| resolve(cfg, e)))
            .unwrap_or_else(|| panic!("{name}: egress")),
        number: number(cfg, get("rule_number"), &name),
        cidr: string(cfg, get("cidr_block"), &name),
        name,
        acl,
        allow,
        protocol,
        ports,
        icmp,
    }
}

/// The ACL name (`public`, `private`) a `network_acl_id` expression points at.
fn acl_of(cfg: &Config, block: &Block, instance: &str, entry: Option<&Expression>) -> String {
    let id = attr(block.body(), "network_acl_id").expect("network_acl_id");
    if let Some(path) = traversal_path(id).filter(|p| p[0] == "aws_network_acl") {
        return path[1].clone();
    }
    // local.nacl_ids[each.value.acl] or each.value over local.nacl_ids: the key names the ACL.
    match entry.and_then(|e| object_attr(e, "acl")) {
        Some(acl) => string(cfg, Some(acl), instance),
        None => instance.to_string(),
    }
}

/// Every rule of every `aws_network_acl_rule`, one per `for_each` instance; the bastion's SSH
/// rules (for_each over its CIDR variable, empty by default) come out of `bastion_ssh_rules`.
fn nacl_rules<'a>(cfg: &'a Config) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (name, block) in cfg.resources("aws_network_acl_rule") {
        if name == "bastion_ssh" {
            continue;
        }
        let entries = for_each_object(cfg, block)
            .unwrap_or_else(|| panic!("aws_network_acl_rule.{name}: for_each over an object"));
        for (key, entry) in entries {
            let from_entry = |k: &str| -> Option<&'a Expression> {
                let value = attr(block.body(), k)?;
                match traversal_path(value).as_deref() {
                    Some([each, field, attr_name]) if each == "each" && field == "value" => {
                        object_attr(entry, attr_name)
                    }
                    _ => Some(value),
                }
            };
            let acl = acl_of(
                cfg,
                block,
                &key,
                Some(entry).filter(|e| matches!(e, Expression::Object(_))),
            );
            rules.push(rule(cfg, format!("{name}[{key}]"), acl, &from_entry));
        }
    }
    rules
}

/// The bastion's SSH rule for one allowed CIDR, as nacl.tf writes it for `each.value`.
fn bastion_ssh_rules(cfg: &Config, cidrs: &[&str]) -> Vec<Rule> {
    let (_, block) = cfg
        .resources("aws_network_acl_rule")
        .find(|(n, _)| *n == "bastion_ssh")
        .expect("aws_network_acl_rule.bastion_ssh");
    let for_each = attr(block.body(), "for_each").unwrap();
    assert!(
        possible_strings(cfg, for_each, None).is_empty()
            && format!("{for_each:?}").contains("bastion_allowed_cidrs"),
        "bastion_ssh iterates over var.bastion_allowed_cidrs (empty by default)"
    );
    cidrs
        .iter()
        .enumerate()
        .map(|(i, cidr)| {
            let get = |k: &str| attr(block.body(), k);
            let cidr_expr = get("cidr_block").unwrap();
            assert!(
                is_traversal_to(cidr_expr, &["each", "value"]),
                "bastion_ssh cidr_block"
            );
            Rule {
                name: format!("bastion_ssh[{cidr}]"),
                acl: acl_of(cfg, block, "bastion_ssh", None),
                egress: as_bool(get("egress")).unwrap(),
                number: 200 + i as u64,
                allow: as_str(get("rule_action")) == Some("allow"),
                protocol: as_str(get("protocol")).unwrap().to_string(),
                ports: (
                    as_u64(get("from_port")).unwrap(),
                    as_u64(get("to_port")).unwrap(),
                ),
                icmp: None,
                cidr: cidr.to_string(),
            }
        })
        .collect()
}

fn ipv4(text: &str) -> u32 {
    text.split('.')
        .map(|o| o.parse::<u32>().expect("IPv4 octet"))
        .fold(0, |acc, o| (acc << 8) | o)
}

fn in_cidr(cidr: &str, ip: &str) -> bool {
    let (net, bits) = cidr.split_once('/').expect("a CIDR");
    let bits: u32 = bits.parse().unwrap();
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    ipv4(net) & mask == ipv4(ip) & mask
}

enum Packet {
    Tcp(u64),
    Icmp(u64, u64),
}

/// Whether the ACL of `tier` admits a packet going `out` (or in) to/from `peer`.
fn admits(rules: &[Rule], tier: &str, out: bool, peer: &str, packet: &Packet) -> bool {
    let mut applicable: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.acl == tier && r.egress == out)
        .collect();
    applicable.sort_by_key(|r| r.number);
    applicable
        .into_iter()
        .find(|r| {
            in_cidr(&r.cidr, peer)
                && match packet {
                    Packet::Tcp(port) => {
                        (r.protocol == "tcp" || r.protocol == "-1")
                            && (r.ports.0..=r.ports.1).contains(port)
                    }
                    Packet::Icmp(t, c) => r.protocol == "icmp" && r.icmp == Some((*t, *c)),
                }
        })
        .is_some_and(|r| r.allow)
}

// Addresses: the internet, S3 (through the gateway endpoint, public addresses), one host in a
// public and one in a private subnet of the default vpc_cidr (10.40.0.0/16).
const INTERNET: &str = "203.0.113.10";
const S3: &str = "52.219.170.10";
const PUBLIC: &str = "10.40.0.10";
const PRIVATE: &str = "10.40.128.10";
const EPHEMERAL: [u64; 4] = [1024, 32768, 60999, 65535];

/// Where an address sits: a tier, or outside the VPC (no ACL of ours on its side).
fn tier_of(ip: &str) -> Option<&'static str> {
    match ip {
        PUBLIC => Some("public"),
        PRIVATE => Some("private"),
        _ => None,
    }
}

/// The crossings one TCP connection makes, requests and replies, that the ACLs refuse.
fn blocked_crossings(rules: &[Rule], client: &str, server: &str, port: u64) -> Vec<String> {
    let mut blocked = Vec::new();
    for eph in EPHEMERAL {
        let mut cross = |tier: Option<&str>, out: bool, peer: &str, dst_port: u64, what: &str| {
            if let Some(tier) = tier {
                if !admits(rules, tier, out, peer, &Packet::Tcp(dst_port)) {
                    blocked.push(format!(
                        "{what}: {tier} {} {peer} port {dst_port}",
                        if out { "out to" } else { "in from" }
                    ));
                }
            }
        };
        cross(tier_of(client), true, server, port, "request");
        cross(tier_of(server), false, client, port, "request");
        cross(tier_of(server), true, client, eph, "reply");
        cross(tier_of(client), false, server, eph, "reply");
    }
    blocked
}

#[test]
fn every_subnet_tier_has_its_own_network_acl_and_the_default_one_is_closed() {
    let cfg = Config::load();
    let tiers: BTreeSet<&str> = cfg.resources("aws_subnet").map(|(n, _)| n).collect();
    assert_eq!(tiers, BTreeSet::from(["private", "public"]), "subnet tiers");
    let mut covered = BTreeSet::new();
    for (name, acl) in cfg.resources("aws_network_acl") {
        let subnets = attr(acl.body(), "subnet_ids")
            .and_then(traversal_path)
            .unwrap_or_else(|| panic!("aws_network_acl.{name}: subnet_ids"));
        assert_eq!(subnets[0], "aws_subnet", "{name}");
        assert_eq!(
            subnets[1], name,
            "aws_network_acl.{name} covers its own tier"
        );
        assert!(
            covered.insert(subnets[1].clone()),
            "{name}: tier covered twice"
        );
        for inline in ["ingress", "egress", "dynamic"] {
            assert!(
                sub_block(acl.body(), inline).is_none(),
                "{name}: rules are aws_network_acl_rule resources (mixing with inline {inline} fights)"
            );
        }
    }
    assert_eq!(covered, BTreeSet::from(["private".into(), "public".into()]));
    // Rules name their ACL through local.nacl_ids: each key must point at the ACL of that name.
    let ids = cfg.local("nacl_ids").expect("local.nacl_ids");
    for (key, id) in object_entries(ids) {
        assert!(
            is_traversal_to(id, &["aws_network_acl", &key]),
            "local.nacl_ids.{key}"
        );
    }
    let (_, default) = cfg
        .resources("aws_default_network_acl")
        .next()
        .expect("the default network ACL is adopted");
    for rules in ["ingress", "egress"] {
        assert!(
            sub_block(default.body(), rules).is_none(),
            "default ACL has {rules} rules"
        );
    }
}

#[test]
fn network_acl_rule_numbers_are_unique_per_acl_and_direction() {
    let cfg = Config::load();
    let mut rules = nacl_rules(&cfg);
    rules.extend(bastion_ssh_rules(
        &cfg,
        &["198.51.100.0/24", "203.0.113.0/24"],
    ));
    let mut seen = BTreeSet::new();
    for r in &rules {
        assert!(
            seen.insert((r.acl.clone(), r.egress, r.number)),
            "{}: rule number {} used twice",
            r.name,
            r.number
        );
        assert!(
            r.number >= 1 && r.number <= 32766,
            "{}: rule number",
            r.name
        );
    }
}

#[test]
fn the_network_acls_let_every_platform_path_through_in_both_directions() {
    let cfg = Config::load();
    let rules = nacl_rules(&cfg);
    let services = number(
        &cfg,
        cfg.variable_default("service_ports")
            .and_then(|o| object_attr(o, "from_port")),
        "service_ports",
    );
    let operator = number(&cfg, cfg.variable_default("operator_port"), "operator_port");
    let paths: Vec<(&str, &str, &str, u64)> = vec![
        ("internet to the ALB, HTTPS", INTERNET, PUBLIC, 443),
        ("internet to the ALB, HTTP redirect", INTERNET, PUBLIC, 80),
        ("ALB to Grafana", PUBLIC, PRIVATE, 3000),
        ("ALB to a managed service", PUBLIC, PRIVATE, services),
        (
            "Prometheus scrapes a managed service",
            PRIVATE,
            PRIVATE,
            services,
        ),
        ("Prometheus to the operator", PRIVATE, PRIVATE, operator),
        ("Prometheus to Alertmanager", PRIVATE, PRIVATE, 9093),
        ("operator and Grafana to Prometheus", PRIVATE, PRIVATE, 9090),
        ("operator to Grafana", PRIVATE, PRIVATE, 3000),
        ("tasks to EFS", PRIVATE, PRIVATE, 2049),
        ("tasks to the interface endpoints", PRIVATE, PRIVATE, 443),
        ("tasks to the NAT gateway (HTTPS out)", PRIVATE, PUBLIC, 443),
        ("NAT gateway to the internet", PUBLIC, INTERNET, 443),
        ("tasks to S3 through the gateway endpoint", PRIVATE, S3, 443),
    ];
    // Service ports may be below 1024, outside the platform's 1024-65535 rule: their own rule.
    let (from, to) = (
        services,
        number(
            &cfg,
            cfg.variable_default("service_ports")
                .and_then(|o| object_attr(o, "to_port")),
            "service_ports",
        ),
    );
    assert!(
        rules.iter().any(|r| r.acl == "private"
            && !r.egress
            && r.allow
            && r.ports == (from, to)
            && r.cidr == string(&cfg, cfg.variable_default("vpc_cidr"), "vpc_cidr")),
        "a private ingress rule for exactly var.service_ports from the VPC"
    );
    let entries = object_entries(cfg.local("nacl_rules").expect("local.nacl_rules"));
    assert!(
        entries.iter().any(|(_, e)| {
            let at = |k: &str, path: &[&str]| {
                object_attr(e, k).is_some_and(|x| is_traversal_to(x, path))
            };
            at("from_port", &["var", "service_ports", "from_port"])
                && at("to_port", &["var", "service_ports", "to_port"])
                && at("cidr_block", &["var", "vpc_cidr"])
        }),
        "the services rule follows var.service_ports"
    );
    // var.service_ports may be any range: the ALB reaches the private tier on every port.
    for port in [1, 80, 443, 1023, 1024, 8080, 65535] {
        assert!(
            admits(&rules, "public", true, PRIVATE, &Packet::Tcp(port)),
            "ALB out to port {port}"
        );
    }
    let mut problems = Vec::new();
    for (what, client, server, port) in paths {
        for b in blocked_crossings(&rules, client, server, port) {
            problems.push(format!("{what}: {b}"));
        }
    }
    // Through the NAT gateway the replies keep the internet address as source: into the public
    // tier from the internet, out of it to the task, into the private tier from the internet.
    for eph in EPHEMERAL {
        for (tier, out, peer) in [
            ("public", false, INTERNET),
            ("public", true, PRIVATE),
            ("private", false, INTERNET),
        ] {
            if !admits(&rules, tier, out, peer, &Packet::Tcp(eph)) {
                problems.push(format!(
                    "NAT reply: {tier} {} {peer} port {eph}",
                    if out { "out to" } else { "in from" }
                ));
            }
        }
    }
    // Path MTU discovery from the internet, into both tiers.
    for tier in ["public", "private"] {
        assert!(
            admits(&rules, tier, false, INTERNET, &Packet::Icmp(3, 4)),
            "{tier}: ICMP fragmentation needed"
        );
        assert!(
            !admits(&rules, tier, false, INTERNET, &Packet::Icmp(8, 0)),
            "{tier}: ICMP echo"
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn from_the_internet_the_network_acls_admit_only_the_albs_web_ports_below_1024() {
    let cfg = Config::load();
    let rules = nacl_rules(&cfg);
    for port in 0..1024 {
        for tier in ["public", "private"] {
            let admitted = admits(&rules, tier, false, INTERNET, &Packet::Tcp(port));
            let expected = tier == "public" && (port == 80 || port == 443);
            assert_eq!(
                admitted, expected,
                "{tier} tier, port {port} from the internet"
            );
        }
    }
    // The stateless replies are explicit, in both directions, for the whole ephemeral range.
    for (tier, out) in [("public", true), ("public", false), ("private", false)] {
        assert!(
            rules.iter().any(|r| r.acl == tier
                && r.egress == out
                && r.allow
                && r.cidr == "0.0.0.0/0"
                && r.protocol == "tcp"
                && r.ports.0 <= 1024
                && r.ports.1 == 65535),
            "{tier} {}: a rule for replies on 1024-65535",
            if out { "egress" } else { "ingress" }
        );
    }
    // SSH only from the bastion's CIDRs, and only into the public tier.
    let mut with_bastion = rules.clone();
    with_bastion.extend(bastion_ssh_rules(&cfg, &["198.51.100.0/24"]));
    assert!(admits(
        &with_bastion,
        "public",
        false,
        "198.51.100.7",
        &Packet::Tcp(22)
    ));
    assert!(!admits(
        &with_bastion,
        "public",
        false,
        INTERNET,
        &Packet::Tcp(22)
    ));
    assert!(!admits(
        &with_bastion,
        "private",
        false,
        "198.51.100.7",
        &Packet::Tcp(22)
    ));
    assert!(blocked_crossings(&with_bastion, "198.51.100.7", PUBLIC, 22).is_empty());
}
