//! `contracts-registry`: the schema registry alone (the same as `contracts registry serve`), for
//! deployments and for tests that need a registry process they can kill.

use clap::Parser;
use contracts_registry::serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(name = "contracts-registry", version)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    contracts_registry::serve::init_logging(&cli.serve.log_format());
    let result: anyhow::Result<()> = cli.serve.run().await.map_err(Into::into);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Through the redaction helper: an error quoting a setting never prints a secret.
            eprintln!(
                "Error: {}",
                contracts_core::secret::redact(&format!("{e:?}"))
            );
            std::process::ExitCode::FAILURE
        }
    }
}
