//! Crash safety on a real broker: a registry process killed with SIGKILL while clients register
//! loses nothing it acknowledged; the instance that replaces it serves every acknowledged
//! registration with the same id and never hands an id out twice.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Http, record_with_fields};
use contracts_testkit::{RegistryProcess, shared_broker, unique_name};
use serde_json::json;

const REGISTRY_BIN: &str = env!("CARGO_BIN_EXE_contracts-registry");

#[derive(Debug, Clone)]
struct Acked {
    subject: String,
    schema: String,
    id: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_registrations_survive_kill_9_with_the_same_ids() {
    let broker = shared_broker();
    let topic = unique_name("_schemas");
    let first = RegistryProcess::spawn(Path::new(REGISTRY_BIN), &[], broker, &topic).unwrap();
    let url = first.url().to_string();

    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (acked, count, url) = (acked.clone(), count.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let subject = format!("crash-{c}-value");
            // Each version adds an optional field: backward compatible, so every one registers.
            for k in 1.. {
                let schema = record_with_fields(&format!("Crash{c}"), k);
                let res = http
                    .post(format!("{url}/subjects/{subject}/versions"))
                    .header("Content-Type", common::MEDIA)
                    .body(json!({ "schema": schema }).to_string())
                    .send()
                    .await;
                let Ok(res) = res else { return };
                if res.status() != 200 {
                    return;
                }
                let Ok(body) = res.json::<serde_json::Value>().await else {
                    return;
                };
                let id = body["id"].as_i64().expect("an id");
                acked.lock().unwrap().push(Acked {
                    subject: subject.clone(),
                    schema,
                    id,
                });
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // Kill while the clients are mid-flight.
    while count.load(Ordering::SeqCst) < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill9();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 60);

    let second = RegistryProcess::spawn(Path::new(REGISTRY_BIN), &[], broker, &topic).unwrap();
    let http = Http::new(second.url());
    for a in &acked {
        let (status, found) = http
            .post(
                &format!("/subjects/{}", a.subject),
                json!({"schema": a.schema}),
            )
            .await;
        assert_eq!(status, 200, "acknowledged {a:?} is gone: {found}");
        assert_eq!(
            found["id"].as_i64(),
            Some(a.id),
            "{a:?} changed id: {found}"
        );
        let (_, by_id) = http.get(&format!("/schemas/ids/{}", a.id)).await;
        assert_eq!(by_id["schema"].as_str(), Some(a.schema.as_str()));
    }
    // Versions stay dense and ids are never handed out twice.
    let max_acked = acked.iter().map(|a| a.id).max().unwrap();
    let (_, versions) = http.get("/subjects/crash-0-value/versions").await;
    let versions: Vec<i64> = serde_json::from_value(versions).unwrap();
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    let (status, fresh) = http
        .register("after-crash-value", &record_with_fields("Fresh", 3))
        .await;
    assert_eq!(status, 200, "{fresh}");
    assert!(fresh["id"].as_i64().unwrap() > max_acked);
}
