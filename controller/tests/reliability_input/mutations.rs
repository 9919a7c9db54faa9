//! Proptest strategies for the fuzzer: plans of mutations to the parsed YAML tree of a valid
//! seed manifest and to the text it serialises to, and the functions that apply them.
//!
//! A plan is data (paths as indices, operations with their payloads) rather than a stream of
//! random choices, so proptest can shrink a failing input to fewer, shallower, simpler
//! mutations. Indices are resolved against the tree as it stands when a mutation is applied.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_yaml::{Mapping, Value};

/// The words mutations draw from: hostile strings for values, and the keys the seeds use.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    pub strings: Vec<String>,
    pub keys: Vec<String>,
}

/// One change to a node of the tree.
#[derive(Debug, Clone)]
pub enum TreeOp {
    /// The node becomes a scalar.
    Replace(Value),
    /// A mapping loses one of its keys.
    RemoveKey(Index),
    /// A mapping gains (or overwrites) a key; any other node becomes the value.
    InsertKey(String, Value),
    /// The node is wrapped in a one-element sequence.
    WrapInSequence,
    /// The node is nested under one level per element: a sequence (true) or `{a: ...}` (false).
    Nest(Vec<bool>),
    /// A sequence gets its first element repeated this many more times.
    RepeatFirst(usize),
    /// A string gets this text inserted at a position.
    InsertText(String, Index),
    /// A string is upper-cased.
    Uppercase,
}

/// A tree mutation: a walk from the root (each index picks a child, the walk stopping at a
/// leaf or when the indices run out) and what is done to the node reached.
#[derive(Debug, Clone)]
pub struct TreeMutation {
    pub path: Vec<Index>,
    pub op: TreeOp,
}

/// One change to the serialised text, at a line.
#[derive(Debug, Clone)]
pub enum TextOp {
    /// The line is repeated.
    DuplicateLine,
    /// `k: v` becomes `k: &anchor v`, and a later (or the same) `k2: ...` line `k2: *anchor`.
    AnchorAndAlias(Index),
    /// The line is indented with a tab.
    TabIndent,
    /// The line is cut at a position.
    Truncate(Index),
    /// The whole text is appended again as a second document.
    DuplicateDocument,
}

#[derive(Debug, Clone)]
pub struct TextMutation {
    pub line: Index,
    pub op: TextOp,
}

/// How one input file is made: which seed, what happens to its tree, and (sometimes) to its text.
#[derive(Debug, Clone)]
pub struct DocumentPlan {
    pub seed: Index,
    pub tree: Vec<TreeMutation>,
    pub text: Option<TextMutation>,
}

/// A scalar: small and extreme integers, awkward floats, booleans, null, hostile strings.
pub fn scalar(strings: Vec<String>) -> BoxedStrategy<Value> {
    prop_oneof![
        1 => (-5i64..70_000).prop_map(|n| Value::Number(n.into())),
        1 => select(vec![i64::MAX, i64::MIN, u32::MAX as i64 + 1, 0])
            .prop_map(|n| Value::Number(n.into())),
        1 => select(vec![0.5, -1.5, 1e300, f64::MIN_POSITIVE, 99.999, 100.0, -0.0])
            .prop_map(|f| Value::Number(serde_yaml::Number::from(f))),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        3 => select(strings).prop_map(Value::String),
    ]
    .boxed()
}

/// A value up to four levels deep: scalars, sequences and mappings of up to three entries
/// whose keys are the seeds' keys.
pub fn value(vocab: &Vocabulary) -> BoxedStrategy<Value> {
    let keys = vocab.keys.clone();
    scalar(vocab.strings.clone())
        .prop_recursive(4, 64, 3, move |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::Sequence),
                vec((select(keys.clone()), inner), 0..4).prop_map(|entries| {
                    Value::Mapping(
                        entries
                            .into_iter()
                            .map(|(k, v)| (Value::String(k), v))
                            .collect::<Mapping>(),
                    )
                }),
            ]
        })
        .boxed()
}

fn tree_op(vocab: &Vocabulary) -> impl Strategy<Value = TreeOp> {
    prop_oneof![
        2 => scalar(vocab.strings.clone()).prop_map(TreeOp::Replace),
        1 => any::<Index>().prop_map(TreeOp::RemoveKey),
        1 => (select(vocab.keys.clone()), value(vocab)).prop_map(|(k, v)| TreeOp::InsertKey(k, v)),
        1 => Just(TreeOp::WrapInSequence),
        1 => vec(any::<bool>(), 1..100).prop_map(TreeOp::Nest),
        1 => (1usize..100).prop_map(TreeOp::RepeatFirst),
        1 => (select(vocab.strings.clone()), any::<Index>())
            .prop_map(|(s, at)| TreeOp::InsertText(s, at)),
        1 => Just(TreeOp::Uppercase),
    ]
}

