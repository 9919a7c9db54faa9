//! The fake Cloud Map (AWS Cloud Map API reference): services in a namespace, their tags and
//! registered instances. DeleteService "fails if the service has instances registered"
//! (`ResourceInUse`); ECS deregisters a service's tasks only once they stopped.

use std::collections::BTreeMap;

use aws_sdk_servicediscovery::operation::create_service::CreateServiceOutput;
use aws_sdk_servicediscovery::operation::delete_service::DeleteServiceOutput;
use aws_sdk_servicediscovery::operation::get_service::GetServiceOutput;
use aws_sdk_servicediscovery::operation::list_services::ListServicesOutput;
use aws_sdk_servicediscovery::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_servicediscovery::types::{Service, ServiceSummary, Tag};
use aws_sdk_servicediscovery::Client;
use aws_smithy_mocks::{mock, MockResponse, Rule};

use super::{aws_error, FakeAws, ACCOUNT, REGION};

/// One Cloud Map service.
#[derive(Debug, Clone)]
pub struct FakeDiscovery {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub namespace_id: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    /// Registered instances (one per running task of the ECS service using it).
    pub instances: u32,
    pub creator_request_id: Option<String>,
}

impl FakeDiscovery {
    fn summary(&self) -> ServiceSummary {
        ServiceSummary::builder()
            .id(&self.id)
            .arn(&self.arn)
            .name(&self.name)
            .description(&self.description)
            .instance_count(self.instances as i32)
            .build()
    }

    fn to_sdk(&self) -> Service {
        Service::builder()
            .id(&self.id)
            .arn(&self.arn)
            .name(&self.name)
            .namespace_id(&self.namespace_id)
            .description(&self.description)
            .instance_count(self.instances as i32)
            .build()
    }
}

pub(super) fn rules(fake: &FakeAws) -> Vec<Rule> {
    let f = fake.clone();
    let list = mock!(Client::list_services).then_compute_response(move |req| {
        let state = f.state();
        let namespace = req
            .filters()
            .iter()
            .find(|f| f.name().as_str() == "NAMESPACE_ID")
            .and_then(|f| f.values().first().cloned());
        let services = state
            .discovery
            .values()
            .filter(|d| namespace.as_ref().is_none_or(|n| *n == d.namespace_id))
            .map(FakeDiscovery::summary)
            .collect();
        MockResponse::Output(
            ListServicesOutput::builder()
                .set_services(Some(services))
                .build(),
        )
    });
    let f = fake.clone();
    let get = mock!(Client::get_service).then_compute_response(move |req| {
        let state = f.state();
        match state.discovery.get(req.id().unwrap_or_default()) {
            Some(d) => {
                MockResponse::Output(GetServiceOutput::builder().service(d.to_sdk()).build())
            }
            None => aws_error("ServiceNotFound", "No service found."),
        }
    });
    let f = fake.clone();
    let create = mock!(Client::create_service).then_compute_response(move |req| {
        let mut state = f.state();
        let name = req.name().unwrap_or_default().to_string();
        let namespace = req.namespace_id().unwrap_or_default().to_string();
        state.record(
            "servicediscovery:CreateService",
            serde_json::json!({"name": name, "creatorRequestId": req.creator_request_id()}),
        );
        if state
            .discovery
            .values()
            .any(|d| d.name == name && d.namespace_id == namespace)
        {
            return aws_error("ServiceAlreadyExists", "A service with that name exists.");
        }
        let id = format!("srv-{:04}", state.next_id());
        let d = FakeDiscovery {
            arn: format!("arn:aws:servicediscovery:{REGION}:{ACCOUNT}:service/{id}"),
            id: id.clone(),
            name,
            namespace_id: namespace,
            description: req.description().unwrap_or_default().to_string(),
            tags: req
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            instances: 0,
            creator_request_id: req.creator_request_id().map(str::to_string),
        };
        let out = d.to_sdk();
        state.discovery.insert(id, d);
        MockResponse::Output(CreateServiceOutput::builder().service(out).build())
    });
    let f = fake.clone();
    let delete = mock!(Client::delete_service).then_compute_response(move |req| {
        let mut state = f.state();
        let id = req.id().unwrap_or_default().to_string();
        state.record(
            "servicediscovery:DeleteService",
            serde_json::json!({"id": id}),
        );
        match state.discovery.get(&id) {
            None => aws_error("ServiceNotFound", "No service found."),
            Some(d) if d.instances > 0 => aws_error(
                "ResourceInUse",
                "The specified resource can't be deleted because it contains other resources.",
            ),
            Some(_) => {
                state.discovery.remove(&id);
                MockResponse::Output(DeleteServiceOutput::builder().build())
            }
        }
    });
    let f = fake.clone();
    let tags = mock!(Client::list_tags_for_resource).then_compute_response(move |req| {
        let state = f.state();
        let arn = req.resource_arn().unwrap_or_default();
        match state.discovery.values().find(|d| d.arn == arn) {
            Some(d) => MockResponse::Output(
                ListTagsForResourceOutput::builder()
                    .set_tags(Some(
                        d.tags
                            .iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
                            .collect(),
                    ))
                    .build(),
            ),
            None => aws_error("ResourceNotFoundException", "No such resource."),
        }
    });
    vec![list, get, create, delete, tags]
}
