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
    /// Characters before every `CHAR_MARK`th byte (at a character boundary), so that a column
    /// deep into a long line costs no scan of the whole line; empty for ASCII text, where
    /// characters are bytes.
    char_marks: Vec<(usize, usize)>,
}

/// The spacing of [`SourceFile`]'s character marks, in bytes.
const CHAR_MARK: usize = 1024;

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut char_marks = Vec::new();
        if !text.is_ascii() {
            let (mut offset, mut chars) = (0, 0);
            while offset < text.len() {
                char_marks.push((offset, chars));
                let mut next = (offset + CHAR_MARK).min(text.len());
                while !text.is_char_boundary(next) {
                    next += 1;
                }
                chars += text[offset..next].chars().count();
                offset = next;
            }
        }
        Arc::new(Self {
            path: path.into(),
            text,
            line_starts,
            char_marks,
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
        let column = match (self.chars_before(start), self.chars_before(offset)) {
            (Some(a), Some(b)) => b - a,
            _ => offset - start,
        };
        (line + 1, column + 1)
    }

    /// Characters before a byte offset; `None` when the offset is inside a character.
    fn chars_before(&self, offset: usize) -> Option<usize> {
        if self.char_marks.is_empty() {
            return Some(offset);
        }
        let mark = match self.char_marks.binary_search_by_key(&offset, |&(o, _)| o) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let (from, chars) = self.char_marks[mark];
        Some(chars + self.text.get(from..offset)?.chars().count())
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
    fn columns_deep_into_a_long_line_count_characters() {
        let text: String = (0..5_000)
            .map(|i| if i % 7 == 0 { "é,ü " } else { "ab " })
            .collect();
        let text = format!("x\n{text}\ny");
        let f = SourceFile::new("one-line.avsc", text.as_str());
        for (offset, _) in text.char_indices().step_by(97) {
            let line = text[..offset].matches('\n').count() + 1;
            let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            let column = text[start..offset].chars().count() + 1;
            assert_eq!(f.line_col(offset), (line, column), "offset {offset}");
        }
        assert_eq!(f.line_col(text.len()).0, 3);
    }

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
