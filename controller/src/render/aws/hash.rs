//! The spec hash: which rendered state a service runs, recorded in its tags.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{DesiredIngress, TaskDefinition};
use super::{DesiredService, DiscoveryService, EcsService, PreDeployTask, ScalingTarget};

/// What the spec hash covers, in the order it is written. The JSON these fields serialise to is
/// what every released version hashed (first as a `serde_json::Value`, keys in this order), so
/// the hash of an unchanged service never changes on upgrade.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HashedSpec<'a> {
    task_definition: &'a TaskDefinition,
    service: &'a EcsService,
    discovery: &'a Option<DiscoveryService>,
    scaling: &'a Option<ScalingTarget>,
    cluster: &'a str,
    /// Only when set, so that services without one keep their spec hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_deploy: Option<&'a PreDeployTask>,
    /// Only when present, so that services without an ingress keep their spec hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress: Option<&'a DesiredIngress>,
}

/// First 16 hex digits of SHA-256 over the rendered resources (tags excluded, so a label edit
/// does not look like a new revision of the service).
///
/// The JSON is written straight into the hasher: building it as a `serde_json::Value` first
/// copied every string of the service and was most of the cost of rendering it.
pub(super) fn spec_hash(d: &DesiredService) -> String {
    let spec = HashedSpec {
        task_definition: &d.task_definition,
        service: &d.service,
        discovery: &d.discovery,
        scaling: &d.scaling,
        cluster: &d.cluster,
        pre_deploy: d.pre_deploy.as_ref(),
        ingress: d.ingress.as_ref(),
    };
    let mut hasher = Sha256::new();
    serde_json::to_writer(&mut hasher, &spec).expect("rendered resources always serialise");
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    /// The hash as released versions computed it: through a `serde_json::Value` whose objects
    /// keep their keys in insertion order (serde_json's `preserve_order`).
    fn released_spec_hash(d: &DesiredService) -> String {
        let mut material = serde_json::json!({
            "taskDefinition": d.task_definition,
            "service": d.service,
            "discovery": d.discovery,
            "scaling": d.scaling,
            "cluster": d.cluster,
        });
        if let Some(pre_deploy) = &d.pre_deploy {
            material["preDeploy"] = serde_json::json!(pre_deploy);
        }
        if let (Some(ingress), Some(map)) = (&d.ingress, material.as_object_mut()) {
            map.insert("ingress".into(), serde_json::json!(ingress));
        }
        hex::encode(&Sha256::digest(material.to_string().as_bytes())[..8])
    }

    #[test]
    fn the_streamed_hash_is_the_released_hash_for_every_example() {
        let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/examples");
        let mut settings = Settings::local_defaults();
        settings.ingress = Some(crate::settings::IngressSettings {
            listener_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2".into(),
            vpc_id: "vpc-1".into(),
            public_host: "apps.example.com".into(),
            scheme: "https".into(),
            idle_timeout: crate::duration::PromDuration::from_secs(60),
        });
        let mut desired = Vec::new();
        for entry in std::fs::read_dir(examples).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let manifest = crate::yaml::from_str(&text).unwrap();
            desired.push(crate::render::render_service(&manifest, &settings));
        }
        assert!(desired.len() >= 4, "{} examples rendered", desired.len());
        let with = |f: fn(&DesiredService) -> bool| desired.iter().filter(|d| f(d)).count();
        assert!(with(|d| d.pre_deploy.is_some()) > 0 && with(|d| d.ingress.is_some()) > 0);
        assert!(with(|d| d.pre_deploy.is_none() && d.ingress.is_none()) > 0);
        for d in &desired {
            assert_eq!(d.spec_hash, released_spec_hash(d), "{}", d.name);
        }
    }
}
