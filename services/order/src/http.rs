//! The HTTP API. Client mistakes get a 4xx with a JSON body naming the field
//! (`{"error": "...", "field": "line_items[0].quantity"}`); internal failures are logged with
//! detail and answered with a generic 500.
//!
//! What no client can exceed ([`ApiConfig`]): a body larger than the limit gets 413, a request
//! not answered within the timeout (a slow client included: reading the body counts) gets 408,
//! and a request beyond the number served at once gets 503 at once instead of waiting. Each
//! answer has a JSON body saying which limit and how to change it.
//!
//! With a bearer token configured (`ORDER_API_TOKEN`), every `/orders` route needs
//! `Authorization: Bearer <token>`, reads included: an order carries the customer's e-mail
//! address, which is personal data, so `GET /orders/{id}` is protected as much as the listing.
//! `/health` and `/metrics` stay open (serve `/metrics` on its own listener to keep it
//! internal).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use contracts_core::secret::Secret;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shop_service_kit::ops::Counters;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;
use tracing::Instrument as _;

use crate::domain::{Catalog, Order, OrderRequest, Status};
use crate::store::{Error, OrderStore};

/// The largest request body accepted, by default (an order of 100 lines is about 6 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: OrderStore,
    pub catalog: Arc<Catalog>,
    /// Wakes the outbox relay after a commit, so events leave at once.
    pub relay: Arc<Notify>,
    pub counters: Counters,
    pub body_limit: usize,
}

/// How long one request may take, by default (reading its body included).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How many requests are served at once, by default; more get 503 at once.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;

/// The API's protection: an optional bearer token, a timeout and a concurrency limit (the body
/// limit is [`AppState::body_limit`]).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// When set, every `/orders` route needs `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            token: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

/// The API's routes (without `/health` and `/metrics`) with the default [`ApiConfig`]: no
/// token.
pub fn router(state: AppState) -> Router {
    router_with(state, &ApiConfig::default())
}

/// The API's routes (without `/health` and `/metrics`), protected as `config` says.
pub fn router_with(state: AppState, config: &ApiConfig) -> Router {
    let limit = state.body_limit;
    let token = Arc::new(
        config
            .token
            .as_ref()
            .map(|t| Sha256::digest(t.expose().as_bytes())),
    );
    let timeout = config.request_timeout;
    let concurrency = config.max_concurrent_requests.max(1);
    Router::new()
        .route("/orders", post(create_order).get(list_orders))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/pay", post(pay_order))
        .route("/orders/{id}/ship", post(ship_order))
        .layer(DefaultBodyLimit::max(limit))
        .route_layer(middleware::from_fn(move |request: Request, next: Next| {
            let token = token.clone();
            async move {
                match &*token {
                    Some(expected) => match check_token(expected.as_slice(), request.headers()) {
                        Ok(()) => next.run(request).await,
                        Err(message) => unauthorized(message),
                    },
                    None => next.run(request).await,
                }
            }
        }))
        .route_layer(middleware::from_fn(traced))
        .layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(
                    move |e: tower::BoxError| async move { overloaded(e, timeout, concurrency) },
                ))
                .load_shed()
                // Global: axum applies a layer to each route, and the limit is for them all.
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(concurrency))
                .timeout(timeout),
        )
        .with_state(state)
}

/// Reads a caller's trace context (`traceparent`, ...) from request headers.
struct HeaderFields<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderFields<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// One span per API request (`POST /orders`), continuing the caller's trace when the request
/// carries one: the events an order causes belong to the trace of the request that placed it.
async fn traced(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().clone();
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    let caller = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderFields(request.headers()))
    });
    contracts_runtime::headers::continue_trace(&span, caller);
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// The answer to a request the timeout or the concurrency limit stopped.
fn overloaded(e: tower::BoxError, timeout: Duration, concurrency: usize) -> ApiError {
    if e.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request was not complete within {} ms (the body was sent too slowly, or the                  server was too busy); send it again (the limit is the server's                  --request-timeout-ms)",
                timeout.as_millis()
            ),
        )
    } else if e.is::<tower::load_shed::error::Overloaded>() {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server is already serving {concurrency} requests (its                  --max-concurrent-requests); try again shortly"
            ),
        )
    } else {
        tracing::error!(error = %e, "HTTP middleware failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

/// Checks `Authorization: Bearer <token>` against the digest of the configured token, in
/// constant time; the error is the message of the 401.
fn check_token(expected: &[u8], headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(
            "this API requires a bearer token: send `Authorization: Bearer <token>` with the \
             token the server was given in ORDER_API_TOKEN",
        );
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return Err("the Authorization header must be `Bearer <token>`");
    };
    let sent = Sha256::digest(token.as_bytes());
    if bool::from(sent.as_slice().ct_eq(expected)) {
        Ok(())
    } else {
        tracing::warn!("order API call refused: wrong bearer token");
        Err("the bearer token is not valid")
    }
}

/// The 401 for `message`, with `WWW-Authenticate: Bearer`.
fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message.to_owned()).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// An answer with a JSON error body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty() && field != ".").then_some(field);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.field {
            Some(field) => json!({ "error": self.message, "field": field }),
            None => json!({ "error": self.message }),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            Error::IllegalTransition { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            other => {
                tracing::error!(error = %other, "order store failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the request was not applied, try again",
                )
            }
        }
    }
}

