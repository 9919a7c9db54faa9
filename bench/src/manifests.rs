//! Generated, realistic MonitoredService manifests: an ECR image, CPU and memory, a health
//! check, environment, a business alert, Cloud Map discovery (the default), and for every
//! second service autoscaling with a CPU target.

/// Whether service `i` is autoscaled (half of them).
pub fn scaled(i: usize) -> bool {
    i % 2 == 0
}

/// Number of autoscaled services among `n`.
pub fn scaled_count(n: usize) -> usize {
    n.div_ceil(2)
}

pub fn name(prefix: &str, i: usize) -> String {
    format!("{prefix}svc-{i:05}")
}

/// The manifest of service `i`; `version` goes into the image tag (a change bumps it).
pub fn manifest(prefix: &str, i: usize, version: u32) -> (String, String) {
    let name = name(prefix, i);
    let (cpu, memory) = if i % 3 == 0 { (512, 1024) } else { (256, 512) };
    let team = format!("team-{}", i % 20);
    let scaling = if scaled(i) {
        "  scaling:\n    minTasks: 2\n    maxTasks: 8\n    targetCpuPercent: 60\n"
    } else {
        ""
    };
    let text = format!(
        "apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: {name}
  labels:
    tier: backend
spec:
  container:
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}:1.{version}.0
    cpu: {cpu}
    memory: {memory}
    port: 8080
    env:
      RUST_LOG: info
      SERVICE_INDEX: \"{i}\"
    healthCheck:
      path: /healthz
      gracePeriod: 30s
{scaling}  alerts:
    - name: ErrorsHigh
      metric: http_requests_errors_total
      measure: count
      window: 15m
      above: 100
      severity: warning
      summary: \"{{{{ $value }}}} errors in 15 minutes\"
  notify:
    team: {team}
  lifecycle:
    prune: true
"
    );
    (name, text)
}

/// `n` manifests named `<prefix>svc-00000...`.
pub fn generate(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| manifest(prefix, i, 0)).collect()
}
