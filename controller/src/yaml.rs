//! The one place that knows how YAML is parsed.
//!
//! `serde_yaml` turns text into typed values; `yaml-rust2`'s event parser, which reports a
//! position for every node, builds an index from field path (`spec.alerts[0].window`) to line
//! and column, so checks that run *after* deserialisation can still point at the exact line.
//! Swapping the YAML library means touching this file only.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

mod tree;
pub use tree::{parse_trees, Scalar, Tree};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Field path -> where it is written, for one document.
#[derive(Debug, Clone, Default)]
pub struct PositionIndex {
    positions: HashMap<String, Position>,
    /// Where the document itself begins.
    pub start: Position,
    /// The document holds nothing (`---` followed by nothing, or a bare `null`).
    pub empty: bool,
    /// `metadata.name` as written, even when the document as a whole does not deserialise, so
    /// a broken manifest can still be named in status (and its resources protected).
    pub name: Option<String>,
    /// Keys written twice in one mapping: path -> the second occurrence.
    duplicates: HashMap<String, Position>,
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

/// A YAML problem in one document, positioned.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    /// Field path the problem is at, when known (`spec.scaling.maxTasks`).
    pub path: String,
    pub message: String,
    pub position: Position,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(
                f,
                "{}:{}: {}",
                self.position.line, self.position.column, self.message
            )
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.position.line, self.position.column, self.path, self.message
            )
        }
    }
}

impl std::error::Error for YamlError {}

/// One document of a stream: its index among the non-empty documents, where its fields are, and
/// either the value or why it could not be read.
pub struct Document<T> {
    pub index: usize,
    pub positions: PositionIndex,
    pub value: Result<T, YamlError>,
}

/// Parses every non-empty document of `text` as a `T`. A syntax error anywhere fails the whole
/// stream (the document boundaries cannot be trusted after it).
pub fn parse_stream<T: DeserializeOwned>(text: &str) -> Result<Vec<Document<T>>, YamlError> {
    let indexes = index_documents(text)?;
    let mut documents = Vec::new();
    let mut serde_docs = serde_yaml::Deserializer::from_str(text);
    for positions in indexes {
        let Some(doc) = serde_docs.next() else {
            break;
        };
        if positions.empty {
            continue;
        }
        let value = serde_path_to_error::deserialize(doc)
            .map_err(|e| convert_error(e.inner(), &e.path().to_string(), &positions))
            .and_then(|value| match first_duplicate(&positions) {
                // serde rejects a repeated struct field itself; a repeated key of a free-form
                // map (labels, env, secrets) would silently keep the last value.
                Some((path, at)) => Err(YamlError {
                    message: format!(
                        "duplicate key (first written at line {})",
                        positions.lookup(&path).line
                    ),
                    path,
                    position: at,
                }),
                None => Ok(value),
            });
        documents.push(Document {
            index: documents.len(),
            positions,
            value,
        });
    }
    Ok(documents)
}

/// The earliest key written twice in one mapping of a document.
fn first_duplicate(positions: &PositionIndex) -> Option<(String, Position)> {
    positions
        .duplicates
        .iter()
        .min_by_key(|(path, p)| (p.line, p.column, path.as_str()))
        .map(|(path, p)| (path.clone(), *p))
}

/// `bytes` without a leading UTF-8 byte-order mark (`EF BB BF`), which editors on Windows
/// write. Only a leading one: elsewhere U+FEFF is content.
pub fn strip_utf8_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// When `bytes` start with a UTF-16 byte-order mark, which one (for the message that says
/// the file must be saved as UTF-8).
pub fn utf16_encoding(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xFE, ..] => Some("little-endian byte-order mark FF FE"),
        [0xFE, 0xFF, ..] => Some("big-endian byte-order mark FE FF"),
        _ => None,
    }
}

/// Parses a single-document YAML (or JSON) text, e.g. a settings file.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| convert_error(e.inner(), &e.path().to_string(), &PositionIndex::default()))
}

/// Reads a tree (a merged document) as a `T`, exactly as its text would be read. The error's
/// position is unknown (the text is generated): callers place it by its path.
pub fn from_tree<T: DeserializeOwned>(tree: &Tree) -> Result<T, YamlError> {
    let text = tree.to_yaml();
    let de = serde_yaml::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| YamlError {
        position: Position::default(),
        ..convert_error(e.inner(), &e.path().to_string(), &PositionIndex::default())
    })
}

