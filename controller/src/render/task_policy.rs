//! The least-privilege IAM policy a service's task role needs for what its manifest asks of
//! ECS itself: mounting EFS volumes with IAM authorisation, and ECS Exec. The operator never
//! creates or changes task roles (the settings list the ones it may pass); this is what
//! `ecs-operator task-policy` prints for the platform team to attach.
//!
//! EFS checks the client actions against the task role when a volume has `iam: true`:
//! `elasticfilesystem:ClientMount` always, `ClientWrite` to mount read-write, and
//! `ClientRootAccess` for root to stay root; an access point is named by the
//! `elasticfilesystem:AccessPointArn` condition key ("Using IAM to control file system data
//! access", Amazon EFS User Guide). ECS Exec's SSM agent opens the `ssmmessages` channels
//! with the task role (ECS Developer Guide, "ECS Exec"). A queue worker (`scaling.queue`)
//! receives, deletes and extends the visibility of its queue's messages and reads its
//! attributes, on that queue only.

use serde_json::{json, Value};

use crate::manifest::{MonitoredService, Volume};
use crate::settings::Settings;

/// Why no policy can be named.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TaskPolicyError {
    #[error("{service}: an EFS volume with iam: true mounts with the task role, and the service has none (container.taskRoleArn or the settings' taskRoleArn)")]
    NoTaskRole { service: String },
    #[error("{service}: the task role {role:?} is not an IAM role ARN, so its account is unknown")]
    BadTaskRole { service: String, role: String },
    #[error("{service}: the settings name no region, which the file system ARNs need")]
    NoRegion { service: String },
}

/// The task role of a service and the policy it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRolePolicy {
    pub role_arn: String,
    /// An IAM identity policy document.
    pub policy: Value,
}

/// The channels ECS Exec's SSM agent opens with the task role.
pub const EXEC_ACTIONS: [&str; 4] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

/// What a queue worker does with its queue's messages.
pub const QUEUE_CONSUMER_ACTIONS: [&str; 4] = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
];

/// `None` when the manifest needs nothing of its task role from ECS.
pub fn task_role_policy(
    m: &MonitoredService,
    settings: &Settings,
) -> Result<Option<TaskRolePolicy>, TaskPolicyError> {
    let spec = &m.spec;
    let service = &m.metadata.name;
    let efs: Vec<&Volume> = spec.volumes.iter().filter(|v| v.efs.iam).collect();
    let queue = spec.scaling.queue.as_ref();
    if efs.is_empty() && !spec.container.exec && queue.is_none() {
        return Ok(None);
    }
    let role = (spec.container.task_role_arn.clone())
        .or_else(|| settings.task_role_arn.clone())
        .ok_or_else(|| TaskPolicyError::NoTaskRole {
            service: service.clone(),
        })?;
    let parts: Vec<&str> = role.splitn(6, ':').collect();
    let (partition, account) = match parts[..] {
        ["arn", partition, "iam", "", account, resource] if resource.starts_with("role/") => {
            (partition, account)
        }
        _ => {
            return Err(TaskPolicyError::BadTaskRole {
                service: service.clone(),
                role,
            })
        }
    };
    let mut statements = Vec::new();
    for v in efs {
        let region = settings
            .region
            .as_deref()
            .ok_or_else(|| TaskPolicyError::NoRegion {
                service: service.clone(),
            })?;
        let arn = |kind: &str, id: &str| {
            format!("arn:{partition}:elasticfilesystem:{region}:{account}:{kind}/{id}")
        };
        let mounts: Vec<bool> = std::iter::once(&spec.container.mounts)
            .chain(spec.sidecars.iter().map(|s| &s.mounts))
            .flatten()
            .filter(|mount| mount.volume == v.name)
            .map(|mount| mount.read_only)
            .collect();
        let mut actions = vec!["elasticfilesystem:ClientMount"];
        if mounts.iter().any(|read_only| !read_only) {
            actions.push("elasticfilesystem:ClientWrite");
        }
        if v.efs.root_access {
            actions.push("elasticfilesystem:ClientRootAccess");
        }
        let mut statement = json!({
            "Sid": format!("MountEfs{}", sid_part(&v.name)),
            "Effect": "Allow",
            "Action": actions,
            "Resource": arn("file-system", &v.efs.file_system_id),
        });
        if let Some(ap) = &v.efs.access_point_id {
            statement["Condition"] = json!({
                "StringEquals": {"elasticfilesystem:AccessPointArn": arn("access-point", ap)}
            });
        }
        statements.push(statement);
    }
    if let Some(q) = queue {
        statements.push(json!({
            "Sid": "ConsumeQueue",
            "Effect": "Allow",
            "Action": QUEUE_CONSUMER_ACTIONS,
            "Resource": q.queue_arn,
        }));
    }
    if spec.container.exec {
        statements.push(json!({
            "Sid": "EcsExecChannels",
            "Effect": "Allow",
            "Action": EXEC_ACTIONS,
            "Resource": "*",
        }));
    }
    Ok(Some(TaskRolePolicy {
        role_arn: role,
        policy: json!({"Version": "2012-10-17", "Statement": statements}),
    }))
}

