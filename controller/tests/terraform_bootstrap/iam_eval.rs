//! A small evaluator of identity policies, enough to ask "would AWS allow this request?" of the
//! rendered bootstrap policies: Action and Resource wildcards, explicit Deny over Allow, and the
//! condition operators the templates use. An operator it does not know fails the test loudly
//! instead of being skipped. (For the full IAM semantics, the design notes point at
//! @cloud-copilot/iam-simulate; this keeps `cargo test` free of npm.)

use serde_json::Value;

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    ImplicitlyDenied,
    ExplicitlyDenied,
}

/// One request: the action, the resource ARN, the tags on the resource and in the request, and
/// any other condition keys (`kms:ViaService`, `iam:PassedToService`, ...).
#[derive(Default)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub resource_tags: &'a [(&'a str, &'a str)],
    pub request_tags: &'a [(&'a str, &'a str)],
    pub context: &'a [(&'a str, &'a str)],
}

impl Request<'_> {
    /// The values of a condition key in this request (none: the key is absent).
    fn values(&self, key: &str) -> Vec<String> {
        let lower = key.to_ascii_lowercase();
        let tag = |tags: &[(&str, &str)], name: &str| {
            tags.iter()
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .collect()
        };
        if let Some(name) = lower
            .starts_with("aws:resourcetag/")
            .then(|| &key["aws:ResourceTag/".len()..])
        {
            return tag(self.resource_tags, name);
        }
        if let Some(name) = lower
            .starts_with("aws:requesttag/")
            .then(|| &key["aws:RequestTag/".len()..])
        {
            return tag(self.request_tags, name);
        }
        if lower == "aws:tagkeys" {
            return self
                .request_tags
                .iter()
                .map(|(k, _)| k.to_string())
                .collect();
        }
        self.context
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.to_string())
            .collect()
    }
}

/// `*` matches any run of characters, `?` one; the rest literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A string or a list of strings, as IAM accepts in Action, Resource and condition values.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().expect("a list of strings").to_string())
            .collect(),
        Value::Bool(b) => vec![b.to_string()],
        other => panic!("expected a string or a list of strings, found {other}"),
    }
}

fn condition_holds(operator: &str, key: &str, wanted: &[String], request: &Request) -> bool {
    let present = request.values(key);
    let any_equal =
        |f: &dyn Fn(&str, &str) -> bool| present.iter().any(|v| wanted.iter().any(|w| f(w, v)));
    match operator {
        "StringEquals" | "ArnEquals" | "Bool" => any_equal(&|w, v| w == v),
        "StringEqualsIfExists" => present.is_empty() || any_equal(&|w, v| w == v),
        "StringLike" | "ArnLike" => any_equal(&|w, v| glob(w, v)),
        "Null" => {
            let absent = present.is_empty();
            wanted.iter().any(|w| (w == "true") == absent)
        }
        "ForAllValues:StringNotEquals" => present.iter().all(|v| !wanted.contains(v)),
        "ForAllValues:StringEquals" => present.iter().all(|v| wanted.contains(v)),
        other => panic!("the test evaluator does not know the condition operator {other}"),
    }
}

fn statement_applies(statement: &Value, request: &Request) -> bool {
    let actions = strings(&statement["Action"]);
    let action_ok = actions.iter().any(|a| {
        glob(
            &a.to_ascii_lowercase(),
            &request.action.to_ascii_lowercase(),
        )
    });
    let resource_ok = strings(&statement["Resource"])
        .iter()
        .any(|r| glob(r, request.resource));
    let conditions_ok = statement
        .get("Condition")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(operator, keys)| {
            keys.as_object()
                .expect("condition keys")
                .iter()
                .all(|(key, wanted)| condition_holds(operator, key, &strings(wanted), request))
        });
    action_ok && resource_ok && conditions_ok
}

pub fn decide(policy: &Value, request: &Request) -> Decision {
    let statements = policy["Statement"].as_array().expect("Statement list");
    let applying: Vec<&Value> = statements
        .iter()
        .filter(|s| statement_applies(s, request))
        .collect();
    if applying.iter().any(|s| s["Effect"] == "Deny") {
        Decision::ExplicitlyDenied
    } else if applying.iter().any(|s| s["Effect"] == "Allow") {
        Decision::Allowed
    } else {
        Decision::ImplicitlyDenied
    }
}

/// Which statement (by Sid) allows a request, to name it in assertion messages.
pub fn allowing_sids(policy: &Value, request: &Request) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .expect("Statement list")
        .iter()
        .filter(|s| s["Effect"] == "Allow" && statement_applies(s, request))
        .map(|s| s["Sid"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn the_evaluator_follows_wildcards_deny_and_the_condition_operators() {
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/p/*",
         "Condition": {"Null": {"aws:ResourceTag/o": "true"},
                       "StringEqualsIfExists": {"aws:RequestTag/o": "me"}}},
        {"Sid": "D", "Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::b/p/secret"}
    ]});
    let get = |resource, resource_tags, request_tags| {
        decide(
            &policy,
            &Request {
                action: "s3:GetObject",
                resource,
                resource_tags,
                request_tags,
                ..Request::default()
            },
        )
    };
    assert_eq!(get("arn:aws:s3:::b/p/x", &[], &[]), Decision::Allowed);
    assert_eq!(
        get("arn:aws:s3:::b/p/x", &[], &[("o", "me")]),
        Decision::Allowed
    );
    assert_eq!(
        get("arn:aws:s3:::b/p/x", &[], &[("o", "you")]),
        Decision::ImplicitlyDenied
    );
    assert_eq!(
        get("arn:aws:s3:::b/p/x", &[("o", "me")], &[]),
        Decision::ImplicitlyDenied
    );
    assert_eq!(
        get("arn:aws:s3:::b/q/x", &[], &[]),
        Decision::ImplicitlyDenied
    );
    assert_eq!(
        get("arn:aws:s3:::b/p/secret", &[], &[]),
        Decision::ExplicitlyDenied
    );
    assert!(glob("a*b?d", "axxbcd") && !glob("a*b?d", "axxbd"));
}