/// Serialises a value as YAML (for `render --output yaml`).
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_yaml::to_string(value).map_err(|e| e.to_string())
}

/// `tracked_path` comes from `serde_path_to_error`, which knows the exact field even for errors
/// raised by a field's own `Deserialize` (serde_yaml attributes those to the parent).
fn convert_error(
    error: &serde_yaml::Error,
    tracked_path: &str,
    positions: &PositionIndex,
) -> YamlError {
    let position = error
        .location()
        .map(|l| Position {
            line: l.line(),
            column: l.column(),
        })
        .unwrap_or(positions.start);
    let mut text = error.to_string();
    if let Some(location) = error.location() {
        let suffix = format!(" at line {} column {}", location.line(), location.column());
        if let Some(stripped) = text.strip_suffix(&suffix) {
            text = stripped.to_string();
        }
    }
    let (serde_path, message) = split_path(&text);
    let tracked_path = if tracked_path == "." {
        ""
    } else {
        tracked_path
    };
    let mut path = if tracked_path.len() >= serde_path.len() {
        tracked_path.to_string()
    } else {
        serde_path
    };
    // serde reports unknown and duplicate fields at their parent; name the field itself.
    let named_field = ["unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    if let Some(field) = named_field {
        if !path.ends_with(&format!(".{field}")) && path != field {
            path = join_path(&path, field);
        }
    }
    let position = if let Some(duplicate) = positions.duplicates.get(&path) {
        *duplicate
    } else if positions.contains(&path) {
        positions.lookup(&path)
    } else {
        position
    };
    YamlError {
        path,
        message,
        position,
    }
}

/// serde_yaml prefixes messages with the field path (`spec.scaling: invalid type ...`).
fn split_path(text: &str) -> (String, String) {
    if let Some((head, tail)) = text.split_once(": ") {
        let looks_like_path = !head.is_empty()
            && head
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_' | '-'));
        if looks_like_path {
            return (head.to_string(), tail.to_string());
        }
    }
    (String::new(), text.to_string())
}

fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn marker_position(mark: &Marker) -> Position {
    Position {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

/// The error for text the YAML scanner cannot read, at its position.
fn scan_error(e: yaml_rust2::ScanError) -> YamlError {
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

fn index_documents(text: &str) -> Result<Vec<PositionIndex>, YamlError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        size: u32,
    }

    #[test]
    fn positions_of_nested_fields_are_one_based() {
        let text = "name: a\nitems:\n  - size: 1\n  - size: 2\n";
        let docs = parse_stream::<Doc>(text).unwrap();
        let p = &docs[0].positions;
        assert_eq!(p.lookup("name"), Position { line: 1, column: 1 });
        assert_eq!(p.lookup("items[1].size"), Position { line: 4, column: 5 });
        assert_eq!(
            p.lookup("items[1].size.missing"),
            Position { line: 4, column: 5 }
        );
    }

    #[test]
    fn empty_documents_are_skipped_and_indexes_count_real_documents() {
        let text = "---\n---\nname: a\nitems: []\n---\n# only a comment\n---\nname: b\nitems: []\n";
        let docs = parse_stream::<Doc>(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].index, 1);
        assert_eq!(docs[1].value.as_ref().unwrap().name, "b");
        assert_eq!(docs[1].positions.lookup("name").line, 8);
    }

    #[test]
    fn unknown_fields_are_reported_at_the_field_with_its_full_path() {
        let text = "name: a\nitems:\n  - size: 1\n    colour: red\n";
        let docs = parse_stream::<Doc>(text).unwrap();
        let err = docs[0].value.as_ref().unwrap_err();
        assert_eq!(err.path, "items[0].colour");
        assert_eq!(err.position, Position { line: 4, column: 5 });
        assert!(
            err.message.starts_with("unknown field `colour`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn wrong_types_name_the_field_and_line() {
        let text = "name: a\nitems:\n  - size: big\n";
        let docs = parse_stream::<Doc>(text).unwrap();
        let err = docs[0].value.as_ref().unwrap_err();
        assert_eq!(err.path, "items[0].size");
        assert_eq!(err.position.line, 3);
    }

    #[test]
    fn syntax_errors_fail_the_stream_with_a_position() {
        let err = parse_stream::<Doc>("name: a\nitems: [\n").err().unwrap();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.position.line >= 2);
    }
}
