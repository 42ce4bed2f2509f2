//! Every route and error code of the REST API, through the router without sockets, against an
//! in-memory log.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use contracts_registry::store::MemoryLog;
use contracts_registry::{Registry, RegistryConfig, RouterOptions, server};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const MEDIA: &str = "application/vnd.schemaregistry.v1+json";

struct App {
    router: Router,
}

struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

impl App {
    async fn new() -> App {
        App::with(RouterOptions::default()).await
    }

    async fn with(options: RouterOptions) -> App {
        let registry = Arc::new(Registry::new(
            Arc::new(MemoryLog::new()),
            RegistryConfig::default(),
        ));
        registry.start().await.unwrap();
        App {
            router: server::router(registry, options),
        }
    }

    async fn raw(&self, req: Request<Body>) -> Answer {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<&str>) -> Answer {
        let mut b = Request::builder().method(method).uri(uri);
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, MEDIA);
        }
        self.raw(
            b.body(body.map_or_else(Body::empty, |s| Body::from(s.to_string())))
                .unwrap(),
        )
        .await
    }

    async fn get(&self, uri: &str) -> Answer {
        self.call("GET", uri, None).await
    }

    async fn post(&self, uri: &str, body: Value) -> Answer {
        self.call("POST", uri, Some(&body.to_string())).await
    }

    async fn put(&self, uri: &str, body: Value) -> Answer {
        self.call("PUT", uri, Some(&body.to_string())).await
    }

    async fn delete(&self, uri: &str) -> Answer {
        self.call("DELETE", uri, None).await
    }

    async fn register(&self, subject: &str, schema: &str) -> Answer {
        self.post(
            &format!("/subjects/{subject}/versions"),
            json!({ "schema": schema }),
        )
        .await
    }

    async fn register_ok(&self, subject: &str, schema: &str) -> i64 {
        let a = self.register(subject, schema).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["id"].as_i64().unwrap()
    }
}

fn error(a: &Answer, status: u16, code: i64) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error_code"].as_i64(), Some(code), "{}", a.body);
    assert!(
        a.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        a.body
    );
    assert_eq!(a.content_type, MEDIA);
}

fn record(name: &str, fields: &[(&str, Value)]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t, "default": default_of(t)}))
        .collect();
    json!({"type": "record", "name": name, "fields": fields}).to_string()
}

fn default_of(t: &Value) -> Value {
    match t.as_str() {
        Some("string") => json!(""),
        Some("int") | Some("long") => json!(0),
        _ => Value::Null,
    }
}

fn v1() -> String {
    record("Order", &[("id", json!("string"))])
}

fn v2() -> String {
    record("Order", &[("id", json!("string")), ("qty", json!("int"))])
}

/// v1 with `id` changed to int: not backward compatible.
fn incompatible() -> String {
    json!({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "int"}]})
        .to_string()
}

async fn subjects(app: &App) -> Value {
    app.get("/subjects").await.body
}

#[tokio::test]
async fn answers_use_the_registry_media_type_and_list_schema_types() {
    let app = App::new().await;
    let a = app.get("/schemas/types").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, MEDIA);
    assert_eq!(a.body, json!(["AVRO", "PROTOBUF"]));
    let root = app.get("/").await;
    assert_eq!(root.body, json!({}));
}

#[tokio::test]
async fn registering_is_idempotent_and_shares_ids_across_subjects() {
    let app = App::new().await;
    let id = app.register_ok("orders-value", &v1()).await;
    assert_eq!(app.register_ok("orders-value", &v1()).await, id);
    // Layout and property order do not make a different schema.
    let reformatted = "{ \"name\": \"Order\", \"type\": \"record\",\n  \"fields\": [ {\"type\": \"string\", \"name\": \"id\", \"default\": \"\"} ] }";
    assert_eq!(app.register_ok("orders-value", reformatted).await, id);
    assert_eq!(
        app.get("/subjects/orders-value/versions").await.body,
        json!([1])
    );
    // The same schema under another subject: same id, version 1 there.
    assert_eq!(app.register_ok("archive-value", &v1()).await, id);
    let v = app.get("/subjects/archive-value/versions/1").await;
    assert_eq!(v.body["id"].as_i64(), Some(id));
    let id2 = app.register_ok("orders-value", &v2()).await;
    assert_ne!(id2, id);
    let registered = app.register("orders-value", &v2()).await;
    assert_eq!(registered.body, json!({ "id": id2 }));
}

