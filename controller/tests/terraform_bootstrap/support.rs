//! Reading the Terraform bootstrap (`terraform-bootstrap/*.tf`) with `hcl-rs`: every top-level
//! block, and the few expression helpers the structure tests share (following variables' defaults,
//! locals and `for_each` to the strings an expression can take).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hcl::expr::{Expression, ObjectKey, TraversalOperator};
use hcl::{Block, Body};

// --- loading ------------------------------------------------------------------------------------

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the controller crate sits in the repository")
        .to_path_buf()
}

pub fn tf_dir() -> PathBuf {
    repo_root().join("terraform-bootstrap")
}

pub fn tf_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(tf_dir())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", tf_dir().display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tf"))
        .collect();
    files.sort();
    files
}

/// Every top-level block of every .tf file, with the file it came from.
pub struct Config {
    pub blocks: Vec<(String, Block)>,
}

impl Config {
    pub fn load() -> Config {
        let mut blocks = Vec::new();
        for path in tf_files() {
            let text = std::fs::read_to_string(&path).expect("readable .tf file");
            let body: Body = hcl::parse(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            for block in body.into_blocks() {
                blocks.push((file.clone(), block));
            }
        }
        Config { blocks }
    }

    pub fn parse_str(text: &str) -> Config {
        let body: Body = hcl::parse(text).expect("test snippet parses");
        Config {
            blocks: body
                .into_blocks()
                .map(|b| ("snippet.tf".to_string(), b))
                .collect(),
        }
    }

    /// Blocks with this identifier (`resource`, `variable`, ...).
    pub fn blocks<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.blocks
            .iter()
            .map(|(_, b)| b)
            .filter(move |b| b.identifier() == ident)
    }

    /// `resource "<kind>" "<name>"` blocks of one kind, as (name, block).
    pub fn resources<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Block)> + 'a {
        self.blocks("resource")
            .filter(move |b| label(b, 0) == kind)
            .map(|b| (label(b, 1), b))
    }

    pub fn data(&self, kind: &str, name: &str) -> Option<&Block> {
        self.blocks
            .iter()
            .map(|(_, b)| b)
            .find(|b| b.identifier() == "data" && label(b, 0) == kind && label(b, 1) == name)
    }

    pub fn variable(&self, name: &str) -> Option<&Block> {
        self.blocks("variable").find(|b| label(b, 0) == name)
    }

    pub fn variable_default(&self, name: &str) -> Option<&Expression> {
        self.variable(name).and_then(|b| attr(b.body(), "default"))
    }

    pub fn local(&self, name: &str) -> Option<&Expression> {
        self.blocks("locals").find_map(|b| attr(b.body(), name))
    }
}

pub fn label(block: &Block, i: usize) -> &str {
    block.labels().get(i).map(|l| l.as_str()).unwrap_or("")
}

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

pub fn sub_blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks().filter(move |b| b.identifier() == ident)
}

pub fn sub_block<'a>(body: &'a Body, ident: &'a str) -> Option<&'a Block> {
    sub_blocks(body, ident).next()
}

pub fn object_key(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Identifier(id) => id.to_string(),
        ObjectKey::Expression(Expression::String(s)) => s.clone(),
        ObjectKey::Expression(other) => format!("{other:?}"),
        _ => format!("{key:?}"),
    }
}

/// `root.attr1.attr2...` of a traversal such as `var.name` or `aws_s3_bucket.logs.id`.
pub fn traversal_path(expr: &Expression) -> Option<Vec<String>> {
    let Expression::Traversal(t) = expr else {
        return None;
    };
    let Expression::Variable(root) = &t.expr else {
        return None;
    };
    let mut path = vec![root.to_string()];
    for op in &t.operators {
        match op {
            TraversalOperator::GetAttr(id) => path.push(id.to_string()),
            TraversalOperator::Index(Expression::String(s)) => path.push(s.clone()),
            TraversalOperator::Index(Expression::Number(n)) => path.push(n.to_string()),
            _ => path.push("*".into()),
        }
    }
    Some(path)
}

pub fn is_traversal_to(expr: &Expression, prefix: &[&str]) -> bool {
    traversal_path(expr)
        .is_some_and(|p| p.len() >= prefix.len() && p.iter().zip(prefix).all(|(a, b)| a == b))
}

pub fn as_bool(expr: Option<&Expression>) -> Option<bool> {
    match expr {
        Some(Expression::Bool(b)) => Some(*b),
        _ => None,
    }
}

