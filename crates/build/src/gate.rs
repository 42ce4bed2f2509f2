//! The gate: every subject history checked at its level before any code is generated.
//!
//! The verdicts are `contracts-compat`'s ([`check_event_history`], shared with
//! `contracts check`, and with a registry snapshot [`check_against_registry`], shared with
//! `contracts check --offline-snapshot`); this module only decides whether they fail the build
//! and renders them the way rustc renders its errors.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use contracts_compat::manifest::{
    HistoryCheck, LocalSubject, LocalVersion, check_against_registry, check_event_history,
};
use contracts_compat::{Direction, Finding};
use contracts_model::manifest::{Event, Manifest};
use contracts_model::snapshot::Snapshot;
use contracts_model::{Diagnostic, Level, Schema};

use crate::{Error, GATE_ENV};

/// What an incompatible schema change does to the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gate {
    /// Fail the build (the default): a breaking change never reaches a binary.
    #[default]
    Fail,
    /// Print the diagnostics as warnings and generate anyway: for local experiments only.
    Warn,
}

impl Gate {
    /// The gate `CONTRACTS_GATE` asks for, if set.
    pub(crate) fn from_env() -> Result<Option<Gate>, Error> {
        match std::env::var(GATE_ENV) {
            Err(_) => Ok(None),
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "warn" => Ok(Some(Gate::Warn)),
                "fail" => Ok(Some(Gate::Fail)),
                "" => Ok(None),
                other => Err(Error::Invalid(vec![
                    Diagnostic::new(format!("{GATE_ENV}=\"{other}\" is not a gate mode"))
                        .with_help(format!(
                            "set {GATE_ENV}=warn to build despite incompatible changes, \
                             {GATE_ENV}=fail (the default) to refuse them"
                        )),
                ])),
            },
        }
    }
}

/// An event whose histories passed the gate (or were let through in warning mode).
#[derive(Debug)]
pub(crate) struct CheckedEvent<'m> {
    pub event: &'m Event,
    pub histories: Vec<HistoryCheck<'m>>,
}

#[derive(Debug)]
pub(crate) struct Checked<'m> {
    pub events: Vec<CheckedEvent<'m>>,
    /// The manifest and every schema file read, for `cargo:rerun-if-changed`.
    pub inputs: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// Loads and checks every event of the manifest: each subject history as the manifest lists it,