#[tokio::test]
async fn versions_latest_and_raw_schema_reads() {
    let app = App::new().await;
    let id1 = app.register_ok("s", &v1()).await;
    let id2 = app.register_ok("s", &v2()).await;
    let latest = app.get("/subjects/s/versions/latest").await;
    assert_eq!(latest.status, 200);
    assert_eq!(
        latest.body,
        json!({"subject": "s", "version": 2, "id": id2, "schema": v2()})
    );
    let latest = app.get("/subjects/s/versions/LATEST").await;
    assert_eq!(latest.body["version"], 2);
    let one = app.get("/subjects/s/versions/1").await;
    assert_eq!(one.body["id"].as_i64(), Some(id1));
    let raw = app.get("/subjects/s/versions/1/schema").await;
    assert_eq!(raw.body, serde_json::from_str::<Value>(&v1()).unwrap());
    assert_eq!(app.get("/subjects/s/versions").await.body, json!([1, 2]));
    assert_eq!(app.get("/subjects").await.body, json!(["s"]));
    // limit=-1 means all; offset and limit page.
    assert_eq!(
        app.get("/subjects/s/versions?offset=0&limit=-1").await.body,
        json!([1, 2])
    );
    assert_eq!(
        app.get("/subjects/s/versions?offset=1&limit=1").await.body,
        json!([2])
    );
}

#[tokio::test]
async fn unknown_subjects_versions_and_bad_version_ids_get_confluent_errors() {
    let app = App::new().await;
    error(&app.get("/subjects/nope/versions").await, 404, 40401);
    error(&app.get("/subjects/nope/versions/1").await, 404, 40401);
    app.register_ok("s", &v1()).await;
    error(&app.get("/subjects/s/versions/7").await, 404, 40402);
    for bad in ["0", "-2", "abc", "1.5"] {
        error(
            &app.get(&format!("/subjects/s/versions/{bad}")).await,
            422,
            42202,
        );
    }
    error(&app.get("/schemas/ids/999").await, 404, 40403);
    error(&app.get("/schemas/ids/abc").await, 404, 40403);
    error(&app.get("/schemas/ids/999/versions").await, 404, 40403);
    error(&app.get("/no/such/route").await, 404, 404);
    error(&app.call("PATCH", "/subjects", None).await, 405, 405);
}

#[tokio::test]
async fn schemas_by_id_with_versions_subjects_and_raw_text() {
    let app = App::new().await;
    let id = app.register_ok("a", &v1()).await;
    app.register_ok("b", &v1()).await;
    let s = app.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(s.body, json!({"schema": v1()}));
    let s = app.get(&format!("/schemas/ids/{id}?fetchMaxId=true")).await;
    assert_eq!(s.body["maxId"].as_i64(), Some(id));
    assert_eq!(
        app.get(&format!("/schemas/ids/{id}/versions")).await.body,
        json!([{"subject": "a", "version": 1}, {"subject": "b", "version": 1}])
    );
    assert_eq!(
        app.get(&format!("/schemas/ids/{id}/subjects")).await.body,
        json!(["a", "b"])
    );
    let raw = app.get(&format!("/schemas/ids/{id}/schema")).await;
    assert_eq!(raw.body, serde_json::from_str::<Value>(&v1()).unwrap());
    let all = app.get("/schemas?subjectPrefix=a").await;
    assert_eq!(all.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn lookup_finds_the_version_holding_a_schema() {
    let app = App::new().await;
    let id = app.register_ok("s", &v1()).await;
    let found = app.post("/subjects/s", json!({"schema": v1()})).await;
    assert_eq!(found.status, 200);
    assert_eq!(
        found.body,
        json!({"subject": "s", "version": 1, "id": id, "schema": v1()})
    );
    error(
        &app.post("/subjects/s", json!({"schema": v2()})).await,
        404,
        40403,
    );
    error(
        &app.post("/subjects/other", json!({"schema": v1()})).await,
        404,
        40401,
    );
    error(
        &app.post("/subjects/s", json!({"schema": "{\"type\": "}))
            .await,
        422,
        42201,
    );
}

#[tokio::test]
async fn incompatible_registration_is_rejected_with_409_and_nothing_is_stored() {
    let app = App::new().await;
    app.register_ok("s", &v1()).await;
    let a = app.register("s", &incompatible()).await;
    error(&a, 409, 409);
    let message = a.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Schema being registered is incompatible with an earlier schema for subject \"s\""
        ),
        "{message}"
    );
    assert!(message.contains("id"), "names the field: {message}");
    assert_eq!(app.get("/subjects/s/versions").await.body, json!([1]));
    // With NONE the same change registers.
    app.put("/config/s", json!({"compatibility": "NONE"})).await;
    app.register_ok("s", &incompatible()).await;
}

