//! The CI template users copy, `.github/workflows/contracts.yml`: actionlint accepts it, and the
//! `contracts` commands it runs pass on the shop as GitHub Actions would run them (with
//! `GITHUB_ACTIONS=true`, against a real registry on a real broker), and fail with annotations
//! on a breaking change. Also: inside GitHub Actions findings default to annotations, while an
//! explicit `--error-format` or `CONTRACTS_ERROR_FORMAT` still wins.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::copy_dir;
use contracts_testkit::{TestRegistry, shared_broker};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn workflow() -> PathBuf {
    repo().join(".github/workflows/contracts.yml")
}

/// actionlint, with ShellCheck for the steps' scripts, both installed by .ci/install-ci-tools.
fn actionlint() -> Command {
    let bin = repo().join(".oracles/ci-tools/venv/bin");
    for tool in ["actionlint", "shellcheck"] {
        assert!(
            bin.join(tool).exists(),
            "{} is missing: run .ci/install-ci-tools (PyPI actionlint and shellcheck)",
            bin.join(tool).display()
        );
    }
    let mut command = Command::new(bin.join("actionlint"));
    command
        .arg("-no-color")
        .arg("-shellcheck")
        .arg(bin.join("shellcheck"));
    command
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_ci_template_passes_actionlint() {
    let out = actionlint().arg(workflow()).output().unwrap();
    assert!(out.status.success(), "actionlint: {}", text(&out));
}

#[test]
fn actionlint_rejects_broken_copies_of_the_template() {
    // So that the test above cannot pass by actionlint (or ShellCheck) not looking.
    let original = std::fs::read_to_string(workflow()).unwrap();
    for (from, to, expected) in [
        (
            "secrets.SCHEMA_REGISTRY_URL != ''",
            "secret.URL != ''",
            "undefined variable \"secret\"",
        ),
        ("\"${rev[@]}\"", "${rev[@]}", "SC2068"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("contracts.yml");
        let edited = original.replacen(from, to, 1);
        assert_ne!(original, edited, "{from}");
        std::fs::write(&broken, edited).unwrap();
        let out = actionlint().arg(&broken).output().unwrap();
        assert!(!out.status.success(), "{from}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(expected),
            "{from}: {}",
            text(&out)
        );
    }
}

#[test]
fn the_template_builds_contracts_with_the_pinned_toolchain_and_the_librdkafka_flags() {
    // `cargo install --git` reads neither rust-toolchain.toml nor .cargo/config.toml of what it
    // installs, so the template repeats both; they must not drift.
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(workflow()).unwrap()).unwrap();
    let install = doc["jobs"]["contracts"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Install the contracts command")
        .unwrap();
    let toolchain = std::fs::read_to_string(repo().join("rust-toolchain.toml")).unwrap();
    let channel = toolchain
        .lines()
        .find_map(|l| l.trim().strip_prefix("channel = "))
        .unwrap()
        .trim_matches('"');
    let run = install["run"].as_str().unwrap();
    assert!(
        run.contains(&format!("rustup toolchain install {channel} "))
            && run.contains(&format!("cargo +{channel} install --locked --git")),
        "{run}"
    );
    let config = std::fs::read_to_string(repo().join(".cargo/config.toml")).unwrap();
    let cflags = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("CFLAGS = "))
        .unwrap()
        .trim_matches('"');
    assert_eq!(install["env"]["CFLAGS"].as_str(), Some(cflags));
}

/// A step of the template that runs `contracts`: its name, command line, and `if:`.
#[derive(Debug)]
struct ContractsStep {
    name: String,
    run: String,
    condition: Option<String>,
}

fn contracts_steps() -> Vec<ContractsStep> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(workflow()).unwrap()).unwrap();
    let steps = doc["jobs"]["contracts"]["steps"].as_sequence().unwrap();
    steps
        .iter()
        .filter_map(|step| {
            let run = step["run"].as_str()?.trim();
            run.starts_with("contracts ").then(|| ContractsStep {
                name: step["name"].as_str().unwrap_or_default().to_string(),
                run: run.to_string(),
                condition: step["if"].as_str().map(str::to_string),
            })
        })
        .collect()
}

