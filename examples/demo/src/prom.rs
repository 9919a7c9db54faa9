//! Prometheus's HTTP API: targets, rules, and a 100 ms poll of `/api/v1/alerts` that records
//! when each alert became pending, firing and inactive again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;

use crate::clock::Clock;

#[derive(Clone)]
pub struct Api {
    pub url: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a reqwest client builds"),
        }
    }

    /// `data` of a successful `GET <url><path>`.
    pub async fn data(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        let body: Value = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .json()
            .await
            .with_context(|| format!("GET {url}: not JSON"))?;
        if body["status"] != "success" {
            bail!("GET {url}: {body}");
        }
        Ok(body["data"].clone())
    }

    pub async fn targets(&self) -> anyhow::Result<Vec<Value>> {
        let data = self.data("/api/v1/targets?state=active").await?;
        Ok(data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    pub async fn rule_groups(&self) -> anyhow::Result<Vec<Value>> {
        let data = self.data("/api/v1/rules").await?;
        Ok(data["groups"].as_array().cloned().unwrap_or_default())
    }

    pub async fn alerts(&self) -> anyhow::Result<Vec<Value>> {
        let data = self.data("/api/v1/alerts").await?;
        Ok(data["alerts"].as_array().cloned().unwrap_or_default())
    }
}

/// One stretch of time during which an alert series was pending or firing.
#[derive(Debug, Clone)]
pub struct Episode {
    pub alertname: String,
    pub service: String,
    pub labels: Value,
    pub first_seen: Instant,
    pub pending_at: Option<Instant>,
    pub firing_at: Option<Instant>,
    /// Prometheus's `activeAt`: the evaluation that first found the condition true.
    pub active_at: Option<Instant>,
    pub ended_at: Option<Instant>,
}

impl Episode {
    pub fn overlaps(&self, from: Instant, to: Instant) -> bool {
        self.first_seen <= to && self.ended_at.is_none_or(|end| end >= from)
    }
}

#[derive(Default)]
struct State {
    active: HashMap<String, usize>,
    episodes: Vec<Episode>,
    polls: u64,
    errors: u64,
}

/// The alert poller.
#[derive(Clone)]
pub struct Tracker {
    state: Arc<Mutex<State>>,
}

fn key_of(labels: &Value) -> String {
    let mut pairs: Vec<(String, String)> = labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn describe(labels: &Value) -> String {
    let mut text = format!(
        "{} (service {}",
        labels["alertname"].as_str().unwrap_or("?"),
        labels["service"].as_str().unwrap_or("?")
    );
    if let Some(task) = labels["task"].as_str() {
        text.push_str(&format!(", task {task}"));
    }
    text.push(')');
    text
}

impl Tracker {
    /// A tracker that polls nothing (before Prometheus runs).
    pub fn empty() -> Self {
        Tracker {
            state: Arc::default(),
        }
    }

    /// Polls `/api/v1/alerts` every `every` until the runtime ends.
    pub fn start(api: Api, clock: Clock, every: Duration) -> Self {
        let tracker = Tracker {
            state: Arc::default(),
        };
        let t = tracker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let result = api.alerts().await;
                t.observe(result, &clock);
            }
        });
        tracker
    }

    fn observe(&self, result: anyhow::Result<Vec<Value>>, clock: &Clock) {
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.polls += 1;
        let Ok(alerts) = result else {
            st.errors += 1;
            return;
        };
        let mut seen = Vec::new();
        for a in &alerts {
            let labels = &a["labels"];
            let key = key_of(labels);
            let state = a["state"].as_str().unwrap_or("");
            let index = match st.active.get(&key) {
                Some(i) => *i,
                None => {
                    st.episodes.push(Episode {
                        alertname: labels["alertname"].as_str().unwrap_or("").to_string(),
                        service: labels["service"].as_str().unwrap_or("").to_string(),
                        labels: labels.clone(),
                        first_seen: now,
                        pending_at: None,
                        firing_at: None,
                        active_at: a["activeAt"].as_str().and_then(|t| clock.instant_of(t)),
                        ended_at: None,
                    });
                    let i = st.episodes.len() - 1;
                    st.active.insert(key.clone(), i);
                    i
                }
            };
            let e = &mut st.episodes[index];
            if state == "pending" && e.pending_at.is_none() {
                e.pending_at = Some(now);
                println!(
                    "  [{}] prometheus: {} is pending",
                    clock.stamp(now),
                    describe(labels)
                );
            }
            if state == "firing" && e.firing_at.is_none() {
                e.firing_at = Some(now);
                println!(
                    "  [{}] prometheus: {} is firing",
                    clock.stamp(now),
                    describe(labels)
                );
            }
            seen.push(key);
        }
        let ended: Vec<(String, usize)> = st
            .active
            .iter()
            .filter(|(k, _)| !seen.contains(k))
            .map(|(k, i)| (k.clone(), *i))
            .collect();
        for (key, i) in ended {
            st.active.remove(&key);
            let e = &mut st.episodes[i];
            e.ended_at = Some(now);
            println!(
                "  [{}] prometheus: {} is no longer active (resolved)",
                clock.stamp(now),
                describe(&e.labels)
            );
        }
    }

    pub fn episodes(&self) -> Vec<Episode> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .episodes
            .clone()
    }

    /// (polls, failed polls) so far.
    pub fn polls(&self) -> (u64, u64) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.polls, st.errors)
    }

    /// Episodes of `alertname` for `service` still active or begun at or after `since`.
    pub fn of(&self, alertname: &str, service: &str, since: Instant) -> Vec<Episode> {
        self.episodes()
            .into_iter()
            .filter(|e| e.alertname == alertname && e.service == service)
            .filter(|e| e.first_seen >= since || e.ended_at.is_none())
            .collect()
    }

    /// Whether any series of `alertname` for `service` is pending or firing.
    pub fn is_active(&self, alertname: &str, service: &str) -> bool {
        self.episodes()
            .iter()
            .any(|e| e.alertname == alertname && e.service == service && e.ended_at.is_none())
    }

    /// Episodes of `service` pending or firing at some point in `[from, to]`.
    pub fn active_between(&self, service: &str, from: Instant, to: Instant) -> Vec<Episode> {
        self.episodes()
            .into_iter()
            .filter(|e| e.service == service && e.overlaps(from, to))
            .collect()
    }
}
