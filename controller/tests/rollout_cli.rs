//! The rollout commands as a person runs them, against moto_server: `ecs-operator rollback`
//! (the service goes back one revision and the next plan holds the spec), `rollout status`,
//! and `apply --wait` giving up at its timeout (moto never finishes a rollout: its deployment
//! list is the one made at creation). Full tier.

use std::path::PathBuf;
use std::process::Output;

use testkit::*;

/// A world, a directory source with one manifest, and a settings file pointing at both.
struct Cli {
    world: World,
    dir: tempfile::TempDir,
    name: String,
}

impl Cli {
    fn new(test: &str) -> Cli {
        let world = World::new(test);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
        let mut settings = world.settings.clone();
        settings.manifest_source = dir.path().join("manifests").display().to_string();
        std::fs::write(
            dir.path().join("settings.json"),
            serde_json::to_string(&settings).unwrap(),
        )
        .unwrap();
        let name = format!("{}-web", unique_prefix("rc"));
        Cli { world, dir, name }
    }

    fn settings(&self) -> PathBuf {
        self.dir.path().join("settings.json")
    }

    fn write_manifest(&self, image: &str) {
        std::fs::write(
            self.dir.path().join("manifests/web.yaml"),
            manifest(&self.name, image, ""),
        )
        .unwrap();
    }

    fn run(&self, args: &[&str]) -> (Output, String) {
        let out = operator_command(env!("CARGO_BIN_EXE_ecs-operator"), &moto_endpoint())
            .args(args)
            .args(["--emulator", "--settings"])
            .arg(self.settings())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out, text)
    }

    fn service(&self) -> serde_json::Value {
        aws_cli(&[
            "ecs",
            "describe-services",
            "--cluster",
            &self.world.settings.cluster,
            "--services",
            &self.name,
            "--include",
            "TAGS",
        ])["services"][0]
            .clone()
    }
}

fn revision(arn: &serde_json::Value) -> String {
    arn.as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

fn tag<'a>(service: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    service["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
}

#[test]
fn rollback_goes_back_one_revision_and_the_next_plan_holds_the_spec() {
    let cli = Cli::new("rollback");
    cli.write_manifest("nginx:1.27");
    let (out, text) = cli.run(&["apply"]);
    assert!(out.status.success(), "{text}");
    cli.write_manifest("nginx:1.28");
    let (out, text) = cli.run(&["apply"]);
    assert!(out.status.success(), "{text}");
    let before = cli.service();
    let second = revision(&before["taskDefinition"]);
    assert!(second.ends_with(":2"), "{second}");

    let (out, text) = cli.run(&["rollback", &cli.name]);
    assert!(out.status.success(), "{text}");
    let first = second.replace(":2", ":1");
    assert!(
        text.contains(&format!("rolling back from {second} to {first}")),
        "{text}"
    );
    let after = cli.service();
    assert_eq!(revision(&after["taskDefinition"]), first);
    let held = tag(&after, "ecs-operator.io/held").expect("the hold tag");
    assert!(held.ends_with(&format!(" {second} hand")), "{held}");

    // The next plan does not deploy 1.28 again: nothing to change, the service is held.
    let (out, text) = cli.run(&["plan"]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("held:"), "{text}");
    assert!(text.contains("ecs-operator retry"), "{text}");

    // `rollout status` names the revision, the image and the hold; moto's rollout never
    // completes, so it is in progress (exit 2).
    let (out, text) = cli.run(&["rollout", "status", &cli.name, "--output", "json"]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let status: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(status["revision"], first.as_str(), "{status}");
    assert_eq!(
        status["held"]["reason"],
        "rolled back by hand (ecs-operator rollback)"
    );
    assert!(status["deployments"][0]["image"].is_string(), "{status}");
}

#[test]
fn rollback_refuses_a_service_this_operator_does_not_own() {
    let cli = Cli::new("rollback-foreign");
    cli.world
        .hand_made_service(&cli.world.settings.cluster, &cli.name);
    cli.write_manifest("nginx:1.27");
    let before = cli.service();
    let (out, text) = cli.run(&["rollback", &cli.name]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("not owned by this operator"), "{text}");
    assert!(text.contains("not touched"), "{text}");
    let after = cli.service();
    assert_eq!(after["taskDefinition"], before["taskDefinition"]);
    assert!(tag(&after, "ecs-operator.io/held").is_none());
}

#[test]
fn apply_wait_shows_progress_and_fails_at_its_timeout_when_the_rollout_does_not_finish() {
    let cli = Cli::new("wait");
    cli.write_manifest("nginx:1.27");
    let (out, text) = cli.run(&[
        "apply",
        "--wait",
        "--wait-timeout",
        "3s",
        "--wait-interval",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("waiting for 1 rollout(s), at most 3s"),
        "{text}"
    );
    assert!(text.contains("rolling out ("), "{text}");
    assert!(
        text.contains(&format!("ROLLOUT FAILED {}", cli.name)) && text.contains("timed out"),
        "{text}"
    );
    // Nothing changed: nothing to wait for.
    let (out, text) = cli.run(&["apply", "--wait", "--wait-timeout", "3s"]);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("waiting for"), "{text}");
}
