//! Problems found in manifests, each pointing at a file, a document, a field and a line.

use std::fmt;

use serde::Serialize;

use crate::yaml::Position;

/// One problem in one manifest document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// File as given on the command line or the S3 key.
    pub file: String,
    /// 0-based index of the document within the file (`---` separated).
    pub document: usize,
    /// Field path, e.g. `spec.scaling.maxTasks` (empty for file-level problems).
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    pub fn new(
        file: &str,
        document: usize,
        path: impl Into<String>,
        position: Position,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_string(),
            document,
            path: path.into(),
            line: position.line,
            column: position.column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: path: message (document N)`, the format editors and CI annotate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: ",
            self.file,
            self.line.max(1),
            self.column.max(1)
        )?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{} (document {})", self.message, self.document)
    }
}
