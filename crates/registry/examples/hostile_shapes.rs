//! Load: requests of hostile shapes, each sent at two sizes (n and 4n) to a fresh
//! `contracts-registry` process whose body limit is raised to 16 MiB. Prints per shape and size
//! the answer, the registry's CPU time for the request (user + system from `/proc/PID/stat`), the
//! wall time and the growth of its peak RSS; then the ratio of the two sizes' CPU times (about 4
//! when the work grows linearly with the request, far more when it does not) and the CPU time
//! scaled linearly to a body of the default limit (1 MiB). Method and figures:
//! `benches/README.md`.
//!
//! ```sh
//! cargo build --release -p contracts-registry --bin contracts-registry --example hostile_shapes
//! target/release/examples/hostile_shapes [SHAPE...]
//! ```
//!
//! Without arguments every shape runs; `REGISTRY` (environment) names the binary to load, by
//! default the `contracts-registry` next to this example's directory (the same build profile).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{MEDIA, free_port, registry_binary, status_kib};

/// User + system CPU time of `pid` (clock ticks of 10 ms on Linux).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// One request: method, path and JSON body.
struct Request {
    method: &'static str,
    path: String,
    body: String,
}

fn post(path: &str, body: Value) -> Request {
    Request {
        method: "POST",
        path: path.to_string(),
        body: body.to_string(),
    }
}

fn avro(schema: Value) -> Value {
    json!({ "schema": schema.to_string() })
}

fn protobuf(text: String) -> Value {
    json!({ "schemaType": "PROTOBUF", "schema": text })
}

/// A shape: its name, the base size n, and the requests for a size (set-up first, the measured
/// request last).
struct Shape {
    name: &'static str,
    n: usize,
    requests: fn(usize) -> Vec<Request>,
}

fn flat_record(n: usize) -> Value {
    let fields: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("f{i}"), "type": "string"}))
        .collect();
    json!({"type": "record", "name": "Flat", "namespace": "shop", "fields": fields})
}

fn nested_records(n: usize, extra: bool) -> Value {
    let mut fields: Vec<Value> = (0..n)
        .map(|i| {
            json!({"name": format!("f{i}"), "type": {"type": "record", "name": format!("R{i}"),
                "fields": [{"name": "a", "type": ["null", "string", "long"]},
                           {"name": "b", "type": {"type": "enum", "name": format!("E{i}"),
                                                  "symbols": ["X", "Y", "Z"]}}]}})
        })
        .collect();
    if extra {
        fields.push(json!({"name": "added", "type": "string", "default": ""}));
    }
    json!({"type": "record", "name": "Wide", "namespace": "shop", "fields": fields})
}

