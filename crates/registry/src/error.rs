//! Errors: the Confluent-style answers of the REST API, and the library's own error type.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use contracts_registry_client::api::{ErrorBody, MEDIA_TYPE, codes};

/// An error answer: `{"error_code", "message"}` with the HTTP status Confluent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i32,
    pub message: String,
}

impl ApiError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(codes::http_status(self.code))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn subject_not_found(subject: &str) -> Self {
        Self::new(
            codes::SUBJECT_NOT_FOUND,
            format!("Subject '{subject}' not found."),
        )
    }

    pub fn version_not_found(version: impl std::fmt::Display) -> Self {
        Self::new(
            codes::VERSION_NOT_FOUND,
            format!("Version {version} not found."),
        )
    }

    pub fn schema_not_found(id: impl std::fmt::Display) -> Self {
        Self::new(codes::SCHEMA_NOT_FOUND, format!("Schema {id} not found"))
    }

    pub fn invalid_schema(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_SCHEMA, message)
    }

    pub fn store(message: impl Into<String>) -> Self {
        Self::new(codes::STORE_ERROR, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&ErrorBody {
            error_code: self.code,
            message: self.message,
        })
        .unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        res
    }
}

/// Why a registry could not start or its store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("Kafka: {context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The broker refused for a reason that retrying does not change (see
    /// [`crate::kafka::is_permanent`]).
    #[error("Kafka: {context}: {source} (not retried: the same write would fail again)")]
    KafkaRejected {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("the registry topic \"{topic}\" is unusable: {reason}")]
    Topic { topic: String, reason: String },
    #[error("timed out after {0:?} reading the registry topic")]
    Timeout(std::time::Duration),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    AuthFile(#[from] crate::auth::AuthFileError),
    /// The Kafka client settings are unusable, or the cluster refused them (a SASL login, an
    /// untrusted certificate); the message says which and what to change.
    #[error("{0}")]
    KafkaSettings(String),
    #[error("the store's reader stopped")]
    Closed,
}

impl Error {
    /// Timeouts and broker hiccups may pass; a misconfigured topic will not.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Kafka { .. } | Error::Timeout(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
