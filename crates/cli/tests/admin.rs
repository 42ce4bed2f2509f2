//! `contracts admin ...` against a real admin server on a loopback port (the in-memory backend
//! of contracts-admin), run as the user runs it: the binary, its output and exit code.

use std::net::SocketAddr;
use std::process::{Command, Output};

use contracts_admin::memory::MemoryBackend;
use contracts_admin::{AdminConfig, AdminServer, TlsIdentity};
use contracts_core::secret::Secret;

const CONTRACTS: &str = env!("CARGO_BIN_EXE_contracts");

/// A server on its own runtime thread; stops when dropped.
struct Server {
    addr: SocketAddr,
    backend: MemoryBackend,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.thread.take().unwrap().join();
    }
}

impl Server {
    fn start(config: AdminConfig) -> Server {
        let backend = MemoryBackend::sample();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, addr) = std::sync::mpsc::channel();
        let b = backend.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                AdminServer::new(config, b.clone())
                    .with_orders(b.clone())
                    .with_inventory(b.clone())
                    .with_notifications(b)
                    .serve(listener, async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Server {
            addr: addr.recv().unwrap(),
            backend,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `contracts admin --addr <this server> <args>`.
    fn admin(&self, args: &[&str]) -> Output {
        Command::new(CONTRACTS)
            .args(["admin", "--addr", &self.url()])
            .args(args)
            .env_remove("CONTRACTS_ADMIN_TOKEN")
            .env_remove("CONTRACTS_ADMIN_TOKEN_FILE")
            .output()
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\n{}{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[test]
fn admin_contracts_prints_a_table_of_events_subjects_schema_ids_and_fingerprints() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["contracts"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ROLE"), "{out}");
    assert!(lines[0].contains("SCHEMA ID"), "{out}");
    let created = lines
        .iter()
        .find(|l| l.contains("shop.orders.OrderCreated"))
        .unwrap();
    let cells: Vec<&str> = created.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "produced",
            "shop.orders.OrderCreated",
            "3",
            "avro",
            "orders",
            "shop.orders.OrderCreated",
            "1",
            "5e5e5e5e5e5e5e5e"
        ]
    );
    // A schema id not looked up yet shows as "-".
    let reserved = lines
        .iter()
        .find(|l| l.contains("InventoryReserved"))
        .unwrap();
    assert!(reserved.split_whitespace().any(|c| c == "-"), "{reserved}");
}

#[test]
fn admin_json_output_is_machine_readable() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["contracts", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["event"], "shop.orders.OrderCreated");
    assert_eq!(v[0]["schema_id"], 1);
    assert_eq!(v[0]["role"], "produced");
    assert_eq!(v[1]["schema_id"], serde_json::Value::Null);

    let out = ok(server.admin(&["--json", "dlt", "list"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dead_letters"][0]["id"], "orders.DLT:0:7");
    assert_eq!(
        v["dead_letters"][0]["error_class"],
        "handler-retries-exhausted"
    );
    assert_eq!(v["truncated"], false);
}

#[test]
fn admin_lag_and_consumers_show_groups_partitions_and_state() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["lag"]));
    assert!(out.starts_with("GROUP"), "{out}");
    let p0 = out.lines().find(|l| l.contains("inventory  0")).unwrap();
    assert_eq!(
        p0.split_whitespace().collect::<Vec<_>>(),
        ["order-service", "inventory", "0", "10", "15", "5"]
    );
    let p1 = out.lines().find(|l| l.contains("inventory  1")).unwrap();
    assert_eq!(
        p1.split_whitespace().nth(3),
        Some("-"),
        "nothing committed yet: {p1}"
    );
    assert!(out.contains("total lag: 8"), "{out}");

    let out = ok(server.admin(&["consumers"]));
    assert!(
        out.contains("inventory-events  order-service  inventory  running"),
        "{out}"
    );
}

#[test]
fn admin_dlt_list_shows_ids_origin_and_error_and_all_headers_on_request() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["dlt", "list"]));
    assert!(out.starts_with("ID"), "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("orders.DLT:0:8"))
        .unwrap();
    assert!(row.contains("orders:0@80"), "{row}");
    assert!(row.contains("decode"), "{row}");
    assert!(row.contains("unknown union branch 7"), "{row}");

    let out = ok(server.admin(&["dlt", "list", "--topic", "inventory.DLT", "--headers"]));
    assert!(out.starts_with("inventory.DLT:2:0"), "{out}");
    assert!(out.contains("  dlt-error-class: handler-panic"), "{out}");
    assert!(!out.contains("orders.DLT"), "{out}");

    let out = ok(server.admin(&["dlt", "list", "--limit", "1"]));
    assert!(out.contains("more records match"), "{out}");
}

