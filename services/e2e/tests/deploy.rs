//! No container engine runs here, so the deployment files are checked for what can be checked:
//! they parse, every binary they start exists, every environment variable they set is one the
//! binary reads (its `--help` lists it), every port they publish is the one the binary listens
//! on, probes hit `/health`, and images are multi-stage and run as a non-root user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;
use shop_e2e::{bin_dir, image_entry_and_env};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn help(binary: &str) -> String {
    let out = Command::new(bin_dir().join(binary))
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("{binary} --help: {e}"));
    assert!(out.status.success(), "{binary} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The environment variables `binary` reads, from its `--help`: those its flags show as
/// `[env: NAME]`, and the secrets its help names (read from NAME, or from the file NAME_FILE
/// names, never from a flag).
fn env_vars(binary: &str) -> Vec<String> {
    let help = help(binary);
    let mut vars: Vec<String> = help
        .split("[env: ")
        .skip(1)
        // `[env: NAME=value]`, or `[env: NAME]` for secrets whose value is hidden.
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_owned)
        .collect();
    let named = help
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|w| {
            w.len() > 3 && w.contains('_') && w.starts_with(|c: char| c.is_ascii_uppercase())
        })
        .map(str::to_owned);
    for name in named {
        if help.contains("_FILE") && !name.ends_with("_FILE") {
            vars.push(format!("{name}_FILE"));
        }
        vars.push(name);
    }
    vars
}

