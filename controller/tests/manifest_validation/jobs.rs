//! Pre-deploy tasks and scheduled jobs: each case breaks one rule of RunTask or EventBridge
//! Scheduler and names the field and line it must be reported at.

use super::*;

#[test]
fn pre_deploy_mistakes_are_reported_at_their_field_and_line() {
    // Lines 13-15: the pre-deploy task.
    let pre = |command: &str, timeout: &str| {
        with_spec(&format!(
            "  preDeploy:\n    command: {command}\n    timeout: {timeout}\n"
        ))
    };
    assert!(load(&pre("[migrate, --to, latest]", "10m"))
        .rejected
        .is_empty());
    assert_error(
        &pre("[]", "10m"),
        "spec.preDeploy.command",
        14,
        "must name the command",
    );
    assert_error(
        &pre("[migrate]", "10s"),
        "spec.preDeploy.timeout",
        15,
        "between 30s and 24h",
    );
    assert_error(
        &pre("[migrate]", "2d"),
        "spec.preDeploy.timeout",
        15,
        "between 30s and 24h",
    );
}

#[test]
fn job_mistakes_are_reported_at_their_field_and_line_as_eventbridge_scheduler_would_refuse_them() {
    // Line 13 `jobs:`, 14 the name, 15 the schedule, 16 the command, 17 on: `extra`.
    let job = |name: &str, schedule: &str, extra: &str| {
        with_spec(&format!(
            "  jobs:\n    - name: {name}\n      schedule: \"{schedule}\"\n      command: [cleanup]\n{extra}"
        ))
    };
    assert!(load(&job(
        "nightly",
        "cron(0 3 * * ? *)",
        "      timezone: Europe/Berlin\n"
    ))
    .rejected
    .is_empty());
    assert!(load(&job("hourly.v2", "rate(1 hour)", ""))
        .rejected
        .is_empty());
    let at = "spec.jobs[0]";
    assert_error(
        &job("nightly", "cron(0 3 * * *)", ""),
        &format!("{at}.schedule"),
        15,
        "has 5 fields",
    );
    assert_error(
        &job("nightly", "cron(0 3 * * * *)", ""),
        &format!("{at}.schedule"),
        15,
        "must be '?'",
    );
    assert_error(
        &job("nightly", "rate(1 hours)", ""),
        &format!("{at}.schedule"),
        15,
        "singular for 1",
    );
    assert_error(
        &job("nightly", "at(2027-02-30T03:00:00)", ""),
        &format!("{at}.schedule"),
        15,
        "at(yyyy-mm-ddThh:mm:ss)",
    );
    assert_error(
        &job(&"n".repeat(60), "rate(1 day)", ""),
        &format!("{at}.name"),
        14,
        "at most 64",
    );
    assert_error(
        &job("night/ly", "rate(1 day)", ""),
        &format!("{at}.name"),
        14,
        "letters, digits",
    );
    assert_error(
        &job(
            "nightly",
            "rate(1 day)",
            "      timezone: Mars/Olympus_Mons\n",
        ),
        &format!("{at}.timezone"),
        17,
        "not an IANA time zone",
    );
    assert_error(
        &job(
            "nightly",
            "rate(1 day)",
            "      retry:\n        maximumAttempts: 186\n",
        ),
        &format!("{at}.retry.maximumAttempts"),
        18,
        "between 0 and 185",
    );
    assert_error(
        &job(
            "nightly",
            "rate(1 day)",
            "      retry:\n        maximumEventAge: 30s\n",
        ),
        &format!("{at}.retry.maximumEventAge"),
        18,
        "between 1m and 24h",
    );
    assert_error(
        &job(
            "nightly",
            "rate(1 day)",
            "      deadLetterQueueArn: arn:aws:sns:eu-central-1:123456789012:topic\n",
        ),
        &format!("{at}.deadLetterQueueArn"),
        17,
        "not an SQS queue ARN",
    );
    let twice = job(
        "nightly",
        "rate(1 day)",
        "    - name: nightly\n      schedule: rate(2 days)\n      command: [x]\n",
    );
    assert_error(&twice, "spec.jobs[1].name", 17, "another job");
}

#[test]
fn jobs_need_the_scheduler_in_the_operator_settings() {
    let text = with_spec(
        "  jobs:\n    - name: nightly\n      schedule: rate(1 day)\n      command: [x]\n",
    );
    let mut set = ManifestSet::default();
    let settings = ecs_operator::settings::Settings::local_defaults();
    set.add_source("case.yaml", text.as_bytes(), Some(&settings));
    set.finish();
    let diags: Vec<String> = set.diagnostics().map(|d| d.to_string()).collect();
    assert!(
        diags.iter().any(|d| d.starts_with("case.yaml:13:")
            && d.contains("spec.jobs")
            && d.contains("`scheduler`")),
        "{diags:?}"
    );
}
