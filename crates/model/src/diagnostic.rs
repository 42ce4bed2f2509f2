//! Parse errors that point at the offending text and say how to fix it.
//!
//! The same rendering is used by `build.rs`, the CLI and the registry's 422 answers.

use std::fmt;
use std::sync::Arc;

use crate::text::{Location, SourceFile, Span};

/// An error in a schema or manifest file, with where it is and what to do about it.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    // Boxed: diagnostics travel in `Result`s on hot parsing paths.
    inner: Box<Details>,
}

#[derive(Debug, Clone)]
struct Details {
    message: String,
    path: Option<String>,
    help: Option<String>,
    source: Option<(Arc<SourceFile>, Span)>,
    location: Option<Location>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Details {
                message: message.into(),
                path: None,
                help: None,
                source: None,
                location: None,
            }),
        }
    }

    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// JSON pointer or element path inside the schema, when one applies.
    pub fn path(&self) -> Option<&str> {
        self.inner.path.as_deref()
    }

    pub fn help(&self) -> Option<&str> {
        self.inner.help.as_deref()
    }

    pub fn at(mut self, file: &Arc<SourceFile>, span: Span) -> Self {
        self.inner.location = Some(file.location(span));
        self.inner.source = Some((file.clone(), span));
        self
    }

    /// A position known only as line and column (e.g. from the Protobuf compiler).
    pub fn at_location(mut self, location: Location) -> Self {
        self.inner.location = Some(location);
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.inner.path = Some(path.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.inner.help = Some(help.into());
        self
    }

    pub fn location(&self) -> Option<&Location> {
        self.inner.location.as_ref()
    }

    /// Multi-line, rustc-like rendering with the offending line and a caret.
    pub fn render(&self) -> String {
        let mut out = format!("error: {}", self.inner.message);
        if let Some(loc) = &self.inner.location {
            out.push_str(&format!("\n  --> {loc}"));
            if let Some((file, _)) = &self.inner.source {
                let text = file.line_text(loc.line);
                let gutter = loc.line.to_string().len();
                let pad = " ".repeat(gutter);
                let indent: String = text
                    .chars()
                    .take(loc.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&format!(
                    "\n{pad} |\n{} | {text}\n{pad} | {indent}^",
                    loc.line
                ));
            }
        }
        if let Some(path) = &self.inner.path {
            out.push_str(&format!("\n   = at: {path}"));
        }
        if let Some(help) = &self.inner.help {
            out.push_str(&format!("\n   = help: {help}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    /// One line: `file:line:col: message (at path)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.inner.location {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.inner.message)?;
        if let Some(path) = &self.inner.path {
            write!(f, " (at {path})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}
