//! The recorder without AWS: typed inputs and outputs in, JSON lines out.

use std::sync::Arc;

use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};
use serde_json::{json, Value};

use super::*;

const OWNER: &str = "ecs-operator.io/owner";

struct Fixture {
    recorder: Arc<Recorder>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.jsonl");
        let options = RecordOptions {
            path: path.clone(),
            partition: "aws".into(),
            account_id: "123456789012".into(),
        };
        Fixture {
            recorder: Recorder::open(&options, "us-east-1").unwrap(),
            path,
            _dir: dir,
        }
    }

    /// One call through the recorder, as the interceptor makes it; `output` None: it failed.
    fn call<I, O>(&self, service: Service, operation: &str, input: I, output: Option<O>)
    where
        I: fmt::Debug + Send + Sync + 'static,
        O: fmt::Debug + Send + Sync + 'static,
    {
        let (call, planned) = self.recorder.plan(service, operation, &Input::erase(input));
        let output = output.map(Output::erase);
        self.recorder.finish(&call, planned, output.as_ref());
    }

    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn ecs_tag(k: &str, v: &str) -> aws_sdk_ecs::types::Tag {
    aws_sdk_ecs::types::Tag::builder().key(k).value(v).build()
}

const SERVICE: &str = "arn:aws:ecs:us-east-1:123456789012:service/main/web";
const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/main";

#[test]
fn a_created_service_is_recorded_with_its_tags_and_its_tags_are_known_afterwards() {
    use aws_sdk_ecs::operation::{create_service as c, update_service as u};
    let f = Fixture::new();
    let input = c::CreateServiceInput::builder()
        .cluster("main")
        .service_name("web")
        .task_definition("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3")
        .tags(ecs_tag(OWNER, "prod"))
        .build()
        .unwrap();
    let service = aws_sdk_ecs::types::Service::builder()
        .service_arn(SERVICE)
        .build();
    let out = c::CreateServiceOutput::builder().service(service).build();
    f.call(Service::Ecs, "CreateService", input, Some(out));
    let update = u::UpdateServiceInput::builder()
        .cluster("main")
        .service("web")
        .build()
        .unwrap();
    f.call(
        Service::Ecs,
        "UpdateService",
        update,
        None::<u::UpdateServiceOutput>,
    );

    let lines = f.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(
        lines[0],
        json!({"call": "ecs:CreateService#1", "action": "ecs:CreateService", "resource": SERVICE,
               "context": {"ecs:cluster": CLUSTER,
                           "ecs:task-definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
                           "aws:RequestTag/ecs-operator.io/owner": "prod", "aws:TagKeys": [OWNER]}})
    );
    assert_eq!(lines[1]["action"], "ecs:TagResource");
    assert_eq!(lines[1]["call"], "ecs:CreateService#1");
    assert_eq!(lines[1]["context"]["ecs:CreateAction"], "CreateService");
    // The update names the service by name: same ARN, with the tags it was created with.
    assert_eq!(lines[2]["resource"], SERVICE);
    assert_eq!(
        lines[2]["context"]["aws:ResourceTag/ecs-operator.io/owner"],
        "prod"
    );
}

