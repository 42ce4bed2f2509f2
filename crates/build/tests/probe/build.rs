fn main() {
    if let Err(error) = contracts_build::compile("schemas/contracts.toml") {
        eprintln!("error: {}", error.to_string().lines().next().unwrap_or_default());
        std::process::exit(1);
    }
}
