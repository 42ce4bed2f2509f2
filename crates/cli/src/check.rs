//! `contracts check`: the whole manifest, every event's history at its level.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use contracts_compat::Version;
use contracts_model::avro::{Kind, Validation};
use contracts_model::manifest::{Event, Manifest, SchemaVersion};
use contracts_model::{Diagnostic, Format, Schema, SchemaSource};

use crate::report::{self, ErrorFormat, Report};

#[derive(Debug, clap::Args)]
#[command(after_help = crate::LEVELS_HELP)]
pub struct Args {
    /// The contracts manifest
    #[arg(
        long,
        env = "CONTRACTS_MANIFEST",
        default_value = "schemas/contracts.toml"
    )]
    manifest: PathBuf,
    /// How findings are printed
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "CONTRACTS_ERROR_FORMAT"
    )]
    error_format: ErrorFormat,
    #[command(flatten)]
    remote: crate::registry_check::RemoteArgs,
}

/// The verdict on one subject's history.
pub(crate) struct Verdict {
    pub(crate) line: String,
    pub(crate) reports: Vec<Report>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.remote.is_set() {
        return crate::registry_check::run(&args.manifest, args.error_format, &args.remote);
    }
    let manifest = match Manifest::load(&args.manifest) {
        Ok(m) => m,
        Err(diagnostics) => return Ok(report_problems(&diagnostics)),
    };
    let mut verdicts = Vec::new();
    let mut problems = Vec::new();
    for event in &manifest.events {
        for history in event.histories() {
            match check_history(event, &history.subject, history.level, &history.versions) {
                Ok(v) => verdicts.push(v),
                Err(mut d) => problems.append(&mut d),
            }
        }
    }
    if !problems.is_empty() {
        return Ok(report_problems(&problems));
    }
    let heading = format!(
        "{}: {} events, {} subjects",
        args.manifest.display(),
        manifest.events.len(),
        verdicts.len()
    );
    print_verdicts(&heading, &verdicts, args.error_format)
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
        report::write(&mut out, error_format, &reports)?;
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
        Ok(ExitCode::from(crate::EXIT_FINDINGS))
    }
}

/// Manifest and schema errors are not findings: they are printed as they are and exit 1.
pub(crate) fn report_problems(diagnostics: &[Diagnostic]) -> ExitCode {
    let rendered: Vec<String> = diagnostics.iter().map(Diagnostic::render).collect();
    eprintln!("{}", rendered.join("\n\n"));
    ExitCode::from(1)
}

pub(crate) fn source_of(event: &Event, version: &SchemaVersion) -> SchemaSource {
    match event.format {
        Format::Avro => SchemaSource {
            path: version.path.clone(),
            entry: None,
        },
        Format::Protobuf => SchemaSource {
            path: version.root.clone(),
            entry: Some(version.file.to_string_lossy().into_owned()),
        },
    }
}

fn check_history(
    event: &Event,
    subject: &str,
    level: contracts_model::Level,
    versions: &[&SchemaVersion],
) -> Result<Verdict, Vec<Diagnostic>> {
    let labels: Vec<&str> = versions.iter().map(|v| v.label.as_str()).collect();
    let head = format!(
        "{:<40} {:<8} {:<19} {:<14} subject {subject}",
        event.name,
        event.format,
        level,
        labels.join(" → ")
    );
    let mut schemas = Vec::new();
    let mut problems = Vec::new();
    let mut reports = Vec::new();
    let last = versions.len().saturating_sub(1);
    for (i, v) in versions.iter().enumerate() {
        // As the registry does: the version being added is parsed strictly, stored ones leniently.
        let validation = if i == last {
            Validation::Strict
        } else {
            Validation::Lenient
        };
        match Schema::load(&source_of(event, v), Some(event.format), validation) {
            Ok(schema) => {
                problems.extend(lint_against_manifest(event, v, &schema));
                schemas.push(schema);
            }
            Err(d) if i == last => {
                reports.push(Report::invalid_schema(
                    &d,
                    level,
                    &v.label,
                    Some(&event.name),
                ));
            }
            Err(d) => problems.push(d),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if reports.is_empty() {
        let history: Vec<Version<'_>> = versions
            .iter()
            .zip(&schemas)
            .map(|(v, schema)| Version {
                label: &v.label,
                schema,
            })
            .collect();
        reports = contracts_compat::check_history(level, &history)
            .iter()
            .map(|f| Report::from_finding(f, Some(&event.name)))
            .collect();
    }
    let mark = if reports.is_empty() { "ok  " } else { "FAIL" };
    Ok(Verdict {
        line: format!("{mark}  {head}"),
        reports,
    })
}

/// The schema must define what the manifest says: its full name and the key field.
pub(crate) fn lint_against_manifest(
    event: &Event,
    version: &SchemaVersion,
    schema: &Schema,
) -> Vec<Diagnostic> {
    // What the schema declares: whether it defines the listed name, and that type's field names.
    let (defines_name, fields): (bool, Vec<&str>) = match schema {
        Schema::Avro(avro) => {
            let fields = match &avro.node(avro.root()).kind {
                Kind::Record(r) => r.fields.iter().map(|f| f.name.as_str()).collect(),
                _ => Vec::new(),
            };
            (
                avro.full_name().as_deref() == Some(version.full_name.as_str()),
                fields,
            )
        }
        Schema::Protobuf(proto) => match proto.message(&version.full_name) {
            Some(m) => (true, m.descriptor.field.iter().map(|f| f.name()).collect()),
            None => (false, Vec::new()),
        },
    };
    let at = |d: Diagnostic| d.at_location(version.location.clone());
    let (label, file) = (&version.label, version.path.display());
    if !defines_name {
        return vec![at(Diagnostic::new(format!(
            "{} {label} is listed as \"{}\" but {file} does not define it",
            event.name, version.full_name
        ))
        .with_help(
            "the event's `name` (or the version's `name`) is the full name of the schema's type: \
             Avro namespace.name, Protobuf package.Message",
        ))];
    }
    if !fields.contains(&event.key.as_str()) {
        return vec![at(Diagnostic::new(format!(
            "{} {label} has no field \"{}\" to take the Kafka key from",
            event.name, event.key
        ))
        .with_help(
            "add the field to the schema, or name an existing field as the event's `key`",
        ))];
    }
    Vec::new()
}
