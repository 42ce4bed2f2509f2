//! The shop's committed registry snapshot, `schemas/.registry/`: what `contracts prepare` writes
//! once `contracts register` has put schemas/ into a fresh registry, as a deployment does. The
//! build gate (`contracts-build`) and `contracts check --offline-snapshot` read it, so an edit of
//! a released schema fails `cargo build` with no registry around.
//!
//! After adding or changing versions in schemas/, regenerate it with
//!
//! ```sh
//! UPDATE_REGISTRY_SNAPSHOT=1 cargo test -p contracts-cli --test shop_snapshot
//! ```
//!
//! and commit schemas/.registry/. Without the variable the test fails when the committed snapshot
//! is not what a fresh registry holds for schemas/ (`contracts prepare --check`).

mod common;

use common::{copy_dir, text};
use std::path::{Path, PathBuf};
use std::process::Output;

use contracts_testkit::{TestRegistry, shared_broker};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn contracts(args: &[&str], dir: &Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(args)
        .current_dir(dir)
        .env_remove("SCHEMA_REGISTRY_URL")
        .env_remove("SCHEMA_REGISTRY_AUTH")
        .env_remove("CONTRACTS_MANIFEST")
        .output()
        .await
        .expect("run contracts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_snapshot_is_what_a_fresh_registry_holds_for_the_shop() {
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path();
    copy_dir(&repo().join("schemas"), &dir.join("schemas"));
    let registry = TestRegistry::start(shared_broker()).await.unwrap();
    let url = registry.url();
    let registered = contracts(&["register", "--registry", &url], dir).await;
    assert!(registered.status.success(), "{}", text(&registered));

    let committed = repo().join("schemas/.registry");
    if std::env::var_os("UPDATE_REGISTRY_SNAPSHOT").is_some() {
        let prepared = contracts(&["prepare", "--registry", &url], dir).await;
        assert!(prepared.status.success(), "{}", text(&prepared));
        let _ = std::fs::remove_dir_all(&committed);
        copy_dir(&dir.join("schemas/.registry"), &committed);
        eprintln!("wrote {}", committed.display());
        return;
    }
    let check = contracts(&["prepare", "--check", "--registry", &url], dir).await;
    assert!(
        check.status.success(),
        "schemas/.registry/ is not what a fresh registry holds for schemas/; regenerate it with \
         `UPDATE_REGISTRY_SNAPSHOT=1 cargo test -p contracts-cli --test shop_snapshot` and commit \
         it.\n{}",
        text(&check)
    );
}
