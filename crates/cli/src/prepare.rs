//! `contracts prepare`: writes the registry's view of our subjects into `schemas/.registry/`, so
//! that `contracts check --offline-snapshot` (and builds) work without a registry; with
//! `--check`, fails when the committed snapshot no longer matches the registry and the local
//! files (as `cargo sqlx prepare --check` does for queries).

use std::process::ExitCode;

use crate::remote::{self, RegistryArgs};
use contracts_model::snapshot::Snapshot;

use crate::snapshot;

#[derive(Debug, clap::Args)]
pub struct Args {
    // The snapshot goes to .registry/ beside the manifest.
    #[command(flatten)]
    manifest: crate::ManifestArg,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Write nothing; exit 1 when the committed snapshot is stale
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manifest = match args.manifest.load() {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let (local, problems) = remote::load(&manifest);
    if !problems.is_empty() {
        return Ok(crate::report::print_problems(&problems));
    }
    let client = args.registry.client()?;
    let snapshot = remote::block_on(snapshot::fetch(&client, &local))??;
    let dir = Snapshot::dir_of(&args.manifest.path);
    if args.check {
        let drift = snapshot.drift(&dir)?;
        if drift.is_empty() {
            println!(
                "{} is up to date with {} ({} subjects)",
                dir.display(),
                client.url(),
                snapshot.subjects.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        for line in &drift {
            eprintln!("stale: {line}");
        }
        eprintln!(
            "error: the registry snapshot in {} is stale; run `contracts prepare --registry {}` and commit {}",
            dir.display(),
            client.url(),
            dir.display()
        );
        return Ok(ExitCode::from(1));
    }
    let changed = snapshot.write(&dir)?;
    if changed.is_empty() {
        println!(
            "{} already up to date with {} ({} subjects)",
            dir.display(),
            client.url(),
            snapshot.subjects.len()
        );
    } else {
        for name in &changed {
            println!("  updated {}", dir.join(name).display());
        }
        println!(
            "{}: {} of {} subject files updated from {}",
            dir.display(),
            changed.len(),
            snapshot.subjects.len(),
            client.url()
        );
    }
    Ok(ExitCode::SUCCESS)
}
