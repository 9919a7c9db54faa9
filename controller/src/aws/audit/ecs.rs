//! ECS requests as IAM evaluates them.
//!
//! | operation | recorded (action on resource {condition keys}) |
//! | --- | --- |
//! | ListServices | ecs:ListServices on `*` {ecs:cluster} |
//! | DescribeServices | ecs:DescribeServices on each service {ecs:cluster, aws:ResourceTag}; learns tags (with `include: TAGS`) |
//! | CreateService | ecs:CreateService on the service {ecs:cluster, ecs:task-definition, aws:RequestTag, aws:TagKeys}; with tags also ecs:TagResource {ecs:CreateAction = CreateService, aws:RequestTag, aws:TagKeys} (ECS authorizes tagging on create separately) |
//! | UpdateService | ecs:UpdateService on the service {ecs:cluster, ecs:task-definition, aws:ResourceTag} |
//! | CreateService / UpdateService naming roles | iam:PassRole on each load balancer's infrastructure role and each lifecycle hook's role {iam:PassedToService = ecs.amazonaws.com} |
//! | DeleteService | ecs:DeleteService on the service {ecs:cluster, aws:ResourceTag} |
//! | TagResource / UntagResource | on the resource {aws:RequestTag, aws:TagKeys / aws:TagKeys, aws:ResourceTag} |
//! | ListTagsForResource | on the resource {aws:ResourceTag}; learns tags |
//! | RegisterTaskDefinition | iam:PassRole on the task and execution roles {iam:PassedToService = ecs-tasks.amazonaws.com}; ecs:RegisterTaskDefinition on the new revision {aws:RequestTag, aws:TagKeys, ecs:compute-compatibility, ecs:task-cpu, ecs:task-memory, ecs:privileged}; with tags ecs:TagResource {ecs:CreateAction = RegisterTaskDefinition, ...} |
//! | DescribeTaskDefinition, ListTaskDefinitions, ListTaskDefinitionFamilies, DeregisterTaskDefinition | on `*` (no resource type); learn revisions and tags |
//! | ListTasks | ecs:ListTasks on `*` {ecs:cluster} (on the container instance when one is named) |
//! | DescribeTasks | ecs:DescribeTasks on each task {ecs:cluster} |
//! | RunTask | ecs:RunTask on the task definition revision {ecs:cluster, aws:ResourceTag}; with tags ecs:TagResource on each task started {ecs:CreateAction = RunTask, aws:RequestTag, aws:TagKeys}, recorded once the answer names it; learns the task's tags |
//! | StopTask | ecs:StopTask on the task {ecs:cluster, aws:ResourceTag} |

use std::collections::BTreeMap;

use aws_sdk_ecs::operation as op;
use aws_sdk_ecs::types::{ServiceField, Tag, TaskDefinitionField};
use aws_smithy_runtime_api::client::interceptors::context::Input;

use super::{output, tag_map, Arns, Known, Line, Planned};

