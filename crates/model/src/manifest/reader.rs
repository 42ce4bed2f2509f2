//! A reader of spanned TOML: typed values with the span they were written at, unknown keys named
//! with the nearest allowed one (a typo hint), and every problem collected as a diagnostic that
//! points into the manifest instead of stopping at the first.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use crate::{Diagnostic, SourceFile, Span};

use super::model::{FILE_NAME, Manifest};

impl Manifest {
    /// Reads and validates a manifest; schema paths are relative to its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Manifest, Vec<Diagnostic>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![
                Diagnostic::new(format!(
                    "cannot read the contracts manifest {}: {e}",
                    path.display()
                ))
                .with_help(format!(
                    "the manifest lists every event and its schema files; it usually lives at \
                     schemas/{FILE_NAME}"
                )),
            ]
        })?;
        let base_dir = path.parent().unwrap_or(Path::new(""));
        Manifest::parse(path, &text, base_dir)
    }

    /// Validates manifest text; `path` is only used in messages, schema paths are relative to
    /// `base_dir`. Returns every problem found, in file order where possible.
    pub fn parse(
        path: impl AsRef<Path>,
        text: &str,
        base_dir: impl AsRef<Path>,
    ) -> Result<Manifest, Vec<Diagnostic>> {
        let mut p = Parser {
            file: SourceFile::new(path.as_ref(), text),
            base_dir: base_dir.as_ref().to_path_buf(),
            errors: Vec::new(),
        };
        let (root, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            return Err(syntax.iter().map(|e| p.syntax_error(e)).collect());
        }
        let manifest = p.manifest(root.get_ref());
        p.errors
            .sort_by_key(|d| d.location().map(|l| (l.line, l.column)));
        if p.errors.is_empty() {
            Ok(manifest)
        } else {
            Err(p.errors)
        }
    }
}

type Value<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<DeString<'i>>;

pub(super) fn span_of<T>(s: &Spanned<T>) -> Span {
    let r = s.span();
    Span::new(r.start, r.end)
}

/// A table's entries in file order (the parser keeps them sorted by key).
pub(super) fn entries<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Value<'i>)> {
    let mut out: Vec<_> = table.iter().collect();
    out.sort_by_key(|(k, _)| k.span().start);
    out
}

pub(super) struct Parser {
    pub(super) file: Arc<SourceFile>,
    pub(super) base_dir: PathBuf,
    pub(super) errors: Vec<Diagnostic>,
}

/// A string value and where it was written.
pub(super) struct Str {
    pub(super) value: String,
    pub(super) span: Span,
}

impl Parser {
    pub(super) fn at(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(message).at(&self.file, span)
    }

    pub(super) fn report(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    pub(super) fn line(&self, span: Span) -> usize {
        self.file.line_col(span.start).0
    }

    fn syntax_error(&self, e: &toml::de::Error) -> Diagnostic {
        let message = format!("invalid TOML: {}", e.message().trim_end());
        match e.span() {
            Some(r) => self.at(Span::new(r.start, r.end), message),
            None => self.at(Span::default(), message),
        }
    }

    pub(super) fn check_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], what: &str) {
        for (key, _) in entries(table) {
            let name: &str = key.get_ref();
            if allowed.contains(&name) {
                continue;
            }
            let takes = format!("allowed here: {}", allowed.join(", "));
            let help = match closest(name, allowed) {
                Some(near) => format!("did you mean \"{near}\"? {takes}"),
                None => takes,
            };
            let d = self
                .at(span_of(key), format!("unknown key \"{name}\" in {what}"))
                .with_help(help);
            self.report(d);
        }
    }

    pub(super) fn type_error(&mut self, value: &Value<'_>, key: &str, what: &str, expected: &str) {
        let d = self.at(
            span_of(value),
            format!(
                "\"{key}\" in {what} must be {expected}, not {} {}",
                article(value.get_ref().type_str()),
                value.get_ref().type_str()
            ),
        );
        self.report(d);
    }

    pub(super) fn table<'a, 'i>(
        &mut self,
        value: &'a Value<'i>,
        key: &str,
        what: &str,
    ) -> Option<&'a DeTable<'i>> {
        let table = value.get_ref().as_table();
        if table.is_none() {
            self.type_error(value, key, what, "a table");
        }
        table
    }

    pub(super) fn string(&mut self, table: &DeTable<'_>, key: &str, what: &str) -> Option<Str> {
        let value = table.get(key)?;
        match value.get_ref().as_str() {
            Some(s) => Some(Str {
                value: s.to_string(),
                span: span_of(value),
            }),
            None => {
                self.type_error(value, key, what, "a string");
                None
            }
        }
    }

    /// Reports a required key that is absent, at the table it belongs in.
    pub(super) fn is_missing(
        &mut self,
        table: &DeTable<'_>,
        table_span: Span,
        key: &str,
        what: &str,
        help: &str,
    ) -> bool {
        let missing = !table.contains_key(key);
        if missing {
            let d = self
                .at(table_span, format!("{what} has no \"{key}\""))
                .with_help(help);
            self.report(d);
        }
        missing
    }

    pub(super) fn required_string(
        &mut self,
        table: &DeTable<'_>,
        table_span: Span,
        key: &str,
        what: &str,
        help: &str,
    ) -> Option<Str> {
        if self.is_missing(table, table_span, key, what, help) {
            return None;
        }
        self.string(table, key, what)
    }

    pub(super) fn integer(
        &mut self,
        value: &Value<'_>,
        key: &str,
        what: &str,
        expected: &str,
    ) -> Option<i64> {
        let n = value
            .get_ref()
            .as_integer()
            .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok());
        if n.is_none() {
            self.type_error(value, key, what, expected);
        }
        n
    }

    /// A string naming one of a fixed set of values (formats, levels, strategies).
    pub(super) fn parsed<T: FromStr<Err = String>>(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        what: &str,
    ) -> Option<(T, Span)> {
        let s = self.string(table, key, what)?;
        match s.value.parse() {
            Ok(v) => Some((v, s.span)),
            Err(message) => {
                let d = self.at(s.span, message);
                self.report(d);
                None
            }
        }
    }

    pub(super) fn strings(&mut self, table: &DeTable<'_>, key: &str, what: &str) -> Vec<Str> {
        let Some(value) = table.get(key) else {
            return Vec::new();
        };
        let Some(items) = value.get_ref().as_array() else {
            self.type_error(value, key, what, "an array of strings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push(Str {
                    value: s.to_string(),
                    span: span_of(item),
                }),
                None => self.type_error(item, key, what, "an array of strings"),
            }
        }
        out
    }
}

fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The allowed key nearest to a misspelt one, if it is near enough to be a typo.
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (prev + cost).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::*;

    #[test]
    fn toml_syntax_errors_point_at_the_text() {
        let (line, message, _) = error("\n[[events]]\nname = \"x\nformat = \"avro\"\n");
        assert_eq!(line, line_of("\n[[events]]\nname = ", "name = "));
        assert!(message.starts_with("invalid TOML:"), "{message}");
    }

    #[test]
    fn duplicate_tables_are_syntax_errors() {
        let body = "\n[services.order]\n";
        let (line, message, _) = error(body);
        assert_eq!(line, 7);
        assert!(message.contains("duplicate key"), "{message}");
    }

    #[test]
    fn unknown_keys_are_named_with_a_suggestion() {
        let body = EVENT.replace(
            "topic = \"orders\"",
            "topic = \"orders\"\ntopc = \"orders\"",
        );
        let (line, message, help) = error(&body);
        assert_eq!(line, line_of(&body, "topc"));
        assert_eq!(
            message,
            "unknown key \"topc\" in event \"shop.orders.OrderCreated\""
        );
        assert!(help.starts_with("did you mean \"topic\"?"), "{help}");
    }

    #[test]
    fn unknown_keys_are_found_at_every_level_and_reported_in_file_order() {
        let dir = schemas(FILES);
        let text = format!(
            "bogus = 1\n{HEAD}{}\n[defaults]\nlevel = \"NONE\"\n",
            EVENT.replace("file = \"a/v1.avsc\"", "file = \"a/v1.avsc\", path = \"x\"")
        );
        let errors = Manifest::parse("contracts.toml", &text, dir.path()).unwrap_err();
        let got: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.location().unwrap().line, e.message()))
            .collect();
        let line = |needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
        assert_eq!(
            got,
            [
                (1, "unknown key \"bogus\" in the manifest"),
                (
                    line("path ="),
                    "unknown key \"path\" in version 1 of event \"shop.orders.OrderCreated\""
                ),
                (line("level"), "unknown key \"level\" in [defaults]"),
            ]
        );
    }

    #[test]
    fn required_keys_are_named() {
        let body = "\n[[events]]\nname = \"a.B\"\ntopic = \"orders\"\n";
        let errors = parse(body).unwrap_err();
        let got: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.location().unwrap().line, e.message()))
            .collect();
        let at = line_of(body, "[[events]]");
        assert_eq!(got, [(at, "event \"a.B\" has no \"format\"")]);

        let body =
            "\n[[events]]\nformat = \"avro\"\ntopic = \"orders\"\nversions = [{ version = 1 }]\n";
        let errors = parse(body).unwrap_err();
        assert_eq!(errors[0].message(), "event #1 has no \"name\"");
        assert_eq!(
            errors[0].location().unwrap().line,
            line_of(body, "[[events]]")
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_rejected() {
        let body = "\n[topics.more]\nkey = \"id\"\npartitions = \"6\"\n";
        let (line, message, _) = error(body);
        assert_eq!(line, line_of(body, "partitions"));
        assert_eq!(
            message,
            "\"partitions\" in [topics.more] must be a positive integer, not a string"
        );
    }

    #[test]
    fn loading_a_missing_manifest_says_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contracts.toml");
        let errors = Manifest::load(&path).unwrap_err();
        assert!(
            errors[0].message().starts_with(&format!(
                "cannot read the contracts manifest {}",
                path.display()
            )),
            "{}",
            errors[0].message()
        );
    }

    #[test]
    fn diagnostics_render_the_manifest_line() {
        let body = EVENT.replace("a/v2.avsc", "a/v9.avsc");
        let errors = parse(&body).unwrap_err();
        let rendered = errors[0].render();
        assert!(rendered.contains("--> contracts.toml:"), "{rendered}");
        assert!(rendered.contains("file = \"a/v9.avsc\""), "{rendered}");
    }
}