#[test]
fn an_adopted_service_is_untagged_when_tagged_and_owned_once_the_tag_succeeded() {
    use aws_sdk_ecs::operation::{describe_services as d, tag_resource as t, update_service as u};
    let f = Fixture::new();
    let describe = d::DescribeServicesInput::builder()
        .cluster("main")
        .services(SERVICE)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .build()
        .unwrap();
    let found = aws_sdk_ecs::types::Service::builder()
        .service_arn(SERVICE)
        .build();
    let out = d::DescribeServicesOutput::builder().services(found).build();
    f.call(Service::Ecs, "DescribeServices", describe, Some(out));
    let tag = || {
        t::TagResourceInput::builder()
            .resource_arn(SERVICE)
            .tags(ecs_tag(OWNER, "prod"))
            .build()
            .unwrap()
    };
    // A failed tagging teaches nothing; a successful one does.
    f.call(
        Service::Ecs,
        "TagResource",
        tag(),
        None::<t::TagResourceOutput>,
    );
    f.call(
        Service::Ecs,
        "TagResource",
        tag(),
        Some(t::TagResourceOutput::builder().build()),
    );
    let update = u::UpdateServiceInput::builder()
        .cluster("main")
        .service("web")
        .build()
        .unwrap();
    f.call(
        Service::Ecs,
        "UpdateService",
        update,
        None::<u::UpdateServiceOutput>,
    );

    let lines = f.lines();
    let tag_resource = &lines[1]["context"];
    assert_eq!(tag_resource["aws:RequestTag/ecs-operator.io/owner"], "prod");
    assert!(tag_resource
        .get("aws:ResourceTag/ecs-operator.io/owner")
        .is_none());
    assert!(lines[2]["context"]
        .get("aws:ResourceTag/ecs-operator.io/owner")
        .is_none());
    assert_eq!(
        lines[3]["context"]["aws:ResourceTag/ecs-operator.io/owner"],
        "prod"
    );
}

#[test]
fn a_task_definition_passes_both_roles_and_is_recorded_on_the_revision_aws_assigned() {
    use aws_sdk_ecs::operation::register_task_definition as r;
    let f = Fixture::new();
    let input = r::RegisterTaskDefinitionInput::builder()
        .family("web")
        .cpu("256")
        .memory("0.5GB")
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .execution_role_arn("arn:aws:iam::123456789012:role/exec")
        .task_role_arn("task")
        .tags(ecs_tag(OWNER, "prod"))
        .build()
        .unwrap();
    let td = aws_sdk_ecs::types::TaskDefinition::builder()
        .task_definition_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/web:7")
        .build();
    let out = r::RegisterTaskDefinitionOutput::builder()
        .task_definition(td)
        .build();
    f.call(Service::Ecs, "RegisterTaskDefinition", input, Some(out));
    let lines = f.lines();
    let summary: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap(),
                l["resource"].as_str().unwrap(),
            )
        })
        .collect();
    let td_arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";
    assert_eq!(
        summary,
        [
            ("iam:PassRole", "arn:aws:iam::123456789012:role/task"),
            ("iam:PassRole", "arn:aws:iam::123456789012:role/exec"),
            ("ecs:RegisterTaskDefinition", td_arn),
            ("ecs:TagResource", td_arn),
        ]
    );
    assert_eq!(
        lines[0]["context"]["iam:PassedToService"],
        "ecs-tasks.amazonaws.com"
    );
    let register = &lines[2]["context"];
    assert_eq!(register["ecs:task-cpu"], "256");
    assert!(
        register.get("ecs:task-memory").is_none(),
        "0.5GB is not a number of MiB"
    );
    assert_eq!(register["ecs:compute-compatibility"], json!(["FARGATE"]));
    assert_eq!(
        lines[3]["context"]["ecs:CreateAction"],
        "RegisterTaskDefinition"
    );
}

#[test]
fn an_operation_without_a_mapping_is_recorded_on_star_so_the_evaluator_flags_it() {
    use aws_sdk_ecs::operation::describe_clusters as d;
    let f = Fixture::new();
    let input = d::DescribeClustersInput::builder().build().unwrap();
    f.call(
        Service::Ecs,
        "DescribeClusters",
        input,
        None::<d::DescribeClustersOutput>,
    );
    assert_eq!(
        f.lines(),
        [
            json!({"call": "ecs:DescribeClusters#1", "action": "ecs:DescribeClusters",
                "resource": "*", "context": {}})
        ]
    );
}

