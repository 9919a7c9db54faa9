//! The Prometheus metrics of the service.
//!
//! Names are what the operator's generated alert rules and dashboards query, so they are part of
//! the service's contract: `orders_created_total`, `orders_failed_total{reason}`,
//! `http_requests_total{route,code}`, `http_request_duration_seconds{route}`,
//! `pizza_service_info{instance_id,version}` and the `process_*` series of [`crate::process`].
//! (prometheus-client appends `_total` to counters itself, so they are registered without it.)
//!
//! Every label value that can occur on a counter is created at start-up with value 0. Without
//! that, the first failed order of a fresh task would create the series at 1 and `increase()` /
//! `rate()` would never see that first step.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::process::ProcessCollector;

/// Content type of the exposition: OpenMetrics text, which Prometheus negotiates and parses.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why an order failed. A fixed set, so that `orders_failed_total` has bounded cardinality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    PaymentDeclined,
    OvenFailure,
    OutOfStock,
}

impl FailureReason {
    /// Every reason, in a fixed order.
    pub const ALL: [FailureReason; 3] =
        [Self::PaymentDeclined, Self::OvenFailure, Self::OutOfStock];

    /// The label value and the `reason` field of a failed order's response.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentDeclined => "payment_declined",
            Self::OvenFailure => "oven_failure",
            Self::OutOfStock => "out_of_stock",
        }
    }
}

/// The route templates of the router. The `route` label only ever takes one of these values or
/// [`UNMATCHED_ROUTE`], never a raw path, so a scan of random URLs cannot blow up cardinality.
pub const ROUTES: [&str; 7] = [
    "/orders",
    "/orders/{id}",
    "/healthz",
    "/metrics",
    "/admin/faults",
    "/admin/crash",
    UNMATCHED_ROUTE,
];

/// The `route` label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The (route, code) pairs created at start-up. Other pairs appear on first use.
pub const KNOWN_ROUTE_CODES: [(&str, u16); 12] = [
    ("/orders", 201),
    ("/orders", 500),
    ("/orders", 400),
    ("/orders", 200),
    ("/orders/{id}", 200),
    ("/orders/{id}", 404),
    ("/healthz", 200),
    ("/metrics", 200),
    ("/admin/faults", 200),
    ("/admin/faults", 400),
    ("/admin/crash", 202),
    (UNMATCHED_ROUTE, 404),
];

/// Buckets of the request duration histogram: 1 ms to 10 s, about 2.5x apart.
pub const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteCodeLabels {
    route: &'static str,
    code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    instance_id: String,
    version: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// All metrics of one service instance, with the registry they are exposed from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    orders_created: Counter,
    orders_failed: Family<ReasonLabels, Counter>,
    http_requests: Family<RouteCodeLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    /// Registers every metric and pre-creates every known label set at zero.
    pub fn new(instance_id: &str) -> Self {
        let mut registry = Registry::default();

        let orders_created = Counter::default();
        registry.register(
            "orders_created",
            "Orders accepted and stored",
            orders_created.clone(),
        );

        let orders_failed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "orders_failed",
            "Orders that failed, by reason",
            orders_failed.clone(),
        );
        for reason in FailureReason::ALL {
            let _ = orders_failed.get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            });
        }

        let http_requests = Family::<RouteCodeLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template and status code",
            http_requests.clone(),
        );
        for (route, code) in KNOWN_ROUTE_CODES {
            let _ = http_requests.get_or_create(&RouteCodeLabels { route, code });
        }

        let http_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration by route template",
            http_duration.clone(),
        );
        for route in ROUTES {
            let _ = http_duration.get_or_create(&RouteLabels { route });
        }

        let info = Family::<InfoLabels, Gauge>::default();
        registry.register(
            "pizza_service_info",
            "Always 1; labels identify this replica",
            info.clone(),
        );
        info.get_or_create(&InfoLabels {
            instance_id: instance_id.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .set(1);

        registry.register_collector(Box::new(ProcessCollector::new()));

        Self {
            registry,
            orders_created,
            orders_failed,
            http_requests,
            http_duration,
        }
    }

    /// Counts an accepted order.
    pub fn order_created(&self) {
        self.orders_created.inc();
    }

    /// Counts a failed order.
    pub fn order_failed(&self, reason: FailureReason) {
        self.orders_failed
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// Counts one finished HTTP request and its duration. `route` must come from [`route_label`].
    pub fn request_done(&self, route: &'static str, code: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&RouteCodeLabels { route, code })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    /// The exposition text (OpenMetrics, ending in `# EOF`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Maps a matched route template (or none) to its bounded label value.
pub fn route_label(matched: Option<&str>) -> &'static str {
    matched
        .and_then(|m| ROUTES.iter().copied().find(|r| *r == m))
        .unwrap_or(UNMATCHED_ROUTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_carry_the_total_suffix_exactly_once() {
        let text = Metrics::new("t").encode().expect("encodes");
        assert!(text.contains("\norders_created_total 0\n"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
        assert!(
            text.contains("pizza_service_info{instance_id=\"t\",version=\""),
            "{text}"
        );
    }

    #[test]
    fn unknown_paths_map_to_one_label_value() {
        assert_eq!(route_label(Some("/orders/{id}")), "/orders/{id}");
        assert_eq!(route_label(Some("/wp-admin")), UNMATCHED_ROUTE);
        assert_eq!(route_label(None), UNMATCHED_ROUTE);
    }
}