/// or, with a registry snapshot (the `.registry/` directory `contracts prepare` writes), against
/// the registered versions, as `contracts check --offline-snapshot` does.
pub(crate) fn check<'m>(
    manifest: &'m Manifest,
    gate: Gate,
    snapshot: Option<&Path>,
) -> Result<Checked<'m>, Error> {
    let mut events = Vec::new();
    let mut problems = Vec::new();
    let mut inputs = BTreeSet::new();
    inputs.insert(manifest.path.clone());
    let mut breaks = Vec::new();
    for event in &manifest.events {
        let mut histories = Vec::new();
        for history in event.histories() {
            for v in &history.versions {
                inputs.insert(v.path.clone());
            }
            match check_event_history(event, &history) {
                Ok(checked) => {
                    if let Some(d) = &checked.invalid {
                        problems.push(d.clone());
                    }
                    for schema in &checked.schemas {
                        if let Schema::Protobuf(proto) = schema {
                            inputs.extend(proto_inputs(proto, &history.versions[0].root));
                        }
                    }
                    // Against a snapshot, the registry's history decides instead (below).
                    if snapshot.is_none() {
                        for f in &checked.findings {
                            breaks.push(render_finding(
                                event,
                                &checked.subject,
                                checked.level,
                                &labelled(&checked),
                                f,
                            ));
                        }
                    }
                    histories.push(checked);
                }
                Err(mut d) => problems.append(&mut d),
            }
        }
        events.push(CheckedEvent { event, histories });
    }
    if let Some(dir) = snapshot {
        let registered = Snapshot::read(dir)
            .map_err(|e| Error::Invalid(vec![Diagnostic::new(e.to_string())]))?;
        inputs.insert(dir.to_path_buf());
        inputs.extend(Snapshot::files(dir).unwrap_or_default());
        for ce in &events {
            against_registry(ce, manifest, &registered, &mut problems, &mut breaks);
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    // A finding seen in two histories of one event is reported once.
    let mut seen = BTreeSet::new();
    breaks.retain(|b| seen.insert(b.clone()));
    let mut warnings = Vec::new();
    if !breaks.is_empty() {
        match gate {
            Gate::Fail => {
                return Err(Error::Incompatible {
                    count: breaks.len(),
                    report: breaks.join("\n\n"),
                });
            }
            Gate::Warn => warnings = breaks,
        }
    }
    Ok(Checked {
        events,
        inputs: inputs.into_iter().collect(),
        warnings,
    })
}

/// Checks an event's local histories against the registered ones of a snapshot.
fn against_registry(
    local: &CheckedEvent<'_>,
    manifest: &Manifest,
    snapshot: &Snapshot,
    problems: &mut Vec<Diagnostic>,
    breaks: &mut Vec<String>,
) {
    for history in &local.histories {
        if history.invalid.is_some() {
            continue; // reported already; nothing to check
        }
        let mut versions = Vec::new();
        for (v, schema) in history.versions.iter().zip(&history.schemas) {
            match LocalVersion::new(&manifest.base_dir, v, Ok(schema.clone())) {
                Ok((version, _)) => versions.push(version),
                Err(d) => problems.push(d),
            }
        }
        let subject = LocalSubject {
            event: local.event,
            subject: history.subject.clone(),
            level: history.level,
            versions,
        };
        let checked = match check_against_registry(&subject, snapshot) {
            Ok(checked) => checked,
            Err(mut d) => {
                problems.append(&mut d);
                continue;
            }
        };
        problems.extend(checked.edited.iter().map(|e| e.diagnostic.clone()));
        let labelled: Vec<(&str, &Schema)> = checked
            .history
            .iter()
            .map(|r| (r.label.as_str(), &r.schema))
            .collect();
        for f in &checked.findings {
            breaks.push(render_finding(
                local.event,
                &checked.subject,
                checked.level,
                &labelled,
                f,
            ));
        }
    }
}

/// A history's versions with their labels, for rendering its findings.
fn labelled<'h>(history: &'h HistoryCheck<'_>) -> Vec<(&'h str, &'h Schema)> {
    history
        .versions
        .iter()
        .map(|v| v.label.as_str())
        .zip(&history.schemas)
        .collect()
}

/// The files a Protobuf schema read from its root (its imports too; not the built-in
/// `google/protobuf/*`, which have no file).
fn proto_inputs(
    proto: &contracts_model::protobuf::ProtoSchema,
    root: &std::path::Path,
) -> Vec<PathBuf> {
    proto
        .files()
        .file
        .iter()
        .filter(|f| proto.source(f.name()).is_some())
        .map(|f| root.join(f.name()))
        .collect()
}

