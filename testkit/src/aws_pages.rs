//! AWS's page sizes and batch limits, enforced in front of moto by the [`FaultProxy`]
//! (`Config::aws_pages`), so that a call count measured through it is the count real AWS would
//! see.
//!
//! moto returns ECS ListServices / ListTasks / ListTaskDefinitions / ListTaskDefinitionFamilies
//! and Cloud Map ListServices / ListInstances in one page whatever the request asks, pages
//! DescribeScalingPolicies by 100 where AWS stops at 10, and takes any number of names in
//! DescribeServices. Here:
//!
//! | operation | AWS page (default / max) | what the proxy does |
//! | --- | --- | --- |
//! | ECS ListServices, ListTasks, ListTaskDefinitions, ListTaskDefinitionFamilies | 10 / 100 (`maxResults`); ListTasks, ListTaskDefinitions and ListTaskDefinitionFamilies 100 / 100 | re-pages moto's full answer with its own `nextToken` |
//! | ECS DescribeServices | at most 10 names | more is `InvalidParameterException` |
//! | Cloud Map ListServices, ListInstances | 100 / 100 (`MaxResults`) | re-pages moto's full answer |
//! | Application Auto Scaling DescribeScalingPolicies | 10 / 10 | asks moto for pages of 10 |
//! | Application Auto Scaling DescribeScalableTargets | 50 / 50 | asks moto for pages of 50 |
//!
//! A `MaxResults` above the maximum is refused with the service's validation error, as AWS
//! refuses it. Sources: the API references of each operation (ECS `ListServices.maxResults`,
//! `DescribeServices.services`; Cloud Map `ListServices.MaxResults`; Application Auto Scaling
//! `DescribeScalingPolicies.MaxResults`, `DescribeScalableTargets.MaxResults`).
//!
//! [`FaultProxy`]: crate::fault_proxy::FaultProxy

use serde_json::Value;

/// The prefix of the `nextToken`s this layer hands out (moto's own tokens pass untouched).
const TOKEN_PREFIX: &str = "aws-pages:";

/// How one paginated operation pages on AWS.
struct Paging {
    service: &'static str,
    operation: &'static str,
    /// The request and response field names: `maxResults` / `MaxResults`, `nextToken` / `NextToken`.
    max_field: &'static str,
    token_field: &'static str,
    /// The list in the response.
    items: &'static str,
    default: u64,
    max: u64,
    /// moto pages this operation itself (only the page size is set); otherwise re-paged here.
    moto_pages: bool,
}

const PAGINGS: &[Paging] = &[
    Paging {
        service: "ECS",
        operation: "ListServices",
        max_field: "maxResults",
        token_field: "nextToken",
        items: "serviceArns",
        default: 10,
        max: 100,
        moto_pages: false,
    },
    Paging {
        service: "ECS",
        operation: "ListTasks",
        max_field: "maxResults",
        token_field: "nextToken",
        items: "taskArns",
        default: 100,
        max: 100,
        moto_pages: false,
    },
    Paging {
        service: "ECS",
        operation: "ListTaskDefinitions",
        max_field: "maxResults",
        token_field: "nextToken",
        items: "taskDefinitionArns",
        default: 100,
        max: 100,
        moto_pages: false,
    },
    Paging {
        service: "ECS",
        operation: "ListTaskDefinitionFamilies",
        max_field: "maxResults",
        token_field: "nextToken",
        items: "families",
        default: 100,
        max: 100,
        moto_pages: false,
    },
    Paging {
        service: "ServiceDiscovery",
        operation: "ListServices",
        max_field: "MaxResults",
        token_field: "NextToken",
        items: "Services",
        default: 100,
        max: 100,
        moto_pages: false,
    },
    Paging {
        service: "ServiceDiscovery",
        operation: "ListInstances",
        max_field: "MaxResults",
        token_field: "NextToken",
        items: "Instances",
        default: 100,
        max: 100,
        moto_pages: false,
    },
    Paging {
        service: "ApplicationAutoScaling",
        operation: "DescribeScalingPolicies",
        max_field: "MaxResults",
        token_field: "NextToken",
        items: "ScalingPolicies",
        default: 10,
        max: 10,
        moto_pages: true,
    },
    Paging {
        service: "ApplicationAutoScaling",
        operation: "DescribeScalableTargets",
        max_field: "MaxResults",
        token_field: "NextToken",
        items: "ScalableTargets",
        default: 50,
        max: 50,
        moto_pages: true,
    },
];

/// What to do with one request.
pub enum Prepared {
    /// Forward this body; if `repage` is set, cut the answer to that page afterwards.
    Forward { body: Vec<u8>, repage: Option<Page> },
    /// Answer with this error instead (status, code, message): AWS would have refused it.
    Refuse(u16, &'static str, String),
}

/// The page of moto's full answer to return.
pub struct Page {
    items: &'static str,
    token_field: &'static str,
    offset: usize,
    size: usize,
}

fn validation_code(service: &str) -> &'static str {
    match service {
        "ECS" => "InvalidParameterException",
        "ServiceDiscovery" => "InvalidInput",
        _ => "ValidationException",
    }
}

