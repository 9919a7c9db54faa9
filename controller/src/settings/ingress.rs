//! `ingress`: the platform's HTTPS listener that `traffic.ingress` routes from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::PromDuration;

/// The platform's load balancer, as far as the operator uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressSettings {
    /// The HTTPS listener of the shared Application Load Balancer
    /// (`arn:aws:elasticloadbalancing:...:listener/app/<lb>/<id>/<id>`). The operator adds a
    /// rule per service and never touches rules it does not own.
    pub listener_arn: String,
    /// The VPC of the tasks, where the operator creates the target groups (type `ip`).
    pub vpc_id: String,
    /// The host name of a service's URL when its ingress names no host of its own (the
    /// platform's domain, or the load balancer's DNS name).
    pub public_host: String,
    /// `https` (default) or `http`: the scheme of the URLs status shows.
    #[serde(default = "default_ingress_scheme")]
    pub scheme: String,
    /// The load balancer's idle timeout (its `idle_timeout.timeout_seconds`; AWS's default
    /// 60s). A manifest's `ingress.idleTimeout` above it is refused.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: PromDuration,
}

fn default_ingress_scheme() -> String {
    "https".into()
}
fn default_idle_timeout() -> PromDuration {
    PromDuration::from_secs(60)
}

impl IngressSettings {
    /// A recognisable placeholder listener, for rendering without a settings file (so
    /// `render` still shows what an ingress becomes).
    pub fn placeholder() -> Self {
        IngressSettings {
            listener_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/local/0000000000000000/0000000000000000".into(),
            vpc_id: "vpc-local".into(),
            public_host: "apps.local.ecs-operator.invalid".into(),
            scheme: default_ingress_scheme(),
            idle_timeout: default_idle_timeout(),
        }
    }

    /// The load balancer of the listener: `...:loadbalancer/app/<name>/<id>`.
    pub fn load_balancer_arn(&self) -> Option<String> {
        let (head, rest) = self.listener_arn.split_once(":listener/")?;
        let mut parts = rest.split('/');
        let (kind, name, id) = (parts.next()?, parts.next()?, parts.next()?);
        Some(format!("{head}:loadbalancer/{kind}/{name}/{id}"))
    }

    /// The checks [`Settings::check`] runs on `ingress`.
    pub(super) fn check(&self) -> Result<(), String> {
        let arn_ok = self.listener_arn.starts_with("arn:")
            && self.listener_arn.contains(":elasticloadbalancing:")
            && self.listener_arn.contains(":listener/app/")
            && self.load_balancer_arn().is_some()
            && self.listener_arn.split('/').count() == 5;
        if !arn_ok {
            return Err(format!(
                "ingress.listenerArn: {:?} is not the ARN of an Application Load Balancer listener (arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<id>)",
                self.listener_arn
            ));
        }
        if !self.vpc_id.starts_with("vpc-") {
            return Err(format!("ingress.vpcId: {:?} is not a VPC id", self.vpc_id));
        }
        if self.public_host.is_empty() || self.public_host.contains(['/', ' ', ':']) {
            return Err(format!(
                "ingress.publicHost: {:?} must be a host name (no scheme, port or path)",
                self.public_host
            ));
        }
        if self.scheme != "https" && self.scheme != "http" {
            return Err(format!(
                "ingress.scheme: {:?} must be https or http",
                self.scheme
            ));
        }
        // The ALB's own range (ELB User Guide, "Connection idle timeout": 1-4000 seconds).
        let idle = self.idle_timeout.as_secs_ceil();
        if !(1..=4000).contains(&idle) {
            return Err(format!(
                "ingress.idleTimeout: {} is outside the load balancer's 1s-4000s",
                self.idle_timeout
            ));
        }
        Ok(())
    }
}
