//! Small, careful builders for PromQL text.
//!
//! Everything a manifest can put into a query goes through here: label values are escaped as
//! PromQL string literals, numbers are printed in a form PromQL reads back exactly, and the
//! counting expression (see [`count_over`]) is built in one place.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::duration::PromDuration;

/// `value` as a double-quoted PromQL string literal.
///
/// PromQL string literals follow Go's escaping rules: `\` and `"` are escaped, and so is every
/// control character, so a manifest value such as `a"}` or `x\` can never end the literal early
/// and inject matchers or operators.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How a label is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Re,
    NotRe,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

/// A metric name with label matchers, printed in a fixed order: `job` (or `service`) first, as
/// given, then the manifest's labels sorted by name.
#[derive(Debug, Clone)]
pub struct Selector {
    metric: String,
    matchers: Vec<(String, Op, String)>,
}

impl Selector {
    pub fn new(metric: &str) -> Self {
        Self {
            metric: metric.to_string(),
            matchers: Vec::new(),
        }
    }

    pub fn eq(mut self, name: &str, value: &str) -> Self {
        self.matchers
            .push((name.to_string(), Op::Eq, value.to_string()));
        self
    }

    pub fn re(mut self, name: &str, regex: &str) -> Self {
        self.matchers
            .push((name.to_string(), Op::Re, regex.to_string()));
        self
    }

    pub fn not_re(mut self, name: &str, regex: &str) -> Self {
        self.matchers
            .push((name.to_string(), Op::NotRe, regex.to_string()));
        self
    }

    /// Adds `labels` as equality matchers (a `BTreeMap`, so in name order).
    pub fn labels(mut self, labels: &BTreeMap<String, String>) -> Self {
        for (name, value) in labels {
            self.matchers.push((name.clone(), Op::Eq, value.clone()));
        }
        self
    }

    /// The same matchers on another metric (`<histogram>_bucket` from `<histogram>_count`).
    pub fn with_metric(&self, metric: &str) -> Self {
        Self {
            metric: metric.to_string(),
            matchers: self.matchers.clone(),
        }
    }

    /// `metric{a="x",b=~"y"}`.
    pub fn text(&self) -> String {
        let mut out = self.metric.clone();
        if !self.matchers.is_empty() {
            out.push('{');
            for (i, (name, op, value)) in self.matchers.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(name);
                out.push_str(op.as_str());
                out.push_str(&quote(value));
            }
            out.push('}');
        }
        out
    }

    /// `metric{...}[window]`.
    pub fn range(&self, window: PromDuration) -> String {
        format!("{}[{window}]", self.text())
    }
}

/// A number as PromQL reads it back exactly (`20000`, `0.05`, `1e-7`).
pub fn number(value: f64) -> String {
    if value == value.trunc() && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        // Rust prints the shortest representation that round-trips, which PromQL parses back
        // to the same float.
        format!("{value}")
    }
}

/// A histogram bucket bound as client libraries print it in `le`, and as Prometheus 3 stores
/// it.
///
/// Go's client prints `0.5`, `1` and `1e+06`; the Rust, Python and Java clients print `0.5`
/// and `1.0`. Prometheus 3 normalises classic histograms' `le` (and summaries' `quantile`)
/// when it ingests them: `1` becomes `1.0`, `1e+06` stays (Prometheus 3 migration guide,
/// <https://prometheus.io/docs/prometheus/latest/migration/>, "le and quantile label values";
/// `controller/tests/prometheus_versions.rs` reads both versions' spellings back from their
/// parsers). A bound every spelling writes alike matches exactly; otherwise a regex accepts
/// each spelling (label regexes are anchored at both ends, in 2.x and 3.x).
pub fn le_matcher(seconds: f64) -> (Op, String) {
    // Go's (and Prometheus 3's, which adds `.0` to integral ones) and the plain decimal the
    // other clients print, with their `.0` when integral.
    let plain = format!("{seconds}");
    let mut spellings = vec![go_float(seconds)];
    let integral = (!plain.contains('.')).then(|| format!("{plain}.0"));
    for s in std::iter::once(plain).chain(integral) {
        if !spellings.contains(&s) {
            spellings.push(s);
        }
    }
    if spellings.len() == 1 {
        return (Op::Eq, spellings.remove(0));
    }
    let escaped: Vec<String> = spellings
        .iter()
        .map(|s| s.replace('.', "\\.").replace('+', "\\+"))
        .collect();
    (Op::Re, escaped.join("|"))
}