/// The `i`th usable Protobuf field number: 1, 2, … skipping the reserved 19000-19999.
fn field_number(i: usize) -> usize {
    if i + 1 < 19_000 { i + 1 } else { i + 1 + 1_000 }
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            name: "avro-flat-record",
            n: 50_000,
            requests: |n| vec![post("/subjects/s/versions", avro(flat_record(n)))],
        },
        Shape {
            name: "avro-nested-records",
            n: 10_000,
            requests: |n| vec![post("/subjects/s/versions", avro(nested_records(n, false)))],
        },
        Shape {
            name: "avro-nested-records-compatibility",
            n: 10_000,
            requests: |n| {
                vec![
                    post("/subjects/s/versions", avro(nested_records(n, false))),
                    post(
                        "/compatibility/subjects/s/versions/latest",
                        avro(nested_records(n, true)),
                    ),
                ]
            },
        },
        Shape {
            name: "avro-every-field-changed-compatibility",
            n: 20_000,
            requests: |n| {
                let record = |ty: &str| {
                    let fields: Vec<Value> = (0..n)
                        .map(|i| json!({"name": format!("f{i}"), "type": ty}))
                        .collect();
                    json!({"type": "record", "name": "Flat", "fields": fields})
                };
                vec![
                    post("/subjects/s/versions", avro(record("string"))),
                    post(
                        "/compatibility/subjects/s/versions/latest?verbose=true",
                        avro(record("int")),
                    ),
                ]
            },
        },
        Shape {
            name: "avro-enum-symbols",
            n: 100_000,
            requests: |n| {
                let symbols: Vec<String> = (0..n).map(|i| format!("S{i}")).collect();
                vec![post(
                    "/subjects/s/versions",
                    avro(json!({"type": "enum", "name": "Big", "symbols": symbols})),
                )]
            },
        },
        Shape {
            name: "avro-union-of-records",
            n: 10_000,
            requests: |n| {
                let branches: Vec<Value> = (0..n)
                    .map(|i| {
                        json!({"type": "record", "name": format!("B{i}"),
                               "fields": [{"name": "v", "type": "long"}]})
                    })
                    .collect();
                let schema = json!({"type": "record", "name": "U",
                                    "fields": [{"name": "u", "type": branches}]});
                vec![post("/subjects/s/versions", avro(schema))]
            },
        },
        Shape {
            name: "avro-union-of-records-compatibility",
            n: 5_000,
            requests: |n| {
                let union = |extra: bool| {
                    let mut branches: Vec<Value> = (0..n)
                        .map(|i| {
                            json!({"type": "record", "name": format!("B{i}"),
                                   "fields": [{"name": "v", "type": "long"}]})
                        })
                        .collect();
                    if extra {
                        branches.push(json!("string"));
                    }
                    json!({"type": "record", "name": "U", "fields": [{"name": "u", "type": branches}]})
                };
                vec![
                    post("/subjects/s/versions", avro(union(false))),
                    post(
                        "/compatibility/subjects/s/versions/latest",
                        avro(union(true)),
                    ),
                ]
            },
        },
        Shape {
            name: "protobuf-many-messages-compatibility",
            n: 5_000,
            requests: |n| {
                let text = |ty: &str| {
                    let mut t = String::from("syntax = \"proto3\";\npackage shop;\n");
                    for i in 0..n {
                        let next = (i + 1) % n;
                        t.push_str(&format!(
                            "message M{i} {{ {ty} a = 1; M{next} c = 3; repeated M{i} d = 4; }}\n"
                        ));
                    }
                    t
                };
                vec![
                    post("/subjects/s/versions", protobuf(text("string"))),
                    post(
                        "/compatibility/subjects/s/versions/latest?verbose=true",
                        protobuf(text("int64")),
                    ),
                ]
            },
        },
        Shape {
            name: "protobuf-many-messages",
            n: 10_000,
            requests: |n| {
                let mut text = String::from("syntax = \"proto3\";\npackage shop;\n");
                for i in 0..n {
                    let next = (i + 1) % n;
                    text.push_str(&format!(
                        "message M{i} {{ string a = 1; int64 b = 2; M{next} c = 3; repeated string d = 4; }}\n"
                    ));
                }
                vec![post("/subjects/s/versions", protobuf(text))]
            },
        },
        Shape {
            name: "protobuf-wide-message",
            n: 20_000,
            requests: |n| {
                let mut text = String::from("syntax = \"proto3\";\npackage shop;\nmessage W {\n");
                for i in 0..n {
                    text.push_str(&format!("  string f{i} = {};\n", field_number(i)));
                }
                text.push_str("}\n");
                vec![post("/subjects/s/versions", protobuf(text))]
            },
        },
        Shape {
            name: "protobuf-nested-messages",
            n: 50,
            requests: |n| {
                let mut text = String::from("syntax = \"proto3\";\npackage shop;\n");
                for i in 0..n {
                    text.push_str(&format!("message N{i} {{ string v = 1;\n"));
                }
                text.push_str(&"}\n".repeat(n));
                vec![post("/subjects/s/versions", protobuf(text))]
            },
        },
        Shape {
            name: "protobuf-enum-values",
            n: 20_000,
            requests: |n| {
                let mut text = String::from("syntax = \"proto3\";\npackage shop;\nenum E {\n");
                for i in 0..n {
                    text.push_str(&format!("  E_{i} = {i};\n"));
                }
                text.push_str("}\n");
                vec![post("/subjects/s/versions", protobuf(text))]
            },
        },
        Shape {
            name: "protobuf-every-field-changed-compatibility",
            n: 10_000,
            requests: |n| {
                let text = |ty: &str| {
                    let mut t = String::from("syntax = \"proto3\";\npackage shop;\nmessage W {\n");
                    for i in 0..n {
                        t.push_str(&format!("  {ty} f{i} = {};\n", field_number(i)));
                    }
                    t.push_str("}\n");
                    t
                };
                vec![
                    post("/subjects/s/versions", protobuf(text("string"))),
                    post(
                        "/compatibility/subjects/s/versions/latest?verbose=true",
                        protobuf(text("int64")),
                    ),
                ]
            },
        },
        Shape {
            name: "protobuf-wide-message-compatibility",
            n: 5_000,
            requests: |n| {
                let text = |extra: bool| {
                    let mut t = String::from("syntax = \"proto3\";\npackage shop;\nmessage W {\n");
                    for i in 0..n {
                        let (a, b) = (field_number(2 * i), field_number(2 * i + 1));
                        t.push_str(&format!("  string f{i} = {a};\n  W w{i} = {b};\n"));
                    }
                    if extra {
                        t.push_str(&format!("  int64 added = {};\n", field_number(2 * n)));
                    }
                    t.push_str("}\n");
                    t
                };
                vec![
                    post("/subjects/s/versions", protobuf(text(false))),
                    post(
                        "/compatibility/subjects/s/versions/latest",
                        protobuf(text(true)),
                    ),
                ]
            },
        },
    ]
}