fn tags(tags: &[Tag]) -> BTreeMap<String, String> {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

fn cluster_arn(a: &Arns, cluster: Option<&str>) -> String {
    Arns::or_build(cluster.unwrap_or("default"), |name| {
        a.regional("ecs", &format!("cluster/{name}"))
    })
}

/// The service ARN in the long format (`service/<cluster>/<name>`) unless given as an ARN.
fn service_arn(a: &Arns, cluster_arn: &str, service: &str) -> String {
    let cluster = cluster_arn.rsplit('/').next().unwrap_or(cluster_arn);
    Arns::or_build(service, |name| {
        a.regional("ecs", &format!("service/{cluster}/{name}"))
    })
}

/// A task definition ARN from an ARN, `family:revision`, or a family (its latest known
/// revision); None when the revision is unknown.
fn task_definition_arn(a: &Arns, k: &Known, td: &str) -> Option<String> {
    if td.starts_with("arn:") {
        return Some(td.to_string());
    }
    let revision = match td.split_once(':') {
        Some(_) => String::new(),
        None => format!(":{}", k.revisions.get(td)?),
    };
    Some(a.regional("ecs", &format!("task-definition/{td}{revision}")))
}

pub(super) fn plan(input: &Input, a: &Arns, k: &Known) -> Option<Planned> {
    if let Some(i) = input.downcast_ref::<op::list_services::ListServicesInput>() {
        let line =
            Line::new("ecs:ListServices", "*").with("ecs:cluster", cluster_arn(a, i.cluster()));
        return Some(Planned::lines(vec![line]));
    }
    if let Some(i) = input.downcast_ref::<op::describe_services::DescribeServicesInput>() {
        return Some(describe_services(i, a, k));
    }
    if let Some(i) = input.downcast_ref::<op::create_service::CreateServiceInput>() {
        return Some(create_service(i, a, k));
    }
    if let Some(i) = input.downcast_ref::<op::update_service::UpdateServiceInput>() {
        let cluster = cluster_arn(a, i.cluster());
        let arn = service_arn(a, &cluster, i.service().unwrap_or_default());
        let td = i
            .task_definition()
            .and_then(|td| task_definition_arn(a, k, td));
        let line = Line::new("ecs:UpdateService", &arn)
            .with("ecs:cluster", cluster)
            .with_some("ecs:task-definition", td)
            .resource_tags(k.tags(&arn));
        let mut lines = vec![line];
        lines.extend(passed_to_ecs(
            a,
            i.load_balancers(),
            i.deployment_configuration(),
        ));
        return Some(Planned::lines(lines));
    }
    if let Some(i) = input.downcast_ref::<op::delete_service::DeleteServiceInput>() {
        let cluster = cluster_arn(a, i.cluster());
        let arn = service_arn(a, &cluster, i.service().unwrap_or_default());
        let line = Line::new("ecs:DeleteService", &arn)
            .with("ecs:cluster", cluster)
            .resource_tags(k.tags(&arn));
        return Some(Planned::then(vec![line], move |out, _, k| {
            if output::<op::delete_service::DeleteServiceOutput>(out).is_some() {
                k.forget(&arn);
            }
            Vec::new()
        }));
    }
    if let Some(i) = input.downcast_ref::<op::tag_resource::TagResourceInput>() {
        let arn = i.resource_arn().unwrap_or_default().to_string();
        let sent = tags(i.tags());
        let line = Line::new("ecs:TagResource", &arn)
            .request_tags(&sent)
            .resource_tags(k.tags(&arn));
        return Some(Planned::then(vec![line], move |out, _, k| {
            if output::<op::tag_resource::TagResourceOutput>(out).is_some() {
                k.add_tags(&arn, &sent);
            }
            Vec::new()
        }));
    }
    if let Some(i) = input.downcast_ref::<op::untag_resource::UntagResourceInput>() {
        let arn = i.resource_arn().unwrap_or_default().to_string();
        let keys = i.tag_keys().to_vec();
        let line = Line::new("ecs:UntagResource", &arn)
            .with_set("aws:TagKeys", keys.clone())
            .resource_tags(k.tags(&arn));
        return Some(Planned::then(vec![line], move |out, _, k| {
            if output::<op::untag_resource::UntagResourceOutput>(out).is_some() {
                k.remove_tags(&arn, &keys);
            }
            Vec::new()
        }));
    }
    if let Some(i) = input.downcast_ref::<op::list_tags_for_resource::ListTagsForResourceInput>() {
        let arn = i.resource_arn().unwrap_or_default().to_string();
        let line = Line::new("ecs:ListTagsForResource", &arn).resource_tags(k.tags(&arn));
        return Some(Planned::then(vec![line], move |out, _, k| {
            use op::list_tags_for_resource::ListTagsForResourceOutput as Out;
            if let Some(o) = output::<Out>(out) {
                k.set_tags(&arn, tags(o.tags()));
            }
            Vec::new()
        }));
    }
    if let Some(i) =
        input.downcast_ref::<op::register_task_definition::RegisterTaskDefinitionInput>()
    {
        return Some(register_task_definition(i, a));
    }
    task_definition_reads(input).or_else(|| tasks(input, a, k))
}

fn describe_services(
    i: &op::describe_services::DescribeServicesInput,
    a: &Arns,
    k: &Known,
) -> Planned {
    let cluster = cluster_arn(a, i.cluster());
    let lines = i
        .services()
        .iter()
        .map(|s| {
            let arn = service_arn(a, &cluster, s);
            Line::new("ecs:DescribeServices", &arn)
                .with("ecs:cluster", cluster.clone())
                .resource_tags(k.tags(&arn))
        })
        .collect();
    // Without TAGS the output says nothing about tags: nothing to learn.
    let with_tags = i.include().contains(&ServiceField::Tags);
    Planned::then(lines, move |out, _, k| {
        use op::describe_services::DescribeServicesOutput as Out;
        if let (Some(o), true) = (output::<Out>(out), with_tags) {
            for s in o.services() {
                if let Some(arn) = s.service_arn() {
                    k.set_tags(arn, tags(s.tags()));
                }
            }
        }
        Vec::new()
    })
}

fn create_service(i: &op::create_service::CreateServiceInput, a: &Arns, k: &Known) -> Planned {
    let cluster = cluster_arn(a, i.cluster());
    let arn = service_arn(a, &cluster, i.service_name().unwrap_or_default());
    let sent = tags(i.tags());
    let td = i
        .task_definition()
        .and_then(|td| task_definition_arn(a, k, td));
    let mut lines = vec![Line::new("ecs:CreateService", &arn)
        .with("ecs:cluster", cluster)
        .with_some("ecs:task-definition", td)
        .request_tags(&sent)];
    if !sent.is_empty() {
        lines.push(
            Line::new("ecs:TagResource", &arn)
                .with("ecs:CreateAction", "CreateService")
                .request_tags(&sent),
        );
    }
    lines.extend(passed_to_ecs(
        a,
        i.load_balancers(),
        i.deployment_configuration(),
    ));
    Planned::then(lines, move |out, _, k| {
        use op::create_service::CreateServiceOutput as Out;
        if let Some(o) = output::<Out>(out) {
            let created = o.service().and_then(|s| s.service_arn()).unwrap_or(&arn);
            k.set_tags(created, sent);
        }
        Vec::new()
    })
}

/// The roles a service request hands to ECS itself (not to its tasks): the infrastructure
/// role of blue/green, linear and canary load balancers and the roles of lifecycle hooks.
fn passed_to_ecs(
    a: &Arns,
    load_balancers: &[aws_sdk_ecs::types::LoadBalancer],
    deployment: Option<&aws_sdk_ecs::types::DeploymentConfiguration>,
) -> Vec<Line> {
    let infrastructure = load_balancers
        .iter()
        .filter_map(|lb| lb.advanced_configuration()?.role_arn());
    let hooks = deployment
        .map(|d| d.lifecycle_hooks())
        .unwrap_or_default()
        .iter()
        .filter_map(|h| h.role_arn());
    let roles: std::collections::BTreeSet<&str> = infrastructure.chain(hooks).collect();
    roles
        .into_iter()
        .map(|role| {
            let arn = Arns::or_build(role, |name| a.global("iam", &format!("role/{name}")));
            Line::new("iam:PassRole", arn).with("iam:PassedToService", "ecs.amazonaws.com")
        })
        .collect()
}

fn register_task_definition(
    i: &op::register_task_definition::RegisterTaskDefinitionInput,
    a: &Arns,
) -> Planned {
    // Passing a role to the task is authorized on the role, once per role.
    let passed: Vec<Line> = [i.task_role_arn(), i.execution_role_arn()]
        .into_iter()
        .flatten()
        .map(|role| {
            let arn = Arns::or_build(role, |name| a.global("iam", &format!("role/{name}")));
            Line::new("iam:PassRole", arn).with("iam:PassedToService", "ecs-tasks.amazonaws.com")
        })
        .collect();
    let family = i.family().unwrap_or_default().to_string();
    let sent = tags(i.tags());
    let numeric = |v: Option<&str>| v.filter(|v| v.parse::<u32>().is_ok()).map(str::to_string);
    let mut register = Line::new("ecs:RegisterTaskDefinition", "")
        .request_tags(&sent)
        .with_some("ecs:task-cpu", numeric(i.cpu()))
        .with_some("ecs:task-memory", numeric(i.memory()));
    if !i.requires_compatibilities().is_empty() {
        let compatibilities = i.requires_compatibilities().iter();
        register = register.with_set(
            "ecs:compute-compatibility",
            compatibilities.map(|c| c.as_str().to_string()),
        );
    }
    if let Some(privileged) = i
        .container_definitions()
        .iter()
        .filter_map(|c| c.privileged())
        .reduce(|x, y| x || y)
    {
        register = register.with("ecs:privileged", privileged.to_string());
    }
    Planned::then(passed, move |out, a, k| {
        use op::register_task_definition::RegisterTaskDefinitionOutput as Out;
        // The revision is AWS's to assign: the response names it. Unknown (a failed call
        // without a revision ever seen), it is "*", which the evaluator flags.
        let registered = output::<Out>(out)
            .and_then(|o| o.task_definition())
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string);
        let arn = registered.clone().unwrap_or_else(|| {
            k.revisions.get(&family).map_or_else(
                || "*".to_string(),
                |r| a.regional("ecs", &format!("task-definition/{family}:{}", r + 1)),
            )
        });
        let mut lines = vec![Line {
            resource: arn.clone(),
            ..register
        }];
        if !sent.is_empty() {
            lines.push(
                Line::new("ecs:TagResource", &arn)
                    .with("ecs:CreateAction", "RegisterTaskDefinition")
                    .request_tags(&sent),
            );
        }
        if registered.is_some() {
            k.saw_revision(&arn);
            k.set_tags(&arn, sent);
        }
        lines
    })
}

