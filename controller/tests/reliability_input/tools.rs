//! The full tier (feature `full-tier`): rendered output through Prometheus's and
//! Alertmanager's own checkers. A missing tool fails the test, naming the tool and the
//! command that installs it; it never passes quietly.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

/// The command that installs every tool the tests need.
pub const INSTALL: &str = "scripts/install-test-deps";

/// Runs `tool` with `args`; an error names the tool and either how to install it (when it
/// cannot run) or that it rejects `what` (when it exits with a failure).
fn run(tool: &str, args: &[&OsStr], what: &str) -> Result<String, String> {
    let out = Command::new(tool).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{tool} is not installed, and the full-tier tests need it: run {INSTALL}")
        } else {
            format!("{tool} could not be started ({e}); {INSTALL} installs it")
        }
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{tool} rejects {what} ({args:?}):\n{text}"))
    }
}

/// `promtool` and `amtool` are installed and answer `--version`.
pub fn tools_are_installed() -> Result<(), libtest_mimic::Failed> {
    for tool in ["promtool", "amtool"] {
        run(tool, &[OsStr::new("--version")], "--version")?;
    }
    Ok(())
}

/// Writes rendered files (keys `<prefix>/<path in the config dir>`) and runs `promtool check
/// rules` on every rule file and `amtool check-config` on every Alertmanager configuration.
/// Returns the number of files checked; at least one rule file is required.
pub fn check_with_promtool_and_amtool(files: &BTreeMap<String, String>) -> Result<usize, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut rules: Vec<PathBuf> = Vec::new();
    let mut alertmanagers: Vec<PathBuf> = Vec::new();
    for (path, content) in files {
        let target = dir.path().join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&target, content).map_err(|e| e.to_string())?;
        if path.contains("/prometheus/rules/") {
            rules.push(target);
        } else if path.ends_with("alertmanager/alertmanager.yml") {
            alertmanagers.push(target);
        }
    }
    if rules.is_empty() {
        return Err(format!(
            "nothing for promtool to check: no alert rules among the rendered files {:?}",
            files.keys().collect::<Vec<_>>()
        ));
    }
    let mut args: Vec<&OsStr> = vec![OsStr::new("check"), OsStr::new("rules")];
    args.extend(rules.iter().map(|p| p.as_os_str()));
    let checked = run("promtool", &args, "the rendered rules").and_then(|_| {
        alertmanagers.iter().try_for_each(|am| {
            run(
                "amtool",
                &[OsStr::new("check-config"), am.as_os_str()],
                "the rendered configuration",
            )
            .map(drop)
        })
    });
    match checked {
        Ok(()) => Ok(rules.len() + alertmanagers.len()),
        // The files stay for inspection.
        Err(e) => Err(format!(
            "{e}
(the files are kept in {})",
            dir.keep().display()
        )),
    }
}
