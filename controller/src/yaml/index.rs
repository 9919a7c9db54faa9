//! The position index: where every field of a document is written.
//!
//! `yaml-rust2`'s event parser reports a position for every node; walking its events once
//! gives field path (`spec.alerts[0].window`) -> line and column, so checks that run after
//! deserialisation can still point at the exact line. The same walk refuses what must not
//! reach a deserialiser: nesting deeper than [`MAX_NESTING`] and alias bombs.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::{Position, YamlError};

/// Field path -> where it is written, for one document.
#[derive(Debug, Clone, Default)]
pub struct PositionIndex {
    pub(super) positions: HashMap<String, Position>,
    /// Where the document itself begins.
    pub start: Position,
    /// The document holds nothing (`---` followed by nothing, or a bare `null`).
    pub empty: bool,
    /// `metadata.name` as written, even when the document as a whole does not deserialise, so
    /// a broken manifest can still be named in status (and its resources protected).
    pub name: Option<String>,
    /// Keys written twice in one mapping: path -> the second occurrence.
    pub(super) duplicates: HashMap<String, Position>,
}

impl PositionIndex {
    /// The position of `path`, or of its nearest ancestor that exists (a missing field is
    /// reported at the mapping that should have held it).
    pub fn lookup(&self, path: &str) -> Position {
        let mut candidate = path;
        loop {
            if let Some(position) = self.positions.get(candidate) {
                return *position;
            }
            match candidate.rfind(['.', '[']) {
                Some(cut) => candidate = &candidate[..cut],
                None => return self.start,
            }
        }
    }

    /// Whether the document spells out `path` itself (as opposed to taking a default).
    pub fn contains(&self, path: &str) -> bool {
        self.positions.contains_key(path)
    }

    /// The earliest key written twice in one mapping of the document.
    pub fn first_duplicate(&self) -> Option<(String, Position)> {
        self.duplicates
            .iter()
            .min_by_key(|(path, p)| (p.line, p.column, path.as_str()))
            .map(|(path, p)| (path.clone(), *p))
    }

    /// This index with what is written under `from` also found under `onto`
    /// (`spec.environments.prod.scaling` -> `spec.scaling`), so the fields of a merged
    /// document are found where they were written.
    pub fn overlay(&self, from: &str, onto: &str) -> PositionIndex {
        let mut merged = self.clone();
        for (path, position) in &self.positions {
            let Some(rest) = path.strip_prefix(from) else {
                continue;
            };
            if rest.is_empty() || rest.starts_with(['.', '[']) {
                merged.positions.insert(format!("{onto}{rest}"), *position);
            }
        }
        merged
    }
}

pub(super) fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

pub(super) fn marker_position(mark: &Marker) -> Position {
    Position {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

/// The error for text the YAML scanner cannot read, at its position.
pub(super) fn scan_error(e: yaml_rust2::ScanError) -> YamlError {
    YamlError {
        path: String::new(),
        message: format!("invalid YAML: {}", e.info()),
        position: marker_position(e.marker()),
    }
}

/// Walks the event stream once and records where every mapping key and sequence item starts.
/// Deeper nesting than any manifest needs is refused before anything recurses over it.
pub const MAX_NESTING: usize = 64;
/// How large a stream may become once its aliases are expanded (nodes plus scalar bytes): an
/// 800 KB file of 40,000 aliases to one 4 KB string expands to 160 MB.
pub const MAX_EXPANDED_SIZE: usize = 2 * 1024 * 1024;

pub(super) fn index_documents(text: &str) -> Result<Vec<PositionIndex>, YamlError> {
    let mut indexer = Indexer::default();
    let mut parser = Parser::new_from_str(text);
    // The parser's own `load` recurses once per nesting level, and a few hundred levels of
    // block nesting overflow a 2 MiB thread stack (the process aborts): pull the events one
    // by one instead, counting the depth.
    let mut depth = 0usize;
    // The size of the stream with every alias expanded, and of each anchored node.
    let mut expanded = 0usize;
    let mut anchored: HashMap<usize, usize> = HashMap::new();
    let mut open: Vec<(usize, usize)> = Vec::new();
    loop {
        let (event, mark) = parser.next_token().map_err(scan_error)?;
        match &event {
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(YamlError {
                        path: String::new(),
                        message: format!("nested deeper than {MAX_NESTING} levels"),
                        position: marker_position(&mark),
                    });
                }
                open.push((*anchor, expanded));
                expanded += 1;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                depth = depth.saturating_sub(1);
                if let Some((anchor, start)) = open.pop() {
                    if anchor > 0 {
                        anchored.insert(anchor, expanded - start);
                    }
                }
            }
            Event::Scalar(value, _, anchor, _) => {
                expanded += value.len() + 1;
                if *anchor > 0 {
                    anchored.insert(*anchor, value.len() + 1);
                }
            }
            Event::Alias(anchor) => {
                expanded = expanded.saturating_add(anchored.get(anchor).copied().unwrap_or(1));
            }
            _ => {}
        }
        if expanded > MAX_EXPANDED_SIZE {
            return Err(YamlError {
                path: String::new(),
                message: format!(
                    "aliases expand the document beyond {} MiB",
                    MAX_EXPANDED_SIZE >> 20
                ),
                position: marker_position(&mark),
            });
        }
        let end = event == Event::StreamEnd;
        indexer.on_event(event, mark);
        if end {
            return Ok(indexer.documents);
        }
    }
}

