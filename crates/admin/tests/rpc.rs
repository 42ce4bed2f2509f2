//! Every admin RPC through a real tonic server on a loopback port, with the typed client:
//! what each answers, how it changes the backend, and how bad arguments are refused.

mod common;

use contracts_admin::pb;
use contracts_admin::{
    AdminConfig, ContractRole, DeadLetterId, DropOutcome, OrderStatus, ReplayOutcome, SchemaFormat,
};
use tonic::Code;

fn id(s: &str) -> DeadLetterId {
    s.parse().unwrap()
}

#[tokio::test]
async fn list_contracts_reports_event_version_subject_schema_id_and_fingerprint() {
    let server = common::start(AdminConfig::default()).await;
    let contracts = server.client().await.contracts().await.unwrap();
    assert_eq!(contracts.len(), 2);
    let created = &contracts[0];
    assert_eq!(created.event, "shop.orders.OrderCreated");
    assert_eq!(created.version, 3);
    assert_eq!(created.subject, "shop.orders.OrderCreated");
    assert_eq!(created.topic, "orders");
    assert_eq!(created.format, SchemaFormat::Avro);
    assert_eq!(created.role, ContractRole::Produced);
    assert_eq!(created.schema_id, Some(1));
    assert_eq!(created.fingerprint, "5e".repeat(32));
    // A schema id the process has not looked up yet stays absent, not 0.
    assert_eq!(contracts[1].schema_id, None);
    assert_eq!(contracts[1].role, ContractRole::Consumed);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn consumer_lag_is_reported_per_group_and_partition_and_an_unknown_group_is_not_found() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    let all = client.lag(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (all[0].partition, all[0].committed_offset, all[0].lag),
        (0, Some(10), 5)
    );
    assert_eq!(
        (
            all[1].partition,
            all[1].committed_offset,
            all[1].high_watermark
        ),
        (1, None, 3)
    );
    assert_eq!(client.lag(Some("order-service")).await.unwrap(), all);
    let err = client.lag(Some("nobody")).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::NotFound));
    assert!(err.to_string().contains("\"nobody\""), "{err}");
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_error_headers_filtered_by_topic_and_limited() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    let page = client.dead_letters(None, 0).await.unwrap();
    assert_eq!(page.dead_letters.len(), 3);
    assert!(!page.truncated);
    let first = &page.dead_letters[0];
    assert_eq!(first.id, id("orders.DLT:0:7"));
    assert_eq!(first.original_topic, "orders");
    assert_eq!(first.original_offset, 70);
    assert_eq!(first.error_class, "handler-retries-exhausted");
    assert_eq!(first.error_message, "database is locked");
    assert_eq!(first.attempts, 5);
    assert_eq!(first.event_type, "shop.orders.OrderCreated");
    assert!(first.dead_lettered_at.is_some());
    assert!(
        first
            .headers
            .iter()
            .any(|h| h.key == "dlt-error-class" && h.value == "handler-retries-exhausted")
    );

    let orders = client.dead_letters(Some("orders.DLT"), 0).await.unwrap();
    assert_eq!(orders.dead_letters.len(), 2);
    let one = client.dead_letters(None, 1).await.unwrap();
    assert_eq!(one.dead_letters.len(), 1);
    assert!(one.truncated, "a limited page says more records matched");
}

#[tokio::test]
async fn replay_sends_back_valid_records_keeps_invalid_ones_and_reports_each_in_request_order() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    let results = client
        .replay(vec![
            "orders.DLT:0:8".into(),
            "orders.DLT:0:7".into(),
            "orders.DLT:0:99".into(),
        ])
        .await
        .unwrap();
    let outcomes: Vec<_> = results
        .iter()
        .map(|r| (r.id.to_string(), r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("orders.DLT:0:8".to_string(), ReplayOutcome::Rejected),
            ("orders.DLT:0:7".to_string(), ReplayOutcome::Replayed),
            ("orders.DLT:0:99".to_string(), ReplayOutcome::NotFound),
        ]
    );
    assert!(
        results[1].message.contains("orders"),
        "{}",
        results[1].message
    );
    assert_eq!(server.backend.replayed(), [id("orders.DLT:0:7")]);
    // The rejected record stays listed; the replayed one is gone.
    assert_eq!(
        server.backend.dead_letter_ids(),
        [id("orders.DLT:0:8"), id("inventory.DLT:2:0")]
    );
}