/// Whether a variable holds a secret by its name.
fn is_secret_var(name: &str) -> bool {
    ["TOKEN", "PASSWORD", "SECRET", "SMTP_URL", "REGISTRY_AUTH"]
        .iter()
        .any(|word| name.contains(word))
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn port_of(listen: &str) -> u16 {
    listen.rsplit(':').next().unwrap().parse().unwrap()
}

/// What a Dockerfile builds and runs.
struct Dockerfile {
    binary: String,
    /// The first `EXPOSE`d port; none for the CLI image, which serves nothing.
    exposed: Option<u16>,
    /// Every `EXPOSE`d port, the first one included.
    exposed_all: Vec<u16>,
    env: BTreeMap<String, String>,
}

fn dockerfile(path: &Path) -> Dockerfile {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(
        stages >= 2,
        "{}: multi-stage build expected",
        path.display()
    );
    let user = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .unwrap_or_else(|| panic!("{}: no USER", path.display()));
    assert!(
        !matches!(user.trim(), "0" | "root"),
        "{}: runs as root",
        path.display()
    );
    let (entry, env) = image_entry_and_env(&text, path);
    assert!(
        text.contains(&format!("--bin {entry}")),
        "{}: builds another binary than it runs",
        path.display()
    );
    let exposed_all: Vec<u16> = text
        .lines()
        .filter_map(|l| l.strip_prefix("EXPOSE "))
        .map(|p| p.trim().parse().unwrap())
        .collect();
    let exposed = exposed_all.first().copied();
    Dockerfile {
        binary: entry,
        exposed,
        exposed_all,
        env,
    }
}

/// The binary, its listen variable, and the port it listens on in every deployment.
const SERVICES: [(&str, &str, u16); 4] = [
    ("order-service", "ORDER_LISTEN", 8080),
    ("contracts-registry", "REGISTRY_LISTEN", 8081),
    ("inventory-service", "INVENTORY_LISTEN", 8082),
    ("notification-service", "NOTIFICATION_LISTEN", 8083),
];

/// The services with a gRPC admin API: binary, listen variable, port.
const ADMIN: [(&str, &str, u16); 3] = [
    ("order-service", "ORDER_ADMIN_LISTEN", 50051),
    ("inventory-service", "INVENTORY_ADMIN_LISTEN", 50052),
    ("notification-service", "NOTIFICATION_ADMIN_LISTEN", 50053),
];

fn admin_of(binary: &str) -> Option<(&'static str, u16)> {
    ADMIN
        .iter()
        .find(|a| a.0 == binary)
        .map(|(_, var, port)| (*var, *port))
}

#[test]
fn every_dockerfile_builds_and_runs_a_real_binary_as_non_root_on_its_port() {
    for (binary, listen, port) in SERVICES {
        let file = dockerfile(&deploy().join(format!("docker/{binary}.Dockerfile")));
        assert_eq!(file.binary, binary);
        assert_eq!(file.exposed, Some(port), "{binary}");
        assert_eq!(
            file.env.get(listen).map(|l| port_of(l)),
            Some(port),
            "{binary}"
        );
        if let Some((var, admin)) = admin_of(binary) {
            assert_eq!(
                file.env.get(var).map(|l| port_of(l)),
                Some(admin),
                "{binary}"
            );
            assert!(
                file.exposed_all.contains(&admin),
                "{binary} does not expose {admin}"
            );
        }
        let known = env_vars(binary);
        for var in file.env.keys() {
            assert!(
                known.contains(var),
                "{binary} does not read {var}; it reads {known:?}"
            );
        }
    }
}

#[test]
fn the_compose_file_runs_every_service_with_variables_it_reads() {
    let compose = &yaml_documents(&deploy().join("compose.yaml"))[0];
    let services = compose["services"].as_mapping().unwrap();
    let mut built = Vec::new();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        let Some(dockerfile_path) = service["build"]["dockerfile"].as_str() else {
            assert_eq!(name, "kafka", "only Kafka comes as a ready image");
            continue;
        };
        let file = dockerfile(&deploy().join("..").join(dockerfile_path));
        let Some((binary, listen, port)) = SERVICES.iter().find(|s| s.0 == file.binary) else {
            // The init step: the contracts CLI, run once (tests/deploy_compose.rs runs it).
            assert_eq!(file.binary, "contracts", "compose {name}");
            continue;
        };
        built.push(*binary);
        let known = env_vars(binary);
        let env = service["environment"].as_mapping().unwrap();
        for (var, value) in env {
            let var = var.as_str().unwrap();
            assert!(
                known.contains(&var.to_owned()),
                "compose {name}: {binary} does not read {var}"
            );
            if var == *listen {
                assert_eq!(port_of(value.as_str().unwrap()), *port, "compose {name}");
            }
            if let Some((admin_var, admin)) = admin_of(binary)
                && var == admin_var
            {
                assert_eq!(port_of(value.as_str().unwrap()), admin, "compose {name}");
            }
        }
        let published: Vec<&str> = service["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        // Only the order API is published beyond loopback; the admin APIs, the registry and
        // the other services' health and metrics stay on the host.
        let mut want = vec![if *binary == "order-service" {
            format!("{port}:{port}")
        } else {
            format!("127.0.0.1:{port}:{port}")
        }];
        if let Some((_, admin)) = admin_of(binary) {
            want.push(format!("127.0.0.1:{admin}:{admin}"));
        }
        assert_eq!(published, want, "compose {name}");
        let depends = &service["depends_on"];
        assert!(
            !depends.is_null(),
            "compose {name} starts before what it needs"
        );
    }
    built.sort();
    assert_eq!(
        built,
        [
            "contracts-registry",
            "inventory-service",
            "notification-service",
            "order-service"
        ]
    );
}

#[test]
fn kubernetes_manifests_probe_health_on_the_port_the_binary_listens_on() {
    let mut deployments = Vec::new();
    let mut config_keys = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(deploy().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        for doc in yaml_documents(&path) {
            assert!(
                doc["apiVersion"].is_string() && doc["kind"].is_string(),
                "{}",
                path.display()
            );
            match doc["kind"].as_str().unwrap() {
                "ConfigMap" => config_keys.extend(
                    doc["data"]
                        .as_mapping()
                        .unwrap()
                        .keys()
                        .map(|k| k.as_str().unwrap().to_owned()),
                ),
                "Deployment" => deployments.push(doc),
                _ => {}
            }
        }
    }
    assert_eq!(deployments.len(), 4);
    for d in deployments {
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        let binary = container["name"].as_str().unwrap();
        let (_, listen, port) = SERVICES
            .iter()
            .find(|s| s.0 == binary)
            .unwrap_or_else(|| panic!("no binary {binary}"));
        assert_eq!(
            container["ports"][0]["containerPort"].as_u64(),
            Some(u64::from(*port)),
            "{binary}"
        );
        if let Some((admin_var, admin)) = admin_of(binary) {
            // The admin API listens on loopback only: operators reach it with
            // `kubectl port-forward`, nothing else in the cluster can.
            let ports: Vec<u64> = container["ports"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(|p| p["containerPort"].as_u64())
                .collect();
            assert!(!ports.contains(&u64::from(admin)), "{binary}: {ports:?}");
            let value = container["env"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|v| v["name"].as_str() == Some(admin_var))
                .and_then(|v| v["value"].as_str())
                .unwrap_or_else(|| panic!("k8s {binary}: no {admin_var}"));
            assert_eq!(value, format!("127.0.0.1:{admin}"), "k8s {binary}");
        }
        // Readiness follows the dependencies; liveness only that the process runs (a
        // service's /health/live; the registry has one /health).
        let live = if binary.ends_with("-service") {
            "/health/live"
        } else {
            "/health"
        };
        for (probe, path) in [("readinessProbe", "/health"), ("livenessProbe", live)] {
            if !container[probe].is_null() {
                assert_eq!(
                    container[probe]["httpGet"]["path"].as_str(),
                    Some(path),
                    "{binary} {probe}"
                );
            }
        }
        assert!(
            !container["readinessProbe"].is_null(),
            "{binary} has no readiness probe"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true)
        );
        let known = env_vars(binary);
        for var in container["env"].as_sequence().unwrap() {
            let name = var["name"].as_str().unwrap();
            assert!(
                known.contains(&name.to_owned()),
                "k8s {binary}: it does not read {name}"
            );
            if name == *listen {
                assert_eq!(port_of(var["value"].as_str().unwrap()), *port);
            }
            if let Some(key) = var["valueFrom"]["configMapKeyRef"]["key"].as_str() {
                assert!(
                    config_keys.contains(&key.to_owned()),
                    "k8s {binary}: no config key {key}"
                );
            }
        }
    }
}

/// Every variable holding a secret names a file (a mounted secret), never the value: neither
/// the deploy files nor `ps` show a secret. Authentication is on everywhere it exists, and no
/// secret the pods mount is optional.
#[test]
fn deploy_files_turn_authentication_on_and_pass_secrets_only_as_files() {
    let required_k8s: [(&str, &[&str]); 4] = [
        (
            "order-service",
            &[
                "ADMIN_READ_TOKEN_FILE",
                "ADMIN_WRITE_TOKEN_FILE",
                "ORDER_API_TOKEN_FILE",
                "SCHEMA_REGISTRY_AUTH_FILE",
                "KAFKA_SASL_PASSWORD_FILE",
            ],
        ),
        (
            "inventory-service",
            &[
                "ADMIN_READ_TOKEN_FILE",
                "ADMIN_WRITE_TOKEN_FILE",
                "SCHEMA_REGISTRY_AUTH_FILE",
                "KAFKA_SASL_PASSWORD_FILE",
            ],
        ),
        (
            "notification-service",
            &[
                "ADMIN_READ_TOKEN_FILE",
                "ADMIN_WRITE_TOKEN_FILE",
                "SCHEMA_REGISTRY_AUTH_FILE",
                "KAFKA_SASL_PASSWORD_FILE",
                "SMTP_URL_FILE",
            ],
        ),
        (
            "contracts-registry",
            &[
                "REGISTRY_AUTH_FILE",
                "REGISTRY_TLS_CERT",
                "KAFKA_SASL_PASSWORD_FILE",
            ],
        ),
    ];
    let mut seen = 0;
    for entry in std::fs::read_dir(deploy().join("k8s")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("optional: true"),
            "{}: a secret is optional",
            path.display()
        );
        for doc in yaml_documents(&path) {
            if doc["kind"].as_str() != Some("Deployment") {
                continue;
            }
            let container = &doc["spec"]["template"]["spec"]["containers"][0];
            let binary = container["name"].as_str().unwrap();
            assert!(
                container["args"].is_null() && container["command"].is_null(),
                "k8s {binary}: configure through the environment, not a command line"
            );
            let env: Vec<&str> = container["env"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap())
                .collect();
            for name in &env {
                assert!(
                    !is_secret_var(name) || name.ends_with("_FILE"),
                    "k8s {binary}: {name} passes a secret's value; use {name}_FILE"
                );
            }
            let (_, required) = required_k8s.iter().find(|(b, _)| *b == binary).unwrap();
            for var in *required {
                assert!(env.contains(var), "k8s {binary}: {var} is not set");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 4);

    let compose = &yaml_documents(&deploy().join("compose.yaml"))[0];
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let Some(env) = service["environment"].as_mapping() else {
            continue;
        };
        for (var, value) in env {
            let var = var.as_str().unwrap();
            if is_secret_var(var) {
                assert!(
                    var.ends_with("_FILE"),
                    "compose {name}: {var} passes a secret's value"
                );
                let file = value.as_str().unwrap();
                let secret = file.strip_prefix("/run/secrets/").unwrap_or_else(|| {
                    panic!("compose {name}: {var} is not a compose secret: {file}")
                });
                assert!(
                    compose["secrets"][secret]["file"].is_string(),
                    "compose {name}: no secret {secret}"
                );
            }
        }
        // The services have an admin API; Kafka, the registry and the one-shot init step do not.
        if !matches!(name, "kafka" | "registry" | "contracts-init") {
            assert!(
                env.contains_key("ADMIN_WRITE_TOKEN_FILE"),
                "compose {name}: the admin API has no authentication"
            );
        }
    }
    assert!(
        compose["services"]["registry"]["environment"]["REGISTRY_AUTH_FILE"].is_string(),
        "compose: the registry has no users"
    );
    for entry in std::fs::read_dir(deploy().join("docker")).unwrap() {
        let file = dockerfile(&entry.unwrap().path());
        for var in file.env.keys() {
            assert!(
                !is_secret_var(var),
                "{}: ENV {var} bakes a secret into the image",
                file.binary
            );
        }
    }
}
