//! Load: one `POST /compatibility/subjects/x/versions` listing the same reference 20,000 times
//! (a ~1.2 MB body; the referenced schema ~19 KB), sent to a fresh `contracts-registry` process
//! per run. Prints per run the answer, the time to answer and the growth of the process's peak
//! RSS (`VmHWM` in `/proc/PID/status`, after the request, minus `VmRSS` before it), then the
//! medians and the load average. Method and figures: `benches/README.md`.
//!
//! ```sh
//! cargo build --release -p contracts-registry --bin contracts-registry --example repeated_references
//! target/release/examples/repeated_references [RUNS] [-- REGISTRY FLAGS...]
//! ```
//!
//! `REGISTRY` (environment) names the binary to load; by default the `contracts-registry` next
//! to this example's directory (the same build profile). Flags after `--` go to the registry,
//! e.g. `-- --max-references 50000` to measure the resolution itself rather than the refusal.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{MEDIA, free_port, registry_binary, status_kib};

fn big_record() -> String {
    let fields: Vec<Value> = (0..475)
        .map(|i| json!({"name": format!("field_{i:06}"), "type": "string"}))
        .collect();
    json!({"type": "record", "name": "Big", "namespace": "shop", "fields": fields}).to_string()
}

fn request_body() -> String {
    let refs: Vec<Value> = (0..20_000)
        .map(|_| json!({"name": "shop.Big", "subject": "big-value", "version": 1}))
        .collect();
    let user = json!({"type": "record", "name": "User", "namespace": "shop",
        "fields": [{"name": "big", "type": "shop.Big"}]})
    .to_string();
    json!({"schema": user, "references": refs}).to_string()
}

struct Run {
    status: u16,
    answer: String,
    elapsed: Duration,
    growth_kib: u64,
}

async fn one_run(binary: &PathBuf, flags: &[String], body: &str) -> Run {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child: Child = Command::new(binary)
        .args(["--in-memory", "--listen", &format!("127.0.0.1:{port}")])
        // The 1.2 MB body is over the default limit (1 MiB); raised, the references are measured.
        .args(["--max-body-bytes", "4194304"])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client
        .get(format!("{url}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "the registry did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let res = client
        .post(format!("{url}/subjects/big-value/versions"))
        .header("Content-Type", MEDIA)
        .body(json!({ "schema": big_record() }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "registering the referenced schema");
    let before = status_kib(child.id(), "VmRSS");
    let started = Instant::now();
    let res = client
        .post(format!("{url}/compatibility/subjects/x/versions"))
        .header("Content-Type", MEDIA)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let answer = res.text().await.unwrap();
    let elapsed = started.elapsed();
    let peak = status_kib(child.id(), "VmHWM");
    let _ = child.kill();
    let _ = child.wait();
    Run {
        status,
        answer: answer.chars().take(160).collect(),
        elapsed,
        growth_kib: peak.saturating_sub(before),
    }
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .filter(|a| a != "--")
        .map_or(5, |a| a.parse().expect("RUNS is a number"));
    let flags: Vec<String> = args.skip_while(|a| a == "--").collect();
    let binary = registry_binary();
    let body = request_body();
    println!(
        "registry {} {flags:?}; body {} bytes; {runs} runs",
        binary.display(),
        body.len()
    );
    let mut times = Vec::new();
    let mut growths = Vec::new();
    for i in 1..=runs {
        let r = one_run(&binary, &flags, &body).await;
        println!(
            "run {i}: {} in {:.3} s, peak RSS +{:.1} MB: {}",
            r.status,
            r.elapsed.as_secs_f64(),
            r.growth_kib as f64 / 1024.0,
            r.answer
        );
        times.push(r.elapsed);
        growths.push(r.growth_kib);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "median: {:.3} s, peak RSS +{:.1} MB; load average {}",
        median(times).as_secs_f64(),
        median(growths) as f64 / 1024.0,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
