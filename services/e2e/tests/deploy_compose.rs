//! deploy/compose.yaml, run as written but without a container engine: every service's command
//! and environment (its Dockerfile's `ENV` under the file's `environment`), started natively in
//! the file's dependency order and waited for by its own health check, against a Tansu broker
//! in place of the `kafka` service. What the containers would see is mapped to the host:
//!
//! - `/run/secrets/<name>`: the secrets `deploy/secrets.sh` writes;
//! - `/data`: a directory per service (also its working directory, as the images' `WORKDIR`);
//! - `/contracts/schemas`: the repository's `schemas/` (what the CLI image copies in);
//! - `<service>:<port>` and `0.0.0.0:<port>`: a free port on 127.0.0.1 per service and port.
//!
//! So the wiring is proven, not only the syntax: flags and variables each binary reads, ports,
//! credentials, the init step's order, lookup-only services finding what it registered, and an
//! order that travels from the published order API to a customer's mailbox. Then every metric
//! the alert rules and the Grafana dashboard use (deploy/monitoring/) must be on some
//! `/metrics` page of the running shop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use contracts_process::Process;
use contracts_testkit::Broker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;
use serde_yaml_ng::Value;
use shop_e2e::{bin_dir, free_port, image_entry_and_env};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect(),
        other => panic!("expected a string or a list of strings, got {other:?}"),
    }
}

/// The binary and `ENV` of the image a compose service builds.
fn image(repo: &Path, service: &Value) -> (String, BTreeMap<String, String>) {
    let path = repo.join(
        service["build"]["dockerfile"]
            .as_str()
            .expect("build.dockerfile"),
    );
    let text = std::fs::read_to_string(&path).unwrap();
    image_entry_and_env(&text, &path)
}

/// Compose services in start order: each after everything it `depends_on`.
fn start_order(services: &serde_yaml_ng::Mapping) -> Vec<String> {
    let deps = |name: &str| -> Vec<String> {
        match &services[name]["depends_on"] {
            Value::Null => Vec::new(),
            Value::Sequence(_) => strings(&services[name]["depends_on"]),
            Value::Mapping(m) => m.keys().map(|k| k.as_str().unwrap().to_owned()).collect(),
            other => panic!("{name}: depends_on {other:?}"),
        }
    };
    let mut order: Vec<String> = Vec::new();
    let names: Vec<String> = services
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    while order.len() < names.len() {
        let before = order.len();
        for name in &names {
            if !order.contains(name) && deps(name).iter().all(|d| order.contains(d)) {
                order.push(name.clone());
            }
        }
        assert!(
            order.len() > before,
            "compose: a dependency cycle among {names:?}"
        );
    }
    order
}

/// What a service's health check asks: the URL its `curl` gets.
fn health_url(service: &Value) -> Option<String> {
    let test = strings(&service["healthcheck"]["test"]);
    test.into_iter().find(|a| a.starts_with("http"))
}

/// Rewrites what a container would see into what this host has (see the module's docs).
struct HostMap {
    /// `(service, container port)` to the host port it got.
    ports: BTreeMap<(String, u16), u16>,
    bootstrap: String,
    secrets: PathBuf,
    schemas: PathBuf,
}

impl HostMap {
    fn port(&mut self, service: &str, port: u16) -> u16 {
        *self
            .ports
            .entry((service.to_owned(), port))
            .or_insert_with(free_port)
    }

    fn rewrite(&mut self, service: &str, data: &Path, value: &str) -> String {
        let mut out = value
            .replace("kafka:9092", "\u{1}")
            .replace("/run/secrets/", &format!("{}/", self.secrets.display()))
            .replace("/contracts/schemas", &self.schemas.display().to_string());
        if out == "/data" || out.starts_with("/data/") {
            out = format!("{}{}", data.display(), &out["/data".len()..]);
        }
        // The service's own listen addresses and loopback URLs, then other services' names.
        let mut hosts: Vec<(String, String)> = vec![
            ("0.0.0.0".into(), service.into()),
            ("127.0.0.1".into(), service.into()),
        ];
        let others: BTreeSet<String> = self.ports.keys().map(|(s, _)| s.clone()).collect();
        hosts.extend(others.into_iter().map(|s| (s.clone(), s)));
        for (host, owner) in hosts {
            let mut from = 0;
            while let Some((start, end, port)) = find_host_port(&out, &host, from) {
                // A mark no host matches, so a rewritten address is never rewritten again.
                let replacement = format!("\u{0}:{}", self.port(&owner, port));
                out.replace_range(start..end, &replacement);
                from = start + replacement.len();
            }
        }
        out.replace('\u{0}', "127.0.0.1")
            .replace('\u{1}', &self.bootstrap)
    }
}

/// The first `host:port` in `text` from byte `from` on: its span and port.
fn find_host_port(text: &str, host: &str, mut from: usize) -> Option<(usize, usize, u16)> {
    let needle = format!("{host}:");
    while let Some(i) = text[from..].find(&needle) {
        let start = from + i;
        let before = text[..start].chars().last();
        let digits: String = text[start + needle.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        from = start + needle.len();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
            continue;
        }
        if let Ok(port) = digits.parse::<u16>() {
            return Some((start, from + digits.len(), port));
        }
    }
    None
}

