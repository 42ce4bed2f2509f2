//! How the commands that judge schemas print what they found: a line per subject ([`Verdict`]),
//! findings as text for people, JSON for tools or annotations for GitHub Actions ([`Report`]),
//! manifest or schema errors as rendered diagnostics, and the exit code that says there were
//! findings. `check`, `compat`, `prepare` and `register` share it, so a finding looks the same
//! whichever command found it.

use std::io::Write;
use std::process::ExitCode;

use clap::ValueEnum;
use contracts_compat::{Finding, Rule};
use contracts_model::{Diagnostic, Level, Location};
use serde::Serialize;

/// Exit code for findings (incompatible change or invalid candidate), as buf uses.
pub const EXIT_FINDINGS: u8 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ErrorFormat {
    /// `path:line:col: RULE_ID: message`, one line per finding.
    Text,
    /// One JSON object per line and finding.
    Json,
    /// `::error` workflow commands that GitHub Actions shows on the pull request.
    GithubActions,
}

impl ErrorFormat {
    /// `github-actions` inside a GitHub Actions job (`GITHUB_ACTIONS=true`), where annotations
    /// land on the pull request's lines; `text` anywhere else. `--error-format` and
    /// `CONTRACTS_ERROR_FORMAT` still win: this is only the default.
    pub fn default_for_environment() -> Self {
        Self::default_for(std::env::var("GITHUB_ACTIONS").ok().as_deref())
    }

    fn default_for(github_actions: Option<&str>) -> Self {
        match github_actions {
            Some("true") => ErrorFormat::GithubActions,
            _ => ErrorFormat::Text,
        }
    }
}

/// A finding ready to print: from a compatibility check, or an invalid candidate schema.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rule: String,
    pub level: String,
    pub direction: Option<String>,
    pub path: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub old_version: Option<String>,
    pub new_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

impl Report {
    pub fn from_finding(f: &Finding, event: Option<&str>) -> Self {
        let (file, line, column) = split(f.location.as_ref());
        Report {
            rule: f.rule.id().to_string(),
            level: f.level.to_string(),
            direction: Some(f.direction.as_str().to_string()),
            path: f.path.clone(),
            file,
            line,
            column,
            message: f.message.clone(),
            old_version: Some(f.old_version.clone()),
            new_version: f.new_version.clone(),
            event: event.map(str::to_string),
        }
    }

    /// A candidate that does not parse is a finding too (exit 100), as the registry rejects it.
    pub fn invalid_schema(
        d: &Diagnostic,
        level: Level,
        version: &str,
        event: Option<&str>,
    ) -> Self {
        let (file, line, column) = split(d.location());
        let mut message = d.message().to_string();
        if let Some(help) = d.help() {
            message.push_str(&format!(" (help: {help})"));
        }
        Report {
            rule: Rule::InvalidSchema.id().to_string(),
            level: level.to_string(),
            direction: None,
            path: d.path().unwrap_or_default().to_string(),
            file,
            line,
            column,
            message,
            old_version: None,
            new_version: version.to_string(),
            event: event.map(str::to_string),
        }
    }

    fn position(&self) -> String {
        match (&self.file, self.line, self.column) {
            (Some(file), Some(line), Some(col)) => format!("{file}:{line}:{col}"),
            (Some(file), _, _) => file.clone(),
            _ => "<schema>".to_string(),
        }
    }
}

fn split(loc: Option<&Location>) -> (Option<String>, Option<usize>, Option<usize>) {
    match loc {
        Some(l) => (
            Some(l.file.display().to_string()),
            Some(l.line),
            Some(l.column),
        ),
        None => (None, None, None),
    }
}

/// The verdict on one subject's history.
pub(crate) struct Verdict {
    pub(crate) line: String,
    pub(crate) reports: Vec<Report>,
}