/// Reads a JSON body into `T`, answering 413 for oversized bodies and 400 naming the field for
/// anything else. An empty body reads as `T::default()` when `empty_ok`.
fn parse_body<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
    empty_ok: bool,
    limit: usize,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!(
                    "request body too large: at most {limit} bytes of JSON are accepted (the \
                     server's --max-body-bytes)"
                ),
            )
        } else {
            ApiError::new(status, rejection.body_text())
        }
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return if empty_ok {
            Ok(T::default())
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "empty body; send a JSON object",
            ))
        };
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // A syntax error has a position but no meaningful field.
        let field = if e.inner().is_syntax() || e.inner().is_eof() {
            String::new()
        } else {
            e.path().to_string()
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {}", e.inner()),
        )
        .field(field)
    })
}

async fn create_order(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: OrderRequest = parse_body(body, false, state.body_limit).inspect_err(|_| {
        state.counters.add(
            "shop_order_requests_refused_total",
            "Order requests answered with a 4xx.",
            &[],
            1,
        );
    })?;
    let new = request.validate(&state.catalog).map_err(|e| {
        state.counters.add(
            "shop_order_requests_refused_total",
            "Order requests answered with a 4xx.",
            &[],
            1,
        );
        ApiError::new(StatusCode::BAD_REQUEST, e.message).field(e.field)
    })?;
    let id = uuid::Uuid::new_v4().to_string();
    let order = state.store.create(&id, &new).await?;
    state.relay.notify_one();
    state.counters.add(
        "shop_orders_created_total",
        "Orders stored (each with its OrderCreated event in the outbox).",
        &[],
        1,
    );
    tracing::info!(order_id = %order.id, customer = %order.customer, lines = order.lines.len(), "order placed");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/orders/{}", order.id))],
        Json(order_json(&order)),
    )
        .into_response())
}

async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let order = state.store.get(&id).await?.ok_or(Error::NotFound(id))?;
    Ok(Json(order_json(&order)))
}

#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

async fn list_orders(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = query
        .status
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e).field("status"))?;
    let orders = state
        .store
        .list(status, query.limit.unwrap_or(100).min(1000))
        .await?;
    Ok(Json(json!({
        "orders": orders.iter().map(order_json).collect::<Vec<_>>()
    })))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    /// The payment provider's reference; generated when absent.
    payment_id: Option<String>,
}

async fn pay_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: PayRequest = parse_body(body, true, state.body_limit)?;
    let payment_id = match request.payment_id {
        Some(p) if p.trim().is_empty() => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "must not be empty; leave it out to have one generated",
            )
            .field("payment_id"));
        }
        Some(p) => p.trim().to_owned(),
        None => format!("pay-{}", uuid::Uuid::new_v4()),
    };
    let order = state.store.pay(&id, &payment_id).await?;
    state.relay.notify_one();
    tracing::info!(order_id = %order.id, %payment_id, "order paid");
    Ok(Json(order_json(&order)))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ShipRequest {
    /// Who carries the parcel; `post` when absent.
    carrier: Option<String>,
    tracking_number: Option<String>,
}

async fn ship_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: ShipRequest = parse_body(body, true, state.body_limit)?;
    let carrier = request.carrier.unwrap_or_else(|| "post".to_owned());
    if carrier.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "must not be empty; leave it out for `post`",
        )
        .field("carrier"));
    }
    let order = state
        .store
        .ship(&id, carrier.trim(), request.tracking_number.as_deref())
        .await?;
    state.relay.notify_one();
    tracing::info!(order_id = %order.id, carrier = %carrier, "order shipped");
    Ok(Json(order_json(&order)))
}

/// An order as the API shows it; amounts are strings with two decimals, so no client parses
/// money as a float.
pub fn order_json(order: &Order) -> Value {
    json!({
        "id": order.id,
        "customer": order.customer,
        "status": order.status.as_str(),
        "currency": order.currency,
        "line_items": order.lines.iter().map(|l| json!({
            "product": l.product,
            "quantity": l.quantity,
            "unit_price": format!("{:.2}", l.unit_price),
        })).collect::<Vec<_>>(),
        "total": format!("{:.2}", order.total()),
        "rejection_reason": order.rejection_reason,
        "payment_id": order.payment_id,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "created_at_ms": order.created_at_ms,
        "updated_at_ms": order.updated_at_ms,
    })
}
