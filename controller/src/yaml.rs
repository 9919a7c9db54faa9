//! The one place that knows how YAML is parsed.
//!
//! `serde_yaml` turns text into typed values. Positions come from `yaml-rust2`'s event parser,
//! which reports one for every node ([`index`]): an index from field path
//! (`spec.alerts[0].window`) to line and column, so checks that run *after* deserialisation can
//! still point at the exact line. A document that reads cleanly is indexed only when something
//! asks ([`Positions`]). Swapping the YAML library means touching this module only.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Deserialize;

mod index;
mod positions;
mod tree;
pub use index::{PositionIndex, MAX_EXPANDED_SIZE, MAX_NESTING};
pub use positions::Positions;
pub use tree::{parse_trees, Scalar, Tree};

use index::{index_documents, join_path};
use positions::{cheap_to_read, document_starts};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
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
    pub positions: Positions,
    pub value: Result<T, YamlError>,
}

/// Parses every non-empty document of `text` as a `T`. A syntax error anywhere fails the whole
/// stream (the document boundaries cannot be trusted after it).
///
/// # Guarantees
/// - A stream whose documents all read cleanly, without anchors or heavy nesting, is read
///   once, by `serde_yaml`; its positions are indexed when first asked. Anything else (an
///   error to place, aliases or nesting to bound) is indexed up front, refusing nesting
///   deeper than [`MAX_NESTING`] and alias expansion beyond [`MAX_EXPANDED_SIZE`].
/// - A key written twice is an error either way: the manifest's maps refuse repeated keys
///   themselves (`manifest::model::unique_keys`), and the index finds both lines.
pub fn parse_stream<T: DeserializeOwned>(text: &Arc<str>) -> Result<Vec<Document<T>>, YamlError> {
    if let Some(documents) = read_clean_stream(text) {
        return Ok(documents);
    }
    read_indexed_stream(text)
}

/// The documents of a stream without anchors that all read cleanly, or `None`.
fn read_clean_stream<T: DeserializeOwned>(text: &Arc<str>) -> Option<Vec<Document<T>>> {
    if !cheap_to_read(text) {
        return None;
    }
    let starts = document_starts(text);
    let mut documents = Vec::new();
    let mut read = 0;
    for document in serde_yaml::Deserializer::from_str(text) {
        let start = *starts.get(read)?;
        // An empty document (or a bare `null`) reads as `None` and is skipped, as indexed.
        if let Some(value) = Option::<T>::deserialize(document).ok()? {
            documents.push(Document {
                index: documents.len(),
                positions: Positions::lazy(start, Arc::clone(text), read),
                value: Ok(value),
            });
        }
        read += 1;
    }
    (read == starts.len()).then_some(documents)
}

/// Every document indexed first, then read: its errors placed on their lines.
fn read_indexed_stream<T: DeserializeOwned>(text: &str) -> Result<Vec<Document<T>>, YamlError> {
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
        let read = serde_path_to_error::deserialize(doc);
        // A repeated key is reported with both lines whichever reader noticed it (serde for a
        // struct field or a manifest map, the index for any mapping).
        let value = match (positions.first_duplicate(), read) {
            (Some((path, at)), _) => Err(YamlError {
                message: format!(
                    "duplicate key (first written at line {})",
                    positions.lookup(&path).line
                ),
                path,
                position: at,
            }),
            (None, Err(e)) => Err(convert_error(e.inner(), &e.path().to_string(), &positions)),
            (None, Ok(value)) => Ok(value),
        };
        documents.push(Document {
            index: documents.len(),
            positions: Positions::indexed(positions),
            value,
        });
    }
    Ok(documents)
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
    let position = if positions.contains(&path) {
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

/// Walks the event stream once and records where every mapping key and sequence item starts.
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
        let docs = parse_stream::<Doc>(&Arc::from(text)).unwrap();
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
        let docs = parse_stream::<Doc>(&Arc::from(text)).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].index, 1);
        assert_eq!(docs[1].value.as_ref().unwrap().name, "b");
        assert_eq!(docs[1].positions.lookup("name").line, 8);
    }

    #[test]
    fn unknown_fields_are_reported_at_the_field_with_its_full_path() {
        let text = "name: a\nitems:\n  - size: 1\n    colour: red\n";
        let docs = parse_stream::<Doc>(&Arc::from(text)).unwrap();
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
        let docs = parse_stream::<Doc>(&Arc::from(text)).unwrap();
        let err = docs[0].value.as_ref().unwrap_err();
        assert_eq!(err.path, "items[0].size");
        assert_eq!(err.position.line, 3);
    }

    #[test]
    fn syntax_errors_fail_the_stream_with_a_position() {
        let err = parse_stream::<Doc>(&Arc::from("name: a\nitems: [\n"))
            .err()
            .unwrap();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.position.line >= 2);
    }
}
