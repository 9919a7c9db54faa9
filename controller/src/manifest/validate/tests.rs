use super::monitoring::template_is_safe;
use super::workload::{fargate_memory_options, is_secret_arn};

#[test]
fn fargate_sizes_follow_the_aws_table() {
    assert_eq!(fargate_memory_options(256), Some(vec![512, 1024, 2048]));
    assert!(fargate_memory_options(4096).unwrap().contains(&30720));
    assert!(!fargate_memory_options(8192).unwrap().contains(&17408));
    assert!(fargate_memory_options(300).is_none());
}

#[test]
fn secret_arns_are_recognised() {
    assert!(is_secret_arn(
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-pass-AbCd"
    ));
    assert!(is_secret_arn(
        "arn:aws:ssm:eu-central-1:123456789012:parameter/pizza/db"
    ));
    assert!(!is_secret_arn("hunter2"));
    assert!(!is_secret_arn("arn:aws:s3:::bucket/key"));
}

#[test]
fn only_value_and_label_templates_are_allowed() {
    assert!(template_is_safe("pace {{ $value | humanize }}/h on {{ $labels.instance }}").is_ok());
    assert!(template_is_safe("{{ range $x := query \"up\" }}{{ end }}").is_err());
    assert!(template_is_safe("{{ $value").is_err());
    assert!(template_is_safe("oops }}").is_err());
}
