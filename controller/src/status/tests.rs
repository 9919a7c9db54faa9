use super::*;
use crate::observe::{
    DeploymentStatus, ObservedConfig, ObservedDeployment, RolloutState, ServiceState, TaskCounts,
};
use crate::render::aws::EcsService;

fn set_of(names: &[&str]) -> ManifestSet {
    let mut set = ManifestSet::default();
    for name in names {
        let text = format!(
            "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: {name}\nspec:\n  container:\n    image: nginx\n  notify:\n    team: web\n"
        );
        set.add_source(&format!("{name}.yaml"), text.as_bytes(), None);
    }
    set.finish();
    set
}

fn result(name: &str, outcome: Outcome) -> ServiceResult {
    ServiceResult {
        name: name.into(),
        cluster: "main".into(),
        outcome,
        steps_done: 0,
        steps_planned: 0,
        error: None,
        error_class: None,
        task_definition_arn: None,
        service_arn: Some(format!("arn:aws:ecs:eu-west-1:1:service/main/{name}")),
        pre_deploy: None,
        desired: None,
        observed: None,
    }
}

fn observed(rollout: Option<RolloutState>) -> ObservedService {
    ObservedService {
        arn: "arn".into(),
        name: "web".into(),
        cluster: "main".into(),
        state: ServiceState::Active,
        tags: Default::default(),
        tasks: TaskCounts {
            desired: 2,
            running: 1,
            pending: 1,
        },
        task_definition_arn: String::new(),
        task_definition: None,
        config: ObservedConfig {
            service: EcsService {
                name: "web".into(),
                desired_count: 2,
                autoscaled_range: None,
                capacity_provider: String::new(),
                spot_mix: None,
                subnets: vec![],
                security_groups: vec![],
                assign_public_ip: false,
                minimum_healthy_percent: 100,
                maximum_percent: 200,
                circuit_breaker_enabled: true,
                circuit_breaker_rollback: true,
                deployment_alarms: None,
                deployment_strategy: None,
                load_balancers: vec![],
                health_check_grace_period_seconds: None,
                enable_execute_command: false,
                propagate_tags: String::new(),
                enable_ecs_managed_tags: true,
            },
            unknown: Default::default(),
        },
        registry_arns: vec![],
        deployments: rollout
            .map(|state| ObservedDeployment {
                id: "ecs-svc/1".into(),
                status: DeploymentStatus::Primary,
                task_definition_arn: String::new(),
                rollout: state,
                reason: "tasks failed to start".into(),
                created_at: Some(100),
                updated_at: Some(110),
                tasks: TaskCounts {
                    desired: 2,
                    running: 1,
                    pending: 1,
                },
                failed_tasks: 0,
            })
            .into_iter()
            .collect(),
    }
}

use crate::observe::ObservedService;

fn condition(s: &ServiceStatus, kind: ConditionType) -> (bool, Reason) {
    let c = s.condition(kind).unwrap();
    (c.status, c.reason)
}

#[test]
fn an_applied_service_is_ready_and_keeps_its_transition_time_while_nothing_flips() {
    let set = set_of(&["web"]);
    let first = derive(
        &BTreeMap::new(),
        &set,
        &[result("web", Outcome::Update)],
        &StopReasons::default(),
        &BTreeMap::new(),
        &BTreeMap::new(),
        100,
    );
    let web = &first["web"];
    assert_eq!(
        condition(web, ConditionType::Ready),
        (true, Reason::Reconciled)
    );
    assert_eq!(
        condition(web, ConditionType::Stalled),
        (false, Reason::Reconciled)
    );
    assert_eq!(
        condition(web, ConditionType::Reconciling),
        (false, Reason::Idle)
    );
    assert_eq!(web.source.as_deref(), Some("web.yaml:1"));
    let second = derive(
        &first,
        &set,
        &[result("web", Outcome::InSync)],
        &StopReasons::default(),
        &BTreeMap::new(),
        &BTreeMap::new(),
        200,
    );
    let ready = second["web"].condition(ConditionType::Ready).unwrap();
    assert_eq!(
        ready.last_transition, 100,
        "no flip, no new transition time"
    );
}

