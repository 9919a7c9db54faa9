//! `ecs-operator` as a child process, and waiting for a condition.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `check` every 200 ms until it holds; panics naming `what` after `timeout`. Returns how
/// long it took.
pub async fn eventually(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `ecs-operator` binary (`env!("CARGO_BIN_EXE_ecs-operator")` in the controller's tests)
/// with the environment every operator process gets: credentials and region for moto.
pub fn operator_command(binary: &str, endpoint: &str) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    cmd
}

/// `ecs-operator run` as a child process with its log in a file.
pub struct RunningOperator {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl RunningOperator {
    pub fn start(mut cmd: Command, settings: &Path, args: &[&str], log: &Path) -> RunningOperator {
        let port = free_port();
        let child = cmd
            .arg("run")
            .arg("--emulator")
            .arg("--settings")
            .arg(settings)
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("the ecs-operator binary starts");
        RunningOperator {
            child,
            port,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn get(&self, path: &str) -> Option<String> {
        let r = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .await
            .ok()?;
        r.text().await.ok()
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.unwrap_or_default()
    }

    pub async fn is_leader(&self) -> bool {
        self.get("/status")
            .await
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["leader"] == true)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }
}

impl Drop for RunningOperator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!("--- last lines of {}:\n{tail}", self.log.display());
        }
        // A stopped process must be continued to die cleanly on SIGKILL's delivery.
        let _ = self.child.kill();
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.pid().to_string())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}