/// A finding as rustc would print an error: what, where, the rule, the change, the fix, and who
/// breaks.
fn render_finding(
    event: &Event,
    subject: &str,
    level: Level,
    history: &[(&str, &Schema)],
    f: &Finding,
) -> String {
    let mut out = format!(
        "incompatible change to {}: {} breaks {} compatibility with {} ({})",
        event.name,
        f.new_version,
        f.level,
        f.old_version,
        match f.direction {
            Direction::Backward => "the new schema cannot read data written with the old one",
            Direction::Forward =>
                "readers of the old schema cannot read data written with the new one",
        }
    );
    // As rustc: the gutter is as wide as the line number, notes are indented past it.
    let pad = " ".repeat(f.location.as_ref().map_or(1, |l| l.line.to_string().len()));
    if let Some(loc) = &f.location {
        let _ = write!(out, "\n{pad}--> {loc}");
        if let Ok(text) = std::fs::read_to_string(&loc.file)
            && let Some(line) = text.lines().nth(loc.line.saturating_sub(1))
        {
            let indent: String = line
                .chars()
                .take(loc.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = write!(out, "\n{pad} |\n{} | {line}\n{pad} | {indent}^", loc.line);
        }
    }
    let field = field_name(history, f);
    match field {
        Some(field) => {
            let _ = write!(out, "\n{pad} = field: {field} (at {})", f.path);
        }
        None if !f.path.is_empty() => {
            let _ = write!(out, "\n{pad} = at: {}", f.path);
        }
        None => {}
    }
    let _ = write!(out, "\n{pad} = rule: {}: {}", f.rule.id(), f.rule.purpose());
    let (what, fix) = split_fix(&f.message);
    let _ = write!(
        out,
        "\n{pad} = change: {} → {}: {what}",
        f.old_version, f.new_version
    );
    if let Some(fix) = fix {
        let _ = write!(out, "\n{pad} = help: {fix}");
    }
    let _ = write!(
        out,
        "\n{pad} = note: subject \"{subject}\" is checked at {level}"
    );
    if event.consumers.is_empty() {
        let _ = write!(
            out,
            "\n{pad} = note: no service in the manifest consumes {}; consumers outside it would break",
            event.name
        );
    } else {
        let _ = write!(
            out,
            "\n{pad} = note: consumed by {}: these services would break",
            event.consumers.join(", ")
        );
    }
    out
}

/// The field the finding is about, `Record.field`, when the path names one.
fn field_name(history: &[(&str, &Schema)], f: &Finding) -> Option<String> {
    let reader_label = match f.direction {
        Direction::Backward => &f.new_version,
        Direction::Forward => &f.old_version,
    };
    let (_, schema) = history.iter().find(|(label, _)| label == reader_label)?;
    match schema {
        Schema::Avro(avro) => avro
            .field_at_path(&f.path)
            .map(|(record, field)| format!("{record}.{field}")),
        Schema::Protobuf(proto) => {
            // Confluent's paths: `#/Message/Nested/<field number>`.
            let mut parts: Vec<&str> = f.path.strip_prefix("#/")?.split('/').collect();
            let number: i32 = parts.pop()?.parse().ok()?;
            let local = parts.join(".");
            let full = match proto.package() {
                Some(package) => format!("{package}.{local}"),
                None => local,
            };
            let message = proto.message(&full)?;
            let field = message
                .descriptor
                .field
                .iter()
                .find(|fd| fd.number() == number)?;
            Some(format!("{full}.{}", field.name()))
        }
    }
}

/// Findings say what changed, then how to fix it: split after the first sentence (or, in the
/// one-sentence Protobuf messages, at the first `; `).
fn split_fix(message: &str) -> (&str, Option<&str>) {
    if let Some(i) = message.find(". ") {
        return (&message[..=i], Some(message[i + 2..].trim()));
    }
    match message.find("; ") {
        Some(i) => (&message[..i], Some(message[i + 2..].trim())),
        None => (message, None),
    }
}

/// Prints an error through build-print, one `cargo:warning` per line (cargo reads one
/// instruction per line).
pub(crate) fn print_error(error: &Error) {
    let text = match error {
        Error::Incompatible { report, .. } => report.clone(),
        other => other.to_string(),
    };
    for (i, block) in text.split("\n\n").enumerate() {
        if i > 0 {
            build_print::println!();
        }
        let mut lines = block.lines();
        let first = lines.next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        build_print::error!("{first}");
        for line in lines {
            build_print::println!("{line}");
        }
    }
    // Also on stderr, which cargo shows in full when the build script fails.
    eprintln!("{}", text);
}

pub(crate) fn print_warning(text: &str) {
    let mut lines = text.lines();
    build_print::warn!(
        "{} (building anyway: {GATE_ENV}=warn)",
        lines.next().unwrap_or_default()
    );
    for line in lines {
        build_print::println!("{line}");
    }
}
