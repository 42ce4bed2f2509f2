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
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    contracts_registry::serve::init_logging(&cli.serve.log_format);
    cli.serve.run().await?;
    Ok(())
}
