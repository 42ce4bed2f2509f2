//! The HTTP API, called through the router without sockets.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use events::order_created_pb;
use events::orders::{v1, v3};
use http_body_util::BodyExt;
use order_service::domain::{Catalog, Outcome};
use order_service::http::{AppState, DEFAULT_BODY_LIMIT, router};
use order_service::store::OrderStore;
use serde_json::{Value, json};
use shop_service_kit::ops::Counters;
use shop_service_kit::outbox;
use tower::ServiceExt;

async fn app() -> (axum::Router, OrderStore) {
    let store = OrderStore::open_in_memory().await.unwrap();
    let state = AppState {
        store: store.clone(),
        catalog: Arc::new(Catalog::default()),
        relay: Arc::default(),
        counters: Counters::new(),
        body_limit: DEFAULT_BODY_LIMIT,
    };
    (router(state), store)
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .header("content-type", "application/json")
                .body(body.into())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn order_body() -> String {
    json!({
        "customer": "alice@example.com",
        "line_items": [
            {"product": "tea", "quantity": 2},
            {"product": "mug", "quantity": 1}
        ]
    })
    .to_string()
}

async fn place(app: &axum::Router) -> String {
    let (status, body) = call(app, "POST", "/orders", order_body()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn placing_an_order_stores_it_pending_with_its_created_events_in_the_outbox() {
    let (app, store) = app().await;
    let (status, body) = call(&app, "POST", "/orders", order_body()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "PENDING");
    assert_eq!(
        body["total"], "19.00",
        "2 × 3.50 + 1 × 12.00 from the catalog"
    );
    let id = body["id"].as_str().unwrap();

    let (status, fetched) = call(&app, "GET", &format!("/orders/{id}"), Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["customer"], "alice@example.com");
    assert_eq!(
        fetched["line_items"][1],
        json!({"product": "mug", "quantity": 1, "unit_price": "12.00"})
    );

    let rows = outbox::all(store.db()).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let created: v3::OrderCreated = rows[0].decode().unwrap().unwrap();
    assert_eq!(created.order_id, id);
    assert_eq!(created.customer_id.as_deref(), Some("alice@example.com"));
    assert_eq!(created.line_items.len(), 2);
    assert_eq!(
        (created.product_name.as_str(), created.quantity),
        ("tea", 2),
        "v1 readers see the first line"
    );
    assert_eq!(rows[0].key, id.as_bytes());
    let pb: order_created_pb::v2::OrderCreated = rows[1].decode().unwrap().unwrap();
    assert_eq!(pb.line_items[0].unit_price.as_ref().unwrap().units, 3);
    assert_eq!(
        pb.line_items[0].unit_price.as_ref().unwrap().nanos,
        500_000_000
    );
    let total = pb.total.as_ref().expect("v2 carries the total");
    assert_eq!(
        (total.currency_code.as_str(), total.units, total.nanos),
        ("EUR", 19, 0)
    );
    assert!(rows.iter().all(|r| !r.sent));
}

async fn refused(body: &str, status: StatusCode, field: Option<&str>, message_part: &str) {
    let (app, store) = app().await;
    let (got, answer) = call(&app, "POST", "/orders", body.to_owned()).await;
    assert_eq!(got, status, "{answer}");
    assert_eq!(answer["field"].as_str(), field, "{answer}");
    let message = answer["error"].as_str().unwrap_or_default();
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
    assert!(
        store.list(None, 10).await.unwrap().is_empty(),
        "nothing is stored"
    );
    assert!(
        outbox::all(store.db()).await.unwrap().is_empty(),
        "nothing is published"
    );
}

#[tokio::test]
async fn a_negative_quantity_is_refused_naming_the_line() {
    refused(
        r#"{"customer":"a@b.io","line_items":[{"product":"tea","quantity":1},{"product":"mug","quantity":-3}]}"#,
        StatusCode::BAD_REQUEST,
        Some("line_items[1].quantity"),
        "must be between 1 and 1000, got -3",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_product_is_refused_with_the_catalog() {
    refused(
        r#"{"customer":"a@b.io","line_items":[{"product":"tee","quantity":1}]}"#,
        StatusCode::BAD_REQUEST,
        Some("line_items[0].product"),
        "unknown product \"tee\"; the catalog has coffee, mug, tea, teapot",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_refused_with_its_position() {
    refused(
        r#"{"customer":"a@b.io","line_items":[{"product":"tea" "quantity":1}]}"#,
        StatusCode::BAD_REQUEST,
        None,
        "expected `,` or `}` at line 1 column 53",
    )
    .await;
}

#[tokio::test]
async fn a_quantity_of_the_wrong_type_is_refused_naming_the_field() {
    refused(
        r#"{"customer":"a@b.io","line_items":[{"product":"tea","quantity":"two"}]}"#,
        StatusCode::BAD_REQUEST,
        Some("line_items[0].quantity"),
        "invalid type: string \"two\"",
    )
    .await;
}

#[tokio::test]
async fn a_missing_customer_is_refused() {
    refused(
        r#"{"line_items":[{"product":"tea","quantity":1}]}"#,
        StatusCode::BAD_REQUEST,
        None,
        "missing field `customer`",
    )
    .await;
}

#[tokio::test]
async fn a_customer_that_is_not_an_address_is_refused() {
    refused(
        r#"{"customer":"alice","line_items":[{"product":"tea","quantity":1}]}"#,
        StatusCode::BAD_REQUEST,
        Some("customer"),
        "is not an e-mail address",
    )
    .await;
}

#[tokio::test]
async fn a_misspelt_field_is_refused_naming_it() {
    refused(
        r#"{"customer":"a@b.io","line_items":[{"product":"tea","qty":1}]}"#,
        StatusCode::BAD_REQUEST,
        Some("line_items[0].qty"),
        "unknown field `qty`, expected `product` or `quantity`",
    )
    .await;
}

#[tokio::test]
async fn an_order_without_lines_is_refused() {
    refused(
        r#"{"customer":"a@b.io","line_items":[]}"#,
        StatusCode::BAD_REQUEST,
        Some("line_items"),
        "at least one line item",
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let huge = format!(
        r#"{{"customer":"a@b.io","line_items":[{}]}}"#,
        vec![r#"{"product":"tea","quantity":1}"#; 5000].join(",")
    );
    assert!(huge.len() > DEFAULT_BODY_LIMIT);
    refused(&huge, StatusCode::PAYLOAD_TOO_LARGE, None, "too large").await;
}

#[tokio::test]
async fn an_unknown_order_is_404() {
    let (app, _) = app().await;
    let (status, body) = call(&app, "GET", "/orders/nope", Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no order with id \"nope\"");
}

#[tokio::test]
async fn paying_a_pending_order_is_409_and_changes_nothing() {
    let (app, store) = app().await;
    let id = place(&app).await;
    let (status, body) = call(&app, "POST", &format!("/orders/{id}/pay"), Body::empty()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("it is PENDING"),
        "{body}"
    );
    assert_eq!(store.get(&id).await.unwrap().unwrap().payment_id, None);
    assert_eq!(
        outbox::all(store.db()).await.unwrap().len(),
        2,
        "no OrderPaid"
    );
}

#[tokio::test]
async fn shipping_an_unpaid_order_is_409() {
    let (app, store) = app().await;
    let id = place(&app).await;
    store.apply_outcome(&id, &Outcome::Reserved).await.unwrap();
    let (status, body) = call(&app, "POST", &format!("/orders/{id}/ship"), Body::empty()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("only a PAID order can be shipped"),
        "{body}"
    );
}

#[tokio::test]
async fn a_rejected_order_cannot_be_paid() {
    let (app, store) = app().await;
    let id = place(&app).await;
    store
        .apply_outcome(
            &id,
            &Outcome::Rejected {
                reason: "out of stock".into(),
            },
        )
        .await
        .unwrap();
    let (status, body) = call(&app, "POST", &format!("/orders/{id}/pay"), Body::empty()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("REJECTED"),
        "{body}"
    );
}

#[tokio::test]
async fn a_confirmed_order_is_paid_then_shipped_each_with_its_event() {
    let (app, store) = app().await;
    let id = place(&app).await;
    store.apply_outcome(&id, &Outcome::Reserved).await.unwrap();

    let (status, body) = call(
        &app,
        "POST",
        &format!("/orders/{id}/pay"),
        r#"{"payment_id":"psp-42"}"#,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("PAID")),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        &format!("/orders/{id}/ship"),
        r#"{"carrier":"DHL","tracking_number":"JD0001"}"#,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("SHIPPED")),
        "{body}"
    );

    let (status, body) = call(&app, "POST", &format!("/orders/{id}/pay"), Body::empty()).await;
    assert_eq!(status, StatusCode::CONFLICT, "paying twice: {body}");

    let rows = outbox::all(store.db()).await.unwrap();
    assert_eq!(rows.len(), 4);
    let paid: v1::OrderPaid = rows[2].decode().unwrap().unwrap();
    assert_eq!(
        (paid.payment_id.as_str(), paid.amount.to_string().as_str()),
        ("psp-42", "19.00")
    );
    let shipped: v1::OrderShipped = rows[3].decode().unwrap().unwrap();
    assert_eq!(
        (shipped.carrier.as_str(), shipped.tracking_number.as_deref()),
        ("DHL", Some("JD0001"))
    );
}

#[tokio::test]
async fn orders_are_listed_by_status() {
    let (app, store) = app().await;
    let a = place(&app).await;
    let b = place(&app).await;
    store.apply_outcome(&a, &Outcome::Reserved).await.unwrap();
    let (status, body) = call(&app, "GET", "/orders?status=confirmed", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<_> = body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()]);
    let (status, body) = call(&app, "GET", "/orders?status=LOST", Body::empty()).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
    let (_, body) = call(&app, "GET", "/orders?status=PENDING", Body::empty()).await;
    assert_eq!(body["orders"][0]["id"], b.as_str());
}
