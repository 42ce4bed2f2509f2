//! The HTTP edge: Confluent's routes on an axum [`Router`], errors mapped once into
//! `{"error_code", "message"}`, authentication and per-route authorization (see [`access`]), an
//! audit line per mutating request (tracing target `audit`), a body size limit, metrics and logs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{debug, info, warn};

use crate::auth::{Auth, Operation, PeerNames, Principal, Rejected, Resource};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::{ListOptions, Registry, VersionId};
use contracts_registry_client::api::{
    self, ConfigUpdateRequest, MEDIA_TYPE, ModeBody, RegisterSchemaRequest, codes,
};

/// Options of the HTTP edge.
#[derive(Debug, Clone)]
pub struct RouterOptions {
    /// Requests with a larger body get 413.
    pub max_body_bytes: usize,
    /// Users and permissions (the auth file). Without them every request is allowed.
    pub auth: Option<Arc<Auth>>,
}

/// The default largest request body: 1 MiB, as Karapace's. A schema must fit in one record of
/// the registry's topic (1 MB by Kafka's default) anyway; parsing and checking the costliest
/// shapes measured at this size take under a second of CPU (`examples/hostile_shapes.rs`,
/// `benches/README.md`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            auth: None,
        }
    }
}

#[derive(Debug)]
struct AppState {
    registry: Arc<Registry>,
    metrics: Metrics,
    options: RouterOptions,
}

type App = State<Arc<AppState>>;

/// The registry's routes.
pub fn router(registry: Arc<Registry>, options: RouterOptions) -> Router {
    let limit = options.max_body_bytes;
    let state = Arc::new(AppState {
        registry,
        metrics: Metrics::default(),
        options,
    });
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/ready", get(health))
        .route("/metrics", get(metrics))
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(schema_types))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(id_subjects))
        .route("/schemas/ids/{id}/versions", get(id_versions))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(raw_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compat_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compat_version),
        )
        .route(
            "/config",
            get(get_global_config)
                .put(put_global_config)
                .delete(delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/mode",
            get(get_global_mode)
                .put(put_global_mode)
                .delete(delete_global_mode),
        )
        .route(
            "/mode/{subject}",
            get(get_subject_mode)
                .put(put_subject_mode)
                .delete(delete_subject_mode),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

// ---- edge helpers ----------------------------------------------------------------------------

/// A JSON answer with Confluent's media type.
struct V1<T>(T);

impl<T: Serialize> IntoResponse for V1<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => {
                let mut res = (StatusCode::OK, body).into_response();
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
                res
            }
            Err(e) => ApiError::new(codes::INTERNAL_SERVER_ERROR, format!("{e}")).into_response(),
        }
    }
}

type Answer<T> = Result<V1<T>, ApiError>;

/// A JSON request body; malformed JSON, wrong shapes and oversized bodies become
/// Confluent-style errors instead of axum's plain-text rejections.
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    codes::PAYLOAD_TOO_LARGE,
                    "Request body is larger than this registry accepts (--max-body-bytes); send a smaller schema or raise the limit",
                )
            } else {
                ApiError::new(codes::BAD_REQUEST, format!("Cannot read the request body: {r}"))
            }
        })?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => ApiError::new(422, format!("Unrecognizable request body: {e}")),
                _ => ApiError::new(
                    codes::BAD_REQUEST,
                    format!("Malformed JSON in the request body: {e}"),
                ),
            }
        })
    }
}

/// Query parameters, names and values percent-decoded; unknown ones are ignored by handlers.
struct Params(HashMap<String, String>);

impl Params {
    fn from_raw(raw: Option<String>) -> Self {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Params(map)
    }

    /// A boolean parameter, read as Java's `Boolean.valueOf`: "true" in any case is true.
    fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    fn str(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(|v| v.trim().parse().ok())
    }

    fn list_options(&self) -> ListOptions {
        ListOptions {
            deleted: self.flag("deleted"),
            // Confluent spells it deletedOnly; the Python client sends deleted_only.
            deleted_only: self.flag("deletedOnly") || self.flag("deleted_only"),
        }
    }