#[test]
fn a_stalled_error_is_stalled_and_a_transient_one_is_retrying_keeping_the_last_hash() {
    let set = set_of(&["web"]);
    let mut previous = BTreeMap::new();
    previous.insert(
        "web".to_string(),
        ServiceStatus {
            name: "web".into(),
            last_applied_hash: Some("abc".into()),
            ..ServiceStatus::default()
        },
    );
    for (class, stalled, reason) in [
        (ErrorClass::Stalled, true, Reason::NeedsChange),
        (ErrorClass::Transient, false, Reason::Retrying),
    ] {
        let mut r = result("web", Outcome::Update);
        r.error = Some("ecs:UpdateService: InvalidParameterException: no".into());
        r.error_class = Some(class);
        let next = derive(
            &previous,
            &set,
            &[r],
            &StopReasons::default(),
            &BTreeMap::new(),
            &BTreeMap::new(),
            300,
        );
        let web = &next["web"];
        assert_eq!(condition(web, ConditionType::Stalled), (stalled, reason));
        assert_eq!(
            condition(web, ConditionType::Ready),
            (false, Reason::ApplyFailed)
        );
        assert_eq!(web.last_applied_hash.as_deref(), Some("abc"));
        assert!(web
            .last_error
            .as_deref()
            .unwrap()
            .contains("InvalidParameter"));
    }
}

#[test]
fn a_failed_rollout_is_stalled_and_names_why_its_tasks_stopped() {
    let set = set_of(&["web"]);
    let mut stops = StopReasons::default();
    stops.record(&[StoppedTask {
        service: "web".into(),
        arn: "t1".into(),
        stop_code: "EssentialContainerExited".into(),
        reason: "exit 1".into(),
        container: "app".into(),
    }]);
    let mut r = result("web", Outcome::InSync);
    r.observed = Some(observed(Some(RolloutState::Failed)).into());
    let next = derive(
        &BTreeMap::new(),
        &set,
        &[r],
        &stops,
        &BTreeMap::new(),
        &BTreeMap::new(),
        1,
    );
    let web = &next["web"];
    assert_eq!(
        condition(web, ConditionType::Stalled),
        (true, Reason::RolloutFailed)
    );
    let message = web.last_error.as_deref().unwrap();
    assert!(message.contains("tasks failed to start"), "{message}");
    assert!(
        message.contains("EssentialContainerExited: exit 1"),
        "{message}"
    );
    assert_eq!(web.tasks.unwrap().running, 1);
}

#[test]
fn a_deployment_in_progress_is_reconciling() {
    let set = set_of(&["web"]);
    let mut r = result("web", Outcome::InSync);
    r.observed = Some(observed(Some(RolloutState::InProgress)).into());
    let next = derive(
        &BTreeMap::new(),
        &set,
        &[r],
        &StopReasons::default(),
        &BTreeMap::new(),
        &BTreeMap::new(),
        1,
    );
    assert_eq!(
        condition(&next["web"], ConditionType::Reconciling),
        (true, Reason::RollingOut)
    );
}

#[test]
fn conflicts_waits_and_suspensions_have_their_own_reasons() {
    let set = set_of(&["a", "b", "c"]);
    let results = [
        result("a", Outcome::Conflict("not ours".into())),
        result("b", Outcome::Waiting("waiting for db".into())),
        result("c", Outcome::Suspended),
    ];
    let next = derive(
        &BTreeMap::new(),
        &set,
        &results,
        &StopReasons::default(),
        &BTreeMap::new(),
        &BTreeMap::new(),
        1,
    );
    assert_eq!(
        condition(&next["a"], ConditionType::Stalled),
        (true, Reason::Conflict)
    );
    assert_eq!(
        condition(&next["b"], ConditionType::Ready),
        (false, Reason::Waiting)
    );
    assert_eq!(
        condition(&next["c"], ConditionType::Ready),
        (false, Reason::Suspended)
    );
}

