//! `traffic.ingress`: the limits of ELBv2's CreateRule, CreateTargetGroup and target group
//! attributes, each reported at its field and line.

use super::*;

#[test]
fn an_ingress_beside_a_load_balancer_target_group_is_refused_at_the_ingress() {
    // BASE has 12 lines: traffic is line 13, loadBalancer 14, ingress 16.
    let text = with_spec(
        "  traffic:\n    loadBalancer:\n      targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef\n    ingress:\n      paths: ['/*']\n",
    );
    assert_error(&text, "spec.traffic.ingress", 16, "use one");
}

#[test]
fn ingress_conditions_priority_and_delays_outside_elbv2_s_limits_are_refused_at_their_line() {
    // traffic is line 13, ingress 14, its first field 15.
    let ingress = |body: &str| with_spec(&format!("  traffic:\n    ingress:\n{body}"));
    assert_error(
        &ingress("      hosts: [a.example.com, b.example.com, c.example.com]\n      paths: [/a, /b, /c]\n"),
        "spec.traffic.ingress",
        14,
        "at most 5 condition values",
    );
    assert_error(
        &ingress("      paths: [api/*]\n"),
        "spec.traffic.ingress.paths[0]",
        15,
        "starting with '/'",
    );
    assert_error(
        &ingress(&format!("      paths: ['/{}']\n", "a".repeat(128))),
        "spec.traffic.ingress.paths[0]",
        15,
        "1-128 characters",
    );
    assert_error(
        &ingress("      hosts: [localhost]\n"),
        "spec.traffic.ingress.hosts[0]",
        15,
        "at least one '.'",
    );
    assert_error(
        &ingress("      priority: 50001\n"),
        "spec.traffic.ingress.priority",
        15,
        "1-50000",
    );
    assert_error(
        &ingress("      deregistrationDelay: 2h\n"),
        "spec.traffic.ingress.deregistrationDelay",
        15,
        "3600s",
    );
    assert_error(
        &ingress("      stickiness: 8d\n"),
        "spec.traffic.ingress.stickiness",
        15,
        "1s-7d",
    );
    assert_error(
        &ingress("      healthCheck: {successCodes: '500'}\n"),
        "spec.traffic.ingress.healthCheck.successCodes",
        15,
        "200 to 499",
    );
}

#[test]
fn a_container_health_check_the_load_balancer_cannot_use_is_refused_where_it_comes_from() {
    // container is line 6; healthCheck appended at line 11 under it, interval line 12.
    let text = with_line(
        10,
        "    port: 8080\n    healthCheck:\n      interval: 400s\n  traffic:\n    ingress: {paths: ['/*']}",
    );
    assert_error(
        &text,
        "spec.container.healthCheck.interval",
        12,
        "set spec.traffic.ingress.healthCheck.interval",
    );
}

#[test]
fn an_ingress_needs_the_settings_listener_and_an_idle_timeout_within_the_load_balancer_s() {
    let text = with_spec("  traffic:\n    ingress:\n      idleTimeout: 120s\n");
    let mut settings = ecs_operator::settings::Settings::local_defaults();
    let load = |settings: &ecs_operator::settings::Settings| {
        let mut set = ManifestSet::default();
        set.add_source("case.yaml", text.as_bytes(), Some(settings));
        set.finish();
        set.diagnostics().map(|d| d.to_string()).collect::<Vec<_>>()
    };
    let without = load(&settings);
    assert!(
        without.iter().any(|d| d.starts_with("case.yaml:14:")
            && d.contains("spec.traffic.ingress")
            && d.contains("ingress.listenerArn")),
        "{without:?}"
    );
    settings.ingress = Some(ecs_operator::settings::IngressSettings {
        listener_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2".into(),
        vpc_id: "vpc-1".into(),
        public_host: "apps.example.com".into(),
        scheme: "https".into(),
        idle_timeout: ecs_operator::duration::PromDuration::from_secs(60),
    });
    let longer = load(&settings);
    assert!(
        longer.iter().any(|d| d.starts_with("case.yaml:15:")
            && d.contains("spec.traffic.ingress.idleTimeout")
            && d.contains("shared load balancer's idle timeout (1m")),
        "{longer:?}"
    );
}

#[test]
fn the_ingress_every_field_yaml_shows_in_comments_is_valid() {
    let every = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../manifests/examples/every-field.yaml"),
    )
    .unwrap();
    let block: Vec<String> = every
        .lines()
        .skip_while(|l| l.trim() != "# ingress:")
        .take_while(|l| l.trim_start().starts_with('#'))
        .map(|l| l.replacen("# ", "", 1))
        .collect();
    assert!(block.len() > 10, "{block:?}");
    let text = with_spec(&format!("  traffic:\n{}\n", block.join("\n")));
    let set = load(&text);
    let problems: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}\n{text}");
    let ingress = set.manifests[0]
        .manifest
        .spec
        .traffic
        .ingress
        .clone()
        .unwrap();
    assert_eq!(
        ingress.health_check.success_codes.as_deref(),
        Some("200-299")
    );
    assert_eq!(ingress.priority, Some(1200));
}