    fn serialized(&self) -> bool {
        self.str("format").eq_ignore_ascii_case("serialized")
    }

    /// `offset` and `limit` (a negative limit means all), as Confluent pages lists.
    fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let offset = usize::try_from(self.int("offset").unwrap_or(0).max(0)).unwrap_or(0);
        let limit = self.int("limit").unwrap_or(-1);
        let it = items.into_iter().skip(offset);
        match usize::try_from(limit) {
            Ok(l) if limit >= 0 => it.take(l).collect(),
            _ => it.collect(),
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_id(id: &str) -> Result<i32, ApiError> {
    id.trim()
        .parse()
        .map_err(|_| ApiError::schema_not_found(id))
}

// ---- middleware ------------------------------------------------------------------------------

/// What a route needs from the caller, when the registry has an auth file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `/health` and `/ready`: open unless the auth file sets `protect_health`.
    Health,
    /// `/metrics`: open unless the auth file sets `protect_metrics`.
    Metrics,
    /// Any authenticated user; lists are filtered to the subjects the user may read.
    Authenticated,
    /// `operation` on the subject in the path.
    Subject(Operation),
    /// `operation` on the global config and mode.
    Config(Operation),
    /// A schema by id: allowed when the user may read a subject that holds it.
    SchemaId,
}

impl Access {
    /// Whether a request with this access changes the registry (and gets an audit line).
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Access::Subject(Operation::Write | Operation::Admin)
                | Access::Config(Operation::Write | Operation::Admin)
        )
    }
}

/// The access each route of [`router`] needs, by its path pattern and method (`HEAD` as
/// `GET`). `None` for a pair the router does not serve; a unit test checks that every route of
/// [`router`] has its entry.
pub fn access(route: &str, method: &Method) -> Option<Access> {
    use Access::*;
    use Operation::*;
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    Some(match (method, route) {
        ("GET", "/health" | "/ready") => Health,
        ("GET", "/metrics") => Metrics,
        ("GET", "/" | "/schemas" | "/schemas/types" | "/subjects" | "/config" | "/mode") => {
            Authenticated
        }
        (
            "GET",
            "/schemas/ids/{id}"
            | "/schemas/ids/{id}/schema"
            | "/schemas/ids/{id}/subjects"
            | "/schemas/ids/{id}/versions",
        ) => SchemaId,
        (
            "GET",
            "/subjects/{subject}/versions"
            | "/subjects/{subject}/versions/{version}"
            | "/subjects/{subject}/versions/{version}/schema"
            | "/subjects/{subject}/versions/{version}/referencedby"
            | "/config/{subject}"
            | "/mode/{subject}",
        ) => Subject(Read),
        // Looking a schema up and testing compatibility change nothing.
        (
            "POST",
            "/subjects/{subject}"
            | "/compatibility/subjects/{subject}/versions"
            | "/compatibility/subjects/{subject}/versions/{version}",
        ) => Subject(Read),
        ("POST", "/subjects/{subject}/versions") => Subject(Write),
        ("DELETE", "/subjects/{subject}" | "/subjects/{subject}/versions/{version}") => {
            Subject(Admin)
        }
        ("PUT" | "DELETE", "/config/{subject}" | "/mode/{subject}") => Subject(Admin),
        ("PUT" | "DELETE", "/config" | "/mode") => Config(Admin),
        _ => return None,
    })
}

/// The authenticated caller, in the extensions of requests to a registry with an auth file.
type Caller = Option<Extension<Arc<Principal>>>;

/// Whether the caller may see `subject` in a list (always, without an auth file).
fn readable(caller: &Caller, subject: &str) -> bool {
    caller
        .as_ref()
        .is_none_or(|Extension(p)| p.may(Operation::Read, &Resource::Subject(subject.to_owned())))
}