enum Frame {
    /// Inside a mapping: the path of the mapping, and the pending key once one was read.
    Mapping {
        path: String,
        key: Option<String>,
    },
    Sequence {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Indexer {
    documents: Vec<PositionIndex>,
    stack: Vec<Frame>,
    current: Option<PositionIndex>,
    root_seen: bool,
}

impl Indexer {
    /// The path of the node that starts now, or `None` if this node is a mapping key.
    fn next_node_path(&mut self, mark: &Marker, scalar: Option<&str>) -> Option<String> {
        let position = marker_position(mark);
        match self.stack.last_mut() {
            None => {
                self.root_seen = true;
                Some(String::new())
            }
            Some(Frame::Mapping { path, key }) => match key.take() {
                Some(k) => Some(join_path(path, &k)),
                None => {
                    // This node is a key: remember it; its position is the field's position.
                    let k = scalar.unwrap_or("?").to_string();
                    let full = join_path(path, &k);
                    if let Some(doc) = self.current.as_mut() {
                        match doc.positions.entry(full) {
                            std::collections::hash_map::Entry::Occupied(first) => {
                                doc.duplicates
                                    .entry(first.key().clone())
                                    .or_insert(position);
                            }
                            std::collections::hash_map::Entry::Vacant(slot) => {
                                slot.insert(position);
                            }
                        }
                    }
                    *key = Some(k);
                    None
                }
            },
            Some(Frame::Sequence { path, next }) => {
                let item = format!("{path}[{next}]");
                *next += 1;
                if let Some(doc) = self.current.as_mut() {
                    doc.positions.entry(item.clone()).or_insert(position);
                }
                Some(item)
            }
        }
    }
}

impl MarkedEventReceiver for Indexer {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::DocumentStart => {
                self.current = Some(PositionIndex {
                    start: marker_position(&mark),
                    ..PositionIndex::default()
                });
                self.root_seen = false;
                self.stack.clear();
            }
            Event::DocumentEnd => {
                if let Some(doc) = self.current.take() {
                    self.documents.push(doc);
                }
            }
            Event::Scalar(value, style, _, _) => {
                let is_root = self.stack.is_empty();
                let path = self.next_node_path(&mark, Some(&value));
                if path.as_deref() == Some("metadata.name") {
                    if let Some(doc) = self.current.as_mut() {
                        doc.name = Some(value.clone());
                    }
                }
                if is_root && path.is_some() {
                    let null = style == yaml_rust2::scanner::TScalarStyle::Plain
                        && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL");
                    if let Some(doc) = self.current.as_mut() {
                        doc.empty = null;
                    }
                }
            }
            Event::Alias(_) => {
                self.next_node_path(&mark, Some("*alias"));
            }
            Event::MappingStart(..) => {
                let path = self.next_node_path(&mark, None).unwrap_or_default();
                self.stack.push(Frame::Mapping { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.next_node_path(&mark, None).unwrap_or_default();
                self.stack.push(Frame::Sequence { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}
