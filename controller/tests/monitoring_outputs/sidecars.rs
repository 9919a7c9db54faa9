//! Sidecar metrics: a sidecar with `metrics` gets its own job, `<service>/<sidecar>`, over the
//! service's discovered tasks, on the sidecar's port and path, labelled with its container.
//! Both promtools run the job's service discovery and relabelling against a local HTTP SD
//! endpoint (`promtool check service-discovery`).

use std::io::{Read, Write};
use std::net::TcpListener;

use super::*;

/// An HTTP SD endpoint answering every request with `body`.
fn sd_endpoint(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 8192];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}/sd/prometheus")
}

/// The targets `promtool check service-discovery` reports for `job`, after relabelling.
fn discovered(promtool: &Path, config: &Path, job: &str) -> Vec<serde_json::Value> {
    let out = Command::new(promtool)
        .args(["check", "service-discovery", "--timeout=10s"])
        .arg(config)
        .arg(job)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{job}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = &text[text.find('[').unwrap_or_else(|| panic!("{job}: {text}"))..];
    serde_json::from_str::<Vec<serde_json::Value>>(json)
        .unwrap_or_else(|e| panic!("{job}: {e}: {text}"))
        .into_iter()
        .map(|t| t["labels"].clone())
        .collect()
}

#[test]
fn a_sidecar_is_scraped_on_its_own_port_and_path_of_the_service_s_tasks() {
    let tasks = serde_json::json!([{
        "targets": ["10.0.1.7:9000"],
        "labels": {"service": "checkout", "team": "payments", "task": "0123abcd"}
    }]);
    let mut s = settings();
    s.monitoring.service_discovery_url = sd_endpoint(tasks.to_string());
    let manifests = examples();
    let refs: Vec<&MonitoredService> = manifests.iter().collect();
    let dir = tempfile::tempdir().unwrap();
    write(&render(&refs, &s), dir.path());
    let config = dir.path().join("prometheus/prometheus.yml");
    for promtool in promtools() {
        let envoy = discovered(&promtool, &config, "checkout/envoy");
        assert_eq!(envoy.len(), 1, "{envoy:?}");
        assert_eq!(envoy[0]["__address__"], "10.0.1.7:9901", "{envoy:?}");
        assert_eq!(envoy[0]["__metrics_path__"], "/stats/prometheus");
        assert_eq!(envoy[0]["container"], "envoy");
        assert_eq!(envoy[0]["job"], "checkout/envoy");
        assert_eq!(envoy[0]["task"], "0123abcd");
        let app = discovered(&promtool, &config, "checkout");
        assert_eq!(app[0]["__address__"], "10.0.1.7:9000", "{app:?}");
        assert!(app[0].get("container").is_none(), "{app:?}");
    }
}