/// Authentication, readiness (requests wait up to a minute until the instance caught up),
/// authorization, and an audit line for every request that changes the registry.
async fn gate(State(app): App, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = req.method().clone();
    let access = route.as_deref().and_then(|r| access(r, &method));
    let (mut parts, body) = req.into_parts();
    let params = Path::<HashMap<String, String>>::from_request_parts(&mut parts, &())
        .await
        .map(|Path(p)| p)
        .unwrap_or_default();
    let req = Request::from_parts(parts, body);
    let subject = params.get("subject").cloned();
    let (res, caller) = guarded(&app, access, &params, req, next).await;
    if access.is_some_and(Access::is_mutating) || (access.is_none() && method != Method::GET) {
        info!(
            target: "audit",
            user = caller.as_ref().map_or("anonymous", |p| p.name.as_str()),
            method = %method,
            route = route.as_deref().unwrap_or("unmatched"),
            subject = subject.as_deref().unwrap_or(""),
            status = res.status().as_u16(),
            "registry change"
        );
    }
    res
}

async fn guarded(
    app: &AppState,
    access: Option<Access>,
    params: &HashMap<String, String>,
    mut req: Request,
    next: Next,
) -> (Response, Option<Arc<Principal>>) {
    let mut caller = None;
    if let Some(auth) = &app.options.auth {
        let open = match access {
            Some(Access::Health) => !auth.protects_health(),
            Some(Access::Metrics) => !auth.protects_metrics(),
            _ => false,
        };
        if !open {
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes);
            match auth
                .authenticate(header, req.extensions().get::<PeerNames>())
                .await
            {
                Ok(p) => caller = Some(p),
                Err(why) => return (unauthorized(&why), None),
            }
        }
    }
    if !matches!(access, Some(Access::Health | Access::Metrics)) && !app.registry.is_ready() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !app.registry.is_ready() {
            if Instant::now() > deadline {
                let res = ApiError::new(
                    codes::OPERATION_TIMEOUT,
                    "The registry is still reading its log; retry shortly",
                )
                .into_response();
                return (res, caller);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if let Some(p) = &caller {
        let subject = params.get("subject").map(String::as_str);
        let denied = match access {
            None | Some(Access::Health | Access::Metrics | Access::Authenticated) => None,
            Some(Access::Subject(op)) => {
                let resource = Resource::Subject(subject.unwrap_or_default().to_owned());
                (!p.may(op, &resource)).then_some((op, resource))
            }
            Some(Access::Config(op)) => {
                (!p.may(op, &Resource::Config)).then_some((op, Resource::Config))
            }
            Some(Access::SchemaId) => {
                let id = params.get("id").and_then(|id| id.trim().parse().ok());
                let readable = match id {
                    Some(id) => match app.registry.id_versions(id, true).await {
                        Ok(versions) => versions.iter().any(|sv| {
                            p.may(Operation::Read, &Resource::Subject(sv.subject.clone()))
                        }),
                        // Unknown ids get their 404 from the handler.
                        Err(_) => p.reads_any_subject(),
                    },
                    None => p.reads_any_subject(),
                };
                let id = params.get("id").cloned().unwrap_or_default();
                (!readable).then(|| (Operation::Read, Resource::Subject(format!("(schema {id})"))))
            }
        };
        if let Some((op, resource)) = denied {
            let res = ApiError::new(
                codes::FORBIDDEN,
                format!("User {} is denied operation {op} on {resource}", p.name),
            )
            .into_response();
            return (res, caller);
        }
        req.extensions_mut().insert(p.clone());
    }
    (next.run(req).await, caller)
}

fn unauthorized(why: &Rejected) -> Response {
    let message = match why {
        Rejected::Missing => {
            "Unauthorized: send credentials (HTTP basic, a bearer token or a client certificate)"
        }
        Rejected::Wrong => "Unauthorized: the credentials match no user of this registry",
        Rejected::Malformed => {
            "Unauthorized: the Authorization header holds neither Basic nor Bearer credentials"
        }
    };
    let mut res = ApiError::new(codes::UNAUTHORIZED, message).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"schema-registry\""),
    );
    res
}

