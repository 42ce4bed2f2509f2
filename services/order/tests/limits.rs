//! The HTTP API's protection, served over real TCP as the binary serves it: the bearer token,
//! the body limit, the request timeout (a slow client) and the concurrency limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use contracts_core::secret::Secret;
use order_service::domain::Catalog;
use order_service::http::{ApiConfig, AppState, router_with};
use order_service::store::OrderStore;
use serde_json::Value;
use shop_service_kit::ops::Counters;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "order-api-test-token";
const BODY_LIMIT: usize = 2048;

/// The API on a loopback port, with a token, a 2 KiB body limit, `timeout` and `concurrency`.
async fn serve(timeout: Duration, concurrency: usize) -> SocketAddr {
    let state = AppState {
        store: OrderStore::open_in_memory().await.unwrap(),
        catalog: Arc::new(Catalog::default()),
        relay: Arc::default(),
        counters: Counters::new(),
        body_limit: BODY_LIMIT,
    };
    let config = ApiConfig {
        token: Some(Secret::new(TOKEN)),
        request_timeout: timeout,
        max_concurrent_requests: concurrency,
    };
    let app = router_with(state, &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends `head` (request line and headers, without the blank line) and `body`; returns the
/// status and the body parsed as JSON.
async fn send(addr: SocketAddr, head: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{head}\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(stream).await
}

async fn read_response(mut stream: TcpStream) -> (u16, Value) {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
    (status, json)
}

fn order() -> String {
    r#"{"customer":"alice@example.com","line_items":[{"product":"tea","quantity":2}]}"#.to_owned()
}

fn bearer(token: &str) -> String {
    format!("\r\nAuthorization: Bearer {token}")
}

#[tokio::test]
async fn without_the_token_or_with_a_wrong_one_orders_can_be_neither_placed_nor_read() {
    let addr = serve(Duration::from_secs(30), 16).await;
    for (method, path) in [
        ("POST", "/orders"),
        ("GET", "/orders?status=PENDING"),
        ("GET", "/orders/some-id"),
        ("POST", "/orders/some-id/pay"),
        ("POST", "/orders/some-id/ship"),
    ] {
        let (status, body) = send(addr, &format!("{method} {path} HTTP/1.1"), &order()).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("ORDER_API_TOKEN"),
            "{body}"
        );
        let (status, body) = send(
            addr,
            &format!("{method} {path} HTTP/1.1{}", bearer("guess")),
            &order(),
        )
        .await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert_eq!(body["error"], "the bearer token is not valid");
    }
    // Nothing was stored by the refused requests.
    let (status, body) = send(
        addr,
        &format!("GET /orders?status=PENDING HTTP/1.1{}", bearer(TOKEN)),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orders"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn with_the_token_an_order_is_placed_read_and_listed() {
    let addr = serve(Duration::from_secs(30), 16).await;
    let (status, placed) = send(
        addr,
        &format!("POST /orders HTTP/1.1{}", bearer(TOKEN)),
        &order(),
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    let id = placed["id"].as_str().unwrap();
    let (status, got) = send(
        addr,
        &format!("GET /orders/{id} HTTP/1.1{}", bearer(TOKEN)),
        "",
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["customer"], "alice@example.com");
    let (status, listed) = send(
        addr,
        &format!("GET /orders?status=PENDING HTTP/1.1{}", bearer(TOKEN)),
        "",
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["orders"][0]["id"], id);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_naming_the_limit() {
    let addr = serve(Duration::from_secs(30), 16).await;
    let big = format!(
        r#"{{"customer":"a@b.io","line_items":[{}]}}"#,
        vec![r#"{"product":"tea","quantity":1}"#; 200].join(",")
    );
    assert!(big.len() > BODY_LIMIT);
    let (status, body) = send(
        addr,
        &format!("POST /orders HTTP/1.1{}", bearer(TOKEN)),
        &big,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("2048 bytes"), "{message}");
    assert!(message.contains("--max-body-bytes"), "{message}");
}

/// Sends the head of a POST whose body never comes: the connection is held open.
async fn stalled_post(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /orders HTTP/1.1\r\nHost: test\r\nConnection: close{}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"cust",
        bearer(TOKEN)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_client_that_sends_its_body_too_slowly_gets_408() {
    let addr = serve(Duration::from_millis(300), 16).await;
    let stream = stalled_post(addr).await;
    let (status, body) = read_response(stream).await;
    assert_eq!(status, 408, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("300 ms"), "{message}");
    assert!(message.contains("--request-timeout-ms"), "{message}");
}

#[tokio::test]
async fn a_request_beyond_the_concurrency_limit_gets_503_at_once() {
    // One request at a time; the first one stalls (a long timeout keeps it in flight).
    let addr = serve(Duration::from_secs(60), 1).await;
    let _holding = stalled_post(addr).await;
    // The stalled request holds the only slot once the server has read its head; until then
    // a second request may still be served, so ask until the limit answers.
    let mut answer = (0, Value::Null);
    for _ in 0..200 {
        answer = send(
            addr,
            &format!("GET /orders?status=PENDING HTTP/1.1{}", bearer(TOKEN)),
            "",
        )
        .await;
        if answer.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, body) = answer;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--max-concurrent-requests"),
        "{body}"
    );
}
