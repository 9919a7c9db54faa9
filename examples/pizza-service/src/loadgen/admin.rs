//! A client of the service's admin API (`/admin/faults`, `/admin/crash`), used by the scenarios.

use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::faults::{FaultStatus, KnobsPatch};

/// Timeout of one admin call: admin calls are cheap, a slow one means the replica is in trouble.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Admin API client for any number of targets.
#[derive(Debug, Clone)]
pub struct Admin {
    client: reqwest::Client,
}

impl Admin {
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    /// `GET /admin/faults`.
    pub async fn faults(&self, target: &str) -> anyhow::Result<FaultStatus> {
        let url = format!("{target}/admin/faults");
        let response = self
            .client
            .get(&url)
            .timeout(ADMIN_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        decode(response, &url).await
    }

    /// `PUT /admin/faults` with a partial update; returns the new state.
    pub async fn set_faults(
        &self,
        target: &str,
        patch: &KnobsPatch,
    ) -> anyhow::Result<FaultStatus> {
        let url = format!("{target}/admin/faults");
        let response = self
            .client
            .put(&url)
            .json(patch)
            .timeout(ADMIN_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("PUT {url}"))?;
        decode(response, &url).await
    }

    /// `POST /admin/crash`. The replica answers 202 and exits right after.
    pub async fn crash(&self, target: &str) -> anyhow::Result<()> {
        let url = format!("{target}/admin/crash");
        let response = self
            .client
            .post(&url)
            .timeout(ADMIN_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("POST {url}: status {status}");
        }
        Ok(())
    }
}

async fn decode(response: reqwest::Response, url: &str) -> anyhow::Result<FaultStatus> {
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    if !status.is_success() {
        bail!("{url}: status {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{url}: unexpected answer {text}"))
}
