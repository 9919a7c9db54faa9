//! Cloud Map reads: the services of the operator's namespace.

use std::collections::BTreeMap;

use super::{DiscoveryScope, ObservedDiscovery};
use crate::aws::{AwsClients, AwsError, ErrorKind};

/// Lists the namespace's services. Ours are recognised by their description; a same-named
/// service with another description is confirmed to be in our namespace with one GetService
/// (only on such collisions) before it is reported, since some emulators ignore the filter.
pub async fn list(
    aws: &AwsClients,
    scope: &DiscoveryScope<'_>,
) -> Result<BTreeMap<String, ObservedDiscovery>, AwsError> {
    use aws_sdk_servicediscovery::types::{FilterCondition, ServiceFilter, ServiceFilterName};
    const OP: &str = "servicediscovery:ListServices";
    let filter = ServiceFilter::builder()
        .name(ServiceFilterName::NamespaceId)
        .values(scope.namespace_id)
        .condition(FilterCondition::Eq)
        .build()
        .map_err(|e| AwsError::local(OP, ErrorKind::Invalid, e.to_string()))?;
    let mut found = BTreeMap::new();
    let mut pages = aws
        .discovery
        .list_services()
        .filters(filter)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws.error(OP))?;
        for s in page.services() {
            let name = s.name().unwrap_or_default().to_string();
            let description = s.description().unwrap_or_default();
            if description != scope.description {
                if !scope.wanted.contains(&name) || found.contains_key(&name) {
                    continue;
                }
                let detail = aws
                    .discovery
                    .get_service()
                    .id(s.id().unwrap_or_default())
                    .send()
                    .await
                    .map_err(aws.error("servicediscovery:GetService"))?;
                if detail.service().and_then(|d| d.namespace_id()) != Some(scope.namespace_id) {
                    continue;
                }
            }
            found.insert(
                name.clone(),
                ObservedDiscovery {
                    id: s.id().unwrap_or_default().to_string(),
                    arn: s.arn().unwrap_or_default().to_string(),
                    name,
                    description: description.to_string(),
                    dns_ttl_seconds: s
                        .dns_config()
                        .and_then(|d| d.dns_records().first())
                        .map(|r| r.ttl()),
                    instance_count: s.instance_count().unwrap_or_default(),
                    tags: None,
                },
            );
        }
    }
    Ok(found)
}

/// The tags of one Cloud Map service.
pub async fn tags(aws: &AwsClients, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let out = aws
        .discovery
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(aws.error("servicediscovery:ListTagsForResource"))?;
    Ok(out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect())
}
