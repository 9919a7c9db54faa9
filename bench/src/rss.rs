//! Peak RSS of the real `ecs-operator run` process with N manifests loaded: start the binary
//! against moto with `--max-passes 2` and poll VmHWM in /proc/<pid>/status until it exits.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ecs_operator::settings::Settings;

pub struct Rss {
    /// Highest VmHWM seen, KiB: everything resident, the executable's mapped pages included.
    pub peak_kib: u64,
    /// Highest RssAnon seen, KiB: the heap, stacks and other private memory, without the
    /// file-backed pages of the executable (shared, and reclaimable under pressure).
    pub peak_anon_kib: u64,
    pub secs: f64,
}

/// A `/proc/<pid>/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `bin` with the environment of a measured operator process: moto as AWS, warnings only,
/// JSON logs, no output on stdout.
pub fn operator_command(bin: &Path, endpoint: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null());
    cmd
}

/// [`measure`] with the operator talking to moto through `testkit::aws_pages`: listings come
/// in AWS's pages (ECS ListServices 100, Cloud Map ListServices 100, ...), not whole.
pub fn measure_on_aws_pages(
    bin: &Path,
    endpoint: &str,
    settings: &Settings,
    work: &Path,
) -> Result<Rss> {
    let proxy = testkit::fault_proxy::FaultProxy::start(endpoint);
    proxy.set(testkit::fault_proxy::Config {
        aws_pages: true,
        ..testkit::fault_proxy::Config::default()
    });
    measure(bin, &proxy.endpoint(), settings, &work.join("aws-pages"))
}

/// Runs `bin run --max-passes 2` with `settings`, returns its peak RSS.
pub fn measure(bin: &Path, endpoint: &str, settings: &Settings, work: &Path) -> Result<Rss> {
    std::fs::create_dir_all(work)?;
    let settings_path = work.join(format!("settings-{}.json", settings.cluster));
    std::fs::write(&settings_path, serde_json::to_string(settings)?)?;
    let log = work.join(format!("run-{}.log", settings.cluster));
    let started = Instant::now();
    let mut child = operator_command(bin, endpoint)
        .args([
            "run",
            "--emulator",
            "--no-leader-election",
            "--max-passes",
            "2",
            "--interval",
            "1s",
            "--poll-interval",
            "200ms",
        ])
        .arg("--settings")
        .arg(&settings_path)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()?)])
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id();
    let (mut peak, mut peak_anon) = (0, 0);
    let status = loop {
        if let Some(kib) = status_kib(pid, "VmHWM:") {
            peak = peak.max(kib);
        }
        if let Some(kib) = status_kib(pid, "RssAnon:") {
            peak_anon = peak_anon.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "ecs-operator run did not finish 2 passes in 300 s; see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if !status.success() {
        bail!(
            "ecs-operator run exited with {status}; see {}",
            log.display()
        );
    }
    Ok(Rss {
        peak_kib: peak,
        peak_anon_kib: peak_anon,
        secs: started.elapsed().as_secs_f64(),
    })
}
