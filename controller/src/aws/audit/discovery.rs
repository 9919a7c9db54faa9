//! Cloud Map requests as IAM evaluates them.
//!
//! | operation | recorded (action on resource {condition keys}) |
//! | --- | --- |
//! | ListServices | servicediscovery:ListServices on `*`; learns service ids by name |
//! | GetService | servicediscovery:GetService on the service; learns its namespace |
//! | CreateService | servicediscovery:CreateService on the namespace and on the new service {servicediscovery:NamespaceArn, aws:RequestTag, aws:TagKeys}; with tags servicediscovery:TagResource on `*` {aws:RequestTag, aws:TagKeys} (the reference maps CreateService to both actions) |
//! | ListTagsForResource | servicediscovery:ListTagsForResource on `*` (no resource-level permissions) |
//! | UpdateService, DeleteService | on the service {aws:ResourceTag} |
//! | DiscoverInstances | servicediscovery:DiscoverInstances on the namespace and on the service, found by name {servicediscovery:NamespaceName, servicediscovery:ServiceName}; `*` when the recorder never saw the service (flagged) |

use std::collections::BTreeMap;

use aws_sdk_servicediscovery::operation as op;
use aws_sdk_servicediscovery::types::ServiceFilterName;
use aws_smithy_runtime_api::client::interceptors::context::Input;

use super::{output, Arns, Known, Line, Planned};

fn service_arn(a: &Arns, id: &str) -> String {
    a.regional("servicediscovery", &format!("service/{id}"))
}

fn namespace_arn(a: &Arns, id: &str) -> String {
    a.regional("servicediscovery", &format!("namespace/{id}"))
}

pub(super) fn plan(input: &Input, a: &Arns, k: &Known) -> Option<Planned> {
    if let Some(i) = input.downcast_ref::<op::list_services::ListServicesInput>() {
        // The namespace of the listing, when filtered on one: AWS returns only its services.
        let namespace = i
            .filters()
            .iter()
            .find(|f| f.name() == &ServiceFilterName::NamespaceId && f.values().len() == 1)
            .map(|f| f.values()[0].clone());
        let line = Line::new("servicediscovery:ListServices", "*");
        return Some(Planned::then(vec![line], move |out, _, k| {
            use op::list_services::ListServicesOutput as Out;
            for s in output::<Out>(out).map_or(&[][..], |o| o.services()) {
                if let (Some(name), Some(id)) = (s.name(), s.id()) {
                    let entry = k.discovery.entry(name.to_string());
                    // A namespace learnt from CreateService or GetService is better than the
                    // filter's: some emulators ignore the filter.
                    let seen = entry.or_insert((id.to_string(), namespace.clone()));
                    if seen.0 != id {
                        *seen = (id.to_string(), namespace.clone());
                    }
                }
            }
            Vec::new()
        }));
    }
    if let Some(i) = input.downcast_ref::<op::get_service::GetServiceInput>() {
        let line = Line::new(
            "servicediscovery:GetService",
            service_arn(a, i.id().unwrap_or_default()),
        );
        return Some(Planned::then(vec![line], |out, _, k| {
            use op::get_service::GetServiceOutput as Out;
            if let Some(s) = output::<Out>(out).and_then(|o| o.service()) {
                if let (Some(name), Some(id)) = (s.name(), s.id()) {
                    let namespace = s.namespace_id().map(str::to_string);
                    k.discovery
                        .insert(name.to_string(), (id.to_string(), namespace));
                }
            }
            Vec::new()
        }));
    }
    if let Some(i) = input.downcast_ref::<op::create_service::CreateServiceInput>() {
        return Some(create_service(i, a));
    }
    if input
        .downcast_ref::<op::list_tags_for_resource::ListTagsForResourceInput>()
        .is_some()
    {
        // The service authorization reference lists no resource type for this action.
        let line = Line::new("servicediscovery:ListTagsForResource", "*");
        return Some(Planned::lines(vec![line]));
    }
    if let Some(i) = input.downcast_ref::<op::update_service::UpdateServiceInput>() {
        let arn = service_arn(a, i.id().unwrap_or_default());
        let line = Line::new("servicediscovery:UpdateService", &arn).resource_tags(k.tags(&arn));
        return Some(Planned::lines(vec![line]));
    }
    if let Some(i) = input.downcast_ref::<op::delete_service::DeleteServiceInput>() {
        let arn = service_arn(a, i.id().unwrap_or_default());
        let line = Line::new("servicediscovery:DeleteService", &arn).resource_tags(k.tags(&arn));
        return Some(Planned::then(vec![line], move |out, _, k| {
            if output::<op::delete_service::DeleteServiceOutput>(out).is_some() {
                k.forget(&arn);
                k.discovery
                    .retain(|_, (id, _)| !arn.ends_with(&format!("/{id}")));
            }
            Vec::new()
        }));
    }
    if let Some(i) = input.downcast_ref::<op::discover_instances::DiscoverInstancesInput>() {
        return Some(discover_instances(i, a, k));
    }
    None
}

fn create_service(i: &op::create_service::CreateServiceInput, a: &Arns) -> Planned {
    let name = i.name().unwrap_or_default().to_string();
    let namespace = i.namespace_id().map(str::to_string);
    let sent: BTreeMap<String, String> = i
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let mut create = Line::new("servicediscovery:CreateService", "").request_tags(&sent);
    if let Some(ns) = &namespace {
        create = create.with("servicediscovery:NamespaceArn", namespace_arn(a, ns));
    }
    let mut lines = Vec::new();
    if let Some(ns) = &namespace {
        lines.push(Line {
            resource: namespace_arn(a, ns),
            ..create.clone()
        });
    }
    if !sent.is_empty() {
        lines.push(Line::new("servicediscovery:TagResource", "*").request_tags(&sent));
    }
    Planned::then(lines, move |out, a, k| {
        use op::create_service::CreateServiceOutput as Out;
        // The service's id is AWS's to assign: the response names it.
        let Some(s) = output::<Out>(out).and_then(|o| o.service()) else {
            return Vec::new();
        };
        let Some(id) = s.id() else {
            return Vec::new();
        };
        let arn = s.arn().map_or_else(|| service_arn(a, id), str::to_string);
        k.set_tags(&arn, sent);
        k.discovery.insert(name, (id.to_string(), namespace));
        vec![Line {
            resource: arn,
            ..create
        }]
    })
}

fn discover_instances(
    i: &op::discover_instances::DiscoverInstancesInput,
    a: &Arns,
    k: &Known,
) -> Planned {
    let namespace_name = i.namespace_name().unwrap_or_default();
    let service_name = i.service_name().unwrap_or_default();
    let line = |resource: String| {
        Line::new("servicediscovery:DiscoverInstances", resource)
            .with("servicediscovery:NamespaceName", namespace_name)
            .with("servicediscovery:ServiceName", service_name)
    };
    // The call names the namespace and service; IAM authorizes it on both resources.
    let lines = match k.discovery.get(service_name) {
        Some((id, Some(ns))) => vec![line(namespace_arn(a, ns)), line(service_arn(a, id))],
        Some((id, None)) => vec![line("*".into()), line(service_arn(a, id))],
        None => vec![line("*".into())],
    };
    Planned::lines(lines)
}
