//! Plain HTTP calls to moto_server: creates what the Terraform bootstrap creates in a real
//! account, and registers replicas in Cloud Map the way ECS registers tasks.
//!
//! moto does not check signatures; it picks the service from the credential scope of the
//! `Authorization` header, so each request carries a SigV4-shaped header naming its service.
//! (The aws CLI would do too, but each call costs a Python start-up: seconds on a busy
//! two-core machine.)

use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";

#[derive(Clone)]
pub struct Aws {
    pub endpoint: String,
    http: reqwest::Client,
}

fn authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20250101/{REGION}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
    )
}

/// The text of the first `<tag>...</tag>` in an XML answer.
fn xml_field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].trim().to_string())
}

impl Aws {
    pub fn new(endpoint: &str) -> anyhow::Result<Self> {
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    /// The environment the operator's AWS SDK gets.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            // A developer's ~/.aws must not change where the operator goes.
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> anyhow::Result<String> {
        let response = request
            .header("X-Amz-Date", "20250101T000000Z")
            .send()
            .await
            .with_context(|| format!("{what}: moto_server did not answer"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{what}: {status}: {}", text.trim());
        }
        Ok(text)
    }

    /// An EC2 query-protocol action; returns the XML answer.
    pub async fn ec2(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<String> {
        self.query("ec2", "2016-11-15", action, params).await
    }

    /// An ELBv2 query-protocol action; returns the XML answer.
    pub async fn elbv2(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<String> {
        self.query("elasticloadbalancing", "2015-12-01", action, params)
            .await
    }

    /// A query-protocol action of `service` (its API `version`); returns the XML answer.
    async fn query(
        &self,
        service: &str,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> anyhow::Result<String> {
        let mut form: Vec<(&str, &str)> = vec![("Action", action), ("Version", version)];
        form.extend_from_slice(params);
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            &format!("{service} {action}"),
            self.http
                .post(&self.endpoint)
                .header("Authorization", authorization(service))
                .header(
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(body),
        )
        .await
    }

    /// A JSON-protocol action (`X-Amz-Target: <prefix>.<action>`).
    pub async fn json(&self, service: &str, target: &str, body: Value) -> anyhow::Result<Value> {
        let text = self
            .send(
                target,
                self.http
                    .post(&self.endpoint)
                    .header("Authorization", authorization(service))
                    .header("X-Amz-Target", target)
                    .header("Content-Type", "application/x-amz-json-1.1")
                    .body(body.to_string()),
            )
            .await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{target}: not JSON: {text}"))
    }

    pub async fn ecs(&self, action: &str, body: Value) -> anyhow::Result<Value> {
        self.json(
            "ecs",
            &format!("AmazonEC2ContainerServiceV20141113.{action}"),
            body,
        )
        .await
    }

    pub async fn cloud_map(&self, action: &str, body: Value) -> anyhow::Result<Value> {
        self.json(
            "servicediscovery",
            &format!("Route53AutoNaming_v20170314.{action}"),
            body,
        )
        .await
    }

    /// `PUT /<path>` on S3 (path-style): a bucket, or an object with `body`.
    pub async fn s3_put(&self, path: &str, body: Vec<u8>) -> anyhow::Result<()> {
        self.send(
            &format!("s3 PUT /{path}"),
            self.http
                .put(format!("{}/{path}", self.endpoint))
                .header("Authorization", authorization("s3"))
                .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
                .body(body),
        )
        .await
        .map(|_| ())
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the demo creates in the emulated account.
#[derive(Debug, Clone)]
pub struct Platform {
    pub vpc: String,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub cluster: String,
    pub namespace_id: String,
    pub namespace_name: String,
    pub bucket: String,
    /// The HTTPS listener of the platform's load balancer (`traffic.ingress` routes from it).
    pub listener: String,
}

/// The host name of the demo's load balancer (a certificate in moto's ACM names it).
pub const PUBLIC_HOST: &str = "pizza.demo.example.com";

impl Platform {
    /// VPC, two subnets, a security group, the ECS cluster, the Cloud Map namespace, the
    /// bucket for manifests and state, and a load balancer with an HTTPS listener (as the
    /// bootstrap's `alb.tf`).
    pub async fn create(aws: &Aws, cluster: &str, namespace: &str) -> anyhow::Result<Self> {
        let vpc = aws
            .ec2("CreateVpc", &[("CidrBlock", "10.42.0.0/16")])
            .await?;
        let vpc = xml_field(&vpc, "vpcId").context("CreateVpc: no vpcId")?;
        let subnet = async |cidr: &str, az: &str| -> anyhow::Result<String> {
            let xml = aws
                .ec2(
                    "CreateSubnet",
                    &[
                        ("VpcId", &vpc),
                        ("CidrBlock", cidr),
                        ("AvailabilityZone", az),
                    ],
                )
                .await?;
            xml_field(&xml, "subnetId").context("CreateSubnet: no subnetId")
        };
        let a = subnet("10.42.1.0/24", "us-east-1a").await?;
        let b = subnet("10.42.2.0/24", "us-east-1b").await?;
        let sg = aws
            .ec2(
                "CreateSecurityGroup",
                &[
                    ("GroupName", "pizza-demo-tasks"),
                    ("GroupDescription", "pizza demo tasks"),
                    ("VpcId", &vpc),
                ],
            )
            .await?;
        let security_group =
            xml_field(&sg, "groupId").context("CreateSecurityGroup: no groupId")?;
        aws.ecs("CreateCluster", json!({"clusterName": cluster}))
            .await?;
        let op = aws
            .cloud_map(
                "CreatePrivateDnsNamespace",
                json!({"Name": namespace, "Vpc": vpc, "CreatorRequestId": format!("pizza-demo-{}", std::process::id())}),
            )
            .await?;
        let op = op["OperationId"]
            .as_str()
            .context("CreatePrivateDnsNamespace: no OperationId")?;
        let got = aws
            .cloud_map("GetOperation", json!({"OperationId": op}))
            .await?;
        let namespace_id = got["Operation"]["Targets"]["NAMESPACE"]
            .as_str()
            .context("GetOperation: no namespace id")?
            .to_string();
        let bucket = format!("{cluster}-{}", std::process::id());
        aws.s3_put(&bucket, Vec::new()).await?;
        let listener = load_balancer(aws, &a, &b).await?;
        Ok(Platform {
            vpc,
            subnets: vec![a, b],
            security_group,
            cluster: cluster.to_string(),
            namespace_id,
            namespace_name: namespace.to_string(),
            bucket,
            listener,
        })
    }
}

/// An Application Load Balancer over subnets `a` and `b` with an HTTPS listener answering 404
/// by default; returns the listener's ARN.
async fn load_balancer(aws: &Aws, a: &str, b: &str) -> anyhow::Result<String> {
    let name = format!("pizza-demo-{}", std::process::id());
    let lb = aws
        .elbv2(
            "CreateLoadBalancer",
            &[
                ("Name", &name),
                ("Subnets.member.1", a),
                ("Subnets.member.2", b),
            ],
        )
        .await?;
    let lb = xml_field(&lb, "LoadBalancerArn").context("CreateLoadBalancer: no ARN")?;
    let certificate = aws
        .json(
            "acm",
            "CertificateManager.RequestCertificate",
            json!({"DomainName": PUBLIC_HOST}),
        )
        .await?;
    let certificate = certificate["CertificateArn"]
        .as_str()
        .context("RequestCertificate: no CertificateArn")?
        .to_string();
    let listener = aws
        .elbv2(
            "CreateListener",
            &[
                ("LoadBalancerArn", &lb),
                ("Protocol", "HTTPS"),
                ("Port", "443"),
                ("Certificates.member.1.CertificateArn", &certificate),
                ("DefaultActions.member.1.Type", "fixed-response"),
                (
                    "DefaultActions.member.1.FixedResponseConfig.StatusCode",
                    "404",
                ),
            ],
        )
        .await?;
    xml_field(&listener, "ListenerArn").context("CreateListener: no ARN")
}

/// The id of the Cloud Map service `name` in the namespace, once the operator created it.
pub async fn discovery_service_id(
    aws: &Aws,
    namespace_id: &str,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let v = aws.cloud_map("ListServices", json!({})).await?;
    Ok(v["Services"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| {
            s["Name"] == name
                && s["NamespaceId"]
                    .as_str()
                    .is_none_or(|id| id == namespace_id)
        })
        .and_then(|s| s["Id"].as_str().map(str::to_string)))
}

/// Registers an instance with attributes, as ECS does for each task.
pub async fn register_instance(
    aws: &Aws,
    service_id: &str,
    instance_id: &str,
    attributes: &[(&str, String)],
) -> anyhow::Result<()> {
    let attributes: serde_json::Map<String, Value> = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    aws.cloud_map(
        "RegisterInstance",
        json!({
            "ServiceId": service_id,
            "InstanceId": instance_id,
            "CreatorRequestId": format!("{instance_id}-{}", std::process::id()),
            "Attributes": attributes,
        }),
    )
    .await?;
    Ok(())
}

/// Removes an instance from a Cloud Map service, as ECS does when a task stops.
pub async fn deregister_instance(
    aws: &Aws,
    service_id: &str,
    instance_id: &str,
) -> anyhow::Result<()> {
    aws.cloud_map(
        "DeregisterInstance",
        json!({"ServiceId": service_id, "InstanceId": instance_id}),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_fields_and_form_encoding() {
        let xml = "<CreateVpcResponse><vpc><vpcId>vpc-123</vpcId><state>pending</state></vpc></CreateVpcResponse>";
        assert_eq!(xml_field(xml, "vpcId").as_deref(), Some("vpc-123"));
        assert_eq!(xml_field(xml, "subnetId"), None);
        assert_eq!(urlencode("10.42.0.0/16"), "10.42.0.0%2F16");
        assert_eq!(urlencode("a b"), "a%20b");
    }
}
