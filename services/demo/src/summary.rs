//! What the services say at the end: the orders in the store, records and mails, latency, and
//! each service's gRPC admin API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::Ports;
use crate::feed::EventFeed;
use crate::orders::PlacedOrder;

pub async fn summary(
    http: &reqwest::Client,
    order_url: &str,
    placed: &[PlacedOrder],
    feed: &EventFeed,
    elapsed: Duration,
) {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for p in placed {
        *by_status.entry(p.status.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!("   this run's orders: {}", counts.join(", "));
    for status in ["CONFIRMED", "REJECTED", "PAID", "SHIPPED"] {
        if let Ok(r) = http
            .get(format!("{order_url}/orders?status={status}&limit=1000"))
            .send()
            .await
            && let Ok(v) = r.json::<Value>().await
        {
            let n = v["orders"].as_array().map_or(0, Vec::len);
            println!("   GET /orders?status={status}: {n} order(s) in the store");
        }
    }
    let s = feed.state.lock().unwrap_or_else(|p| p.into_inner());
    let mut latencies: Vec<Duration> = placed
        .iter()
        .filter_map(|p| {
            let mails = s.mail_by_order.get(&p.id)?;
            let decision = mails
                .iter()
                .find(|(_, k, _)| k == "confirmed" || k == "rejected")?;
            decision.2.duration_since(p.posted).ok()
        })
        .collect();
    latencies.sort();
    println!(
        "   {} record(s) on the topics, {} mail(s) sent",
        s.records,
        s.mails.len()
    );
    if !latencies.is_empty() {
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        println!(
            "   {} orders in {:.1} s ({:.1} orders/s); POST /orders → the confirmed/rejected mail: p50 {} ms, p99 {} ms",
            placed.len(),
            elapsed.as_secs_f64(),
            placed.len() as f64 / elapsed.as_secs_f64(),
            at(0.5).as_millis(),
            at(0.99).as_millis()
        );
    }
}

/// What each service's gRPC admin API says: its contracts with their registry ids, its consumer
/// groups' lag, its dead letters; and the stock, from inventory-service.
pub async fn admin_answers(ports: &Ports) {
    use contracts_admin::{AdminClient, ClientConfig, ContractRole};
    println!(
        "   the gRPC admin APIs (the same as `contracts admin --addr URL contracts|lag|dlt list|stock list`):"
    );
    let services = ["order-service", "inventory-service", "notification-service"];
    for (service, port) in services.into_iter().zip(ports.admin) {
        let url = format!("http://127.0.0.1:{port}");
        let client = match AdminClient::connect(ClientConfig::new(&url)).await {
            Ok(c) => c,
            Err(e) => {
                println!("     {service} ({url}): {e}");
                continue;
            }
        };
        println!("     {service} ({url}):");
        if let Ok(contracts) = client.contracts().await {
            for role in [ContractRole::Produced, ContractRole::Consumed] {
                let list: Vec<String> = contracts
                    .iter()
                    .filter(|c| c.role == role)
                    .map(|c| {
                        let name = c.event.rsplit('.').next().unwrap_or(&c.event);
                        let id = c.schema_id.map_or("-".into(), |id| id.to_string());
                        format!("{name} v{} ({}, id {id})", c.version, c.format)
                    })
                    .collect();
                if !list.is_empty() {
                    println!("       {role}: {}", list.join(", "));
                }
            }
        }
        if let Ok(lag) = client.lag(None).await {
            let mut by_group: BTreeMap<(String, String), (i64, usize)> = BTreeMap::new();
            for p in lag {
                let e = by_group.entry((p.group, p.topic)).or_default();
                e.0 += p.lag;
                e.1 += 1;
            }
            for ((group, topic), (lag, partitions)) in by_group {
                println!("       group {group} on {topic}: lag {lag} over {partitions} partitions");
            }
        }
        if let Ok(page) = client.dead_letters(None, 100).await {
            println!("       dead letters: {}", page.dead_letters.len());
        }
        if service == "inventory-service"
            && let Ok(stock) = client.all_stock().await
        {
            let list: Vec<String> = stock
                .iter()
                .map(|s| {
                    format!(
                        "{} {} available, {} reserved",
                        s.product_id, s.available, s.reserved
                    )
                })
                .collect();
            println!("       stock: {}", list.join("; "));
        }
    }
}
