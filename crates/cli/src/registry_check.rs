//! `contracts check --registry URL` and `contracts check --offline-snapshot`: the CI gate.
//!
//! For each subject of the manifest, the local versions the registry does not hold yet (usually
//! just the newest) are checked, in order, against the versions the registry does hold, at the
//! manifest's level for the subject — what `contracts register` would then ask the registry to
//! accept. The verdicts come from `contracts-compat` run here on the registry's schemas rather
//! than from the registry's `?verbose=true` answer: the findings are then the offline check's
//! (same rules, messages, paths and `file:line` in the local files), they work the same against
//! Confluent, Karapace or Redpanda, whose verbose messages differ, and the same code checks
//! against a committed snapshot with no registry at all.
//!
//! The check itself is `contracts_compat::manifest::check_against_registry`, shared with the
//! build-time gate of `contracts-build`, so both give the same verdicts on the same snapshot.

use std::path::Path;
use std::process::ExitCode;

use contracts_compat::manifest::{EditedInPlace, check_against_registry};
use contracts_model::snapshot::Snapshot;
use contracts_model::{Diagnostic, Level};

use crate::remote::{self, AuthArgs, LocalSubject};
use crate::report::{self, ErrorFormat, Report, Verdict};

/// Where `contracts check` takes the registry's side from, when not from the manifest alone.
#[derive(Debug, clap::Args)]
pub struct RemoteArgs {
    /// Check against this schema registry's history of each subject (the CI gate) instead of
    /// the manifest's own history
    #[arg(long, env = "SCHEMA_REGISTRY_URL", value_name = "URL")]
    registry: Option<String>,
    /// Check against the snapshot `contracts prepare` committed in schemas/.registry/, with no
    /// registry (takes precedence over --registry)
    #[arg(long)]
    offline_snapshot: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

impl RemoteArgs {
    pub fn is_set(&self) -> bool {
        self.registry().is_some() || self.offline_snapshot
    }

    /// `--registry`, else SCHEMA_REGISTRY_URL, else the deprecated CONTRACTS_REGISTRY_URL.
    fn registry(&self) -> Option<String> {
        remote::registry_url(self.registry.as_deref())
    }
}

pub fn run(
    manifest_path: &Path,
    error_format: ErrorFormat,
    opts: &RemoteArgs,
) -> anyhow::Result<ExitCode> {
    let manifest = match contracts_model::manifest::Manifest::load(manifest_path) {
        Ok(m) => m,
        Err(diagnostics) => return Ok(report::print_problems(&diagnostics)),
    };
    let (local, problems) = remote::load(&manifest);
    if !problems.is_empty() {
        return Ok(report::print_problems(&problems));
    }
    let (snapshot, source) = if opts.offline_snapshot {
        let dir = Snapshot::dir_of(manifest_path);
        (Snapshot::read(&dir)?, format!("snapshot {}", dir.display()))
    } else {
        let url = opts.registry().unwrap_or_default();
        let client = remote::client(&url, &opts.auth)?;
        let snapshot = remote::block_on(crate::snapshot::fetch(&client, &local))??;
        (snapshot, format!("registry {}", client.url()))
    };
    let mut verdicts = Vec::new();
    let mut problems = Vec::new();
    for subject in &local.subjects {
        match check_subject(subject, &snapshot) {
            Ok(v) => verdicts.push(v),
            Err(mut d) => problems.append(&mut d),
        }
    }
    if !problems.is_empty() {
        return Ok(report::print_problems(&problems));
    }
    let heading = format!(
        "{}: {} events, {} subjects, against the {source}",
        manifest_path.display(),
        manifest.events.len(),
        verdicts.len()
    );
    report::print_verdicts(&heading, &verdicts, error_format)
}

fn check_subject(
    local: &LocalSubject<'_>,
    snapshot: &Snapshot,
) -> Result<Verdict, Vec<Diagnostic>> {
    let event = local.event;
    let checked = check_against_registry(local, snapshot)?;
    let mut reports: Vec<Report> = checked
        .edited
        .iter()
        .map(|e| edited_report(e, local.level, &event.name))
        .collect();
    if let Some((label, d)) = &checked.invalid {
        reports.push(Report::invalid_schema(
            d,
            local.level,
            label,
            Some(&event.name),
        ));
    }
    reports.extend(
        checked
            .findings
            .iter()
            .map(|f| Report::from_finding(f, Some(&event.name))),
    );
    let numbers: Vec<String> = checked.registered.iter().map(i32::to_string).collect();
    let state = match (numbers.is_empty(), checked.pending.is_empty()) {
        (true, _) => format!("new: {}", checked.pending.join(" → ")),
        (false, true) => format!("registered [{}]", numbers.join(",")),
        (false, false) => format!("[{}] + {}", numbers.join(","), checked.pending.join(" → ")),
    };
    let mut line = format!(
        "{:<40} {:<8} {:<19} {:<22} subject {}",
        event.name, event.format, local.level, state, local.subject
    );
    let remote_level = checked.registry_level.as_deref();
    if !numbers.is_empty() && remote_level != Some(local.level.to_string().as_str()) {
        line.push_str(&format!(
            " (registry level {}; `contracts register` sets {})",
            remote_level.unwrap_or("global"),
            local.level
        ));
    }
    let mark = if reports.is_empty() { "ok  " } else { "FAIL" };
    Ok(Verdict {
        line: format!("{mark}  {line}"),
        reports,
    })
}

/// A registered file edited in place, as a finding: the registry would keep serving the old
/// schema under that version while the code embeds the new one.
fn edited_report(e: &EditedInPlace, level: Level, event: &str) -> Report {
    let location = e.diagnostic.location();
    Report {
        rule: "REGISTERED_VERSION_EDITED".to_string(),
        level: level.to_string(),
        direction: None,
        path: String::new(),
        file: location.map(|l| l.file.display().to_string()),
        line: location.map(|l| l.line),
        column: location.map(|l| l.column),
        message: match e.diagnostic.help() {
            Some(help) => format!("{} ({help})", e.diagnostic.message()),
            None => e.diagnostic.message().to_string(),
        },
        old_version: Some(format!("registry v{}", e.version)),
        new_version: e.label.clone(),
        event: Some(event.to_string()),
    }
}
