//! Every label matcher of a parsed PromQL expression, walking the whole AST.
//!
//! This duplicates the selector walker in the unit tests of `controller/src/monitoring/promql.rs`
//! (`tests::selectors`). It is kept here, in this one function, only because `controller/src/`
//! is being refactored; once the library exposes the walker, replace the body of
//! [`label_matchers_of`] with a call into it and delete the rest of this file.

use promql_parser::label::Matcher;
use promql_parser::parser::Expr;

/// Every matcher (plain and `or`-alternatives) of every vector and matrix selector in `expr`,
/// in the order they appear.
pub fn label_matchers_of(expr: &Expr) -> Vec<Matcher> {
    let mut out = Vec::new();
    walk(expr, &mut out);
    out
}

fn walk(expr: &Expr, out: &mut Vec<Matcher>) {
    match expr {
        Expr::VectorSelector(vs) => {
            out.extend(vs.matchers.matchers.iter().cloned());
            out.extend(vs.matchers.or_matchers.iter().flatten().cloned());
        }
        Expr::MatrixSelector(ms) => {
            out.extend(ms.vs.matchers.matchers.iter().cloned());
            out.extend(ms.vs.matchers.or_matchers.iter().flatten().cloned());
        }
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
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, out);
            }
        }
        _ => {}
    }
}
