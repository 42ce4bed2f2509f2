//! Generates the shop's typed events from schemas/, and refuses to build when a schema change
//! breaks its subject's compatibility level (see contracts-build's docs; `CONTRACTS_GATE=warn`
//! builds anyway, for local experiments).

fn main() {
    if let Err(error) = contracts_build::compile("schemas/contracts.toml") {
        // contracts-build printed the diagnostics already (through build-print); this ends the
        // build with a short reason.
        eprintln!("error: {}", first_line(&error.to_string()));
        std::process::exit(1);
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
