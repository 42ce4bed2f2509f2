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
    init_logging(&cli.serve.log_format);
    cli.serve.run().await?;
    Ok(())
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