/// `f` as Go's `strconv.FormatFloat(f, 'g', -1, 64)` prints it: the shortest digits that read
/// back as `f`, in exponent form (`1e+06`, `2.5e-05`) when the exponent is below -4 or at
/// least 6 (Go's rule for the shortest form), otherwise plain.
pub fn go_float(f: f64) -> String {
    if !f.is_finite() || f == 0.0 {
        return format!("{f}");
    }
    // Rust's `{:e}` gives the same shortest digits: `1e6`, `2.5e-5`, `1.2345e2`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponents are integers");
    if (-4..6).contains(&exponent) {
        format!("{f}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// How many events a counter recorded in `window`, summed over its series (`by` labels kept),
/// exactly.
///
/// `increase()` extrapolates: it scales the difference of the first and last samples inside the
/// window up to the window's full length, so a burst of 499 failures scraped 5 s after the
/// window opened and 5 s before it closed reads as 499 × 3600 / 3590 = 500.4, and a `>= 500`
/// alert fires one order early. Its results are not integers. This expression counts instead:
///
/// ```text
/// per series:  last value in (t-w, t]  -  value at t-w            (series older than w)
///              last value in [t-w, t]                              (series born inside w: a
///                                                                   counter starts at 0)
///              increase(..[w])                                     (a counter reset inside w)
/// ```
///
/// `max_over_time` is the last value of a counter that did not reset; `x offset w` is the last
/// sample at or before the window's start (within the 5 m lookback). A series with no sample
/// before the window (a task or a labelled series that appeared inside it) counts its whole
/// value, since its counter started at 0 inside the window. Series with a reset fall back to
/// `increase()`, the best that can be said about them. Result: sums of integer differences of
/// scraped values, so "499 does not fire, 500 does" holds whatever the scrape phase.
///
/// Limit: a scrape gap of more than 5 m exactly at the window's start makes an old series look
/// new and counts its whole value.
pub fn count_over(sel: &Selector, window: PromDuration, by: &[&str]) -> String {
    let s = sel.text();
    let r = sel.range(window);
    let by = if by.is_empty() {
        String::new()
    } else {
        format!(" by ({})", by.join(", "))
    };
    format!(
        "sum{by} (((max_over_time({r}) - {s} offset {window}) or max_over_time({r})) unless resets({r}) > 0 or increase({r}))"
    )
}

/// Go-template text that renders as `text` literally (Prometheus expands templates in alert
/// labels and annotations; a label value holding `{{` must not start an action).
pub fn template_literal(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

/// Every label matcher (plain and `or` alternatives) of every vector and matrix selector in a
/// parsed expression, in the order they appear: how the tests prove that a rendered label
/// value stayed inside its literal.
pub fn label_matchers(expr: &promql_parser::parser::Expr) -> Vec<promql_parser::label::Matcher> {
    use promql_parser::parser::Expr;
    fn walk(expr: &Expr, out: &mut Vec<promql_parser::label::Matcher>) {
        let mut selector = |vs: &promql_parser::parser::VectorSelector| {
            out.extend(vs.matchers.matchers.iter().cloned());
            out.extend(vs.matchers.or_matchers.iter().flatten().cloned());
        };
        match expr {
            Expr::VectorSelector(vs) => selector(vs),
            Expr::MatrixSelector(ms) => selector(&ms.vs),
            Expr::Aggregate(a) => {
                walk(&a.expr, out);
                if let Some(p) = &a.param {
                    walk(p, out);
                }
            }
            Expr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut out);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use promql_parser::parser;

    /// Parses `expr` and returns the value of every `name` matcher in it.
    pub(crate) fn matcher_values(expr: &str, name: &str) -> Vec<String> {
        let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        label_matchers(&parsed)
            .iter()
            .filter(|m| m.name == name)
            .map(|m| m.value.clone())
            .collect()
    }

    #[test]
    fn label_values_that_look_like_promql_cannot_break_out_of_their_literal() {
        let nasty = [
            r#"a"b"#,
            r"back\slash",
            r#"x"} or vector(1) or up{a=""#,
            "}",
            r#"\""#,
            "line\nbreak\ttab\u{1}",
            "ünïcödé",
        ];
        for value in nasty {
            let sel = Selector::new("orders_failed_total")
                .eq("job", "pizza-service")
                .labels(
                    &[("reason".to_string(), value.to_string())]
                        .into_iter()
                        .collect(),
                );
            let expr = count_over(&sel, PromDuration::from_secs(3600), &[]) + " >= 500";
            let values = matcher_values(&expr, "reason");
            assert_eq!(values.len(), 5, "{expr}");
            // promql-parser keeps the literal's escapes as written; what matters here is that
            // the value stayed one literal (promtool proves the unescaped value end to end).
            let literal = quote(value);
            let escaped = &literal[1..literal.len() - 1];
            assert!(values.iter().all(|v| v == escaped), "{expr}: {values:?}");
            assert_eq!(matcher_values(&expr, "job"), vec!["pizza-service"; 5]);
        }
    }

    #[test]
    fn numbers_print_the_way_promql_reads_them_back() {
        assert_eq!(number(20000.0), "20000");
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(0.0725), "0.0725");
        assert_eq!(number(1e-7).parse::<f64>().unwrap(), 1e-7);
    }

    #[test]
    fn floats_print_the_way_go_prints_them() {
        for (f, go) in [
            (0.5, "0.5"),
            (1.0, "1"),
            (300.0, "300"),
            (123456.5, "123456.5"),
            (1e6, "1e+06"),
            (2_500_000.0, "2.5e+06"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.00002, "2e-05"),
            (1e21, "1e+21"),
        ] {
            assert_eq!(go_float(f), go, "{f}");
        }
    }

    #[test]
    fn bucket_bounds_match_every_client_spelling() {
        assert_eq!(le_matcher(0.5), (Op::Eq, "0.5".to_string()));
        assert_eq!(le_matcher(0.8), (Op::Eq, "0.8".to_string()));
        assert_eq!(le_matcher(1.0), (Op::Re, "1|1\\.0".to_string()));
        // Go and Prometheus 3 write 1e+06, other clients 1000000.0.
        assert_eq!(
            le_matcher(1e6),
            (Op::Re, "1e\\+06|1000000|1000000\\.0".to_string())
        );
        let sel = Selector::new("x_bucket").re("le", &le_matcher(2.0).1);
        assert_eq!(sel.text(), r#"x_bucket{le=~"2|2\\.0"}"#);
    }

    #[test]
    fn template_actions_in_literal_text_are_neutralised() {
        assert_eq!(template_literal("a {{ b }}"), "a {{ \"{{\" }} b }}");
        assert_eq!(template_literal("plain"), "plain");
    }
}