#[test]
fn an_invalid_manifest_is_stalled_with_its_diagnostics_and_orphans_get_no_status() {
    let mut set = set_of(&["web"]);
    set.add_source(
        "bad.yaml",
        b"apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: bad\nspec:\n  container:\n    image: nginx\n    cpu: 3\n  notify:\n    team: web\n",
        None,
    );
    set.finish();
    let results = [
        result("web", Outcome::InSync),
        result("gone", Outcome::Delete),
    ];
    let next = derive(
        &BTreeMap::new(),
        &set,
        &results,
        &StopReasons::default(),
        &BTreeMap::new(),
        &BTreeMap::new(),
        1,
    );
    assert!(!next.contains_key("gone"));
    let bad = &next["bad"];
    assert_eq!(
        condition(bad, ConditionType::Stalled),
        (true, Reason::InvalidManifest)
    );
    assert!(
        bad.diagnostics[0].contains("bad.yaml"),
        "{:?}",
        bad.diagnostics
    );
}

#[test]
fn stop_reasons_keep_the_last_five_per_service() {
    let mut stops = StopReasons::default();
    let tasks: Vec<StoppedTask> = (0..7)
        .map(|i| StoppedTask {
            service: "web".into(),
            arn: format!("t{i}"),
            stop_code: "TaskFailedToStart".into(),
            reason: format!("attempt {i}"),
            container: String::new(),
        })
        .collect();
    stops.record(&tasks);
    let kept = stops.of("web").unwrap();
    assert_eq!(kept.len(), StopReasons::KEEP);
    assert!(kept[0].ends_with("attempt 2") && kept[4].ends_with("attempt 6"));
}

#[test]
fn persisted_records_read_back_and_omit_live_task_counts() {
    let mut s = ServiceStatus {
        name: "web".into(),
        tasks: Some(crate::observe::TaskCounts {
            running: 2,
            ..Default::default()
        }),
        ..ServiceStatus::default()
    };
    s.set_condition(
        ConditionType::Ready,
        true,
        Reason::Reconciled,
        "ok",
        None,
        5,
    );
    let json = serde_json::to_string(&s.persisted()).unwrap();
    assert!(json.contains(r#""type":"Ready""#), "{json}");
    assert!(!json.contains("running"), "{json}");
    let back: ServiceStatus = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.condition(ConditionType::Ready).unwrap().reason,
        Reason::Reconciled
    );
}

#[test]
fn a_service_with_an_ingress_shows_its_url_and_one_without_none() {
    let mut settings = crate::settings::Settings::local_defaults();
    settings.ingress = Some(crate::settings::IngressSettings::placeholder());
    let text = "apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: web\nspec:\n  container:\n    image: nginx\n  traffic:\n    ingress: {paths: ['/shop/*']}\n  notify:\n    team: web\n";
    let m = crate::yaml::from_str(text).unwrap();
    let desired = crate::render::render_service(&m, &settings);
    let set = set_of(&["web", "api"]);
    let mut web = result("web", Outcome::Update);
    web.desired = Some(std::sync::Arc::new(desired));
    let statuses = derive(
        &BTreeMap::new(),
        &set,
        &[web, result("api", Outcome::Update)],
        &StopReasons::default(),
        &BTreeMap::new(),
        &BTreeMap::new(),
        100,
    );
    assert_eq!(
        statuses["web"].url.as_deref(),
        Some("https://apps.local.ecs-operator.invalid/shop/")
    );
    assert_eq!(statuses["api"].url, None);
    let json = serde_json::to_value(&statuses["web"]).unwrap();
    assert_eq!(json["url"], "https://apps.local.ecs-operator.invalid/shop/");
}