/// Metrics and a log line per request.
async fn observe(State(app): App, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let res = next.run(req).await;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    app.metrics.record(&route, method.as_str(), status, elapsed);
    if status >= 500 {
        warn!(%method, route, status, latency_ms = elapsed.as_millis() as u64, "request failed");
    } else {
        debug!(%method, route, status, latency_ms = elapsed.as_millis() as u64, "request");
    }
    res
}

async fn not_found() -> ApiError {
    ApiError::new(codes::NOT_FOUND, "HTTP 404 Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(405, "HTTP 405 Method Not Allowed")
}

// ---- handlers --------------------------------------------------------------------------------

async fn root() -> V1<serde_json::Value> {
    V1(serde_json::json!({}))
}

async fn health(State(app): App) -> Response {
    if app.registry.is_ready() {
        V1(serde_json::json!({"status": "UP"})).into_response()
    } else {
        let mut res = V1(serde_json::json!({"status": "STARTING"})).into_response();
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        res
    }
}

async fn metrics(State(app): App) -> Response {
    let body = app.metrics.render(&app.registry);
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

async fn list_schemas(
    State(app): App,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Answer<Vec<api::Schema>> {
    let p = Params::from_raw(q);
    let mut all = app
        .registry
        .schemas(
            p.str("subjectPrefix"),
            p.flag("deleted"),
            p.flag("latestOnly"),
        )
        .await?;
    all.retain(|s| readable(&caller, &s.subject));
    Ok(V1(p.page(all)))
}

async fn schema_types(State(app): App) -> V1<Vec<&'static str>> {
    V1(app.registry.schema_types())
}

async fn schema_by_id(
    State(app): App,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer<api::SchemaString> {
    let p = Params::from_raw(q);
    let id = parse_id(&id)?;
    Ok(V1(app
        .registry
        .schema_by_id(id, p.serialized(), p.flag("fetchMaxId"))
        .await?))
}

async fn raw_schema_by_id(
    State(app): App,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::from_raw(q);
    let id = parse_id(&id)?;
    let s = app.registry.schema_by_id(id, p.serialized(), false).await?;
    Ok(raw(s.schema))
}

fn raw(text: String) -> Response {
    let mut res = text.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    res
}

async fn id_subjects(
    State(app): App,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer<Vec<String>> {
    let p = Params::from_raw(q);
    let id = parse_id(&id)?;
    let mut subjects: Vec<String> = app
        .registry
        .id_versions(id, p.flag("deleted"))
        .await?
        .into_iter()
        .map(|sv| sv.subject)
        .filter(|s| p.str("subject").is_empty() || s == p.str("subject"))
        .filter(|s| readable(&caller, s))
        .collect();
    subjects.dedup();
    Ok(V1(p.page(subjects)))
}

async fn id_versions(
    State(app): App,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer<Vec<api::SubjectVersion>> {
    let p = Params::from_raw(q);
    let id = parse_id(&id)?;
    let versions: Vec<_> = app
        .registry
        .id_versions(id, p.flag("deleted"))
        .await?
        .into_iter()
        .filter(|sv| p.str("subject").is_empty() || sv.subject == p.str("subject"))
        .filter(|sv| readable(&caller, &sv.subject))
        .collect();
    Ok(V1(p.page(versions)))
}

async fn list_subjects(
    State(app): App,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Answer<Vec<String>> {
    let p = Params::from_raw(q);
    let mut subjects = app
        .registry
        .subjects(p.str("subjectPrefix"), p.list_options())
        .await?;
    subjects.retain(|s| readable(&caller, s));
    Ok(V1(p.page(subjects)))
}

async fn lookup(
    State(app): App,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
    Body(req): Body<RegisterSchemaRequest>,
) -> Answer<api::Schema> {
    let p = Params::from_raw(q);
    Ok(V1(app
        .registry
        .lookup(&subject, &req, p.flag("deleted"))
        .await?))
}

async fn delete_subject(
    State(app): App,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer<Vec<i32>> {
    let p = Params::from_raw(q);
    Ok(V1(app
        .registry
        .delete_subject(&subject, p.flag("permanent"))
        .await?))
}

async fn list_versions(
    State(app): App,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer<Vec<i32>> {
    let p = Params::from_raw(q);
    let mut versions = app.registry.versions(&subject, p.list_options()).await?;
    if p.flag("deletedAsNegative") {
        let deleted: Vec<i32> = app
            .registry
            .versions(
                &subject,
                ListOptions {
                    deleted: true,
                    deleted_only: true,
                },
            )
            .await?;
        for v in &mut versions {
            if deleted.contains(v) {
                *v = -*v;
            }
        }
    }
    Ok(V1(p.page(versions)))
}

async fn register(
    State(app): App,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
    Body(req): Body<RegisterSchemaRequest>,
) -> Answer<api::RegisterSchemaResponse> {
    let p = Params::from_raw(q);
    let mut answer = app
        .registry
        .register(&subject, &req, p.flag("normalize"))
        .await?;
    // Confluent 7.x answers {"id": N}; the version is not part of that answer.
    answer.version = None;
    Ok(V1(answer))
}

async fn get_version(
    State(app): App,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Answer<api::Schema> {
    let p = Params::from_raw(q);
    let v = VersionId::parse(&version)?;
    Ok(V1(app
        .registry
        .version(&subject, v, p.flag("deleted"), p.serialized())
        .await?))
}

async fn raw_version(
    State(app): App,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::from_raw(q);
    let v = VersionId::parse(&version)?;
    let s = app
        .registry
        .version(&subject, v, p.flag("deleted"), p.serialized())
        .await?;
    Ok(raw(s.schema))
}

async fn referenced_by(
    State(app): App,
    Path((subject, version)): Path<(String, String)>,
) -> Answer<Vec<i32>> {
    let v = VersionId::parse(&version)?;
    Ok(V1(app.registry.referenced_by(&subject, v).await?))
}

async fn delete_version(
    State(app): App,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Answer<i32> {
    let p = Params::from_raw(q);
    let v = VersionId::parse(&version)?;
    Ok(V1(app
        .registry
        .delete_version(&subject, v, p.flag("permanent"))
        .await?))
}

async fn compat_all(
    State(app): App,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
    Body(req): Body<RegisterSchemaRequest>,
) -> Answer<api::CompatibilityCheckResponse> {
    let p = Params::from_raw(q);
    Ok(V1(app
        .registry
        .test_compatibility(&subject, None, &req, p.flag("verbose"))
        .await?))
}

async fn compat_version(
    State(app): App,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    Body(req): Body<RegisterSchemaRequest>,
) -> Answer<api::CompatibilityCheckResponse> {
    let p = Params::from_raw(q);
    let v = VersionId::parse(&version)?;
    Ok(V1(app
        .registry
        .test_compatibility(&subject, Some(v), &req, p.flag("verbose"))
        .await?))
}

async fn get_global_config(State(app): App, RawQuery(q): RawQuery) -> Answer<api::Config> {
    let p = Params::from_raw(q);
    Ok(V1(app
        .registry
        .get_config(None, p.flag("defaultToGlobal"))
        .await?))
}

async fn put_global_config(
    State(app): App,
    Body(req): Body<ConfigUpdateRequest>,
) -> Answer<ConfigUpdateRequest> {
    Ok(V1(app.registry.set_config(None, &req).await?))
}

async fn delete_global_config(State(app): App) -> Answer<api::Config> {
    Ok(V1(app.registry.delete_config(None).await?))
}

async fn get_subject_config(
    State(app): App,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer<api::Config> {
    let p = Params::from_raw(q);
    Ok(V1(app
        .registry
        .get_config(Some(&subject), p.flag("defaultToGlobal"))
        .await?))
}

async fn put_subject_config(
    State(app): App,
    Path(subject): Path<String>,
    Body(req): Body<ConfigUpdateRequest>,
) -> Answer<ConfigUpdateRequest> {
    Ok(V1(app.registry.set_config(Some(&subject), &req).await?))
}

async fn delete_subject_config(
    State(app): App,
    Path(subject): Path<String>,
) -> Answer<api::Config> {
    Ok(V1(app.registry.delete_config(Some(&subject)).await?))
}

async fn get_global_mode(State(app): App) -> Answer<ModeBody> {
    Ok(V1(ModeBody::new(app.registry.get_mode(None, false).await?)))
}

async fn put_global_mode(
    State(app): App,
    RawQuery(q): RawQuery,
    Body(req): Body<ModeBody>,
) -> Answer<ModeBody> {
    let p = Params::from_raw(q);
    Ok(V1(ModeBody::new(
        app.registry
            .set_mode(None, &req.mode, p.flag("force"))
            .await?,
    )))
}

async fn delete_global_mode(State(app): App) -> Answer<ModeBody> {
    Ok(V1(ModeBody::new(app.registry.delete_mode(None).await?)))
}

async fn get_subject_mode(
    State(app): App,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer<ModeBody> {
    let p = Params::from_raw(q);
    Ok(V1(ModeBody::new(
        app.registry
            .get_mode(Some(&subject), p.flag("defaultToGlobal"))
            .await?,
    )))
}

async fn put_subject_mode(
    State(app): App,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
    Body(req): Body<ModeBody>,
) -> Answer<ModeBody> {
    let p = Params::from_raw(q);
    Ok(V1(ModeBody::new(
        app.registry
            .set_mode(Some(&subject), &req.mode, p.flag("force"))
            .await?,
    )))
}

async fn delete_subject_mode(State(app): App, Path(subject): Path<String>) -> Answer<ModeBody> {
    Ok(V1(ModeBody::new(
        app.registry.delete_mode(Some(&subject)).await?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route(path, get(..).post(..))` of [`router`], read from this file's source, so
    /// that a route added without an entry in [`access`] fails here.
    fn routes_in_source() -> Vec<(String, Method)> {
        let source = include_str!("server.rs");
        let body = &source[source.find("pub fn router(").unwrap()..];
        let body = &body[..body.find(".fallback(").unwrap()];
        let mut routes = Vec::new();
        for call in body.split(".route(").skip(1) {
            let path = call.split('"').nth(1).unwrap().to_owned();
            for (name, method) in [
                ("get(", Method::GET),
                ("post(", Method::POST),
                ("put(", Method::PUT),
                ("delete(", Method::DELETE),
            ] {
                let found = call.match_indices(name).any(|(i, _)| {
                    i == 0
                        || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && call.as_bytes()[i - 1] != b'_'
                });
                if found {
                    routes.push((path.clone(), method));
                }
            }
        }
        routes
    }

    #[test]
    fn every_route_has_an_access_rule() {
        let routes = routes_in_source();
        assert!(routes.len() >= 30, "the source scan found only {routes:?}");
        let unmapped: Vec<_> = routes
            .iter()
            .filter(|(path, method)| access(path, method).is_none())
            .collect();
        assert!(
            unmapped.is_empty(),
            "routes without an access rule in server::access: {unmapped:?}"
        );
    }

    #[test]
    fn changes_need_write_or_admin_and_reads_need_read() {
        use Operation::*;
        for (path, method) in routes_in_source() {
            let rule = access(&path, &method).unwrap();
            let changes = method == Method::PUT
                || method == Method::DELETE
                || (method == Method::POST && path == "/subjects/{subject}/versions");
            assert_eq!(rule.is_mutating(), changes, "{method} {path}: {rule:?}");
            if method == Method::DELETE || method == Method::PUT {
                assert!(
                    matches!(rule, Access::Subject(Admin) | Access::Config(Admin)),
                    "{method} {path} must need admin: {rule:?}"
                );
            }
        }
        assert_eq!(
            access("/subjects", &Method::HEAD),
            Some(Access::Authenticated)
        );
        assert_eq!(access("/nope", &Method::GET), None);
    }
}
