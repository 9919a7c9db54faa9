//! Where a document's fields are written, found when first asked.
//!
//! A document that reads and validates cleanly needs only where it starts (its `file:line` in
//! status). Indexing every field of every document cost more CPU than reading the documents
//! (BENCHMARKS.md, "Render + plan"), so the index is built on first use: for a document with a
//! problem to place, with environment overrides, or for a command that asks.

use std::sync::{Arc, OnceLock};

use super::index::{index_documents, PositionIndex};
use super::{Position, YamlError};

/// The positions of one document: its start, and its field index once asked for.
///
/// # Caveats
/// - A lazily indexed document was read by `serde_yaml` (libyaml) only; in the rare case the
///   indexing parser (`yaml-rust2`) refuses the same text, [`Positions::lookup`] falls back to
///   the document's start.
#[derive(Debug, Clone)]
pub struct Positions {
    start: Position,
    /// The whole stream and the document's index in it (empty documents included), to index
    /// it when first asked; `None` when the index was built up front.
    text: Option<(Arc<str>, usize)>,
    index: OnceLock<Result<Arc<PositionIndex>, YamlError>>,
}

impl Positions {
    /// Positions of an index already built.
    pub fn indexed(index: PositionIndex) -> Self {
        Positions {
            start: index.start,
            text: None,
            index: OnceLock::from(Ok(Arc::new(index))),
        }
    }

    /// Positions of document `document` (empty ones counted) of `text`, indexed on first use.
    pub(super) fn lazy(start: Position, text: Arc<str>, document: usize) -> Self {
        Positions {
            start,
            text: Some((text, document)),
            index: OnceLock::new(),
        }
    }

    /// Where the document begins: its `---`, or its first content.
    pub fn start(&self) -> Position {
        self.start
    }

    /// The field index, built now if it was not yet.
    pub fn index(&self) -> Result<&PositionIndex, &YamlError> {
        let built = self.index.get_or_init(|| {
            let Some((text, document)) = &self.text else {
                return Ok(Arc::default());
            };
            let mut all = index_documents(text)?;
            Ok(Arc::new(if *document < all.len() {
                all.swap_remove(*document)
            } else {
                PositionIndex {
                    start: self.start,
                    ..PositionIndex::default()
                }
            }))
        });
        built.as_ref().map(|index| &**index)
    }

    /// Whether the field index was built (up front or since).
    pub fn is_indexed(&self) -> bool {
        self.index.get().is_some()
    }

    /// The position of `path`, or of its nearest written ancestor, or the document's start.
    pub fn lookup(&self, path: &str) -> Position {
        self.index()
            .map(|index| index.lookup(path))
            .unwrap_or(self.start)
    }

    /// Whether the document spells out `path` itself.
    pub fn contains(&self, path: &str) -> bool {
        self.index().is_ok_and(|index| index.contains(path))
    }

    /// `metadata.name` as written.
    pub fn name(&self) -> Option<&str> {
        self.index().ok().and_then(|index| index.name.as_deref())
    }

    /// These positions with what is written under `from` also found under `onto`
    /// ([`PositionIndex::overlay`]).
    pub fn overlay(&self, from: &str, onto: &str) -> Positions {
        match self.index() {
            Ok(index) => Positions::indexed(index.overlay(from, onto)),
            Err(_) => self.clone(),
        }
    }
}

/// At most this many flow collection openers (`[`, `{`) in a stream read without an index.
const MAX_FLOW_OPENERS: usize = 1024;
/// At most this indentation, and this many compact sequence entries (`- `) on one line, in a
/// stream read without an index.
const MAX_INDENT: usize = 128;
const MAX_DASHES_PER_LINE: usize = 16;

/// Whether reading `text` needs none of the index's guards: no anchor (so no alias can expand)
/// and too few nesting indicators for the read to cost anything. The bound is far above
/// [`super::MAX_NESTING`]: a document nested deeper than that but within these bounds fails
/// serde's own recursion limit (128) or, for a free-form override, the index its environments
/// need, which then refuses it with its line. Beyond the bounds a reader would spend seconds
/// and hundreds of MiB on a hostile file before any limit stops it (controller/tests/hostile).
pub(super) fn cheap_to_read(text: &str) -> bool {
    // One pass over the bytes: this runs on every file read, before any parse.
    let (mut openers, mut indent, mut dashes) = (0, 0, 0);
    let (mut in_indent, mut previous) = (true, b'\n');
    for &byte in text.as_bytes() {
        match byte {
            b'&' => return false,
            b'\n' => (indent, dashes, in_indent) = (0, 0, true),
            b' ' | b'\t' if in_indent => indent += 1,
            b'[' | b'{' => (openers, in_indent) = (openers + 1, false),
            b' ' if previous == b'-' => (dashes, in_indent) = (dashes + 1, false),
            _ => in_indent = false,
        }
        if indent > MAX_INDENT || dashes > MAX_DASHES_PER_LINE || openers > MAX_FLOW_OPENERS {
            return false;
        }
        previous = byte;
    }
    true
}