#[tokio::test]
async fn compatibility_checks_against_one_version_or_all_with_verbose_messages() {
    let app = App::new().await;
    // An empty subject is compatible with anything at `latest`.
    let a = app
        .post(
            "/compatibility/subjects/s/versions/latest",
            json!({"schema": v1()}),
        )
        .await;
    assert_eq!(a.body, json!({"is_compatible": true}));
    error(
        &app.post(
            "/compatibility/subjects/s/versions/3",
            json!({"schema": v1()}),
        )
        .await,
        404,
        40401,
    );
    app.register_ok("s", &v1()).await;
    let ok = app
        .post(
            "/compatibility/subjects/s/versions",
            json!({"schema": v2()}),
        )
        .await;
    assert_eq!(ok.body, json!({"is_compatible": true}));
    let bad = app
        .post(
            "/compatibility/subjects/s/versions/1?verbose=TRUE",
            json!({"schema": incompatible()}),
        )
        .await;
    assert_eq!(bad.body["is_compatible"], false);
    let messages = bad.body["messages"].as_array().unwrap();
    assert!(!messages.is_empty());
    assert!(messages[0].as_str().unwrap().contains("errorType"));
    let quiet = app
        .post(
            "/compatibility/subjects/s/versions/latest",
            json!({"schema": incompatible()}),
        )
        .await;
    assert_eq!(quiet.body, json!({"is_compatible": false}));
    error(
        &app.post(
            "/compatibility/subjects/s/versions/9",
            json!({"schema": v2()}),
        )
        .await,
        404,
        40402,
    );
    error(
        &app.post(
            "/compatibility/subjects/s/versions/latest",
            json!({"schema": "not json"}),
        )
        .await,
        422,
        42201,
    );
    let verbose_invalid = app
        .post(
            "/compatibility/subjects/s/versions/latest?verbose=true",
            json!({"schema": "not json"}),
        )
        .await;
    assert_eq!(verbose_invalid.body["is_compatible"], false);
}