#[test]
fn listing_tasks_is_recorded_on_star_scoped_by_the_cluster() {
    use aws_sdk_ecs::operation::list_tasks as l;
    let f = Fixture::new();
    let input = l::ListTasksInput::builder()
        .cluster("main")
        .service_name("web")
        .build()
        .unwrap();
    f.call(Service::Ecs, "ListTasks", input, None::<l::ListTasksOutput>);
    let lines = f.lines();
    assert_eq!(lines[0]["resource"], "*");
    assert_eq!(lines[0]["context"], json!({"ecs:cluster": CLUSTER}));
}

#[test]
fn an_sse_kms_object_adds_the_kms_request_s3_makes_with_the_callers_permissions() {
    use aws_sdk_s3::operation::{get_object as g, list_objects_v2 as l, put_object as p};
    let f = Fixture::new();
    let list = l::ListObjectsV2Input::builder()
        .bucket("b")
        .prefix("state/status/")
        .build()
        .unwrap();
    f.call(
        Service::S3,
        "ListObjectsV2",
        list,
        None::<l::ListObjectsV2Output>,
    );
    let put = p::PutObjectInput::builder()
        .bucket("b")
        .key("state/lease/leader.json")
        .if_none_match("*")
        .build()
        .unwrap();
    let out = p::PutObjectOutput::builder()
        .ssekms_key_id("1234abcd")
        .bucket_key_enabled(true)
        .build();
    f.call(Service::S3, "PutObject", put, Some(out));
    let get = g::GetObjectInput::builder()
        .bucket("b")
        .key("manifests/a.yaml")
        .build()
        .unwrap();
    f.call(Service::S3, "GetObject", get, None::<g::GetObjectOutput>);

    let lines = f.lines();
    assert_eq!(
        lines[0],
        json!({"call": "s3:ListObjectsV2#1", "action": "s3:ListBucket", "resource": "arn:aws:s3:::b",
               "context": {"s3:prefix": "state/status/"}})
    );
    assert_eq!(lines[1]["context"], json!({"s3:if-none-match": "*"}));
    assert_eq!(
        lines[2],
        json!({"call": "s3:PutObject#2", "action": "kms:GenerateDataKey",
               "resource": "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
               "context": {"kms:ViaService": "s3.us-east-1.amazonaws.com",
                           "kms:CallerAccount": "123456789012",
                           "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b"}})
    );
    // A failed GetObject is still evaluated by IAM, without the KMS request it never reached.
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["resource"], "arn:aws:s3:::b/manifests/a.yaml");
}

#[test]
fn scaling_policies_are_recorded_on_the_target_aws_named_with_their_alarms() {
    use aws_sdk_applicationautoscaling::operation::{
        delete_scaling_policy as d, put_scaling_policy as p, register_scalable_target as r,
    };
    use aws_sdk_applicationautoscaling::types::{Alarm, ScalableDimension, ServiceNamespace};
    let f = Fixture::new();
    let target = "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/0abc";
    let alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TargetTracking-service/main/web-AlarmHigh-1";
    let register = r::RegisterScalableTargetInput::builder()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id("service/main/web")
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .build()
        .unwrap();
    let out = r::RegisterScalableTargetOutput::builder()
        .scalable_target_arn(target)
        .build();
    f.call(
        Service::Scaling,
        "RegisterScalableTarget",
        register,
        Some(out),
    );
    let put = p::PutScalingPolicyInput::builder()
        .policy_name("web-cpu")
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id("service/main/web")
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .build()
        .unwrap();
    let alarm_of = Alarm::builder()
        .alarm_name("x")
        .alarm_arn(alarm)
        .build()
        .unwrap();
    let out = p::PutScalingPolicyOutput::builder()
        .policy_arn("arn:policy")
        .alarms(alarm_of)
        .build()
        .unwrap();
    f.call(Service::Scaling, "PutScalingPolicy", put, Some(out));
    let delete = d::DeleteScalingPolicyInput::builder()
        .policy_name("web-cpu")
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id("service/main/web")
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .build()
        .unwrap();
    f.call(
        Service::Scaling,
        "DeleteScalingPolicy",
        delete,
        None::<d::DeleteScalingPolicyOutput>,
    );

    let summary: Vec<(String, String)> = f
        .lines()
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().into(),
                l["resource"].as_str().unwrap().into(),
            )
        })
        .collect();
    let pair = |a: &str, r: &str| (a.to_string(), r.to_string());
    assert_eq!(
        summary,
        [
            pair("ecs:DescribeServices", SERVICE),
            pair("ecs:UpdateService", SERVICE),
            pair("application-autoscaling:RegisterScalableTarget", target),
            pair("application-autoscaling:PutScalingPolicy", target),
            pair("cloudwatch:DescribeAlarms", alarm),
            pair("cloudwatch:PutMetricAlarm", alarm),
            pair("application-autoscaling:DeleteScalingPolicy", target),
            pair("cloudwatch:DescribeAlarms", alarm),
            pair("cloudwatch:DeleteAlarms", alarm),
        ]
    );
    let lines = f.lines();
    assert_eq!(
        lines[2]["context"]["application-autoscaling:service-namespace"],
        "ecs"
    );
    assert_eq!(
        lines[2]["context"]["application-autoscaling:scalable-dimension"],
        "ecs:service:DesiredCount"
    );
}