/// Checks and rewrites a request body as AWS would page it.
pub fn prepare(service: &str, operation: &str, body: Vec<u8>) -> Prepared {
    if (service, operation) == ("ECS", "DescribeServices") {
        let names = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["services"].as_array().map(Vec::len))
            .unwrap_or(0);
        if names > 10 {
            return Prepared::Refuse(
                400,
                "InvalidParameterException",
                format!("DescribeServices takes at most 10 services, got {names} (aws-pages)"),
            );
        }
        return Prepared::Forward { body, repage: None };
    }
    let Some(paging) = PAGINGS
        .iter()
        .find(|p| p.service == service && p.operation == operation)
    else {
        return Prepared::Forward { body, repage: None };
    };
    let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(&body) else {
        return Prepared::Forward { body, repage: None };
    };
    let size = match request.get(paging.max_field).and_then(Value::as_u64) {
        None => paging.default,
        Some(n) if (1..=paging.max).contains(&n) => n,
        Some(n) => {
            return Prepared::Refuse(
                400,
                validation_code(service),
                format!(
                    "{}: {} must be between 1 and {}, got {n} (aws-pages)",
                    paging.operation, paging.max_field, paging.max
                ),
            )
        }
    };
    if paging.moto_pages {
        request.insert(paging.max_field.into(), size.into());
        return Prepared::Forward {
            body: serde_json::to_vec(&request).unwrap(),
            repage: None,
        };
    }
    let offset = match request.get(paging.token_field).and_then(Value::as_str) {
        Some(token) => match token.strip_prefix(TOKEN_PREFIX).map(str::parse::<usize>) {
            Some(Ok(offset)) => offset,
            _ => return Prepared::Forward { body, repage: None },
        },
        None => 0,
    };
    request.remove(paging.token_field);
    request.remove(paging.max_field);
    Prepared::Forward {
        body: serde_json::to_vec(&request).unwrap(),
        repage: Some(Page {
            items: paging.items,
            token_field: paging.token_field,
            offset,
            size: size as usize,
        }),
    }
}

/// Cuts moto's full answer to the page asked for, with a `nextToken` when more follow.
pub fn repage(page: &Page, answer: Vec<u8>) -> Vec<u8> {
    let Ok(Value::Object(mut response)) = serde_json::from_slice::<Value>(&answer) else {
        return answer;
    };
    let all = match response.remove(page.items) {
        Some(Value::Array(all)) => all,
        _ => return answer,
    };
    let end = (page.offset + page.size).min(all.len());
    let start = page.offset.min(end);
    response.remove(page.token_field);
    if end < all.len() {
        response.insert(
            page.token_field.into(),
            format!("{TOKEN_PREFIX}{end}").into(),
        );
    }
    response.insert(page.items.into(), all[start..end].to_vec().into());
    serde_json::to_vec(&response).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(p: Prepared) -> (Value, Option<Page>) {
        match p {
            Prepared::Forward { body, repage } => (serde_json::from_slice(&body).unwrap(), repage),
            Prepared::Refuse(_, code, m) => panic!("refused: {code} {m}"),
        }
    }

    #[test]
    fn ecs_list_services_is_re_paged_ten_at_a_time_unless_asked_for_more() {
        let (body, page) = forwarded(prepare("ECS", "ListServices", br#"{"cluster":"c"}"#.into()));
        assert_eq!(body, serde_json::json!({"cluster": "c"}));
        let page = page.unwrap();
        let arns: Vec<String> = (0..25).map(|i| format!("arn:{i}")).collect();
        let full = serde_json::to_vec(&serde_json::json!({ "serviceArns": arns })).unwrap();
        let first: Value = serde_json::from_slice(&repage(&page, full.clone())).unwrap();
        assert_eq!(first["serviceArns"].as_array().unwrap().len(), 10);
        assert_eq!(first["nextToken"], "aws-pages:10");

        let (_, page) = forwarded(prepare(
            "ECS",
            "ListServices",
            br#"{"cluster":"c","maxResults":100,"nextToken":"aws-pages:20"}"#.into(),
        ));
        let last: Value = serde_json::from_slice(&repage(&page.unwrap(), full)).unwrap();
        assert_eq!(last["serviceArns"].as_array().unwrap().len(), 5);
        assert!(last.get("nextToken").is_none());
    }

    #[test]
    fn limits_above_the_api_maximum_are_refused_as_aws_refuses_them() {
        let refused = |service, op, body: &str| {
            matches!(
                prepare(service, op, body.into()),
                Prepared::Refuse(400, _, _)
            )
        };
        assert!(refused("ECS", "ListServices", r#"{"maxResults":101}"#));
        assert!(refused(
            "ApplicationAutoScaling",
            "DescribeScalingPolicies",
            r#"{"ServiceNamespace":"ecs","MaxResults":50}"#
        ));
        let names: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
        let body = serde_json::json!({ "services": names }).to_string();
        assert!(refused("ECS", "DescribeServices", &body));
    }

    #[test]
    fn scaling_policies_are_asked_of_moto_ten_at_a_time() {
        let (body, page) = forwarded(prepare(
            "ApplicationAutoScaling",
            "DescribeScalingPolicies",
            br#"{"ServiceNamespace":"ecs"}"#.into(),
        ));
        assert_eq!(body["MaxResults"], 10);
        assert!(page.is_none());
    }
}
