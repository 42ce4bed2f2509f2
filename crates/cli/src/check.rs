//! `contracts check`: the whole manifest, every event's history at its level.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::report::ErrorFormat;

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
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the manifest check arrives with the manifest")
}
