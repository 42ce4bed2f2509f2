//! The deploy files checked by the validators their ecosystems use, installed by
//! `.ci/install-ci-tools` into `.oracles/ci-tools/`: kubernetes-validate (the Kubernetes API's
//! OpenAPI schemas, offline) for deploy/k8s/ and the Secrets deploy/secrets.sh writes,
//! check-jsonschema with the Compose Specification's schema for deploy/compose.yaml, and
//! Prometheus's promtool for the scrape configuration, the alert rules (and their unit tests)
//! and the Grafana dashboard's queries.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shop_e2e::bin_dir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(name: &str) -> PathBuf {
    let tools = repo().join(".oracles/ci-tools");
    let path = [tools.join("venv/bin").join(name), tools.join("bin").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is missing: run .ci/install-ci-tools (PyPI check-jsonschema and kubernetes-validate, Debian's promtool)")
        });
    path
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

fn assert_passes(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn k8s_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn kubernetes_manifests_pass_the_kubernetes_api_schemas() {
    let files = k8s_files();
    let mut args = vec!["--strict"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&tool("kubernetes-validate"), &args, &repo());
    assert_passes("kubernetes-validate --strict deploy/k8s/*.yaml", &out);
    // Every Kubernetes resource was checked against a schema: only Strimzi's KafkaUser (a
    // custom resource, generated and compared by `contracts acls`) has none here.
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    for line in text.lines().filter(|l| l.contains("Couldn't find schema")) {
        assert!(line.contains("kind KafkaUser"), "unchecked: {line}");
    }
    assert!(
        text.contains("passed for resource deployment/order-service"),
        "{text}"
    );
    assert!(
        text.contains("passed for resource job/contracts-init"),
        "{text}"
    );
    assert!(
        text.contains("passed for resource networkpolicy/shop-default-deny"),
        "{text}"
    );
}

#[test]
fn an_invalid_manifest_is_refused_by_the_validator() {
    // The validator really checks: a misspelt field, and a count that is not a number.
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(repo().join("deploy/k8s/order-service.yaml")).unwrap();
    for (from, to) in [
        ("readinessProbe:", "readinesProbe:"),
        ("replicas: 2", "replicas: two"),
    ] {
        let bad = dir.path().join("order-service.yaml");
        std::fs::write(&bad, good.replacen(from, to, 1)).unwrap();
        let out = run(
            &tool("kubernetes-validate"),
            &["--strict", bad.to_str().unwrap()],
            dir.path(),
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{to:?} passed: {text}");
        let word = to.split(' ').next_back().unwrap().trim_end_matches(':');
        assert!(text.contains(word), "{to:?}: {text}");
    }
}

#[test]
fn the_secrets_script_writes_valid_kubernetes_secrets_for_every_shop_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let out = Command::new("sh")
        .arg(repo().join("deploy/secrets.sh"))
        .current_dir(repo())
        .env("SECRETS_DIR", &secrets)
        .env("CONTRACTS", bin_dir().join("contracts"))
        .output()
        .unwrap();
    assert_passes("deploy/secrets.sh", &out);
    let manifest = secrets.join("k8s-secrets.yaml");
    let out = run(
        &tool("kubernetes-validate"),
        &["--strict", manifest.to_str().unwrap()],
        dir.path(),
    );
    assert_passes("kubernetes-validate k8s-secrets.yaml", &out);
    let text = std::fs::read_to_string(&manifest).unwrap();
    // The secrets deploy/k8s/ mounts that the shop makes (not Strimzi, cert-manager or the
    // databases), with every key the pods read.
    for (name, keys) in [
        ("shop-admin", &["read-token", "write-token"][..]),
        ("shop-order-api", &["token"]),
        (
            "shop-registry-users",
            &["order", "inventory", "notification", "ci"],
        ),
        ("contracts-registry-auth", &["auth.json"]),
    ] {
        let doc = text
            .split("\n---\n")
            .find(|d| d.contains(&format!("name: {name}\n")))
            .unwrap_or_else(|| panic!("no Secret {name}"));
        for key in keys {
            assert!(doc.contains(&format!("\n  {key}: ")), "{name} has no {key}");
        }
    }
}

#[test]
fn the_compose_file_passes_the_compose_specification_schema() {
    let out = run(
        &tool("check-jsonschema"),
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            "deploy/compose.yaml",
        ],
        &repo(),
    );
    assert_passes("check-jsonschema (compose-spec) deploy/compose.yaml", &out);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("compose.yaml");
    let text = std::fs::read_to_string(repo().join("deploy/compose.yaml"))
        .unwrap()
        .replacen("depends_on:", "depend_on:", 1);
    std::fs::write(&bad, text).unwrap();
    let out = run(
        &tool("check-jsonschema"),
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            bad.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!out.status.success(), "a misspelt key passed the schema");
}

#[test]
fn promtool_accepts_the_scrape_configuration_and_the_alert_rules_pass_their_unit_tests() {
    let monitoring = repo().join("deploy/monitoring");
    let promtool = tool("promtool");
    assert_passes(
        "promtool check config prometheus.yml",
        &run(
            &promtool,
            &["check", "config", "prometheus.yml"],
            &monitoring,
        ),
    );
    assert_passes(
        "promtool check rules alerts.yml",
        &run(&promtool, &["check", "rules", "alerts.yml"], &monitoring),
    );
    assert_passes(
        "promtool test rules alerts.test.yml",
        &run(
            &promtool,
            &["test", "rules", "alerts.test.yml"],
            &monitoring,
        ),
    );
}

#[test]
fn every_grafana_panel_query_is_valid_promql() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/monitoring/grafana/shop.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(dashboard["__inputs"][0]["pluginId"], "prometheus");
    // Each query as a recording rule, so promtool parses it; Grafana's range variable becomes
    // a literal duration first.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        assert!(
            panel["datasource"]["uid"] == "${DS_PROMETHEUS}",
            "panel {title:?} does not use the dashboard's Prometheus input"
        );
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "5m");
            queries += 1;
            rules.push_str(&format!(
                "      - record: dashboard:query{queries}\n        expr: {}\n",
                serde_json::to_string(&expr).unwrap()
            ));
        }
    }
    assert!(queries >= 10, "{queries} queries");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard.yml"), rules).unwrap();
    assert_passes(
        "promtool check rules (the dashboard's queries)",
        &run(
            &tool("promtool"),
            &["check", "rules", "dashboard.yml"],
            dir.path(),
        ),
    );
}