#[tokio::test]
async fn drop_removes_the_selected_dead_letters_and_reports_unknown_ones() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    let results = client
        .drop_dead_letters(vec!["inventory.DLT:2:0".into(), "inventory.DLT:2:1".into()])
        .await
        .unwrap();
    assert_eq!(results[0].outcome, DropOutcome::Dropped);
    assert_eq!(results[1].outcome, DropOutcome::NotFound);
    assert_eq!(
        server.backend.dead_letter_ids(),
        [id("orders.DLT:0:7"), id("orders.DLT:0:8")]
    );
    // A dropped record cannot be replayed any more.
    let replay = client
        .replay(vec!["inventory.DLT:2:0".into()])
        .await
        .unwrap();
    assert_eq!(replay[0].outcome, ReplayOutcome::NotFound);
}

#[tokio::test]
async fn pause_and_resume_change_the_consumer_and_an_unknown_consumer_is_not_found() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    assert!(!client.consumers().await.unwrap()[0].paused);
    let paused = client.pause("inventory-events").await.unwrap();
    assert!(paused.paused);
    assert_eq!(paused.group, "order-service");
    assert!(server.backend.consumer("inventory-events").unwrap().paused);
    assert!(client.consumers().await.unwrap()[0].paused);
    let resumed = client.resume("inventory-events").await.unwrap();
    assert!(!resumed.paused);
    assert!(!server.backend.consumer("inventory-events").unwrap().paused);

    let err = client.pause("ghost").await.unwrap_err();
    assert_eq!(err.code(), Some(Code::NotFound));
}

#[tokio::test]
async fn orders_are_found_by_id_and_listed_by_status_newest_first() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    let order = client.order("o-2").await.unwrap();
    assert_eq!(order.status, OrderStatus::Rejected);
    assert_eq!(order.lines[0].product_id, "apple");
    assert_eq!(order.lines[0].quantity, 2);
    assert_eq!(order.lines[0].unit_price, "0.40");
    assert_eq!(order.currency, "EUR");
    assert!(order.rejection_reason.contains("not enough apple"));

    let confirmed = client.orders(OrderStatus::Confirmed, 0).await.unwrap();
    let ids: Vec<_> = confirmed.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(ids, ["o-3", "o-1"]);
    assert_eq!(
        client
            .orders(OrderStatus::Confirmed, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        client
            .orders(OrderStatus::Shipped, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let err = client.order("o-404").await.unwrap_err();
    assert_eq!(err.code(), Some(Code::NotFound));
    assert!(err.to_string().contains("o-404"), "{err}");
}

#[tokio::test]
async fn stock_is_read_per_product_listed_and_set() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    let apple = client.stock("apple").await.unwrap();
    assert_eq!((apple.available, apple.reserved), (10, 2));
    assert_eq!(client.all_stock().await.unwrap().len(), 2);

    let set = client.set_stock("apple", 25).await.unwrap();
    assert_eq!((set.available, set.reserved), (25, 2));
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 25);
    assert_eq!(client.stock("apple").await.unwrap().available, 25);

    let kiwi = client.set_stock("kiwi", 3).await.unwrap();
    assert_eq!(kiwi.available, 3);
    assert_eq!(client.all_stock().await.unwrap().len(), 3);

    let err = client.stock("mango").await.unwrap_err();
    assert_eq!(err.code(), Some(Code::NotFound));
}

#[tokio::test]
async fn notifications_are_listed_per_order() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    let sent = client.notifications("o-1").await.unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].kind, "order_received");
    assert_eq!(sent[0].recipient, "c-42@example.com");
    assert_eq!(sent[0].transport, "mailbox");
    assert_eq!(sent[0].event_id, "e-1");
    assert!(sent[0].sent_at.is_some());
    // Delivery state travels too: the second is pending after a failed attempt.
    assert_eq!(sent[1].sent_at, None);
    assert_eq!(sent[1].last_error, "mailbox full");
    assert!(client.notifications("o-2").await.unwrap().is_empty());
}

/// Asserts `INVALID_ARGUMENT` whose message contains `needle`.
fn invalid(err: contracts_admin::Error, needle: &str) {
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
    assert!(err.to_string().contains(needle), "{needle:?} not in {err}");
}

