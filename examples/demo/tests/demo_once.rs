//! `pizza-demo --once` end to end, as `examples/demo/run --once` runs it: moto_server, the
//! operator, Prometheus, Alertmanager and two pizza-service replicas on 127.0.0.1. Every
//! scenario's alert must reach the pizza team's inbox with the right labels and annotations,
//! nothing may fire under normal load, and no process the demo started may survive it.
//!
//! It takes about seven minutes (most of it is the alerts' own windows and the manifest's 15 s
//! scrape interval) and needs the tools `scripts/install-test-deps` installs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The binaries the demo runs. `cargo test --workspace` (what `scripts/test` runs) has just
/// built them next to this test's binary, for the operator's and pizza-service's own
/// integration tests; with `cargo test -p pizza-demo` alone they are built here when missing
/// (the same package set as `examples/demo/run`, so the two share their artifacts).
fn the_other_binaries(bin_dir: &Path) {
    let bins = ["ecs-operator", "pizza-service", "loadgen"];
    if bins.iter().all(|b| bin_dir.join(b).exists()) {
        return;
    }
    let target_dir = bin_dir.parent().expect("target/<profile> has a parent");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "ecs-operator",
        "-p",
        "pizza-service",
        "-p",
        "pizza-demo",
    ])
    .env("CARGO_TARGET_DIR", target_dir)
    .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    if bin_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(
        status.success(),
        "building ecs-operator and pizza-service failed"
    );
    for bin in bins {
        assert!(
            bin_dir.join(bin).exists(),
            "{bin} missing in {}",
            bin_dir.display()
        );
    }
}

/// The command line of a live process, if `pid` is one.
fn cmdline(pid: u64) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&raw).replace('\0', " "))
}

#[test]
fn the_once_demo_delivers_every_scenario_alert_to_the_pizza_team_and_leaves_no_process_behind() {
    let demo = PathBuf::from(env!("CARGO_BIN_EXE_pizza-demo"));
    let bin_dir = demo.parent().unwrap().to_path_buf();
    the_other_binaries(&bin_dir);
    let work = std::env::temp_dir().join(format!("pizza-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);

    let out = Command::new(&demo)
        .args(["--once", "--work-dir"])
        .arg(&work)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .output()
        .expect("pizza-demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let context = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");

    // No process the demo started survives it, whatever the outcome.
    let pids: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(work.join("pids.json"))
            .unwrap_or_else(|e| panic!("no pids.json in {}: {e}\n{context}", work.display())),
    )
    .unwrap();
    assert!(
        pids.len() >= 9,
        "moto, operator, 2 replicas, Alertmanager, Prometheus and the loadgens: {pids:?}"
    );
    for p in &pids {
        let (name, pid) = (p["name"].as_str().unwrap(), p["pid"].as_u64().unwrap());
        let program = match name {
            n if n.starts_with("pizza-") => "pizza-service",
            n if n.starts_with("loadgen") => "loadgen",
            n => n,
        };
        if let Some(line) = cmdline(pid) {
            assert!(
                !line.contains(program),
                "{name} (pid {pid}) is still running: {line}\n{context}"
            );
        }
    }
    let work_text = work.display().to_string();
    let left = Command::new("pgrep")
        .args(["-a", "-f", &work_text])
        .output()
        .expect("pgrep runs");
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "processes still use the work dir: {}",
        String::from_utf8_lossy(&left.stdout)
    );

    assert!(
        out.status.success(),
        "pizza-demo --once exited with {}\n{context}",
        out.status
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("steady: ") && l.ends_with("(no false positive)")),
        "no clean steady period\n{context}"
    );
    for (scenario, kind, alert) in [
        ("surge", "pace alert", "OrdersPaceAnomaly"),
        ("count", "count alert", "OrdersCountAnomaly"),
        ("outage", "outage alert", "TargetDown"),
        ("cpu-spike", "CPU alert", "CpuNearLimit"),
        ("failures", "incident alert", "FailedOrdersIncident"),
    ] {
        let prefix = format!("{scenario}: {kind} {alert} delivered to team pizza after ");
        assert!(
            stdout.lines().any(|l| l.starts_with(&prefix)),
            "no line starting with {prefix:?}\n{context}"
        );
        assert!(
            !stdout
                .lines()
                .any(|l| l.starts_with(&format!("{scenario}: FAILED"))),
            "{scenario} reported a failure\n{context}"
        );
    }
    assert!(
        stdout.contains("outage: TargetDown resolved in Prometheus after"),
        "{context}"
    );
    assert!(stdout.contains("PASSED: 7 of 7 scenarios delivered correctly, no false positive"));

    let latency: Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("latency.json")).unwrap()).unwrap();
    assert_eq!(latency["passed"], true);
    let scenarios = latency["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 5);
    for s in scenarios {
        let delivered = s["delivered_after_s"].as_f64().unwrap();
        let firing = s["firing_after_s"].as_f64().unwrap();
        assert!(
            s["ok"] == true && s["problems"] == serde_json::json!([]),
            "{s}"
        );
        assert!(delivered > 0.0 && delivered < 150.0, "{s}");
        assert!(
            firing <= delivered + 0.5,
            "Prometheus fires before the webhook is called: {s}"
        );
        assert_eq!(s["path"], "/alerts/pizza", "{s}");
    }

    // The releases: the healthy one completes untouched, the bad one is rolled back by the
    // SLO guard and the team is told, with fewer than 100 failed orders.
    let releases = latency["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 2, "{releases:?}");
    let good = &releases[0];
    assert_eq!(good["scenario"], "good-release");
    assert!(
        good["ok"] == true && good["problems"] == serde_json::json!([]),
        "{good}"
    );
    assert!(good["rolled_back_after_s"].is_null(), "{good}");
    assert!(good["completed_after_s"].as_f64().is_some(), "{good}");
    assert_eq!(good["failed_orders"], 0, "{good}");
    assert_eq!(good["alerts"], serde_json::json!([]), "{good}");
    let bad = &releases[1];
    assert_eq!(bad["scenario"], "bad-release");
    assert!(
        bad["ok"] == true && bad["problems"] == serde_json::json!([]),
        "{bad}"
    );
    let rolled_back = bad["rolled_back_after_s"].as_f64().unwrap();
    let notified = bad["notified_after_s"].as_f64().unwrap();
    assert!(rolled_back <= notified, "{bad}");
    assert!(
        bad["guard"].as_str().unwrap().contains("above the limit"),
        "{bad}"
    );
    let failed = bad["failed_orders"].as_u64().unwrap();
    assert!(failed > 0 && failed < 100, "{bad}");
    let _ = std::fs::remove_dir_all(&work);
}
