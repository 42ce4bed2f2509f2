//! `contracts`: checks that schema changes keep every producer and consumer working, with the
//! verdicts a Confluent Schema Registry would give.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, the CLI works on
//! the build side: it reads the model, checks with `contracts-compat`, serves the registry
//! (`contracts-registry`) and talks to registries and services as a client
//! (`contracts-registry-client`, `contracts-admin`). `consume` and `produce` read and write
//! topics through the contracts, decoding with the schema parsers the runtime never links.

mod acls;
mod admin;
mod against;
mod avro_json;
mod check;
mod compat;
mod consume;
mod git;
mod init;
mod kafka;
mod prepare;
mod produce;
mod proto_json;
mod register;
mod registry;
mod registry_browse;
mod registry_check;
mod remote;
mod report;
mod snapshot;
mod topics;
mod writer_schemas;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const LEVELS_HELP: &str = "\
Compatibility levels (Confluent's):
  NONE                 no check
  BACKWARD             the new schema reads data written with the latest version (upgrade consumers first)
  BACKWARD_TRANSITIVE  the new schema reads data written with every earlier version
  FORWARD              the latest version reads data written with the new schema (upgrade producers first)
  FORWARD_TRANSITIVE   every earlier version reads data written with the new schema
  FULL                 BACKWARD and FORWARD against the latest version
  FULL_TRANSITIVE      BACKWARD and FORWARD against every earlier version

Exit codes: 0 compatible, 100 findings (incompatible, or an invalid new schema), 1 usage or I/O error.";

#[derive(Debug, Parser)]
#[command(
    name = "contracts",
    version,
    about = "Schema-first event contracts: check that schema changes keep producers and consumers compatible",
    long_about = "Schema-first event contracts for services that talk over Kafka.\n\n\
        The schemas in schemas/ (Avro .avsc and Protobuf .proto, listed in schemas/contracts.toml) \
        are the single source of truth. This command checks their evolution with the verdicts of the \
        Confluent Schema Registry, so a breaking change is caught before it ships.",
    after_help = LEVELS_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check every event's version history in the manifest at its compatibility level
    Check(check::Args),
    /// Check schema versions given on the command line, oldest first; the last is the candidate
    Compat(compat::Args),
    /// Start a crate with event contracts: a manifest with one event and its first schema,
    /// build.rs generating its Rust type, the dependency lines, a CI workflow and a README
    Init(init::Args),
    /// Register every event's versions in a schema registry, under the manifest's subjects and levels
    Register(register::Args),
    /// Snapshot the registry's view of our subjects into schemas/.registry/ for offline checks
    Prepare(prepare::Args),
    /// Run the schema registry (`registry serve`), or browse any Confluent-compatible one
    /// (`registry subjects | versions | get | schema | config | mode`)
    Registry(Box<registry::Args>),
    /// Ask a running service over its gRPC admin API (contracts, lag, dead letters, orders, stock)
    Admin(admin::Args),
    /// Print the Kafka ACLs each service of the manifest and the registry need (a table,
    /// kafka-acls commands or Strimzi KafkaUser resources)
    Acls(acls::Args),
    /// Create and grow the manifest's topics on a Kafka cluster (`contracts topics plan|apply`)
    Topics(topics::Args),
    /// Print a topic's records decoded through the registry, one JSON line each (or pretty)
    Consume(Box<consume::Args>),
    /// Send JSON values from stdin (one per line) as an event of the manifest, checked first
    Produce(Box<produce::Args>),
}

/// `--manifest`, shared by the commands that read `schemas/contracts.toml`.
#[derive(Debug, clap::Args)]
pub struct ManifestArg {
    /// The contracts manifest
    #[arg(
        long = "manifest",
        env = "CONTRACTS_MANIFEST",
        default_value = "schemas/contracts.toml"
    )]
    pub path: std::path::PathBuf,
}

impl ManifestArg {
    /// The manifest, or the exit code after its problems were reported.
    pub fn load(&self) -> Result<contracts_model::manifest::Manifest, ExitCode> {
        contracts_model::manifest::Manifest::load(&self.path)
            .map_err(|diagnostics| report::print_problems(&diagnostics))
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1, like I/O errors; findings keep 100 to themselves.
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Compat(args) => compat::run(args),
        Command::Init(args) => init::run(args),
        Command::Register(args) => register::run(args),
        Command::Prepare(args) => prepare::run(args),
        Command::Registry(args) => registry::run(*args),
        Command::Admin(args) => admin::run(args),
        Command::Acls(args) => acls::run(args),
        Command::Topics(args) => topics::run(args),
        Command::Consume(args) => consume::run(*args),
        Command::Produce(args) => produce::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Through the redaction helper: an error quoting a setting never prints a secret.
            eprintln!(
                "error: {}",
                contracts_core::secret::redact(&format!("{e:#}"))
            );
            ExitCode::from(1)
        }
    }
}
