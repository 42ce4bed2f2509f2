//! A small HTTP client for talking to registries in tests.
#![allow(dead_code)]

use serde_json::{Value, json};

pub const MEDIA: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    pub fn new(base: impl Into<String>) -> Self {
        Http {
            client: reqwest::Client::new(),
            base: base.into(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .header("Accept", MEDIA);
        if let Some(b) = body {
            req = req.header("Content-Type", MEDIA).body(b.to_string());
        }
        let res = req.send().await.expect("the registry answers");
        let status = res.status().as_u16();
        let text = res.text().await.expect("a body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Registers an Avro schema; returns (status, body).
    pub async fn register(&self, subject: &str, schema: &str) -> (u16, Value) {
        self.post(
            &format!("/subjects/{subject}/versions"),
            json!({ "schema": schema }),
        )
        .await
    }
}

/// An Avro record schema with `n` optional int fields `f0..f{n-1}`: each is a backward
/// compatible successor of the one before.
pub fn record_with_fields(name: &str, n: usize) -> String {
    let fields: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("f{i}"), "type": "int", "default": 0}))
        .collect();
    json!({"type": "record", "name": name, "fields": fields}).to_string()
}
