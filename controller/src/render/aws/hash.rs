//! The spec hash: which rendered state a service runs, recorded in its tags.

use sha2::{Digest, Sha256};

use super::DesiredService;

/// First 16 hex digits of SHA-256 over the rendered resources (tags excluded, so a label edit
/// does not look like a new revision of the service).
pub(super) fn spec_hash(d: &DesiredService) -> String {
    let mut material = serde_json::json!({
        "taskDefinition": d.task_definition,
        "service": d.service,
        "discovery": d.discovery,
        "scaling": d.scaling,
        "cluster": d.cluster,
    });
    // Only when set, so that services without one keep their spec hash.
    if let Some(pre_deploy) = &d.pre_deploy {
        material["preDeploy"] = serde_json::json!(pre_deploy);
    }
    // Only when present, so that services without an ingress keep their spec hash.
    if let (Some(ingress), Some(map)) = (&d.ingress, material.as_object_mut()) {
        map.insert("ingress".into(), serde_json::json!(ingress));
    }
    let digest = Sha256::digest(material.to_string().as_bytes());
    hex::encode(&digest[..8])
}
