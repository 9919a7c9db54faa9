//! The oracle for what the operator accepts: every accepted manifest renders into a permitted
//! cluster with permitted roles and the owner tag, and every rendered monitoring file lies inside
//! the config directory, parses, and carries PromQL that parses with the manifest's label values
//! intact and templates that hold only allowed actions and expand to the literal text.

use std::collections::{BTreeMap, BTreeSet};

use ecs_operator::manifest::{ManifestSet, MonitoredService};
use ecs_operator::settings::Settings;
use serde_yaml::Value;

use ecs_operator::render::monitoring::promql::label_matchers as label_matchers_of;

/// Go's unquoting of a double-quoted literal's body (promql-parser keeps escapes as written).
pub fn go_unescape(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let next = chars.next().ok_or("a trailing backslash")?;
        match next {
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            'u' | 'U' => {
                let n = if next == 'u' { 4 } else { 8 };
                let hex: String = chars.by_ref().take(n).collect();
                let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                out.push(char::from_u32(code).ok_or("an invalid code point")?);
            }
            other => return Err(format!("an unknown escape \\{other}")),
        }
    }
    Ok(out)
}

pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Every `{{ ... }}` action of a Go template text, in order (quotes inside actions respected).
pub fn template_actions(text: &str) -> Result<Vec<String>, String> {
    let mut actions = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let inner = &rest[start + 2..];
        let mut in_quote = false;
        let mut end = None;
        let bytes = inner.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_quote => i += 1,
                b'"' => in_quote = !in_quote,
                b'}' if !in_quote && bytes.get(i + 1) == Some(&b'}') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let end = end.ok_or_else(|| format!("unclosed template action in {text:?}"))?;
        actions.push(inner[..end].trim().to_string());
        rest = &inner[end + 2..];
    }
    Ok(actions)
}

