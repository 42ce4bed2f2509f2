//! `contracts register`: puts the manifest's contracts into a schema registry.
//!
//! For each subject, in manifest order: its compatibility level is set to the manifest's (only
//! when it differs), then each version is looked up and registered only when the registry does
//! not hold it yet, oldest first, so the registry checks each against the ones before it. Protobuf
//! imports go first, each under its import path as subject (Confluent's default reference
//! subject), and the versions that import them reference them. A second run finds everything and
//! writes nothing.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Context;
use contracts_model::Format;
use contracts_registry_client::api::RegisterSchemaRequest;
use contracts_registry_client::client::Client;

use crate::remote::{self, Local, RegistryArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    manifest: crate::ManifestArg,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manifest = match args.manifest.load() {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let (local, mut problems) = remote::load(&manifest);
    // Unlike `check`, nothing invalid may go out: the registry would refuse it half-way through.
    for s in &local.subjects {
        for v in &s.versions {
            if let Err(d) = &v.schema {
                problems.push(d.clone());
            }
        }
    }
    if !problems.is_empty() {
        return Ok(crate::report::print_problems(&problems));
    }
    let client = args.registry.client()?;
    println!(
        "registering {} into {}",
        args.manifest.path.display(),
        client.url()
    );
    let tally = remote::block_on(register_all(&client, &local))??;
    if tally.new_versions == 0 && tally.levels_set == 0 {
        println!(
            "nothing to do: the registry already holds all {} versions under {} subjects, at the manifest's levels",
            tally.versions, tally.subjects
        );
    } else {
        println!(
            "registered {} new version(s) and set {} subject level(s); {} versions under {} subjects in all",
            tally.new_versions, tally.levels_set, tally.versions, tally.subjects
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Default)]
struct Tally {
    subjects: usize,
    versions: usize,
    new_versions: usize,
    levels_set: usize,
}

/// What happened to one version.
enum Outcome {
    Existing { version: i32, id: i32 },
    New { version: i32, id: i32 },
}

impl Outcome {
    fn describe(&self, label: &str) -> String {
        match self {
            Outcome::Existing { version, id } => format!("{label}: version {version}, id {id}"),
            Outcome::New { version, id } => {
                format!("{label}: registered as version {version}, id {id}")
            }
        }
    }
}

async fn register_all(client: &Client, local: &Local<'_>) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let mut import_versions: HashMap<String, i32> = HashMap::new();
    for import in remote::dependency_order(&local.imports) {
        let request = remote::request(&import.text, Format::Protobuf, &import.imports, |n| {
            import_versions.get(n).copied()
        })
        .context("an import's own import was not registered first")?;
        let outcome = ensure(client, &import.name, &request).await?;
        let version = match &outcome {
            Outcome::Existing { version, .. } | Outcome::New { version, .. } => *version,
        };
        tally.subjects += 1;
        tally.versions += 1;
        if let Outcome::New { .. } = outcome {
            tally.new_versions += 1;
        }
        println!("  {:<48} {}", import.name, outcome.describe("import"));
        import_versions.insert(import.name.clone(), version);
    }
    for s in &local.subjects {
        tally.subjects += 1;
        let level = s.level.to_string();
        let current = client
            .subject_config(&s.subject)
            .await?
            .and_then(|c| c.compatibility_level);
        let mut notes = Vec::new();
        if current.as_deref() != Some(level.as_str()) {
            client
                .set_config(Some(&s.subject), &level)
                .await
                .with_context(|| format!("cannot set the level of subject \"{}\"", s.subject))?;
            tally.levels_set += 1;
            notes.push(format!(
                "level {} → {level}",
                current.as_deref().unwrap_or("(global)")
            ));
        }
        for v in &s.versions {
            let request = remote::request(&v.text, s.event.format, &v.imports, |n| {
                import_versions.get(n).copied()
            })
            .context("an import was not registered first")?;
            let outcome = ensure(client, &s.subject, &request)
                .await
                .with_context(|| {
                    format!(
                        "cannot register {} {} ({}) under subject \"{}\"",
                        s.event.name, v.meta.label, v.file, s.subject
                    )
                })?;
            tally.versions += 1;
            if let Outcome::New { .. } = outcome {
                tally.new_versions += 1;
            }
            notes.push(outcome.describe(&v.meta.label));
        }
        println!("  {:<48} {}", s.subject, notes.join(", "));
    }
    Ok(tally)
}

/// Registers `request` under `subject` unless the registry holds it already.
async fn ensure(
    client: &Client,
    subject: &str,
    request: &RegisterSchemaRequest,
) -> anyhow::Result<Outcome> {
    if let Some(found) = client.lookup(subject, request).await?
        && !found.deleted
    {
        return Ok(Outcome::Existing {
            version: found.version,
            id: found.id,
        });
    }
    let registered = client.register(subject, request).await.map_err(|e| {
        let hint = if e.is_incompatible() {
            "\n  run `contracts check --registry URL` to see the findings with file and line"
        } else {
            ""
        };
        anyhow::anyhow!("{e}{hint}")
    })?;
    // Confluent 7 answers only the id; the version comes from a lookup then.
    let version = match registered.version {
        Some(v) => v,
        None => {
            client
                .lookup(subject, request)
                .await?
                .context("the registry registered the schema but cannot find it")?
                .version
        }
    };
    Ok(Outcome::New {
        version,
        id: registered.id,
    })
}
