//! Source text with positions: every diagnostic and finding points at `file:line:column`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A byte range in a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

/// A schema file as read from disk (or given inline), with a line index for positions.
#[derive(Debug, Clone)]
pub struct SourceFile {
    path: PathBuf,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Arc::new(Self {
            path: path.into(),
            text,
            line_starts,
        })
    }

    /// Reads a file; the path is kept as given so that messages show what the user typed.
    pub fn read(path: impl AsRef<Path>) -> std::io::Result<Arc<Self>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)?;
        Ok(Self::new(path, text))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }

    /// Byte offset of a 1-based line plus a byte count into it, clamped to the line's end.
    ///
    /// Protobuf source info counts columns in bytes; this turns them into offsets.
    pub fn offset_at_line(&self, line: usize, byte_in_line: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return self.text.len();
        };
        // the line's end, before its '\n'
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        start.saturating_add(byte_in_line).min(end)
    }

    pub fn location(&self, span: Span) -> Location {
        let (line, column) = self.line_col(span.start);
        Location {
            file: self.path.clone(),
            line,
            column,
        }
    }

    /// The full text of the 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }
}

/// A position in a file, as `path:line:column`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let f = SourceFile::new("a.avsc", "{\n  \"é\": 1,\n  \"x\": 2\n}");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(2), (2, 1));
        // "x" on line 3 after two spaces
        let off = f.text().find("\"x\"").unwrap();
        assert_eq!(f.line_col(off), (3, 3));
        // the 1 after a two-byte character
        let off = f.text().find('1').unwrap();
        assert_eq!(f.line_col(off), (2, 8));
        assert_eq!(f.line_text(2), "  \"é\": 1,");
    }

    #[test]
    fn offset_at_line_counts_bytes_and_clamps() {
        let f = SourceFile::new("a.proto", "ab\nçd\n");
        assert_eq!(f.offset_at_line(1, 0), 0);
        assert_eq!(f.offset_at_line(2, 2), 5);
        assert_eq!(f.line_col(f.offset_at_line(2, 2)), (2, 2));
        assert_eq!(f.offset_at_line(1, 99), 2);
        assert_eq!(f.offset_at_line(0, 0), f.text().len());
        assert_eq!(f.offset_at_line(9, 0), f.text().len());
    }
}