/// The text a Go template renders when its only actions are the `{{ "{{" }}` escape; an error
/// when it holds any other action.
pub fn literal_expansion(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let end = inner
            .find("}}")
            .ok_or_else(|| format!("unclosed action in {text:?}"))?;
        if inner[..end].trim() != "\"{{\"" {
            return Err(format!(
                "live template action {{{{{}}}}} in {text:?}",
                &inner[..end]
            ));
        }
        out.push_str("{{");
        rest = &inner[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn action_allowed(action: &str) -> bool {
    let action = action.trim_matches('-').trim();
    if action == "\"{{\"" {
        return true;
    }
    let mut parts = action.split('|').map(str::trim);
    let head = parts.next().unwrap_or("");
    let head_ok = head == "$value"
        || head == ".Value"
        || ["$labels.", ".Labels.", "$externalLabels."]
            .iter()
            .any(|p| {
                head.strip_prefix(p).is_some_and(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            });
    head_ok
        && parts
            .all(|p| p.starts_with("humanize") || (p.starts_with("printf \"%") && p.ends_with('"')))
}
/// The oracle for accepted manifests. Returns the number of PromQL expressions checked and the
/// rendered files.
pub fn check_accepted(
    set: &ManifestSet,
    settings: &Settings,
) -> Result<(usize, BTreeMap<String, String>), String> {
    let permitted_clusters: BTreeSet<&str> = settings.permitted_clusters().collect();
    let permitted_roles: BTreeSet<&str> = settings.permitted_task_roles().collect();
    let deployment_roles: BTreeSet<&str> = settings.permitted_deployment_roles().collect();
    for m in &set.manifests {
        let name = m.name();
        if !is_dns_label(name) || name.len() > 32 {
            return Err(format!(
                "accepted a service name that is no DNS label: {name:?}"
            ));
        }
        let d = ecs_operator::render::render_service(&m.manifest, settings);
        if !permitted_clusters.contains(d.cluster.as_str()) {
            return Err(format!("{name}: rendered into cluster {:?}", d.cluster));
        }
        if let Some(role) = &d.task_definition.task_role_arn {
            if !permitted_roles.contains(role.as_str()) {
                return Err(format!("{name}: task role {role:?} passed"));
            }
        }
        let lb_roles = (d.service.load_balancers.iter())
            .filter_map(|lb| lb.advanced_configuration.as_ref()?.role_arn.as_deref());
        let hook_roles = (d.service.deployment_strategy.iter())
            .flat_map(|s| s.lifecycle_hooks.iter().map(|h| h.role_arn.as_str()));
        if let Some(role) = lb_roles
            .chain(hook_roles)
            .find(|r| !deployment_roles.contains(r))
        {
            return Err(format!("{name}: deployment role {role:?} passed to ECS"));
        }
        if d.task_definition.execution_role_arn != settings.execution_role_arn {
            return Err(format!("{name}: execution role changed"));
        }
        if d.tags.get(ecs_operator::domain::tags::OWNER) != Some(&settings.operator_id) {
            return Err(format!("{name}: owner tag {:?}", d.tags));
        }
        if let Some(disc) = &d.discovery {
            if !is_dns_label(&disc.name) {
                return Err(format!("{name}: Cloud Map name {:?}", disc.name));
            }
        }
        for (_, value) in &d.task_definition.container.secrets {
            if !value.starts_with("arn:") {
                return Err(format!("{name}: a secret that is not an ARN"));
            }
        }
    }
    let manifests: Vec<&MonitoredService> = set.manifests.iter().map(|m| &m.manifest).collect();
    let out = ecs_operator::render::monitoring::render(&manifests, settings);
    let mut exprs = 0;
    for (path, content) in &out.files {
        let p = std::path::Path::new(path);
        let safe = p.components().next().is_some()
            && p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && ["prometheus/", "alertmanager/", "grafana/"]
                .iter()
                .any(|prefix| path.starts_with(prefix));
        if !safe {
            return Err(format!("unsafe output path {path:?}"));
        }
        if path.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(content)
                .map_err(|e| format!("{path}: invalid JSON: {e}"))?;
            continue;
        }
        let doc: Value =
            serde_yaml::from_str(content).map_err(|e| format!("{path}: invalid YAML: {e}"))?;
        if !path.starts_with("prometheus/rules/") {
            continue;
        }
        let service = path
            .trim_start_matches("prometheus/rules/")
            .trim_end_matches(".rules.yml");
        let manifest = manifests
            .iter()
            .find(|m| m.metadata.name == service)
            .ok_or_else(|| format!("{path}: no manifest {service}"))?;
        for group in doc["groups"].as_sequence().into_iter().flatten() {
            for rule in group["rules"].as_sequence().into_iter().flatten() {
                let expr = rule["expr"]
                    .as_str()
                    .ok_or_else(|| format!("{path}: a rule without expr"))?;
                let parsed = promql_parser::parser::parse(expr)
                    .map_err(|e| format!("{path}: PromQL {expr:?} does not parse: {e}"))?;
                exprs += 1;
                let Some(alert) = rule["alert"].as_str() else {
                    continue;
                };
                // The manifest's own alert: each label is one matcher, value intact.
                if let Some(a) = manifest.spec.alerts.iter().find(|a| a.name == alert) {
                    if a.expr.is_none() {
                        let matchers = label_matchers_of(&parsed);
                        for (k, v) in &a.labels {
                            if !matchers
                                .iter()
                                .any(|m| &m.name == k && go_unescape(&m.value).as_ref() == Ok(v))
                            {
                                return Err(format!(
                                    "{path}: alert {alert}: label {k}={v:?} is not a literal matcher of {expr}"
                                ));
                            }
                        }
                    }
                }
                // Labels from metadata render literally; annotations only hold allowed actions.
                for (k, v) in &manifest.metadata.labels {
                    let rendered = rule["labels"][k.as_str()]
                        .as_str()
                        .ok_or_else(|| format!("{path}: alert {alert} lost label {k}"))?;
                    let expanded = literal_expansion(rendered)?;
                    if &expanded != v {
                        return Err(format!(
                            "{path}: alert {alert}: label {k} expands to {expanded:?}, not {v:?}"
                        ));
                    }
                }
                for field in ["labels", "annotations"] {
                    if let Some(map) = rule[field].as_mapping() {
                        for (k, v) in map {
                            let text = v.as_str().unwrap_or_default();
                            // The operator's own query of what is deployed: exactly this text,
                            // with the service name (a DNS label) as the only input.
                            if field == "annotations" && k.as_str() == Some("deployment") {
                                let expected = format!(
                                    "{{{{ range query `time() - ecs_operator_service_deployed_timestamp_seconds{{service=\"{service}\"}}` }}}}{{{{ .Labels.revision }}}}{{{{ with .Labels.image }}}} (image {{{{ . }}}}){{{{ end }}}}, deployed {{{{ .Value | humanizeDuration }}}} ago{{{{ else }}}}unknown{{{{ end }}}}"
                                );
                                if text != expected {
                                    return Err(format!(
                                        "{path}: alert {alert}: annotations.deployment is {text:?}"
                                    ));
                                }
                                continue;
                            }
                            for action in template_actions(text)? {
                                if !action_allowed(&action) {
                                    return Err(format!(
                                        "{path}: alert {alert}: {field}.{} holds the template action {{{{{action}}}}}",
                                        k.as_str().unwrap_or_default()
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok((exprs, out.files))
}