/// Prints the heading and one line per subject, then the findings; exits 100 when there are any.
pub(crate) fn print_verdicts(
    heading: &str,
    verdicts: &[Verdict],
    error_format: ErrorFormat,
) -> anyhow::Result<ExitCode> {
    let reports: Vec<Report> = verdicts.iter().flat_map(|v| v.reports.clone()).collect();
    let mut out = std::io::stdout().lock();
    let mut summary: Box<dyn Write> = match error_format {
        ErrorFormat::Text => Box::new(std::io::stdout()),
        _ => Box::new(std::io::stderr()),
    };
    writeln!(summary, "{heading}")?;
    for v in verdicts {
        writeln!(summary, "{}", v.line)?;
    }
    summary.flush()?;
    drop(summary);
    if !reports.is_empty() {
        if error_format == ErrorFormat::Text {
            writeln!(out)?;
        }
        write(&mut out, error_format, &reports)?;
    }
    out.flush()?;
    if reports.is_empty() {
        eprintln!("all contracts compatible");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} finding(s): these changes would break consumers or be rejected by the registry",
            reports.len()
        );
        Ok(ExitCode::from(EXIT_FINDINGS))
    }
}

/// Manifest and schema errors are not findings: they are printed as they are and exit 1.
pub(crate) fn print_problems(diagnostics: &[Diagnostic]) -> ExitCode {
    let rendered: Vec<String> = diagnostics.iter().map(Diagnostic::render).collect();
    eprintln!("{}", rendered.join("\n\n"));
    ExitCode::from(1)
}

pub fn write(out: &mut impl Write, format: ErrorFormat, reports: &[Report]) -> std::io::Result<()> {
    for r in reports {
        match format {
            ErrorFormat::Text => {
                let versions = match &r.old_version {
                    Some(old) => format!(" [{} → {}, {}]", old, r.new_version, r.level),
                    None => format!(" [{}]", r.new_version),
                };
                writeln!(out, "{}: {}: {}{versions}", r.position(), r.rule, r.message)?;
            }
            ErrorFormat::Json => {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(r).map_err(std::io::Error::other)?
                )?;
            }
            ErrorFormat::GithubActions => {
                let mut props = Vec::new();
                if let Some(file) = &r.file {
                    props.push(format!("file={}", escape_property(file)));
                }
                if let Some(line) = r.line {
                    props.push(format!("line={line}"));
                }
                if let Some(col) = r.column {
                    props.push(format!("col={col}"));
                }
                props.push(format!("title={}", escape_property(&r.rule)));
                writeln!(
                    out,
                    "::error {}::{}",
                    props.join(","),
                    escape_data(&r.message)
                )?;
            }
        }
    }
    Ok(())
}

/// GitHub's workflow-command escaping.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            rule: "TYPE_MISMATCH".into(),
            level: "BACKWARD".into(),
            direction: Some("BACKWARD".into()),
            path: "/fields/1/type".into(),
            file: Some("schemas/a,b.avsc".into()),
            line: Some(7),
            column: Some(3),
            message: "50% of it\nchanged".into(),
            old_version: Some("v1".into()),
            new_version: "v2".into(),
            event: None,
        }
    }

    fn render(format: ErrorFormat) -> String {
        let mut out = Vec::new();
        write(&mut out, format, &[sample()]).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn github_actions_jobs_default_to_annotations_and_other_places_to_text() {
        assert_eq!(
            ErrorFormat::default_for(Some("true")),
            ErrorFormat::GithubActions
        );
        assert_eq!(ErrorFormat::default_for(Some("false")), ErrorFormat::Text);
        assert_eq!(ErrorFormat::default_for(None), ErrorFormat::Text);
    }

    #[test]
    fn text_starts_with_the_position_and_rule() {
        assert!(
            render(ErrorFormat::Text).starts_with("schemas/a,b.avsc:7:3: TYPE_MISMATCH: 50% of it")
        );
    }

    #[test]
    fn json_has_the_documented_keys() {
        let v: serde_json::Value = serde_json::from_str(render(ErrorFormat::Json).trim()).unwrap();
        for key in [
            "rule",
            "level",
            "path",
            "file",
            "line",
            "column",
            "message",
            "old_version",
            "new_version",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["line"], 7);
    }

    #[test]
    fn github_annotations_escape_their_properties_and_data() {
        assert_eq!(
            render(ErrorFormat::GithubActions).trim(),
            "::error file=schemas/a%2Cb.avsc,line=7,col=3,title=TYPE_MISMATCH::50%25 of it%0Achanged"
        );
    }
}