#[test]
fn cloud_map_services_are_found_by_name_for_discovery_and_by_id_for_changes() {
    use aws_sdk_servicediscovery::operation::{
        create_service as c, discover_instances as d, update_service as u,
    };
    let f = Fixture::new();
    let create = c::CreateServiceInput::builder()
        .name("web")
        .namespace_id("ns-1")
        .tags(
            aws_sdk_servicediscovery::types::Tag::builder()
                .key(OWNER)
                .value("prod")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let created = aws_sdk_servicediscovery::types::Service::builder()
        .id("srv-1")
        .name("web")
        .build();
    let out = c::CreateServiceOutput::builder().service(created).build();
    f.call(Service::Discovery, "CreateService", create, Some(out));
    let discover = d::DiscoverInstancesInput::builder()
        .namespace_name("internal")
        .service_name("web")
        .build()
        .unwrap();
    f.call(
        Service::Discovery,
        "DiscoverInstances",
        discover,
        None::<d::DiscoverInstancesOutput>,
    );
    let update = u::UpdateServiceInput::builder()
        .id("srv-1")
        .build()
        .unwrap();
    f.call(
        Service::Discovery,
        "UpdateService",
        update,
        None::<u::UpdateServiceOutput>,
    );

    let ns = "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-1";
    let srv = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1";
    let lines = f.lines();
    let summary: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap(),
                l["resource"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("servicediscovery:CreateService", ns),
            ("servicediscovery:TagResource", "*"),
            ("servicediscovery:CreateService", srv),
            ("servicediscovery:DiscoverInstances", ns),
            ("servicediscovery:DiscoverInstances", srv),
            ("servicediscovery:UpdateService", srv),
        ]
    );
    assert_eq!(lines[2]["context"]["servicediscovery:NamespaceArn"], ns);
    assert_eq!(
        lines[3]["context"]["servicediscovery:NamespaceName"],
        "internal"
    );
    assert_eq!(
        lines[5]["context"]["aws:ResourceTag/ecs-operator.io/owner"],
        "prod"
    );
}

#[test]
fn the_account_comes_from_an_arn_in_it() {
    let options = RecordOptions::for_account_of(
        "r.jsonl".into(),
        "arn:aws-cn:iam::210987654321:role/ecs-task-execution",
    )
    .unwrap();
    assert_eq!(
        (options.partition.as_str(), options.account_id.as_str()),
        ("aws-cn", "210987654321")
    );
    assert_eq!(
        RecordOptions::for_account_of("r".into(), "arn:aws:s3:::bucket"),
        None
    );
    assert_eq!(RecordOptions::for_account_of("r".into(), "role/x"), None);
}
