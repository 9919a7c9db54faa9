//! Every process the demo starts, stopped by PID whatever happens.
//!
//! Children run in their own process group (a Ctrl-C in the terminal reaches only the demo,
//! which then stops them in order) and get SIGTERM from the kernel if the demo itself dies
//! (`PR_SET_PDEATHSIG`), so not even a `kill -9` of the demo leaves servers behind.
//! [`Supervisor::stop_all`] runs on the normal path and on Ctrl-C / SIGTERM; `Drop` runs it
//! when a panic unwinds out of the demo.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;

struct Proc {
    name: String,
    pid: u32,
    child: Child,
    status: Option<ExitStatus>,
}

/// A process the demo started, for the record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Started {
    pub name: String,
    pub pid: u32,
}

type Table = Mutex<Vec<Proc>>;

pub struct Supervisor {
    table: Table,
    log_dir: PathBuf,
    started: Mutex<Vec<Started>>,
}

fn lock(table: &Table) -> std::sync::MutexGuard<'_, Vec<Proc>> {
    table.lock().unwrap_or_else(|e| e.into_inner())
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a PID of a child we have not reaped yet (so it cannot be reused).
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Whether a process with this PID exists (a zombie counts).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Supervisor {
    pub fn new(log_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let table: Table = Mutex::default();
        Ok(Self {
            table,
            log_dir: log_dir.to_path_buf(),
            started: Mutex::new(Vec::new()),
        })
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.log_dir.join(format!("{name}.log"))
    }

    /// Starts `cmd` with stdout and stderr in `<log_dir>/<name>.log` (or stdout in `stdout`).
    pub fn spawn(
        &self,
        name: &str,
        cmd: &mut Command,
        stdout: Option<&Path>,
    ) -> anyhow::Result<u32> {
        let log = File::create(self.log_path(name))?;
        let out = match stdout {
            Some(path) => File::create(path)?,
            None => log.try_clone()?,
        };
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        let pid = child.id();
        lock(&self.table).push(Proc {
            name: name.to_string(),
            pid,
            child,
            status: None,
        });
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Started {
                name: name.to_string(),
                pid,
            });
        println!("  started {name} (pid {pid})");
        Ok(pid)
    }

    /// Every process started so far (running or not).
    pub fn started(&self) -> Vec<Started> {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The exit status when the process has ended (it is reaped then).
    pub fn try_wait(&self, pid: u32) -> Option<ExitStatus> {
        let mut table = lock(&self.table);
        let p = table.iter_mut().find(|p| p.pid == pid)?;
        if p.status.is_none() {
            p.status = p.child.try_wait().ok().flatten();
        }
        p.status
    }

    /// Sends a signal to a process that has not been reaped.
    pub fn signal(&self, pid: u32, sig: libc::c_int) {
        let table = lock(&self.table);
        if table.iter().any(|p| p.pid == pid && p.status.is_none()) {
            signal(pid, sig);
        }
    }

    /// Waits (without blocking the runtime) until the process exits, up to `timeout`.
    pub async fn wait(&self, pid: u32, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_wait(pid) {
                return Some(status);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; always reaps.
    pub async fn stop(&self, pid: u32, grace: Duration) -> Option<ExitStatus> {
        self.signal(pid, libc::SIGTERM);
        if let Some(status) = self.wait(pid, grace).await {
            return Some(status);
        }
        self.signal(pid, libc::SIGKILL);
        self.wait(pid, Duration::from_secs(5)).await
    }

    /// Stops everything still running, newest first, and forgets it. Returns what was stopped.
    pub fn stop_all(&self) -> Vec<String> {
        stop_table(&self.table, Duration::from_secs(10))
    }
}

impl Drop for Supervisor {
    /// Reached with processes still in the table only when a panic unwinds out of the demo.
    fn drop(&mut self) {
        let lines = self.stop_all();
        if !lines.is_empty() {
            eprintln!("pizza-demo is unwinding: stopping every process it started");
            for line in lines {
                eprintln!("  {line}");
            }
        }
    }
}

/// Stops every process of `table`; see [`stop_procs`].
fn stop_table(table: &Table, grace: Duration) -> Vec<String> {
    let procs: Vec<Proc> = std::mem::take(&mut *lock(table));
    stop_procs(procs, grace)
}

/// Stops the processes newest first, one at a time (servers before what they talk to:
/// the operator releases its lease in S3 while moto still answers): SIGTERM, up to `grace`
/// to exit, then SIGKILL. Every process is reaped. One line per process.
fn stop_procs(mut procs: Vec<Proc>, grace: Duration) -> Vec<String> {
    let mut report = Vec::new();
    for p in procs.iter_mut().rev() {
        if p.status.is_none() {
            p.status = p.child.try_wait().ok().flatten();
        }
        if p.status.is_some() {
            report.push(format!("had already exited: {} (pid {})", p.name, p.pid));
            continue;
        }
        signal(p.pid, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while p.status.is_none() && Instant::now() < deadline {
            p.status = p.child.try_wait().ok().flatten();
            if p.status.is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if p.status.is_some() {
            report.push(format!("stopped {} (pid {})", p.name, p.pid));
        } else {
            let _ = p.child.kill();
            p.status = p.child.wait().ok();
            report.push(format!(
                "killed {} (pid {}): no exit within {grace:?} of SIGTERM",
                p.name, p.pid
            ));
        }
    }
    report
}