#[tokio::test]
async fn bad_arguments_are_refused_with_invalid_argument_naming_the_field_and_change_nothing() {
    let server = common::start(AdminConfig::default()).await;
    let client = server.client().await;
    invalid(client.replay(vec![]).await.unwrap_err(), "at least one");
    invalid(
        client
            .replay(vec!["orders.DLT:0:7".into(), "nonsense".into()])
            .await
            .unwrap_err(),
        "ids[1]: \"nonsense\" is not a dead-letter id",
    );
    invalid(
        client
            .drop_dead_letters(vec!["orders.DLT:x:7".into()])
            .await
            .unwrap_err(),
        "partition",
    );
    invalid(
        client
            .drop_dead_letters(vec!["orders.DLT:0:7".into(), "orders.DLT:0:7".into()])
            .await
            .unwrap_err(),
        "ids[1] repeats ids[0]",
    );
    invalid(
        client
            .replay(vec!["t:0:1".to_string(); 1001])
            .await
            .unwrap_err(),
        "the most is 1000",
    );
    invalid(
        client.dead_letters(Some("no/such"), 0).await.unwrap_err(),
        "topic",
    );
    invalid(
        client.dead_letters(None, 5000).await.unwrap_err(),
        "limit 5000",
    );
    invalid(
        client.pause("").await.unwrap_err(),
        "consumer must not be empty",
    );
    invalid(
        client.resume(" ").await.unwrap_err(),
        "consumer must not be empty",
    );
    invalid(
        client.order("").await.unwrap_err(),
        "order_id must not be empty",
    );
    invalid(
        client.order(&"x".repeat(300)).await.unwrap_err(),
        "order_id is 300 bytes",
    );
    invalid(
        client.stock("").await.unwrap_err(),
        "product_id must not be empty",
    );
    invalid(
        client.set_stock("apple", -3).await.unwrap_err(),
        "available must be zero or more, got -3",
    );
    invalid(client.set_stock("", 1).await.unwrap_err(), "product_id");
    invalid(
        client.notifications("a\nb").await.unwrap_err(),
        "control characters",
    );
    invalid(
        client.orders(OrderStatus::Paid, 1001).await.unwrap_err(),
        "limit 1001",
    );

    // Nothing changed.
    assert!(server.backend.replayed().is_empty());
    assert_eq!(server.backend.dead_letter_ids().len(), 3);
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 10);
    assert!(!server.backend.consumer("inventory-events").unwrap().paused);
}

#[tokio::test]
async fn an_order_status_the_server_cannot_use_is_invalid_argument_with_the_choices() {
    let server = common::start(AdminConfig::default()).await;
    // The typed client cannot send these; a generated one can.
    let mut raw = pb::order_admin_service_client::OrderAdminServiceClient::connect(server.url())
        .await
        .unwrap();
    for (status, named) in [(0, "ORDER_STATUS_UNSPECIFIED"), (42, "42")] {
        let err = raw
            .list_orders(pb::ListOrdersRequest { status, limit: 0 })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains(named), "{}", err.message());
        assert!(
            err.message().contains("PENDING, CONFIRMED"),
            "{}",
            err.message()
        );
    }
}

#[tokio::test]
async fn an_internal_backend_failure_is_answered_generically_without_its_detail() {
    let server = common::start(AdminConfig::default()).await;
    server
        .backend
        .set_failing(Some("sqlite: disk I/O error at /var/lib/secret.db"));
    let client = server.client().await;
    let err = client.contracts().await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Internal));
    let text = err.to_string();
    assert!(
        text.contains("ListContracts failed inside the server"),
        "{text}"
    );
    assert!(
        !text.contains("secret.db"),
        "internal detail leaked: {text}"
    );
}

#[tokio::test]
async fn a_process_without_a_domain_service_answers_unimplemented_for_it() {
    let backend = contracts_admin::memory::MemoryBackend::sample();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Admin plus inventory only: what the inventory service serves. An Arc of a backend is a
    // backend, for state shared with the rest of the process.
    let shared = std::sync::Arc::new(backend);
    let server = contracts_admin::AdminServer::new(AdminConfig::default(), shared.clone())
        .with_inventory(shared);
    assert_eq!(
        server.services(),
        [
            "contracts.admin.v1.AdminService",
            "contracts.admin.v1.InventoryAdminService"
        ]
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let client = contracts_admin::AdminClient::connect(contracts_admin::ClientConfig::new(
        format!("http://{addr}"),
    ))
    .await
    .unwrap();
    assert_eq!(client.stock("apple").await.unwrap().available, 10);
    let err = client.order("o-1").await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unimplemented));
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
