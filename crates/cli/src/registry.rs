//! `contracts registry ...`: run the schema registry, or browse one (`registry_browse`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use contracts_registry::auth::HashPasswordArgs;
use contracts_registry::serve::ServeArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RegistryCommand,
}

// Parsed once per process; boxing the serve flags would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Serve a Confluent-compatible schema registry whose state lives in a Kafka topic
    Serve(ServeArgs),
    /// Read a password (or with --token a bearer token) from stdin and print what the
    /// registry's auth file stores for it: an argon2id hash (or a SHA-256 digest)
    HashPassword(HashPasswordArgs),
    #[command(flatten)]
    Browse(crate::registry_browse::Command),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        RegistryCommand::Serve(serve) => {
            contracts_registry::serve::init_logging(&serve.log_format());
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime
                .block_on(serve.run())
                .context("running the schema registry")?;
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::HashPassword(args) => {
            let line = args.run(&mut std::io::stdin().lock())?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Browse(command) => crate::registry_browse::run(command),
    }
}