fn tree_mutation(vocab: &Vocabulary) -> impl Strategy<Value = TreeMutation> {
    (vec(any::<Index>(), 0..8), tree_op(vocab)).prop_map(|(path, op)| TreeMutation { path, op })
}

fn text_mutation() -> impl Strategy<Value = TextMutation> {
    let op = prop_oneof![
        Just(TextOp::DuplicateLine),
        any::<Index>().prop_map(TextOp::AnchorAndAlias),
        Just(TextOp::TabIndent),
        any::<Index>().prop_map(TextOp::Truncate),
        Just(TextOp::DuplicateDocument),
    ];
    (any::<Index>(), op).prop_map(|(line, op)| TextMutation { line, op })
}

/// One to five tree mutations of a seed, and a text mutation one time in five.
pub fn document_plan(vocab: &Vocabulary) -> impl Strategy<Value = DocumentPlan> {
    (
        any::<Index>(),
        vec(tree_mutation(vocab), 1..6),
        option::weighted(0.2, text_mutation()),
    )
        .prop_map(|(seed, tree, text)| DocumentPlan { seed, tree, text })
}

/// One input file most of the time, two in 15% of inputs.
pub fn input_plans(vocab: &Vocabulary) -> impl Strategy<Value = Vec<DocumentPlan>> {
    prop_oneof![
        85 => vec(document_plan(vocab), 1..=1),
        15 => vec(document_plan(vocab), 2..=2),
    ]
}

fn children(v: &Value) -> usize {
    match v {
        Value::Mapping(m) => m.len(),
        Value::Sequence(s) => s.len(),
        _ => 0,
    }
}

/// The node a path leads to.
fn node_at<'a>(mut node: &'a mut Value, path: &[Index]) -> &'a mut Value {
    for step in path {
        let n = children(node);
        if n == 0 {
            break;
        }
        let i = step.index(n);
        node = match node {
            Value::Mapping(m) => m.values_mut().nth(i).expect("i < len"),
            Value::Sequence(s) => &mut s[i],
            _ => unreachable!("only mappings and sequences have children"),
        };
    }
    node
}

pub fn apply_tree(doc: &mut Value, mutation: &TreeMutation) {
    let node = node_at(doc, &mutation.path);
    match &mutation.op {
        TreeOp::Replace(v) => *node = v.clone(),
        TreeOp::RemoveKey(i) => {
            if let Value::Mapping(m) = node {
                if !m.is_empty() {
                    let key = m.keys().nth(i.index(m.len())).cloned().expect("i < len");
                    m.remove(&key);
                }
            }
        }
        TreeOp::InsertKey(k, v) => {
            if let Value::Mapping(m) = node {
                m.insert(Value::String(k.clone()), v.clone());
            } else {
                *node = v.clone();
            }
        }
        TreeOp::WrapInSequence => {
            let inner = node.clone();
            *node = Value::Sequence(vec![inner]);
        }
        TreeOp::Nest(levels) => {
            let mut inner = node.clone();
            for sequence in levels {
                inner = if *sequence {
                    Value::Sequence(vec![inner])
                } else {
                    let mut m = Mapping::new();
                    m.insert(Value::String("a".into()), inner);
                    Value::Mapping(m)
                };
            }
            *node = inner;
        }
        TreeOp::RepeatFirst(n) => {
            if let Value::Sequence(s) = node {
                if let Some(first) = s.first().cloned() {
                    s.extend(std::iter::repeat_n(first, *n));
                }
            }
        }
        TreeOp::InsertText(extra, at) => {
            if let Value::String(text) = node {
                let at = at.index(text.len() + 1);
                if text.is_char_boundary(at) {
                    text.insert_str(at, extra);
                }
            }
        }
        TreeOp::Uppercase => {
            if let Value::String(text) = node {
                *text = text.to_uppercase();
            }
        }
    }
}

pub fn apply_text(text: &mut String, mutation: &TextMutation) {
    let mut out: Vec<String> = text.lines().map(str::to_string).collect();
    if out.is_empty() {
        return;
    }
    let i = mutation.line.index(out.len());
    match &mutation.op {
        TextOp::DuplicateLine => out.insert(i, out[i].clone()),
        TextOp::AnchorAndAlias(later) => {
            if let Some((k, v)) = out[i].split_once(": ") {
                out[i] = format!("{k}: &anchor {v}");
                let j = i + later.index(out.len() - i);
                if let Some((k2, _)) = out[j].clone().split_once(": ") {
                    out[j] = format!("{k2}: *anchor");
                }
            }
        }
        TextOp::TabIndent => out[i] = format!("\t{}", out[i]),
        TextOp::Truncate(cut) => {
            let cut = cut.index(out[i].len() + 1);
            if out[i].is_char_boundary(cut) {
                out[i].truncate(cut);
            }
        }
        TextOp::DuplicateDocument => out.push(format!("---\n{}", out.join("\n"))),
    }
    *text = out.join("\n") + "\n";
}