#[test]
fn admin_dlt_replay_reports_each_record_and_exits_1_when_any_was_not_replayed() {
    let server = Server::start(AdminConfig::default());
    let out = server.admin(&["dlt", "replay", "orders.DLT:0:7", "orders.DLT:0:8"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("orders.DLT:0:7  replayed")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("orders.DLT:0:8  rejected")),
        "{text}"
    );
    assert!(
        stderr(&out).contains("1 of 2 dead letters were not replayed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        server.backend.replayed(),
        ["orders.DLT:0:7".parse().unwrap()]
    );

    let out = ok(server.admin(&["dlt", "replay", "inventory.DLT:2:0"]));
    assert!(out.contains("replayed"), "{out}");
}

#[test]
fn admin_dlt_drop_removes_the_records() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["dlt", "drop", "orders.DLT:0:8"]));
    assert!(out.contains("orders.DLT:0:8  dropped"), "{out}");
    assert_eq!(server.backend.dead_letter_ids().len(), 2);
    let out = server.admin(&["dlt", "drop", "orders.DLT:0:8"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not found"), "{}", stdout(&out));
}

#[test]
fn admin_a_malformed_dead_letter_id_is_refused_with_the_servers_message_and_nothing_changes() {
    let server = Server::start(AdminConfig::default());
    let out = server.admin(&["dlt", "replay", "orders.DLT:0:7", "orders-7"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ids[1]: \"orders-7\" is not a dead-letter id"),
        "{err}"
    );
    assert!(err.contains("TOPIC:PARTITION:OFFSET"), "{err}");
    assert!(server.backend.replayed().is_empty());
}

#[test]
fn admin_pause_and_resume_change_the_consumer() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["pause", "inventory-events"]));
    assert_eq!(out, "inventory-events (group order-service): paused\n");
    assert!(server.backend.consumer("inventory-events").unwrap().paused);
    let out = ok(server.admin(&["resume", "inventory-events"]));
    assert!(out.ends_with("running\n"), "{out}");
    assert!(!server.backend.consumer("inventory-events").unwrap().paused);

    let out = server.admin(&["pause", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no consumer \"ghost\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn admin_orders_get_and_list_by_status() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["orders", "get", "o-2"]));
    assert!(out.contains("status    REJECTED"), "{out}");
    assert!(out.contains("rejected  not enough apple"), "{out}");
    assert!(out.contains("apple    2         0.40 EUR"), "{out}");

    let out = ok(server.admin(&["orders", "list", "--status", "confirmed"]));
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids, ["o-3", "o-1"]);

    let out = server.admin(&["orders", "get", "o-404"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no order \"o-404\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn admin_an_unknown_order_status_is_a_usage_error_listing_the_choices() {
    let server = Server::start(AdminConfig::default());
    let out = server.admin(&["orders", "list", "--status", "lost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("PENDING, CONFIRMED, REJECTED, PAID, SHIPPED"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn admin_stock_get_and_set() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["stock", "get"]));
    assert_eq!(
        out,
        "PRODUCT  AVAILABLE  RESERVED\napple    10         2\npear     0          0\n"
    );
    let out = ok(server.admin(&["stock", "set", "pear", "7"]));
    assert!(out.contains("pear     7"), "{out}");
    assert_eq!(server.backend.stock_of("pear").unwrap().available, 7);
    let out = ok(server.admin(&["stock", "get", "pear"]));
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn admin_negative_stock_is_refused_by_the_server_and_stock_is_unchanged() {
    let server = Server::start(AdminConfig::default());
    let out = server.admin(&["stock", "set", "apple", "-5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("available must be zero or more, got -5"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 10);
}

#[test]
fn admin_notifications_show_kind_recipient_and_delivery() {
    let server = Server::start(AdminConfig::default());
    let out = ok(server.admin(&["notifications", "o-1"]));
    assert!(out.starts_with("KIND"), "{out}");
    assert!(
        out.contains("order_received   c-42@example.com  mailbox    2023-11-14T22:15:01Z"),
        "{out}"
    );
    assert!(out.contains("pending (mailbox full)"), "{out}");
    assert_eq!(ok(server.admin(&["notifications", "o-9"])), "(none)\n");
}

#[test]
fn admin_takes_its_token_from_the_environment_or_a_file_and_a_read_token_cannot_write() {
    let server = Server::start(AdminConfig {
        read_token: Some(Secret::new("cli-read-token")),
        write_token: Some(Secret::new("cli-write-token")),
        ..AdminConfig::default()
    });
    let out = server.admin(&["stock", "set", "apple", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("CONTRACTS_ADMIN_TOKEN"), "{err}");
    assert!(err.contains("requires a bearer token"), "{err}");
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 10);

    let with_env = |token: &str, args: &[&str]| {
        Command::new(CONTRACTS)
            .args(["admin", "--addr", &server.url()])
            .args(args)
            .env("CONTRACTS_ADMIN_TOKEN", token)
            .output()
            .unwrap()
    };
    let out = with_env("nope", &["stock", "set", "apple", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not valid"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("nope"), "{}", stderr(&out));

    // The read token reads, and is refused every change with a message saying why.
    assert!(ok(with_env("cli-read-token", &["consumers"])).contains("inventory-events"));
    for args in [
        &["stock", "set", "apple", "0"][..],
        &["pause", "inventory-events"],
        &["resume", "inventory-events"],
        &["dlt", "replay", "orders.DLT:0:7"],
        &["dlt", "drop", "orders.DLT:0:7"],
    ] {
        let out = with_env("cli-read-token", args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("needs the write token"), "{args:?}: {err}");
    }
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 10);
    assert!(!server.backend.consumer("inventory-events").unwrap().paused);

    ok(with_env("cli-write-token", &["stock", "set", "apple", "3"]));
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 3);

    // From a file, as a mounted secret.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "cli-write-token\n").unwrap();
    ok(server.admin(&[
        "--token-file",
        file.to_str().unwrap(),
        "stock",
        "set",
        "apple",
        "4",
    ]));
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 4);

    // Never a flag value.
    let out = server.admin(&["--token", "cli-write-token", "contracts"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn admin_an_unreachable_address_says_so() {
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(CONTRACTS)
        .args([
            "admin",
            "--addr",
            &format!("http://127.0.0.1:{port}"),
            "contracts",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot reach the admin server at http://127.0.0.1:"),
        "{}",
        stderr(&out)
    );

    let out = Command::new(CONTRACTS)
        .args(["admin", "--addr", "ftp://x", "contracts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not an admin server address"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn admin_over_tls_with_a_self_signed_ca_certificate() {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let server = Server::start(AdminConfig {
        tls: Some(TlsIdentity::from_pem(cert.pem(), key_pair.serialize_pem())),
        ..AdminConfig::default()
    });
    let url = format!("https://{}", server.addr);
    let out = Command::new(CONTRACTS)
        .args([
            "admin",
            "--addr",
            &url,
            "--tls-domain",
            "localhost",
            "--ca-cert",
        ])
        .arg(&ca)
        .arg("consumers")
        .output()
        .unwrap();
    assert!(ok(out).contains("inventory-events"));
}

/// A CA and a certificate for `name` it signed: (CA PEM, certificate PEM, key PEM).
fn ca_and_leaf(name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

#[test]
fn admin_over_mutual_tls_presents_its_client_certificate_and_is_refused_without_one() {
    let (server_ca, server_cert, server_key) = ca_and_leaf("localhost");
    let (client_ca, client_cert, client_key) = ca_and_leaf("operator");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (ca, cert, key) = (
        write("ca.pem", &server_ca),
        write("client.pem", &client_cert),
        write("client.key", &client_key),
    );
    let server = Server::start(AdminConfig {
        tls: Some(TlsIdentity::from_pem(server_cert, server_key)),
        client_ca_pem: Some(client_ca.into_bytes()),
        ..AdminConfig::default()
    });
    let url = format!("https://{}", server.addr);
    let run = |extra: &[&str]| {
        Command::new(CONTRACTS)
            .args([
                "admin",
                "--addr",
                &url,
                "--tls-domain",
                "localhost",
                "--ca-cert",
                &ca,
            ])
            .args(extra)
            .arg("consumers")
            .env_remove("CONTRACTS_ADMIN_TOKEN")
            .output()
            .unwrap()
    };
    assert!(ok(run(&["--client-cert", &cert, "--client-key", &key])).contains("inventory-events"));
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(!stdout(&out).contains("inventory-events"));
}
