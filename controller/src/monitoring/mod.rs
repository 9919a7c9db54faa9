//! Monitoring outputs rendered from manifests: Prometheus scrape jobs and rules, Alertmanager
//! routes, Grafana dashboards. (Being written; see issue 4.)