/// The task definition operations without a resource type: `*`, learning revisions and tags.
fn task_definition_reads(input: &Input) -> Option<Planned> {
    if let Some(i) =
        input.downcast_ref::<op::describe_task_definition::DescribeTaskDefinitionInput>()
    {
        let with_tags = i.include().contains(&TaskDefinitionField::Tags);
        let line = Line::new("ecs:DescribeTaskDefinition", "*");
        return Some(Planned::then(vec![line], move |out, _, k| {
            use op::describe_task_definition::DescribeTaskDefinitionOutput as Out;
            if let Some(o) = output::<Out>(out) {
                if let Some(arn) = o.task_definition().and_then(|t| t.task_definition_arn()) {
                    k.saw_revision(arn);
                    if with_tags {
                        k.set_tags(arn, tags(o.tags()));
                    }
                }
            }
            Vec::new()
        }));
    }
    if input
        .downcast_ref::<op::list_task_definitions::ListTaskDefinitionsInput>()
        .is_some()
    {
        let line = Line::new("ecs:ListTaskDefinitions", "*");
        return Some(Planned::then(vec![line], |out, _, k| {
            use op::list_task_definitions::ListTaskDefinitionsOutput as Out;
            for arn in output::<Out>(out).map_or(&[][..], |o| o.task_definition_arns()) {
                k.saw_revision(arn);
            }
            Vec::new()
        }));
    }
    if input
        .downcast_ref::<op::list_task_definition_families::ListTaskDefinitionFamiliesInput>()
        .is_some()
    {
        let line = Line::new("ecs:ListTaskDefinitionFamilies", "*");
        return Some(Planned::lines(vec![line]));
    }
    if input
        .downcast_ref::<op::deregister_task_definition::DeregisterTaskDefinitionInput>()
        .is_some()
    {
        let line = Line::new("ecs:DeregisterTaskDefinition", "*");
        return Some(Planned::lines(vec![line]));
    }
    None
}

