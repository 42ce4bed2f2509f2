//! Several registry instances writing to one log at once: the optimistic write scheme must give
//! one id per distinct schema, never two schemas one id, and every instance the same subjects and
//! versions. Proven on the in-memory log and on a real broker (Tansu).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use common::Http;
use contracts_registry::store::MemoryLog;
use contracts_registry::{Registry, RegistryConfig};
use contracts_registry_client::api::RegisterSchemaRequest;
use contracts_testkit::{TestRegistry, shared_broker};
use serde_json::{Value, json};

/// Schema `k` of a family: a record with `k` int fields, so that all are distinct.
fn schema(k: usize) -> String {
    common::record_with_fields("Event", k)
}

/// An instance's state: subject → [(version, id, deleted)].
type StateView = Vec<(String, Vec<(i32, i32, bool)>)>;

/// What one instance says about every subject: subject → [(version, id)].
type View = BTreeMap<String, Vec<(i64, i64)>>;

async fn view(http: &Http) -> View {
    let (_, subjects) = http.get("/subjects").await;
    let mut out = View::new();
    for s in subjects.as_array().unwrap() {
        let s = s.as_str().unwrap();
        let (_, versions) = http.get(&format!("/subjects/{s}/versions")).await;
        let mut list = Vec::new();
        for v in versions.as_array().unwrap() {
            let (_, body) = http.get(&format!("/subjects/{s}/versions/{v}")).await;
            list.push((v.as_i64().unwrap(), body["id"].as_i64().unwrap()));
        }
        out.insert(s.to_string(), list);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_one_memory_log_agree_on_ids_and_versions() {
    // A millisecond per read and append, like a broker on the same host.
    let log = Arc::new(MemoryLog::with_latency(std::time::Duration::from_millis(1)));
    let mut instances = Vec::new();
    for _ in 0..3 {
        let r = Arc::new(Registry::new(log.clone(), RegistryConfig::default()));
        r.start().await.unwrap();
        instances.push(r);
    }
    let mut tasks = Vec::new();
    for (i, r) in instances.iter().enumerate() {
        for k in 1..=15 {
            let r = r.clone();
            tasks.push(tokio::spawn(async move {
                // Every instance registers the same 15 schemas under one shared subject and
                // under a subject of its own.
                let req = RegisterSchemaRequest {
                    schema: schema(k),
                    ..Default::default()
                };
                let shared = r.register("shared", &req, false).await.unwrap().id;
                let own = r
                    .register(&format!("own-{i}"), &req, false)
                    .await
                    .unwrap()
                    .id;
                (k, shared, own)
            }));
        }
    }
    let mut id_of: HashMap<usize, i64> = HashMap::new();
    for t in tasks {
        let (k, shared, own) = t.await.unwrap();
        assert_eq!(shared, own, "schema {k} got two ids");
        let prev = id_of.insert(k, i64::from(shared));
        assert!(
            prev.is_none_or(|p| p == i64::from(shared)),
            "schema {k}: two ids"
        );
    }
    let mut ids: Vec<i64> = id_of.values().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 15, "15 distinct schemas, 15 distinct ids");
    let conflicts: u64 = instances
        .iter()
        .map(|r| r.stats.conflicts.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert!(
        conflicts > 0,
        "the instances never raced; the test proves nothing"
    );
    for r in &instances {
        r.sync().await.unwrap();
    }
    let views: Vec<StateView> = instances
        .iter()
        .map(|r| {
            let st = r.state();
            st.subjects
                .iter()
                .map(|(name, s)| {
                    (
                        name.clone(),
                        s.versions
                            .iter()
                            .map(|(n, v)| (*n, v.id, v.deleted))
                            .collect(),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(views[0], views[1]);
    assert_eq!(views[1], views[2]);
    // 15 versions under the shared subject, numbered 1..=15, one per schema.
    let shared = &views[0].iter().find(|(n, _)| n == "shared").unwrap().1;
    assert_eq!(
        shared.iter().map(|v| v.0).collect::<Vec<_>>(),
        (1..=15).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_one_topic_register_concurrently_without_conflicting_ids() {
    let broker = shared_broker();
    let a = TestRegistry::start(broker).await.unwrap();
    let b = a.another_instance().await.unwrap();
    let c = a.another_instance().await.unwrap();
    let clients: Vec<Http> = [&a, &b, &c].iter().map(|r| Http::new(r.url())).collect();
    // NONE so that any order of the family is acceptable under the shared subject.
    clients[0]
        .put("/config", json!({"compatibility": "NONE"}))
        .await;

    let mut tasks = Vec::new();
    for (i, http) in clients.iter().enumerate() {
        for k in 1..=12 {
            let http = http.clone();
            tasks.push(tokio::spawn(async move {
                let (s1, shared) = http.register("shared-value", &schema(k)).await;
                let (s2, own) = http.register(&format!("own-{i}-value"), &schema(k)).await;
                assert_eq!((s1, s2), (200, 200), "{shared} {own}");
                (
                    k,
                    shared["id"].as_i64().unwrap(),
                    own["id"].as_i64().unwrap(),
                )
            }));
        }
    }
    let mut id_of: HashMap<usize, i64> = HashMap::new();
    for t in tasks {
        let (k, shared, own) = t.await.unwrap();
        assert_eq!(shared, own, "schema {k} got two ids");
        if let Some(prev) = id_of.insert(k, shared) {
            assert_eq!(prev, shared, "schema {k} got two ids");
        }
    }
    let mut ids: Vec<i64> = id_of.values().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        12,
        "12 distinct schemas must have 12 distinct ids"
    );

    let conflicts: u64 = [&a, &b, &c]
        .iter()
        .map(|r| {
            r.server()
                .registry()
                .stats
                .conflicts
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    assert!(
        conflicts > 0,
        "the instances never raced; the test proves nothing"
    );

    // Every instance tells the same story, and every id names one schema.
    let views = [
        view(&clients[0]).await,
        view(&clients[1]).await,
        view(&clients[2]).await,
    ];
    assert_eq!(views[0], views[1]);
    assert_eq!(views[1], views[2]);
    assert_eq!(views[0]["shared-value"].len(), 12);
    for (k, id) in &id_of {
        for http in &clients {
            let (s, body) = http.get(&format!("/schemas/ids/{id}")).await;
            assert_eq!(s, 200);
            assert_eq!(body["schema"], Value::String(schema(*k)));
        }
    }
}
