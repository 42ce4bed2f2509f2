//! `contracts compat`: checks schema versions given as files or directories.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use contracts_compat::Version;
use contracts_model::avro::Validation;
use contracts_model::{Format, Level, Schema, SchemaOnDisk};

use crate::report::{self, ErrorFormat, Report};

#[derive(Debug, clap::Args)]
#[command(after_help = crate::LEVELS_HELP)]
pub struct Args {
    /// The compatibility level to check at
    #[arg(long, env = "CONTRACTS_LEVEL", value_parser = parse_level)]
    level: Level,
    /// Schema format; inferred from the file extension (.avsc, .proto) when omitted
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
    /// In directory versions: the subject's own file, relative to each directory
    #[arg(long)]
    entry: Option<String>,
    /// How findings are printed (github-actions by default inside GitHub Actions, where
    /// GITHUB_ACTIONS=true; text elsewhere)
    #[arg(
        long,
        value_enum,
        default_value_t = ErrorFormat::default_for_environment(),
        env = "CONTRACTS_ERROR_FORMAT"
    )]
    error_format: ErrorFormat,
    /// Schema versions, oldest first; the last one is the candidate. Each is a schema file, or a
    /// directory of Protobuf files with --entry naming the subject's file
    #[arg(required = true, num_args = 1..)]
    versions: Vec<PathBuf>,
}

pub(crate) fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (candidate_path, history_paths) = args
        .versions
        .split_last()
        .context("give at least one schema version")?;
    let load = |path: &PathBuf, validation| {
        let source = SchemaOnDisk {
            path: path.clone(),
            entry: args.entry.clone(),
        };
        if !path.exists() {
            bail!("\"{}\" does not exist", path.display());
        }
        Ok(Schema::load(&source, args.format, validation))
    };
    let mut history = Vec::new();
    for path in history_paths {
        match load(path, Validation::Lenient)? {
            Ok(schema) => history.push((path.display().to_string(), schema)),
            Err(d) => bail!("an earlier version does not parse:\n{}", d.render()),
        }
    }
    let candidate_label = candidate_path.display().to_string();
    let reports = match load(candidate_path, Validation::Strict)? {
        Err(d) => vec![Report::invalid_schema(
            &d,
            args.level,
            &candidate_label,
            None,
        )],
        Ok(candidate) => {
            let versions: Vec<Version<'_>> = history
                .iter()
                .map(|(label, schema)| Version { label, schema })
                .collect();
            let candidate = Version {
                label: &candidate_label,
                schema: &candidate,
            };
            contracts_compat::check(args.level, &versions, candidate)
                .iter()
                .map(|f| Report::from_finding(f, None))
                .collect()
        }
    };
    let mut out = std::io::stdout().lock();
    report::write(&mut out, args.error_format, &reports)?;
    out.flush()?;
    if reports.is_empty() {
        eprintln!(
            "compatible: {candidate_label} passes {} against {} earlier version(s)",
            args.level,
            history.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "incompatible: {candidate_label} fails {} with {} finding(s)",
            args.level,
            reports.len()
        );
        Ok(ExitCode::from(report::EXIT_FINDINGS))
    }
}