/// A volume name as part of a statement id (`Sid` takes letters and digits only).
fn sid_part(name: &str) -> String {
    name.split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> MonitoredService {
        let text = format!("apiVersion: ecs-operator.io/v1alpha1\nkind: MonitoredService\nmetadata:\n  name: files\nspec:\n  container:\n    image: web:1\n    taskRoleArn: arn:aws:iam::111122223333:role/files-task\n{extra}  notify:\n    team: web\n");
        crate::yaml::from_str(&text).unwrap()
    }

    fn settings() -> Settings {
        let mut s = Settings::local_defaults();
        s.region = Some("eu-west-1".into());
        s
    }

    #[test]
    fn a_service_without_efs_iam_or_exec_needs_nothing_of_its_task_role() {
        let plain = manifest("");
        assert_eq!(task_role_policy(&plain, &settings()), Ok(None));
    }

    #[test]
    fn a_queue_worker_may_consume_its_own_queue_and_no_other() {
        let m = manifest("  scaling:\n    minTasks: 0\n    maxTasks: 4\n    queue: {queueArn: 'arn:aws:sqs:eu-west-1:111122223333:orders', backlogPerTask: 10}\n");
        let p = task_role_policy(&m, &settings()).unwrap().unwrap();
        assert_eq!(
            p.policy["Statement"],
            json!([{
                "Sid": "ConsumeQueue",
                "Effect": "Allow",
                "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                "Resource": "arn:aws:sqs:eu-west-1:111122223333:orders"
            }])
        );
    }

    #[test]
    fn a_read_only_access_point_mount_needs_client_mount_on_that_file_system_only() {
        let m = manifest("    mounts: [{volume: shared-data, path: /data, readOnly: true}]\n  volumes:\n    - name: shared-data\n      efs: {fileSystemId: fs-0123abcd, accessPointId: fsap-0123abcd, iam: true}\n");
        let p = task_role_policy(&m, &settings()).unwrap().unwrap();
        assert_eq!(p.role_arn, "arn:aws:iam::111122223333:role/files-task");
        assert_eq!(
            p.policy["Statement"],
            json!([{
                "Sid": "MountEfsSharedData",
                "Effect": "Allow",
                "Action": ["elasticfilesystem:ClientMount"],
                "Resource": "arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-0123abcd",
                "Condition": {"StringEquals": {"elasticfilesystem:AccessPointArn": "arn:aws:elasticfilesystem:eu-west-1:111122223333:access-point/fsap-0123abcd"}}
            }])
        );
        let mut no_region = settings();
        no_region.region = None;
        assert!(matches!(
            task_role_policy(&m, &no_region),
            Err(TaskPolicyError::NoRegion { .. })
        ));
    }
}