pub fn as_str(expr: Option<&Expression>) -> Option<&str> {
    match expr {
        Some(Expression::String(s)) => Some(s),
        _ => None,
    }
}

pub fn as_u64(expr: Option<&Expression>) -> Option<u64> {
    match expr {
        Some(Expression::Number(n)) => n.as_u64(),
        _ => None,
    }
}

/// The strings an expression can evaluate to, as far as it can be followed statically: literals,
/// lists, variable defaults, locals, `each.value` / `each.key` (through the enclosing block's
/// `for_each`), conditionals (both branches) and list functions. Anything else (a resource
/// attribute, an interpolated template) contributes nothing.
pub fn possible_strings(
    cfg: &Config,
    expr: &Expression,
    for_each: Option<&Expression>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_strings(cfg, expr, for_each, &mut out, 0);
    out
}

pub fn collect_strings(
    cfg: &Config,
    expr: &Expression,
    for_each: Option<&Expression>,
    out: &mut BTreeSet<String>,
    depth: usize,
) {
    assert!(
        depth < 32,
        "expression nests too deeply to follow: {expr:?}"
    );
    let recurse = |e: &Expression, out: &mut BTreeSet<String>| {
        collect_strings(cfg, e, for_each, out, depth + 1)
    };
    match expr {
        Expression::String(s) => {
            out.insert(s.clone());
        }
        Expression::Array(items) => items.iter().for_each(|e| recurse(e, out)),
        Expression::Parenthesis(inner) => recurse(inner, out),
        Expression::Conditional(c) => {
            recurse(&c.true_expr, out);
            recurse(&c.false_expr, out);
        }
        Expression::FuncCall(f) => {
            let list_functions = [
                "toset", "tolist", "concat", "distinct", "compact", "flatten", "sort", "setunion",
            ];
            if list_functions.contains(&f.name.name.as_str()) {
                f.args.iter().for_each(|e| recurse(e, out));
            }
        }
        Expression::Traversal(_) => {
            let path = traversal_path(expr).unwrap_or_default();
            match path
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["var", name, ..] => {
                    if let Some(default) = cfg.variable_default(name) {
                        recurse(default, out);
                    }
                }
                ["local", name, ..] => {
                    if let Some(value) = cfg.local(name) {
                        recurse(value, out);
                    }
                }
                ["each", "value" | "key"] => {
                    if let Some(fe) = for_each {
                        // each.value of a set or list is its element.
                        collect_strings(cfg, fe, None, out, depth + 1);
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// The value under `key` of an object literal.
pub fn object_attr<'a>(object: &'a Expression, key: &str) -> Option<&'a Expression> {
    let Expression::Object(o) = object else {
        return None;
    };
    o.iter().find(|(k, _)| object_key(k) == key).map(|(_, v)| v)
}

/// An object literal's keys and values, in source order.
pub fn object_entries(object: &Expression) -> Vec<(String, &Expression)> {
    match object {
        Expression::Object(o) => o.iter().map(|(k, v)| (object_key(k), v)).collect(),
        _ => Vec::new(),
    }
}

/// The object a `for_each` iterates over when it is an object literal or `local.<name>` holding
/// one, as (instance key, `each.value`) pairs. `None` for anything else (sets, resources, ...).
pub fn for_each_object<'a>(
    cfg: &'a Config,
    block: &'a Block,
) -> Option<Vec<(String, &'a Expression)>> {
    let for_each = attr(block.body(), "for_each")?;
    let object = match for_each {
        Expression::Object(_) => for_each,
        other => match traversal_path(other)?.as_slice() {
            [root, name] if root == "local" => cfg.local(name)?,
            _ => return None,
        },
    };
    matches!(object, Expression::Object(_)).then(|| object_entries(object))
}

/// What an attribute of a `for_each` resource evaluates to for one instance, as far as it can be
/// followed: `each.value.<key>` becomes that instance's entry; anything else is returned as is.
pub fn for_instance<'a>(
    cfg: &'a Config,
    block: &'a Block,
    instance: &str,
    expr: &'a Expression,
) -> Option<&'a Expression> {
    match traversal_path(expr).as_deref() {
        Some([each, value, key]) if each == "each" && value == "value" => {
            let entries = for_each_object(cfg, block)?;
            let (_, entry) = entries.into_iter().find(|(k, _)| k == instance)?;
            object_attr(entry, key)
        }
        _ => Some(expr),
    }
}
