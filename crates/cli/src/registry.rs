//! `contracts registry ...`: run the schema registry.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use contracts_registry::serve::ServeArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Serve a Confluent-compatible schema registry whose state lives in a Kafka topic
    Serve(ServeArgs),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        RegistryCommand::Serve(serve) => {
            contracts_registry::serve::init_logging(&serve.log_format);
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime
                .block_on(serve.run())
                .context("running the schema registry")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