fn tasks(input: &Input, a: &Arns, k: &Known) -> Option<Planned> {
    if let Some(i) = input.downcast_ref::<op::list_tasks::ListTasksInput>() {
        let cluster = cluster_arn(a, i.cluster());
        let name = cluster.rsplit('/').next().unwrap_or_default().to_string();
        // Without a container instance AWS authorizes ListTasks on "*", scoped by ecs:cluster.
        let resource = i.container_instance().map_or("*".to_string(), |ci| {
            Arns::or_build(ci, |id| {
                a.regional("ecs", &format!("container-instance/{name}/{id}"))
            })
        });
        let line = Line::new("ecs:ListTasks", resource).with("ecs:cluster", cluster);
        return Some(Planned::lines(vec![line]));
    }
    if let Some(i) = input.downcast_ref::<op::describe_tasks::DescribeTasksInput>() {
        let cluster = cluster_arn(a, i.cluster());
        let name = cluster.rsplit('/').next().unwrap_or_default().to_string();
        let lines = i
            .tasks()
            .iter()
            .map(|t| {
                let arn = Arns::or_build(t, |id| a.regional("ecs", &format!("task/{name}/{id}")));
                Line::new("ecs:DescribeTasks", arn).with("ecs:cluster", cluster.clone())
            })
            .collect();
        return Some(Planned::lines(lines));
    }
    if let Some(i) = input.downcast_ref::<op::run_task::RunTaskInput>() {
        return Some(run_task(i, a, k));
    }
    if let Some(i) = input.downcast_ref::<op::stop_task::StopTaskInput>() {
        let cluster = cluster_arn(a, i.cluster());
        let name = cluster.rsplit('/').next().unwrap_or_default().to_string();
        let task = i.task().unwrap_or_default();
        let arn = Arns::or_build(task, |id| a.regional("ecs", &format!("task/{name}/{id}")));
        let line = Line::new("ecs:StopTask", &arn)
            .with("ecs:cluster", cluster)
            .resource_tags(k.tags(&arn));
        return Some(Planned::lines(vec![line]));
    }
    None
}

/// RunTask is authorized on the task definition revision {ecs:cluster}; with tags also
/// ecs:TagResource on the new task {ecs:CreateAction = RunTask}. The task learns its tags.
fn run_task(i: &op::run_task::RunTaskInput, a: &Arns, k: &Known) -> Planned {
    let cluster = cluster_arn(a, i.cluster());
    let td = i
        .task_definition()
        .and_then(|td| task_definition_arn(a, k, td))
        .unwrap_or_else(|| "*".into());
    let lines = vec![Line::new("ecs:RunTask", &td)
        .with("ecs:cluster", cluster.clone())
        .resource_tags(k.tags(&td))];
    let sent = tags(i.tags());
    // The task's ARN is known once it exists: the tagging on create is recorded then.
    Planned::then(lines, move |out, _, k| {
        let mut tagging = Vec::new();
        if let Some(out) = output::<op::run_task::RunTaskOutput>(out) {
            for arn in out.tasks().iter().filter_map(|t| t.task_arn()) {
                if !sent.is_empty() {
                    tagging.push(
                        Line::new("ecs:TagResource", arn)
                            .with("ecs:CreateAction", "RunTask")
                            .request_tags(&sent),
                    );
                }
                k.add_tags(arn, &sent);
            }
        }
        tagging
    })
}
