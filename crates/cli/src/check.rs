//! `contracts check`: the whole manifest, every event's history at its level.

use std::process::ExitCode;

use contracts_compat::manifest::check_event_history;
use contracts_model::Diagnostic;
use contracts_model::manifest::{Event, SubjectHistory};

use crate::report::{self, ErrorFormat, Report, Verdict};

#[derive(Debug, clap::Args)]
#[command(after_help = crate::LEVELS_HELP)]
pub struct Args {
    #[command(flatten)]
    manifest: crate::ManifestArg,
    /// How findings are printed (github-actions by default inside GitHub Actions, where
    /// GITHUB_ACTIONS=true; text elsewhere)
    #[arg(
        long,
        value_enum,
        default_value_t = ErrorFormat::default_for_environment(),
        env = "CONTRACTS_ERROR_FORMAT"
    )]
    error_format: ErrorFormat,
    #[command(flatten)]
    remote: crate::registry_check::RemoteArgs,
    /// Check against the schemas at this git ref (a branch, tag or commit: `main`,
    /// `origin/main`, `v1.4.0`), as the released history: a released version edited in place or
    /// removed is a finding, and each new version is checked against the released ones (takes
    /// precedence over --registry)
    #[arg(long, value_name = "GIT_REF", conflicts_with = "offline_snapshot")]
    against: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(reference) = &args.against {
        return crate::against::run(&args.manifest.path, args.error_format, reference);
    }
    if args.remote.is_set() {
        return crate::registry_check::run(&args.manifest.path, args.error_format, &args.remote);
    }
    let manifest = match args.manifest.load() {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let mut verdicts = Vec::new();
    let mut problems = Vec::new();
    for event in &manifest.events {
        for history in event.histories() {
            match check_history(event, &history) {
                Ok(v) => verdicts.push(v),
                Err(mut d) => problems.append(&mut d),
            }
        }
    }
    if !problems.is_empty() {
        return Ok(report::print_problems(&problems));
    }
    let heading = format!(
        "{}: {} events, {} subjects",
        args.manifest.path.display(),
        manifest.events.len(),
        verdicts.len()
    );
    report::print_verdicts(&heading, &verdicts, args.error_format)
}

fn check_history(event: &Event, history: &SubjectHistory<'_>) -> Result<Verdict, Vec<Diagnostic>> {
    let labels: Vec<&str> = history.versions.iter().map(|v| v.label.as_str()).collect();
    let head = format!(
        "{:<40} {:<8} {:<19} {:<14} subject {}",
        event.name,
        event.format,
        history.level,
        labels.join(" → "),
        history.subject
    );
    let checked = check_event_history(event, history)?;
    let reports: Vec<Report> = match (&checked.invalid, checked.versions.last()) {
        (Some(d), Some(v)) => vec![Report::invalid_schema(
            d,
            checked.level,
            &v.label,
            Some(&event.name),
        )],
        _ => checked
            .findings
            .iter()
            .map(|f| Report::from_finding(f, Some(&event.name)))
            .collect(),
    };
    let mark = if reports.is_empty() { "ok  " } else { "FAIL" };
    Ok(Verdict {
        line: format!("{mark}  {head}"),
        reports,
    })
}
