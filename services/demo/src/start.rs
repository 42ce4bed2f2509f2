//! Bringing the shop up: its binaries, the broker binary, the topics, and waiting for a process
//! to listen or answer healthy.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use contracts_model::manifest::Manifest;
use contracts_process::TANSU_INSTALL;
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::SERVICES;

/// The directory with the three services' binaries and the `contracts` binary (which serves
/// the registry and registers the contracts), built first when the workspace is at hand. They
/// sit next to this binary, as cargo puts them.
pub fn binaries() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the shop-demo binary")?;
    let dir = exe
        .parent()
        .context("the shop-demo binary has no directory")?
        .to_path_buf();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let packages = SERVICES.iter().copied().chain(["contracts-cli"]);
    if workspace.join("Cargo.toml").is_file() {
        let flags: Vec<String> = packages.clone().map(|p| format!("-p {p}")).collect();
        println!("   cargo build {}", flags.join(" "));
        println!("   (a no-op when they are up to date; the first build takes a few minutes)");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&workspace)
            .args(["build", "--bins", "--quiet"]);
        for p in packages {
            cmd.args(["-p", p]);
        }
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().context("running cargo build")?;
        if !status.success() {
            bail!("building the services failed ({status})");
        }
    }
    for (bin, package) in SERVICES
        .iter()
        .map(|s| (*s, *s))
        .chain([("contracts", "contracts-cli")])
    {
        if !dir.join(bin).is_file() {
            bail!(
                "{bin} is not next to the shop-demo binary in {}; build it with `cargo build -p {package}`",
                dir.display()
            );
        }
    }
    println!("   {}", dir.display());
    Ok(dir)
}

/// Tansu where the tests look for it too (`TANSU_BIN`, the `PATH`, `~/.cargo/bin`); installed
/// with cargo when missing.
pub async fn tansu_binary() -> anyhow::Result<PathBuf> {
    if let Ok(p) = contracts_process::tansu_binary() {
        println!("   {}", p.display());
        return Ok(p);
    }
    println!(
        "   Tansu (an Apache-licensed Kafka-protocol broker) is not installed. Installing it now:\n   \
         {TANSU_INSTALL}\n   \
         This happens once per machine and takes about 20 minutes on 2 cores."
    );
    let status =
        tokio::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(TANSU_INSTALL.split_whitespace().skip(1))
            .status()
            .await
            .context("running cargo install tansu")?;
    if !status.success() {
        bail!("installing Tansu failed ({status}); see cargo's output above");
    }
    contracts_process::tansu_binary()
        .context("cargo install finished, but tansu is neither on the PATH nor in ~/.cargo/bin")
}

pub async fn wait_for_port(name: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{name} did not listen on {addr} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_healthy(
    http: &reqwest::Client,
    name: &str,
    url: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{name} was not healthy at {url} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates the manifest's topics (partitions as declared, 3 otherwise); existing ones stay.
pub async fn create_topics(
    bootstrap: &str,
    manifest: &Manifest,
) -> anyhow::Result<BTreeMap<String, i32>> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating the Kafka admin client")?;
    let topics: BTreeMap<String, i32> = manifest
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.unwrap_or(3) as i32))
        .collect();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let created = contracts_runtime::topics::create_missing(&admin, &new, Duration::from_secs(10))
        .await
        .context("creating the topics")?;
    for (name, partitions) in &topics {
        if created.contains(name) {
            println!("   created topic {name} ({partitions} partitions)");
        } else {
            println!("   topic {name} exists");
        }
    }
    Ok(topics)
}