#[tokio::test]
async fn global_and_subject_config_with_confluents_field_names() {
    let app = App::new().await;
    assert_eq!(
        app.get("/config").await.body,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    let put = app.put("/config", json!({"compatibility": "full"})).await;
    assert_eq!(put.body, json!({"compatibility": "FULL"}));
    assert_eq!(
        app.get("/config").await.body,
        json!({"compatibilityLevel": "FULL"})
    );
    error(&app.get("/config/s").await, 404, 40408);
    assert_eq!(
        app.get("/config/s?defaultToGlobal=True").await.body,
        json!({"compatibilityLevel": "FULL"})
    );
    let put = app
        .put(
            "/config/s",
            json!({"compatibility": "FORWARD_TRANSITIVE", "extra": 1}),
        )
        .await;
    assert_eq!(put.body, json!({"compatibility": "FORWARD_TRANSITIVE"}));
    assert_eq!(
        app.get("/config/s").await.body,
        json!({"compatibilityLevel": "FORWARD_TRANSITIVE"})
    );
    error(
        &app.put("/config/s", json!({"compatibility": "SIDEWAYS"}))
            .await,
        422,
        42203,
    );
    error(&app.put("/config", json!({})).await, 422, 42203);
    let deleted = app.delete("/config/s").await;
    assert_eq!(
        deleted.body,
        json!({"compatibilityLevel": "FORWARD_TRANSITIVE"})
    );
    error(&app.get("/config/s").await, 404, 40408);
    error(&app.delete("/config/unknown").await, 404, 40401);
    app.delete("/config").await;
    assert_eq!(
        app.get("/config").await.body,
        json!({"compatibilityLevel": "BACKWARD"})
    );
}

#[tokio::test]
async fn modes_readonly_blocks_writes_and_import_takes_given_ids() {
    let app = App::new().await;
    assert_eq!(app.get("/mode").await.body, json!({"mode": "READWRITE"}));
    error(&app.get("/mode/s").await, 404, 40409);
    error(
        &app.put("/mode", json!({"mode": "SIDEWAYS"})).await,
        422,
        42204,
    );
    // IMPORT with ids and versions into an empty registry.
    let put = app.put("/mode", json!({"mode": "import"})).await;
    assert_eq!(put.body, json!({"mode": "IMPORT"}));
    let a = app
        .post(
            "/subjects/s/versions",
            json!({"schema": v1(), "id": 42, "version": 3}),
        )
        .await;
    assert_eq!(a.body, json!({"id": 42}), "{}", a.body);
    assert_eq!(app.get("/subjects/s/versions").await.body, json!([3]));
    // An id that holds another schema is refused.
    error(
        &app.post("/subjects/t/versions", json!({"schema": v2(), "id": 42}))
            .await,
        422,
        42207,
    );
    app.put("/mode", json!({"mode": "READWRITE"})).await;
    // Ids continue after the imported ones.
    assert_eq!(app.register_ok("t", &v2()).await, 43);
    error(
        &app.post("/subjects/t/versions", json!({"schema": v1(), "id": 7}))
            .await,
        422,
        42205,
    );
    // IMPORT is refused once subjects exist (unless forced).
    error(
        &app.put("/mode", json!({"mode": "IMPORT"})).await,
        422,
        42205,
    );
    app.put("/mode/t", json!({"mode": "READONLY"})).await;
    assert_eq!(app.get("/mode/t").await.body, json!({"mode": "READONLY"}));
    error(
        &app.register("t", &record("Order", &[("x", json!("int"))]))
            .await,
        422,
        42205,
    );
    error(&app.delete("/subjects/t/versions/1").await, 422, 42205);
    // Other subjects still take writes.
    app.register_ok("u", &v1()).await;
    let deleted = app.delete("/mode/t").await;
    assert_eq!(deleted.body, json!({"mode": "READONLY"}));
    app.register_ok(
        "t",
        &record("Order", &[("id", json!("string")), ("x", json!("int"))]),
    )
    .await;
}

#[tokio::test]
async fn soft_and_permanent_deletes_follow_confluents_rules() {
    let app = App::new().await;
    let id1 = app.register_ok("s", &v1()).await;
    app.register_ok("s", &v2()).await;
    // Permanent first: refused.
    error(
        &app.delete("/subjects/s/versions/1?permanent=true").await,
        404,
        40407,
    );
    assert_eq!(app.delete("/subjects/s/versions/1").await.body, json!(1));
    error(&app.delete("/subjects/s/versions/1").await, 404, 40406);
    assert_eq!(app.get("/subjects/s/versions").await.body, json!([2]));
    assert_eq!(
        app.get("/subjects/s/versions?deleted=TRUE").await.body,
        json!([1, 2])
    );
    assert_eq!(
        app.get("/subjects/s/versions?deletedOnly=true").await.body,
        json!([1])
    );
    error(&app.get("/subjects/s/versions/1").await, 404, 40402);
    let deleted = app.get("/subjects/s/versions/1?deleted=true").await;
    assert_eq!(deleted.body["deleted"], true);
    // A soft-deleted schema stays readable by id (old data must still decode).
    assert_eq!(app.get(&format!("/schemas/ids/{id1}")).await.status, 200);
    // Whole subject.
    error(&app.delete("/subjects/s?permanent=true").await, 404, 40405);
    assert_eq!(app.delete("/subjects/s").await.body, json!([2]));
    error(&app.delete("/subjects/s").await, 404, 40404);
    assert_eq!(subjects(&app).await, json!([]));
    assert_eq!(app.get("/subjects?deleted=true").await.body, json!(["s"]));
    error(&app.get("/subjects/s/versions").await, 404, 40401);
    assert_eq!(
        app.delete("/subjects/s?permanent=true").await.body,
        json!([1, 2])
    );
    error(
        &app.get("/subjects/s/versions?deleted=true").await,
        404,
        40401,
    );
    error(&app.get(&format!("/schemas/ids/{id1}")).await, 404, 40403);
    error(&app.delete("/subjects/s").await, 404, 40401);
    // Re-registering after a permanent delete starts at version 1 with a fresh id.
    let again = app.register_ok("s", &v1()).await;
    assert!(again > id1);
    assert_eq!(app.get("/subjects/s/versions").await.body, json!([1]));
}

#[tokio::test]
async fn avro_references_resolve_and_protect_what_they_reference() {
    let app = App::new().await;
    let address = json!({"type": "record", "name": "Address", "namespace": "shop",
        "fields": [{"name": "city", "type": "string"}]})
    .to_string();
    let address_id = app.register_ok("address", &address).await;
    let order = json!({"type": "record", "name": "Order", "namespace": "shop",
        "fields": [{"name": "ship", "type": "Address"}]})
    .to_string();
    let refs = json!([{"name": "shop.Address", "subject": "address", "version": 1}]);
    let a = app
        .post(
            "/subjects/orders/versions",
            json!({"schema": order, "references": refs}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let order_id = a.body["id"].as_i64().unwrap();
    assert_ne!(order_id, address_id);
    let v = app.get("/subjects/orders/versions/1").await;
    assert_eq!(v.body["references"], refs);
    assert_eq!(
        app.get("/subjects/address/versions/1/referencedby")
            .await
            .body,
        json!([order_id])
    );
    error(
        &app.delete("/subjects/address/versions/1").await,
        422,
        42206,
    );
    error(&app.delete("/subjects/address").await, 422, 42206);
    // Without the reference the name is unknown; a reference to a missing version is invalid.
    error(&app.register("orders2", &order).await, 422, 42201);
    let missing = json!([{"name": "shop.Address", "subject": "address", "version": 9}]);
    let a = app
        .post(
            "/subjects/orders2/versions",
            json!({"schema": order, "references": missing}),
        )
        .await;
    error(&a, 422, 42201);
    assert!(a.body["message"].as_str().unwrap().contains("address"));
}

const PROTO: &str = "syntax = \"proto3\";\npackage shop.v1;\n\nmessage OrderCreated {\n  string order_id = 1;\n  int64 total_cents = 2;\n}\n";

#[tokio::test]
async fn protobuf_as_text_and_as_serialized_descriptor() {
    let app = App::new().await;
    let a = app
        .post(
            "/subjects/p/versions",
            json!({"schema": PROTO, "schemaType": "PROTOBUF"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.body["id"].as_i64().unwrap();
    let text = app.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(
        text.body,
        json!({"schema": PROTO, "schemaType": "PROTOBUF"})
    );
    let serialized = app
        .get(&format!("/schemas/ids/{id}?format=serialized"))
        .await;
    let b64 = serialized.body["schema"].as_str().unwrap().to_string();
    assert!(!b64.contains("message"), "base64, not text: {b64}");
    // The descriptor form registers as the same schema (what Confluent's serializers send).
    let again = app
        .post(
            "/subjects/p/versions",
            json!({"schema": b64, "schemaType": "PROTOBUF"}),
        )
        .await;
    assert_eq!(again.body["id"].as_i64(), Some(id), "{}", again.body);
    // Registered first as a descriptor (as Python's ProtobufSerializer does), a schema is
    // stored and served as .proto text.
    let refund =
        "syntax = \"proto3\";\npackage shop.v1;\nmessage Refunded { string order_id = 1; }\n";
    let parsed = contracts_model::protobuf::ProtoSchema::parse_files(
        [("refund.proto".to_string(), refund.to_string())].into(),
        "refund.proto",
    )
    .unwrap();
    use base64::Engine;
    let descriptor =
        base64::engine::general_purpose::STANDARD.encode(parsed.entry_descriptor_bytes());
    let a = app
        .post(
            "/subjects/q/versions",
            json!({"schema": descriptor, "schemaType": "PROTOBUF"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let as_text = app.get("/subjects/q/versions/1").await;
    let text = as_text.body["schema"].as_str().unwrap();
    assert!(text.contains("message Refunded {"), "{text}");
    assert!(text.contains("string order_id = 1;"), "{text}");
    let lookup = app
        .post(
            "/subjects/q",
            json!({"schema": descriptor, "schemaType": "PROTOBUF"}),
        )
        .await;
    assert_eq!(lookup.body["id"], a.body["id"]);
    // A breaking change: field 2 changes type.
    let breaking = PROTO.replace("int64 total_cents = 2", "string total_cents = 2");
    error(
        &app.post(
            "/subjects/p/versions",
            json!({"schema": breaking, "schemaType": "PROTOBUF"}),
        )
        .await,
        409,
        409,
    );
    // Imports resolve through references.
    let money = "syntax = \"proto3\";\npackage shop.v1;\nmessage Money { int64 cents = 1; }\n";
    app.post(
        "/subjects/money/versions",
        json!({"schema": money, "schemaType": "PROTOBUF"}),
    )
    .await;
    let with_import = "syntax = \"proto3\";\npackage shop.v1;\nimport \"shop/money.proto\";\nmessage Refund { Money amount = 1; }\n";
    let a = app
        .post(
            "/subjects/refund/versions",
            json!({"schema": with_import, "schemaType": "PROTOBUF",
                "references": [{"name": "shop/money.proto", "subject": "money", "version": 1}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn invalid_schemas_get_422_naming_line_and_field_and_nothing_is_stored() {
    let app = App::new().await;
    let bad_avro = "{\"type\": \"record\", \"name\": \"Order\",\n \"fields\": [\n  {\"name\": \"qty\", \"type\": \"integer\"}\n]}";
    let a = app.register("s", bad_avro).await;
    error(&a, 422, 42201);
    let m = a.body["message"].as_str().unwrap();
    assert!(m.contains(":3:"), "names line 3: {m}");
    assert!(m.contains("integer"), "{m}");
    let bad_default = json!({"type": "record", "name": "A",
        "fields": [{"name": "n", "type": "int", "default": "x"}]})
    .to_string();
    error(&app.register("s", &bad_default).await, 422, 42201);
    let bad_proto = "syntax = \"proto3\";\nmessage A {\n  strin x = 1;\n}\n";
    let a = app
        .post(
            "/subjects/s/versions",
            json!({"schema": bad_proto, "schemaType": "PROTOBUF"}),
        )
        .await;
    error(&a, 422, 42201);
    assert!(
        a.body["message"].as_str().unwrap().contains(":3:"),
        "{}",
        a.body
    );
    error(
        &app.post(
            "/subjects/s/versions",
            json!({"schema": "{}", "schemaType": "XML"}),
        )
        .await,
        422,
        42201,
    );
    error(
        &app.post("/subjects/s/versions", json!({})).await,
        422,
        42201,
    );
    error(&app.register("s", "").await, 422, 42201);
    assert_eq!(subjects(&app).await, json!([]));
}

#[tokio::test]
async fn malformed_json_and_wrong_shapes_are_client_errors() {
    let app = App::new().await;
    let a = app
        .call("POST", "/subjects/s/versions", Some("{\"schema\": "))
        .await;
    error(&a, 400, 400);
    let a = app
        .call("POST", "/subjects/s/versions", Some("[1, 2]"))
        .await;
    error(&a, 422, 422);
    let a = app.call("PUT", "/config", Some("not json")).await;
    error(&a, 400, 400);
    assert_eq!(subjects(&app).await, json!([]));
}

#[tokio::test]
async fn oversized_bodies_get_413_and_nothing_is_stored() {
    let app = App::with(RouterOptions {
        max_body_bytes: 1024,
        ..RouterOptions::default()
    })
    .await;
    let huge = record(
        "Big",
        &(0..200)
            .map(|i| {
                (
                    Box::leak(format!("f{i}").into_boxed_str()) as &str,
                    json!("int"),
                )
            })
            .collect::<Vec<_>>(),
    );
    let a = app.register("s", &huge).await;
    error(&a, 413, 413);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("--max-body-bytes")
    );
    assert_eq!(subjects(&app).await, json!([]));
    app.register_ok("s", &v1()).await;
}

#[tokio::test]
async fn unknown_fields_and_parameters_are_ignored_and_booleans_are_case_insensitive() {
    let app = App::new().await;
    let a = app
        .post(
            "/subjects/s/versions?normalize=False&whatever=1",
            json!({"schema": v1(), "schemaType": "AVRO", "references": [], "metadata": null,
                "ruleSet": null, "futureField": {"x": 1}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    app.delete("/subjects/s/versions/1").await;
    assert_eq!(
        app.get("/subjects/s/versions?deleted=tRuE").await.body,
        json!([1])
    );
    // The Python client's spelling of deletedOnly.
    assert_eq!(
        app.get("/subjects?deleted_only=true").await.body,
        json!(["s"])
    );
}

#[tokio::test]
async fn normalize_stores_the_compact_form() {
    let app = App::new().await;
    let spaced = "{ \"type\" : \"record\", \"name\" : \"A\", \"fields\" : [ ] }";
    let id = app
        .post(
            "/subjects/s/versions?normalize=true",
            json!({"schema": spaced}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let stored = app.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(
        stored.body["schema"],
        "{\"fields\":[],\"name\":\"A\",\"type\":\"record\"}"
    );
}

#[tokio::test]
async fn subjects_with_slashes_and_invalid_subject_names() {
    let app = App::new().await;
    app.register_ok("shop%2Forders", &v1()).await;
    assert_eq!(subjects(&app).await, json!(["shop/orders"]));
    error(&app.register("%20", &v1()).await, 422, 42208);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = App::new().await;
    app.register_ok("s", &v1()).await;
    app.get("/subjects/nope/versions").await;
    let m = app.get("/metrics").await;
    assert!(m.content_type.starts_with("text/plain"));
    let text = m.body.as_str().unwrap();
    assert!(
        text.contains("http_server_requests_total{http_route=\"/subjects/{subject}/versions\",http_request_method=\"POST\",http_response_status_code=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("http_response_status_code=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains("http_server_request_duration_seconds_bucket{"));
    assert!(text.contains("registry_schemas 1"), "{text}");
    assert!(text.contains("registry_subjects 1"), "{text}");
    assert!(text.contains("registry_store_lag_records 0"), "{text}");
}

#[tokio::test]
async fn health_is_503_until_the_log_is_read() {
    let registry = Arc::new(Registry::new(
        Arc::new(MemoryLog::new()),
        RegistryConfig::default(),
    ));
    let app = App {
        router: server::router(registry.clone(), RouterOptions::default()),
    };
    assert_eq!(app.get("/health").await.status, 503);
    registry.start().await.unwrap();
    assert_eq!(app.get("/health").await.status, 200);
    assert_eq!(app.get("/ready").await.status, 200);
}

#[tokio::test]
async fn deeply_nested_schemas_are_refused_without_crashing() {
    let app = App::new().await;
    let depth = 20_000;
    let avro = format!("{}\"int\"{}", "[".repeat(depth), "]".repeat(depth));
    error(&app.register("deep", &avro).await, 422, 42201);
    let proto = format!(
        "syntax = \"proto3\";\n{}{}",
        "message A { ".repeat(depth),
        "}".repeat(depth)
    );
    let a = app
        .post(
            "/subjects/deep/versions",
            json!({"schema": proto, "schemaType": "PROTOBUF"}),
        )
        .await;
    error(&a, 422, 42201);
    assert_eq!(subjects(&app).await, json!([]));
}

#[tokio::test]
async fn the_same_text_with_other_references_is_another_schema_with_a_stable_id() {
    let app = App::new().await;
    let money = |field: &str| {
        json!({"type": "record", "name": "Money", "namespace": "shop",
            "fields": [{"name": field, "type": "long"}]})
        .to_string()
    };
    app.register_ok("money", &money("cents")).await;
    app.register_ok("money", &money("cents")).await;
    app.put("/config/money", json!({"compatibility": "NONE"}))
        .await;
    app.register_ok("money", &money("micros")).await;
    let order = json!({"type": "record", "name": "Order", "namespace": "shop",
        "fields": [{"name": "total", "type": "Money"}]})
    .to_string();
    let with = |version: i64| {
        json!({"schema": order, "references":
            [{"name": "shop.Money", "subject": "money", "version": version}]})
    };
    let a = app.post("/subjects/o1/versions", with(1)).await.body["id"].clone();
    let b = app.post("/subjects/o2/versions", with(2)).await.body["id"].clone();
    assert_ne!(a, b, "other references, other schema");
    // Registering either again elsewhere finds its id.
    assert_eq!(
        app.post("/subjects/o3/versions", with(2)).await.body["id"],
        b
    );
    assert_eq!(
        app.post("/subjects/o4/versions", with(1)).await.body["id"],
        a
    );
}
