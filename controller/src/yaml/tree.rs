//! A YAML document as plain data, so documents can be merged before they are typed
//! (per-environment overrides), and written back as YAML text that reads exactly like the
//! original: scalars keep their text and whether they were quoted, because `serde_yaml` reads a
//! plain `4` or `1.10` into a string field as written, while a re-serialised number would not.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::index::{marker_position, scan_error};
use super::YamlError;

/// One node: a mapping (merged key by key), a sequence or a scalar (both replaced whole).
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    Scalar(Scalar),
    Sequence(Vec<Tree>),
    /// Entries in the order written.
    Mapping(Vec<(Scalar, Tree)>),
}

/// A scalar as written: its text, whether it was plain (a plain scalar is resolved by its
/// text: null, bool, number or string), and its tag (`!!str`), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub value: String,
    pub plain: bool,
    pub tag: Option<String>,
}

impl Scalar {
    /// A plain, untagged scalar (a mapping key, typically).
    pub fn plain(value: &str) -> Self {
        Self {
            value: value.to_string(),
            plain: true,
            tag: None,
        }
    }
}

impl Tree {
    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Mapping(entries) => entries.iter().find(|(k, _)| k.value == key).map(|e| &e.1),
            _ => None,
        }
    }

    /// The value of `key` in a mapping, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Tree> {
        match self {
            Tree::Mapping(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.value == key)
                .map(|e| &mut e.1),
            _ => None,
        }
    }

    /// Takes `key` out of a mapping.
    pub fn remove(&mut self, key: &str) -> Option<Tree> {
        match self {
            Tree::Mapping(entries) => {
                let at = entries.iter().position(|(k, _)| k.value == key)?;
                Some(entries.remove(at).1)
            }
            _ => None,
        }
    }

    /// The document as block-style YAML text.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        match self {
            Tree::Scalar(s) => {
                out.push_str(&scalar_text(s));
                out.push('\n');
            }
            _ => write_node(&mut out, self, 0),
        }
        out
    }
}

/// Writes a collection's entries at `indent`; empty collections are written in flow style by
/// the caller.
fn write_node(out: &mut String, node: &Tree, indent: usize) {
    let pad = " ".repeat(indent);
    match node {
        Tree::Scalar(_) => {}
        Tree::Sequence(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                write_child(out, item, indent + 2);
            }
        }
        Tree::Mapping(entries) => {
            for (key, value) in entries {
                out.push_str(&pad);
                out.push_str(&scalar_text(key));
                out.push(':');
                write_child(out, value, indent + 2);
            }
        }
    }
}

/// The rest of a line after `key:` or `-`, and any nested lines.
fn write_child(out: &mut String, node: &Tree, indent: usize) {
    match node {
        Tree::Scalar(s) => {
            let text = scalar_text(s);
            if !text.is_empty() {
                out.push(' ');
                out.push_str(&text);
            }
            out.push('\n');
        }
        Tree::Sequence(items) if items.is_empty() => out.push_str(" []\n"),
        Tree::Mapping(entries) if entries.is_empty() => out.push_str(" {}\n"),
        _ => {
            out.push('\n');
            write_node(out, node, indent);
        }
    }
}

/// A plain scalar is written as it was (so it resolves the same); anything else, or a plain
/// scalar folded over lines, double-quoted.
fn scalar_text(s: &Scalar) -> String {
    let body = if s.plain && !s.value.contains(['\n', '\r']) {
        s.value.clone()
    } else {
        let mut quoted = String::from("\"");
        for c in s.value.chars() {
            match c {
                '"' => quoted.push_str("\\\""),
                '\\' => quoted.push_str("\\\\"),
                '\n' => quoted.push_str("\\n"),
                '\r' => quoted.push_str("\\r"),
                '\t' => quoted.push_str("\\t"),
                c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", c as u32)),
                c => quoted.push(c),
            }
        }
        quoted.push('"');
        quoted
    };
    match &s.tag {
        Some(tag) if body.is_empty() => tag.clone(),
        Some(tag) => format!("{tag} {body}"),
        None => body,
    }
}

fn tag_text(tag: Option<Tag>) -> Option<String> {
    let tag = tag?;
    Some(match tag.handle.as_str() {
        "!" => format!("!{}", tag.suffix),
        "" if tag.suffix == "!" => "!".to_string(),
        handle => format!("!<{handle}{}>", tag.suffix),
    })
}

/// A collection being read.
enum Open {
    Sequence(usize, Vec<Tree>),
    Mapping(usize, Vec<(Scalar, Tree)>, Option<Scalar>),
}

/// Every non-empty document of `text` as a tree, aliases expanded (the event index already
/// bounded their expanded size), in the order and numbering of `parse_stream`.
pub fn parse_trees(text: &str) -> Result<Vec<Tree>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    let mut anchors: HashMap<usize, Tree> = HashMap::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Tree> = None;
    loop {
        let (event, mark) = parser.next_token().map_err(scan_error)?;
        let not_a_key = || YamlError {
            path: String::new(),
            message: "mapping keys must be scalars".into(),
            position: marker_position(&mark),
        };
        let (node, anchor) = match event {
            Event::StreamEnd => return Ok(documents),
            Event::DocumentStart => {
                root = None;
                stack.clear();
                continue;
            }
            Event::DocumentEnd => {
                let empty = match &root {
                    None => true,
                    // The rule of the position index, so both number documents alike.
                    Some(Tree::Scalar(s)) => {
                        s.plain && matches!(s.value.as_str(), "" | "~" | "null" | "Null" | "NULL")
                    }
                    Some(_) => false,
                };
                if let Some(tree) = root.take().filter(|_| !empty) {
                    documents.push(tree);
                }
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Sequence(anchor, Vec::new()));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Mapping(anchor, Vec::new(), None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Sequence(anchor, items)) => (Tree::Sequence(items), anchor),
                Some(Open::Mapping(anchor, entries, _)) => (Tree::Mapping(entries), anchor),
                None => continue,
            },
            Event::Scalar(value, style, anchor, tag) => {
                let scalar = Scalar {
                    value,
                    plain: style == TScalarStyle::Plain,
                    tag: tag_text(tag),
                };
                (Tree::Scalar(scalar), anchor)
            }
            Event::Alias(anchor) => (
                anchors
                    .get(&anchor)
                    .cloned()
                    .unwrap_or(Tree::Scalar(Scalar::plain(""))),
                0,
            ),
            Event::StreamStart | Event::Nothing => continue,
        };
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Open::Sequence(_, items)) => items.push(node),
            Some(Open::Mapping(_, entries, key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => match node {
                    Tree::Scalar(s) => *key = Some(s),
                    _ => return Err(not_a_key()),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Tree {
        parse_trees(text).unwrap().remove(0)
    }

    #[test]
    fn writing_a_tree_back_keeps_what_every_scalar_resolves_to() {
        let text = "a: 1.10\nb: '007'\nc: \"x\\ty\"\nd:\ne: !!str 5\nf: [1, {g: h}]\ni: {}\nj: []\nk: |\n  line one\n  line two\n";
        let tree = one(text);
        assert_eq!(one(&tree.to_yaml()), tree, "{}", tree.to_yaml());
        assert!(tree.to_yaml().contains("a: 1.10\n"), "{}", tree.to_yaml());
    }

    #[test]
    fn aliases_are_expanded_and_empty_documents_skipped() {
        let trees = parse_trees("---\n---\nx: &v {a: 1}\ny: *v\n---\n~\n").unwrap();
        assert_eq!(trees.len(), 1);
        assert_eq!(trees[0].get("y"), trees[0].get("x"));
    }
}