struct Run {
    status: u16,
    answer: String,
    bytes: usize,
    cpu: Duration,
    wall: Duration,
    growth_kib: u64,
}

async fn one_run(binary: &PathBuf, requests: Vec<Request>) -> Run {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child: Child = Command::new(binary)
        .args(["--in-memory", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--max-body-bytes", "16777216"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap();
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
    let count = requests.len();
    let mut run = None;
    for (i, r) in requests.into_iter().enumerate() {
        let measured = i + 1 == count;
        let (before_rss, before_cpu) = (status_kib(child.id(), "VmRSS"), cpu_time(child.id()));
        let started = Instant::now();
        let res = client
            .request(r.method.parse().unwrap(), format!("{url}{}", r.path))
            .header("Content-Type", MEDIA)
            .body(r.body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let answer = res.text().await.unwrap();
        let wall = started.elapsed();
        if !measured {
            assert_eq!(status, 200, "set-up request {}: {answer}", r.path);
            continue;
        }
        // Let the registry's threads finish their accounting before reading the counters.
        tokio::time::sleep(Duration::from_millis(20)).await;
        run = Some(Run {
            status,
            answer: answer.chars().take(120).collect(),
            bytes: r.body.len(),
            cpu: cpu_time(child.id()).saturating_sub(before_cpu),
            wall,
            growth_kib: status_kib(child.id(), "VmHWM").saturating_sub(before_rss),
        });
    }
    let _ = child.kill();
    let _ = child.wait();
    run.expect("a measured request")
}

#[tokio::main]
async fn main() {
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    let binary = registry_binary();
    println!("registry {}", binary.display());
    for shape in shapes() {
        if !chosen.is_empty() && !chosen.iter().any(|c| c == shape.name) {
            continue;
        }
        let mut cpus = Vec::new();
        let mut per_byte = 0.0;
        for n in [shape.n, 4 * shape.n] {
            let r = one_run(&binary, (shape.requests)(n)).await;
            println!(
                "{:<38} n={n:<7} {:>9} bytes: {} in {:.3} s CPU, {:.3} s wall, peak RSS +{:.1} MB: {}",
                shape.name,
                r.bytes,
                r.status,
                r.cpu.as_secs_f64(),
                r.wall.as_secs_f64(),
                r.growth_kib as f64 / 1024.0,
                r.answer
            );
            cpus.push(r.cpu.as_secs_f64().max(0.01));
            per_byte = r.cpu.as_secs_f64() / r.bytes as f64;
        }
        println!(
            "{:<38} CPU time 4n / n: {:.1}; scaled to a 1 MiB body: {:.2} s",
            shape.name,
            cpus[1] / cpus[0],
            per_byte * 1024.0 * 1024.0
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
