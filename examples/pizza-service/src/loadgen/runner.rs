//! Sends `POST /orders` on an open-loop [`Schedule`], round-robin over the targets, with at most
//! `concurrency` requests in flight, and counts what came back.
//!
//! Outcomes: 201 is `created`, 500 is `failed` (the service's failed-order answer), anything else
//! (other statuses, refused connections, timeouts) is an `error`. A killed replica therefore shows
//! up as errors, never as a crash of the load generator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::schedule::Schedule;
use super::stop::StopSignal;

/// Pizzas cycled through by the generated orders.
const PIZZAS: [&str; 5] = [
    "margherita",
    "pepperoni",
    "funghi",
    "quattro formaggi",
    "diavola",
];

/// Default cap on requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Default timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to send, where and how fast.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Base URLs such as `http://127.0.0.1:8081`, without a trailing slash.
    pub targets: Vec<String>,
    pub schedule: Schedule,
    /// Most requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Timeout of each request.
    pub timeout: Duration,
}

/// The one-line result of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Requests sent (a request that got no answer still counts as sent).
    pub sent: u64,
    /// 201 answers.
    pub created: u64,
    /// 500 answers (failed orders).
    pub failed: u64,
    /// Other statuses, refused connections and timeouts.
    pub errors: u64,
    /// Wall time of the run, including waiting for the last answers.
    pub elapsed_s: f64,
    /// Requests sent per second of the sending window (from the start to one interval after the
    /// last send): equals the requested rate when the schedule was kept.
    pub achieved_rate: f64,
    /// The requested rate per second.
    pub target_rate: f64,
    /// Requests the schedule held.
    pub planned: u64,
    /// Planned requests not sent (stopped early, or too late to send).
    pub skipped: u64,
    /// Whether the run was cut short by Ctrl-C / SIGTERM.
    pub interrupted: bool,
}

#[derive(Debug, Default)]
struct Counts {
    created: AtomicU64,
    failed: AtomicU64,
    errors: AtomicU64,
}

/// A client suited to load generation: connection pool sized for the concurrency, short connect
/// timeout so that a dead replica fails fast.
pub fn http_client(concurrency: usize, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(1))
        .connect_timeout(Duration::from_secs(2).min(timeout))
        .timeout(timeout)
        .tcp_nodelay(true)
        .build()
}

/// Runs the schedule to its end, to the send deadline, or until `stop` is raised; then waits (at
/// most one request timeout) for the answers still outstanding.
pub async fn run(client: &reqwest::Client, config: &RunConfig, mut stop: StopSignal) -> Summary {
    let schedule = config.schedule;
    let concurrency = config.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let counts = Arc::new(Counts::default());
    let urls: Vec<String> = config
        .targets
        .iter()
        .map(|t| format!("{t}/orders"))
        .collect();

    let start = Instant::now();
    let send_deadline = start + schedule.send_deadline();
    let mut sent: u64 = 0;
    let mut last_send = start;

    if !urls.is_empty() {
        for i in 0..schedule.count() {
            let due = start + schedule.offset(i);
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = stop.stopped() => break,
            }
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = stop.stopped() => break,
                () = tokio::time::sleep_until(send_deadline) => break,
            };
            let now = Instant::now();
            if now >= send_deadline {
                break;
            }
            let url = urls[(i % urls.len() as u64) as usize].clone();
            let body = order_body(i);
            let client = client.clone();
            let counts = Arc::clone(&counts);
            let timeout = config.timeout;
            tokio::spawn(async move {
                send_one(&client, &url, body, timeout, &counts).await;
                drop(permit);
            });
            sent += 1;
            last_send = now;
        }
    }

    // Wait for the answers still outstanding: every request has its own timeout, so this ends.
    let drain = config.timeout + Duration::from_secs(1);
    let all_slots = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(drain, slots.acquire_many(all_slots)).await;

    let elapsed = start.elapsed().as_secs_f64();
    let window = if sent == 0 {
        0.0
    } else {
        (last_send - start).as_secs_f64() + 1.0 / schedule.rate()
    };
    let created = counts.created.load(Ordering::SeqCst);
    let failed = counts.failed.load(Ordering::SeqCst);
    // Requests still unanswered after the drain count as errors.
    let answered = created + failed + counts.errors.load(Ordering::SeqCst);
    let errors = counts.errors.load(Ordering::SeqCst) + sent.saturating_sub(answered);
    Summary {
        sent,
        created,
        failed,
        errors,
        elapsed_s: round3(elapsed),
        achieved_rate: if window > 0.0 {
            round3(sent as f64 / window)
        } else {
            0.0
        },
        target_rate: round3(schedule.rate()),
        planned: schedule.count(),
        skipped: schedule.count() - sent,
        interrupted: stop.is_stopped(),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn order_body(i: u64) -> serde_json::Value {
    let pizza = PIZZAS[(i % PIZZAS.len() as u64) as usize];
    serde_json::json!({ "pizza": pizza, "quantity": 1 + i % 3 })
}

async fn send_one(
    client: &reqwest::Client,
    url: &str,
    body: serde_json::Value,
    timeout: Duration,
    counts: &Counts,
) {
    let outcome = client.post(url).json(&body).timeout(timeout).send().await;
    let counter = match outcome {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the body so that the connection goes back to the pool.
            let _ = response.bytes().await;
            match status {
                201 => &counts.created,
                500 => &counts.failed,
                _ => &counts.errors,
            }
        }
        Err(_) => &counts.errors,
    };
    counter.fetch_add(1, Ordering::SeqCst);
}

/// Checks and normalises target URLs: `http(s)://host:port`, no trailing slash, at least one.
pub fn normalise_targets(targets: &[String]) -> Result<Vec<String>, String> {
    let out: Vec<String> = targets
        .iter()
        .map(|t| t.trim().trim_end_matches('/').to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    if out.is_empty() {
        return Err("no targets given".to_owned());
    }
    for t in &out {
        let parsed = reqwest::Url::parse(t).map_err(|e| format!("invalid target {t:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(format!("invalid target {t:?}: expected http://host:port"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_trimmed_and_checked() {
        let ok = normalise_targets(&[
            "http://127.0.0.1:8081/ ".to_owned(),
            "https://a.example".to_owned(),
        ]);
        assert_eq!(
            ok,
            Ok(vec![
                "http://127.0.0.1:8081".to_owned(),
                "https://a.example".to_owned()
            ])
        );
        assert!(normalise_targets(&[]).is_err());
        assert!(normalise_targets(&["ftp://x".to_owned()]).is_err());
        assert!(normalise_targets(&["127.0.0.1:8080".to_owned()]).is_err());
    }

    #[test]
    fn order_bodies_are_valid_orders() {
        for i in 0..10 {
            let order: crate::orders::NewOrder =
                serde_json::from_value(order_body(i)).expect("an order");
            assert!(order.validate().is_ok());
        }
    }
}
