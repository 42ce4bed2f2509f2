//! The workspace's layering, read from `cargo metadata`: the runtime side (the services and what
//! they link) never links the build side (schema parsers, compatibility engine, code generator),
//! the registry server or the test kit. A dependency that crosses the line fails here, naming the
//! chain of crates that pulled it in, before it quietly makes every service bigger and slower to
//! build.

use std::collections::{BTreeMap, VecDeque};
use std::process::Command;

use serde_json::Value;

/// What a running service links: the services, the shop's kit, and the runtime crates under them.
const RUNTIME_SIDE: &[&str] = &[
    "order-service",
    "inventory-service",
    "notification-service",
    "shop-service-kit",
    "contracts-runtime",
    "contracts-registry-client",
    "contracts-core",
];

/// The build side, the registry server and the test kit.
const NOT_ON_THE_RUNTIME_SIDE: &[&str] = &[
    "contracts-model",
    "contracts-compat",
    "contracts-build",
    "protox",
    "prost-build",
    "axum-server",
    "contracts-testkit",
];

#[test]
fn the_runtime_side_links_nothing_from_the_build_side() {
    let graph = Graph::load();
    let mut violations = Vec::new();
    for root in RUNTIME_SIDE {
        for forbidden in NOT_ON_THE_RUNTIME_SIDE {
            if let Some(chain) = graph.normal_path(root, forbidden) {
                violations.push(chain.join(" → "));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the runtime side links crates it must not (normal dependencies, as \
         `cargo tree -e normal` shows them):\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn the_cli_does_not_link_the_test_kit() {
    let graph = Graph::load();
    if let Some(chain) = graph.normal_path("contracts-cli", "contracts-testkit") {
        panic!(
            "the `contracts` binary links the test kit: {}",
            chain.join(" → ")
        );
    }
}

/// The resolved dependency graph: package name → the names of its normal dependencies.
struct Graph {
    normal: BTreeMap<String, Vec<String>>,
}

impl Graph {
    fn load() -> Graph {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let output = Command::new(env!("CARGO"))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--manifest-path",
                manifest,
            ])
            .output()
            .expect("run cargo metadata");
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
        let name_of: BTreeMap<&str, &str> = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        let mut normal: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for node in metadata["resolve"]["nodes"].as_array().expect("resolve") {
            let name = name_of[node["id"].as_str().unwrap()];
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                // `kind` is null for a normal dependency, "dev" or "build" otherwise; every
                // platform counts.
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| name_of[d["pkg"].as_str().unwrap()].to_string());
            normal.entry(name.to_string()).or_default().extend(deps);
        }
        Graph { normal }
    }

    /// The shortest chain of normal dependencies from `from` to `to`, both included.
    fn normal_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        assert!(
            self.normal.contains_key(from),
            "no package {from} in the workspace: was it renamed? update this test"
        );
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(at) = queue.pop_front() {
            if at == to {
                let mut chain = vec![to.to_string()];
                let mut cur = to;
                while let Some(p) = parent.get(cur) {
                    chain.push(p.to_string());
                    cur = p;
                }
                chain.reverse();
                return Some(chain);
            }
            for dep in self.normal.get(at).into_iter().flatten() {
                if dep != from && !parent.contains_key(dep.as_str()) {
                    parent.insert(dep, at);
                    queue.push_back(dep);
                }
            }
        }
        None
    }
}
