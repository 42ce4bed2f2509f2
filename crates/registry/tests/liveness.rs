//! A registry process busy with expensive requests still answers `/health` and stops on
//! SIGTERM: parsing and compatibility checks run off the async workers, on threads the process
//! does not wait for when it stops. Against the shipped `contracts-registry` binary over HTTP.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const REGISTRY_BIN: &str = env!("CARGO_BIN_EXE_contracts-registry");
const MEDIA: &str = "application/vnd.schemaregistry.v1+json";

struct Registry {
    child: Child,
    url: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Registry {
    let port = contracts_testkit::free_port().unwrap();
    let child = Command::new(REGISTRY_BIN)
        .args(["--in-memory", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Registry {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_healthy(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(res) = client.get(format!("{url}/health")).send().await
            && res.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the registry never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A record with `n` fields of nested records: expensive to parse, canonicalise and check,
/// and within the body limit.
fn wide_record(name: &str, n: usize) -> String {
    let fields: Vec<Value> = (0..n)
        .map(|i| {
            json!({"name": format!("f{i}"), "type": {"type": "record", "name": format!("R{i}"),
                "fields": [{"name": "a", "type": ["null", "string", "long"]},
                           {"name": "b", "type": {"type": "enum", "name": format!("E{i}"), "symbols": ["X", "Y", "Z"]}}]}})
        })
        .collect();
    json!({"type": "record", "name": name, "fields": fields}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_busy_with_large_schemas_answers_health_and_stops_on_sigterm() {
    // An operator who raised the body limit: each request keeps a parse thread busy longer.
    let mut registry = start(&["--max-body-bytes", "16777216"]);
    let client = reqwest::Client::new();
    wait_healthy(&client, &registry.url).await;

    // More expensive requests than there are cores on this machine (2), sent at once: every
    // parse thread is busy and one request waits for a permit.
    let body = json!({ "schema": wide_record("Wide", 40_000) }).to_string();
    assert!(body.len() < 16 * 1024 * 1024, "{}", body.len());
    let busy: Vec<_> = (0..3)
        .map(|i| {
            let client = client.clone();
            let url = format!("{}/subjects/wide-{i}/versions", registry.url);
            let body = body.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("Content-Type", MEDIA)
                    .body(body)
                    .send()
                    .await
            })
        })
        .collect();
    // Let the requests arrive (their JSON bodies are read on the async workers) and start
    // parsing.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // /health answers while they are being worked on (a generous bound: it must not wait for
    // them).
    for _ in 0..5 {
        let res = tokio::time::timeout(
            Duration::from_secs(15),
            client.get(format!("{}/health", registry.url)).send(),
        )
        .await
        .expect("/health answers while large schemas are parsed")
        .unwrap();
        assert_eq!(res.status(), 200);
    }
    let still_busy = busy.iter().filter(|h| !h.is_finished()).count();
    assert!(
        still_busy > 0,
        "the large requests ended before /health was asked: this test proves nothing; make them larger"
    );

    // SIGTERM while they are still being worked on: the process ends without waiting for them.
    let status = Command::new("kill")
        .args(["-TERM", &registry.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = registry.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the registry did not stop within 15 s of SIGTERM while busy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    for h in busy {
        h.abort();
    }
}