/// Runs a step's command line with bash, as the runner does, with `contracts` on PATH and the
/// environment GitHub Actions gives it.
fn run_step(step: &ContractsStep, dir: &Path, env: &BTreeMap<&str, String>) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_contracts")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .args(["-e", "-c", &step.run])
        .current_dir(dir)
        .env("PATH", path);
    for name in [
        "SCHEMA_REGISTRY_URL",
        "SCHEMA_REGISTRY_AUTH",
        "SCHEMA_REGISTRY_TOKEN",
        "CONTRACTS_ERROR_FORMAT",
        "CONTRACTS_MANIFEST",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_templates_commands_pass_on_the_shop_and_annotate_a_breaking_change() {
    let steps = contracts_steps();
    let runs: Vec<&str> = steps.iter().map(|s| s.run.as_str()).collect();
    assert_eq!(
        runs,
        [
            "contracts check",
            "contracts check --registry \"$SCHEMA_REGISTRY_URL\"",
            "contracts prepare --check --registry \"$SCHEMA_REGISTRY_URL\""
        ]
    );
    // The registry steps run only when the registry secret is set.
    assert_eq!(steps[0].condition, None);
    for step in &steps[1..] {
        assert_eq!(
            step.condition.as_deref(),
            Some("env.HAS_REGISTRY == 'true'"),
            "{}",
            step.name
        );
    }

    // A repository with the shop's contracts, registered and snapshotted as its README says.
    let registry = TestRegistry::start(shared_broker()).await.unwrap();
    let url = registry.url();
    let repo_copy = tempfile::tempdir().unwrap();
    let dir = repo_copy.path();
    copy_dir(&repo().join("schemas"), &dir.join("schemas"));
    let _ = std::fs::remove_dir_all(dir.join("schemas/.registry"));
    for setup in [
        ["register", "--registry", &url],
        ["prepare", "--registry", &url],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_contracts"))
            .args(setup)
            .current_dir(dir)
            .env_remove("SCHEMA_REGISTRY_AUTH")
            .env_remove("CONTRACTS_MANIFEST")
            .output()
            .unwrap();
        assert!(out.status.success(), "{setup:?}: {}", text(&out));
    }

    // What the job gives every step, and the registry steps their secrets.
    let mut env = BTreeMap::from([
        ("GITHUB_ACTIONS", "true".to_string()),
        ("CONTRACTS_MANIFEST", "schemas/contracts.toml".to_string()),
    ]);
    let with_registry = |env: &BTreeMap<&'static str, String>, step: &ContractsStep| {
        let mut env = env.clone();
        if step.condition.is_some() {
            env.insert("SCHEMA_REGISTRY_URL", url.clone());
        }
        env
    };
    for step in &steps {
        let out = run_step(step, dir, &with_registry(&env, step));
        assert!(out.status.success(), "{}: {}", step.name, text(&out));
    }

    // A breaking new version of OrderCreated (quantity turns into a string): the first step
    // fails with annotations for the pull request, and so does the registry gate.
    let events = dir.join("schemas/shop/orders/order_created");
    let v3 = std::fs::read_to_string(events.join("v3.avsc")).unwrap();
    let quantity = "\"name\": \"quantity\",\n      \"type\": \"int\"";
    assert!(v3.contains(quantity));
    let v4 = v3.replacen(quantity, &quantity.replace("int", "string"), 1);
    std::fs::write(events.join("v4.avsc"), &v4).unwrap();
    let manifest = dir.join("schemas/contracts.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    let v3_line = "    { version = 3, file = \"shop/orders/order_created/v3.avsc\" },\n";
    let edited = toml.replacen(
        v3_line,
        &format!("{v3_line}    {{ version = 4, file = \"shop/orders/order_created/v4.avsc\" }},\n"),
        1,
    );
    assert_ne!(toml, edited);
    std::fs::write(&manifest, edited).unwrap();
    // The line of quantity's new type, which the annotation must point at.
    let line = v4
        .lines()
        .position(|l| l.contains("\"name\": \"quantity\""))
        .unwrap()
        + 2;
    for step in &steps[..2] {
        let out = run_step(step, dir, &with_registry(&env, step));
        assert_eq!(
            out.status.code(),
            Some(100),
            "{}: {}",
            step.name,
            text(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!(
                "::error file=schemas/shop/orders/order_created/v4.avsc,line={line},"
            ))),
            "{}: {}",
            step.name,
            text(&out)
        );
    }
    // Outside GitHub Actions the same check prints text.
    env.remove("GITHUB_ACTIONS");
    let out = run_step(&steps[0], dir, &env);
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "schemas/shop/orders/order_created/v4.avsc:{line}:"
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn inside_github_actions_findings_default_to_annotations_but_an_explicit_format_wins() {
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path();
    std::fs::write(
        dir.join("v1.avsc"),
        r#"{"type":"record","name":"A","fields":[{"name":"n","type":"int"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("v2.avsc"),
        r#"{"type":"record","name":"A","fields":[{"name":"n","type":"string"}]}"#,
    )
    .unwrap();
    let compat = |extra: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_contracts"))
            .args(["compat", "--level", "BACKWARD"])
            .args(extra)
            .args(["v1.avsc", "v2.avsc"])
            .current_dir(dir)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("CONTRACTS_ERROR_FORMAT")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(100), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let gha = [("GITHUB_ACTIONS", "true")];
    assert!(
        compat(&[], &gha).starts_with("::error file=v2.avsc,line=1,"),
        "{}",
        compat(&[], &gha)
    );
    assert!(compat(&[], &[]).starts_with("v2.avsc:1:"));
    assert!(compat(&[], &[("GITHUB_ACTIONS", "false")]).starts_with("v2.avsc:1:"));
    assert!(compat(&["--error-format", "text"], &gha).starts_with("v2.avsc:1:"));
    let json = compat(
        &[],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("CONTRACTS_ERROR_FORMAT", "json"),
        ],
    );
    let finding: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(finding["file"], "v2.avsc");
}