/// Where each document of a stream begins, empty documents included, found line by line
/// without parsing: an explicit document at its `---`, an implicit one at its first content
/// (neither blank, comment nor directive). `...` ends a document.
///
/// The YAML spec forbids `---` and `...` at the start of a line inside any document content
/// (c-forbidden), so a marker line is one whatever precedes it. The caller compares the count
/// with the documents `serde_yaml` reads and indexes the stream when they differ.
pub(super) fn document_starts(text: &str) -> Vec<Position> {
    let is_marker = |line: &str, marker: &str| {
        line.strip_prefix(marker)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    };
    let mut starts = Vec::new();
    let mut open = false;
    for (i, line) in text.lines().enumerate() {
        let line_number = i + 1;
        if is_marker(line, "---") {
            starts.push(Position {
                line: line_number,
                column: 1,
            });
            open = true;
        } else if is_marker(line, "...") {
            open = false;
        } else if !open {
            let content = line.trim_start_matches([' ', '\t']);
            if content.is_empty() || content.starts_with('#') || line.starts_with('%') {
                continue;
            }
            starts.push(Position {
                line: line_number,
                column: 1 + line.len() - content.len(),
            });
            open = true;
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start the indexing parser reports for each document. Lines are compared: its column
    /// of an implicit document is that of the token after the first (`a: 1` starts at column
    /// 2), where [`document_starts`] names the first content column.
    fn indexed_starts(text: &str) -> Vec<Position> {
        index_documents(text)
            .unwrap()
            .iter()
            .map(|d| d.start)
            .collect()
    }

    #[test]
    fn document_starts_agree_with_the_indexing_parser() {
        for text in [
            "",
            "# only a comment\n",
            "a: 1\n",
            "\n\n# c\n  a: 1\n",
            "---\na: 1\n",
            "--- # c\na: 1\n---\nb: 2\n",
            "a: 1\n---\n",
            "---\n---\na: 1\n---\n# c\n---\nb: 2\n",
            "a: 1\n...\nb: 2\n",
            "a: 1\n...\n# c\n...\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: |\n  text\n  ---x\nb: 2\n",
            "---abc: 1\n",
            "a: 1\r\n---\r\nb: 2\r\n",
            "- 1\n- 2\n--- |\n  block\n",
        ] {
            let lines = |starts: Vec<Position>| starts.iter().map(|p| p.line).collect::<Vec<_>>();
            assert_eq!(
                lines(document_starts(text)),
                lines(indexed_starts(text)),
                "{text:?}"
            );
        }
    }

    /// [`cheap_to_read`] as first written, line by line.
    fn cheap_to_read_by_lines(text: &str) -> bool {
        let openers = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
        !text.contains('&')
            && openers <= MAX_FLOW_OPENERS
            && text.lines().all(|line| {
                let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
                indent <= MAX_INDENT && line.matches("- ").count() <= MAX_DASHES_PER_LINE
            })
    }

    #[test]
    fn the_one_pass_cost_check_agrees_with_the_line_by_line_one() {
        let hostile = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile");
        let mut texts: Vec<String> = std::fs::read_dir(hostile)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
            .collect();
        for n in [MAX_INDENT, MAX_INDENT + 1] {
            texts.push(format!("a:\n{}b: 1\n", " ".repeat(n)));
            texts.push(format!("a:\n{}\tb: 1\r\n", " ".repeat(n - 1)));
            texts.push(" ".repeat(n));
        }
        for n in [MAX_DASHES_PER_LINE, MAX_DASHES_PER_LINE + 1] {
            texts.push(format!("{}x\n", "- ".repeat(n)));
            texts.push(format!("a: b\n  {}x\r\n", "-- ".repeat(n)));
            texts.push(format!("{}x\n", "-\t- ".repeat(n)));
        }
        for n in [MAX_FLOW_OPENERS, MAX_FLOW_OPENERS + 1] {
            texts.push(format!("a: {}\n", "[{".repeat(n / 2) + &"[".repeat(n % 2)));
        }
        texts.extend(["a: &x 1\n".into(), "- - - 1\n".into(), String::new()]);
        let mut seen = std::collections::BTreeSet::new();
        for text in &texts {
            let expected = cheap_to_read_by_lines(text);
            seen.insert(expected);
            assert_eq!(
                cheap_to_read(text),
                expected,
                "{:?}",
                &text[..text.len().min(80)]
            );
        }
        assert_eq!(seen.len(), 2, "both answers are exercised");
    }

    #[test]
    fn a_lazy_index_is_the_index_of_its_document() {
        let text: Arc<str> = Arc::from("---\na: 1\n---\nb:\n  c: 2\n");
        let positions = Positions::lazy(Position { line: 3, column: 1 }, text, 1);
        assert_eq!(positions.lookup("b.c"), Position { line: 5, column: 3 });
        assert!(positions.contains("b"));
        assert!(!positions.contains("a"));
    }

    #[test]
    fn a_text_the_indexer_refuses_falls_back_to_the_start() {
        let text: Arc<str> = Arc::from(format!("a: {}1{}\n", "[".repeat(80), "]".repeat(80)));
        let start = Position { line: 1, column: 1 };
        let positions = Positions::lazy(start, text, 0);
        assert!(positions.index().is_err());
        assert_eq!(positions.lookup("a"), start);
    }
}