/// A compose service running natively.
struct Running {
    process: Process,
    health: Option<String>,
    data: PathBuf,
}

async fn wait_healthy(client: &reqwest::Client, name: &str, running: &mut Running) {
    let url = running.health.clone().unwrap_or_else(|| {
        panic!("compose {name}: others wait for it to be healthy, but it has no healthcheck")
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Err(e) = running.process.check_alive() {
            panic!("compose {name} exited before it was healthy: {e}");
        }
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "compose {name}: {url} not healthy after 120 s; its log:\n{}",
            running.process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_completed(name: &str, running: &mut Running) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = running.process.exit_status() {
            assert!(
                status.success(),
                "compose {name} failed ({status}); its log:\n{}",
                running.process.log_text()
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "compose {name} still running after 120 s; its log:\n{}",
            running.process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Metric names a PromQL expression reads (the shop's prefixes; label names and `up` aside).
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Drop label matchers and grouping clauses, whose words are label names.
    let mut text = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    for clause in ["by", "on", "without", "ignoring"] {
        while let Some(at) = text.find(&format!("{clause} (")) {
            let end = text[at..].find(')').map(|e| at + e + 1).unwrap();
            text.replace_range(at..end, " ");
        }
    }
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            ["shop_", "messaging_", "contracts_", "registry_"]
                .iter()
                .any(|p| w.starts_with(p))
        })
        .map(str::to_owned)
        .collect()
}

/// The expressions of deploy/monitoring's alert rules and Grafana dashboard.
fn monitoring_expressions(repo: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let rules: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo.join("deploy/monitoring/alerts.yml")).unwrap(),
    )
    .unwrap();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            out.push((
                format!("alert {}", rule["alert"].as_str().unwrap()),
                rule["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("deploy/monitoring/grafana/shop.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            out.push((
                format!("panel {:?}", panel["title"].as_str().unwrap()),
                target["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// Every metric family and sample name on a Prometheus text page.
fn names_on(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(rest) => rest.split_whitespace().next(),
            None if !l.starts_with('#') => l.split(['{', ' ']).next(),
            None => None,
        })
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

fn exposed(names: &BTreeSet<String>, metric: &str) -> bool {
    let family = ["_bucket", "_count", "_sum", "_total"]
        .iter()
        .find_map(|s| metric.strip_suffix(s))
        .unwrap_or(metric);
    names.contains(metric) || names.contains(family)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_file_runs_natively_and_an_order_reaches_the_mailbox() {
    let repo = repo();
    let compose: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo.join("deploy/compose.yaml")).unwrap(),
    )
    .unwrap();
    let services = compose["services"].as_mapping().unwrap();
    let bins = bin_dir();
    let dir = tempfile::tempdir().unwrap();

    // The secrets, as the README says to make them.
    let secrets = dir.path().join("secrets");
    let out = Command::new("sh")
        .arg(repo.join("deploy/secrets.sh"))
        .current_dir(&repo)
        .env("SECRETS_DIR", &secrets)
        .env("CONTRACTS", bins.join("contracts"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deploy/secrets.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, secret) in compose["secrets"].as_mapping().unwrap() {
        let file = secret["file"].as_str().unwrap();
        let made = secrets.join(Path::new(file).file_name().unwrap());
        assert!(
            made.is_file(),
            "compose secret {name:?}: deploy/secrets.sh did not make {file}"
        );
    }

    let broker = Broker::start().unwrap();
    let mut map = HostMap {
        ports: BTreeMap::new(),
        bootstrap: broker.bootstrap_servers().to_owned(),
        secrets: secrets.clone(),
        schemas: repo.join("schemas"),
    };
    // Every service's own ports first, so that references between services resolve.
    for (name, service) in services {
        let name = name.as_str().unwrap();
        for published in strings(&service["ports"]) {
            let container: u16 = published.rsplit(':').next().unwrap().parse().unwrap();
            map.port(name, container);
        }
    }

    let client = reqwest::Client::new();
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    for name in start_order(services) {
        let service = &services[name.as_str()];
        if name == "kafka" {
            assert!(
                service["image"].as_str().unwrap().contains("kafka"),
                "compose kafka: expected a Kafka image"
            );
            continue;
        }
        // Wait for what it depends on, as compose would.
        if let Value::Mapping(deps) = &service["depends_on"] {
            for (dep, how) in deps {
                let dep = dep.as_str().unwrap();
                if dep == "kafka" {
                    continue;
                }
                let r = running.get_mut(dep).unwrap();
                match how["condition"].as_str() {
                    Some("service_healthy") => wait_healthy(&client, dep, r).await,
                    Some("service_completed_successfully") => wait_completed(dep, r).await,
                    _ => {}
                }
            }
        }
        let data = dir.path().join(&name).join("data");
        std::fs::create_dir_all(&data).unwrap();
        let (binary, image_env) = image(&repo, service);
        let mut env: BTreeMap<String, String> = image_env;
        if let Some(vars) = service["environment"].as_mapping() {
            for (k, v) in vars {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => panic!("compose {name}: environment value {other:?}"),
                };
                env.insert(k.as_str().unwrap().to_owned(), v);
            }
        }
        let entrypoint = strings(&service["entrypoint"]);
        let command = strings(&service["command"]);
        let argv: Vec<String> = if entrypoint.is_empty() {
            std::iter::once(bins.join(&binary).display().to_string())
                .chain(command)
                .collect()
        } else {
            entrypoint.into_iter().chain(command).collect()
        };
        let argv: Vec<String> = argv.iter().map(|a| map.rewrite(&name, &data, a)).collect();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&data)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path());
        for (k, v) in &env {
            cmd.env(k, map.rewrite(&name, &data, v));
        }
        let health = health_url(service).map(|u| map.rewrite(&name, &data, &u));
        let log = dir.path().join(format!("{name}.log"));
        let process = Process::spawn(name.clone(), cmd, &log)
            .unwrap_or_else(|e| panic!("compose {name}: {e}"));
        running.insert(
            name.clone(),
            Running {
                process,
                health,
                data,
            },
        );
    }
    // Everything with a health check becomes healthy; one-shot steps finished.
    for (name, r) in running.iter_mut() {
        if r.health.is_some() {
            wait_healthy(&client, name, r).await;
        }
    }

    // contracts-init made the manifest's topics, with their partitions.
    let consumer: BaseConsumer = broker.client_config().create().unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let partitions = |topic: &str| {
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().len())
    };
    assert_eq!(partitions("orders"), Some(6), "contracts topics apply");
    assert_eq!(partitions("orders.DLT"), Some(6), "contracts topics apply");

    // An order through the published order API, as the compose file's header shows.
    let order_port = map.ports[&("order".to_owned(), 8080)];
    let token = std::fs::read_to_string(secrets.join("order-api-token")).unwrap();
    let placed = client
        .post(format!("http://127.0.0.1:{order_port}/orders"))
        .bearer_auth(token.trim())
        .json(&json!({"customer": "alice@example.com", "line_items": [{"product": "tea", "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert!(
        placed.status().is_success(),
        "POST /orders: {}",
        placed.text().await.unwrap()
    );
    let mailbox = running["notification"]
        .data
        .join("mailbox/alice@example.com");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mails = loop {
        let mails: Vec<String> = std::fs::read_dir(&mailbox)
            .map(|d| {
                d.map(|f| f.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if mails.len() >= 2 {
            break mails;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = running
                .iter()
                .map(|(n, r)| format!("--- {n}\n{}", r.process.log_text()))
                .collect();
            panic!(
                "no confirmation mail for alice after 120 s (got {mails:?}); logs:\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        mails.iter().any(|m| m.contains("confirmed")),
        "mails: {mails:?}"
    );

    // A record no contract decodes: the consumers dead-letter it, which the dead-letter alert
    // and panel read.
    let producer: rdkafka::producer::FutureProducer = broker.client_config().create().unwrap();
    producer
        .send(
            rdkafka::producer::FutureRecord::to("orders")
                .key("poison")
                .payload("not an event"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let inventory_port = map.ports[&("inventory".to_owned(), 8082)];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let page = client
            .get(format!("http://127.0.0.1:{inventory_port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("contracts_consumer_dead_lettered_total{") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "inventory did not dead-letter the poison record in 120 s; its log:\n{}",
            running["inventory"].process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // What the alert rules and the dashboard read is on the running shop's /metrics pages, or,
    // for what only appears after a rare event (a stopped partition, a retry), one of the
    // runtime's metrics.
    let metrics_ports = [
        ("order", 8080_u16),
        ("inventory", 8082),
        ("notification", 8083),
        ("registry", 8081),
    ];
    let mut names = BTreeSet::new();
    for (service, http) in metrics_ports {
        let port = map.ports[&(service.to_owned(), http)];
        let page = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap();
        assert!(page.status().is_success(), "{service} /metrics");
        names.extend(names_on(&page.text().await.unwrap()));
    }
    names.extend(
        [
            contracts_runtime::metrics::CONSUMER_STOPPED_PARTITIONS,
            contracts_runtime::metrics::CONSUMER_RETRIES,
        ]
        .map(str::to_owned),
    );
    let mut missing = Vec::new();
    for (what, expr) in monitoring_expressions(&repo) {
        let used = metric_names(&expr);
        // `up` is Prometheus's own, per scrape target.
        assert!(
            !used.is_empty() || expr.starts_with("up{"),
            "{what}: reads no metric of the shop: {expr}"
        );
        missing.extend(
            used.into_iter()
                .filter(|m| !exposed(&names, m))
                .map(|m| format!("{what} reads {m}")),
        );
    }
    assert!(
        missing.is_empty(),
        "no service or registry exposes what these read:\n{}\nexposed: {names:?}",
        missing.join("\n")
    );
}
