//! The request and response bodies of the Confluent Schema Registry REST API.
//!
//! Field names and omission rules follow Confluent's Jackson entities (`@JsonInclude(NON_EMPTY)`):
//! absent or empty optional fields are left out of responses, unknown request fields are ignored
//! (serde's default), and `null` is accepted wherever a field is optional. Note the asymmetry of
//! `/config`: reads answer `compatibilityLevel` ([`Config`]), writes send and echo `compatibility`
//! ([`ConfigUpdateRequest`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The media type Confluent prefers for requests and responses.
pub const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// The unversioned registry media type, also accepted.
pub const MEDIA_TYPE_DEFAULT: &str = "application/vnd.schemaregistry+json";
/// What clients send in `Accept`, in Confluent's order of preference.
pub const ACCEPT: &str =
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json";

/// Confluent's `error_code` values (`Errors.java`); the HTTP status is the first three digits,
/// except [`INCOMPATIBLE_SCHEMA`](codes::INCOMPATIBLE_SCHEMA) which is the bare status 409.
pub mod codes {
    pub const SUBJECT_NOT_FOUND: i32 = 40401;
    pub const VERSION_NOT_FOUND: i32 = 40402;
    pub const SCHEMA_NOT_FOUND: i32 = 40403;
    pub const SUBJECT_SOFT_DELETED: i32 = 40404;
    pub const SUBJECT_NOT_SOFT_DELETED: i32 = 40405;
    pub const SCHEMA_VERSION_SOFT_DELETED: i32 = 40406;
    pub const SCHEMA_VERSION_NOT_SOFT_DELETED: i32 = 40407;
    pub const SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED: i32 = 40408;
    pub const SUBJECT_LEVEL_MODE_NOT_CONFIGURED: i32 = 40409;
    /// Incompatible schema. Confluent up to 8.1 answers `409`/`409`; 8.2 changed the code to
    /// 40901. Clients match on the HTTP status 409, and every client in use was written against
    /// the older code, so we keep `409`.
    pub const INCOMPATIBLE_SCHEMA: i32 = 409;
    /// The 8.2+ spelling of [`INCOMPATIBLE_SCHEMA`]; clients should accept both.
    pub const INCOMPATIBLE_SCHEMA_V82: i32 = 40901;
    pub const INVALID_SCHEMA: i32 = 42201;
    pub const INVALID_VERSION: i32 = 42202;
    pub const INVALID_COMPATIBILITY_LEVEL: i32 = 42203;
    pub const INVALID_MODE: i32 = 42204;
    pub const OPERATION_NOT_PERMITTED: i32 = 42205;
    pub const REFERENCE_EXISTS: i32 = 42206;
    pub const ID_DOES_NOT_MATCH: i32 = 42207;
    pub const INVALID_SUBJECT: i32 = 42208;
    pub const SCHEMA_TOO_LARGE: i32 = 42209;
    pub const STORE_ERROR: i32 = 50001;
    pub const OPERATION_TIMEOUT: i32 = 50002;
    pub const REQUEST_FORWARDING_FAILED: i32 = 50003;
    pub const UNKNOWN_LEADER: i32 = 50004;
    /// Malformed request JSON. Confluent (Jersey/Jackson) answers HTTP 400 with `error_code` 400.
    pub const BAD_REQUEST: i32 = 400;
    /// Missing or wrong basic-auth credentials (rest-utils answers 401 with `error_code` 401).
    pub const UNAUTHORIZED: i32 = 401;
    /// Authenticated, but the user may not do this (Confluent's RBAC answers 403 with 40301).
    pub const FORBIDDEN: i32 = 40301;
    /// Unknown route.
    pub const NOT_FOUND: i32 = 404;
    /// Request body above the configured limit (HTTP 413).
    pub const PAYLOAD_TOO_LARGE: i32 = 413;
    /// Generic internal error.
    pub const INTERNAL_SERVER_ERROR: i32 = 500;

    /// The HTTP status that goes with an `error_code`: its first three digits.
    pub fn http_status(code: i32) -> u16 {
        let mut c = code;
        while c >= 1000 {
            c /= 10;
        }
        u16::try_from(c).unwrap_or(500)
    }
}

/// Every error answer: `{"error_code": 40401, "message": "Subject 'x' not found."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error_code: i32,
    pub message: String,
}

/// The schema language of a registered schema (`schemaType`). Absent means Avro.
///
/// Unknown names are kept as [`SchemaType::Other`] so that a server can answer 42201
/// `Invalid schema type X` instead of failing to parse the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum SchemaType {
    #[default]
    Avro,
    Protobuf,
    Json,
    Other(String),
}

impl SchemaType {
    pub fn as_str(&self) -> &str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Protobuf => "PROTOBUF",
            SchemaType::Json => "JSON",
            SchemaType::Other(s) => s,
        }
    }

    /// Confluent omits `schemaType` from responses for Avro, the default.
    pub fn is_avro(&self) -> bool {
        *self == SchemaType::Avro
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl From<&str> for SchemaType {
    /// Case-insensitive, as Confluent's `SchemaRegistry.schemaTypes()` lookup is.
    fn from(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "AVRO" => SchemaType::Avro,
            "PROTOBUF" => SchemaType::Protobuf,
            "JSON" => SchemaType::Json,
            _ => SchemaType::Other(s.to_string()),
        }
    }
}

impl Serialize for SchemaType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SchemaType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(SchemaType::from(s.as_str()))
    }
}

/// A reference from one schema to another registered one: Avro named types defined elsewhere,
/// Protobuf imports. `name` is the Avro full name or the Protobuf import path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// Body of `POST /subjects/{s}/versions` (register), `POST /subjects/{s}` (lookup) and
/// `POST /compatibility/subjects/{s}/versions[/{v}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterSchemaRequest {
    /// The schema text (Avro JSON, `.proto` text, or base64 `FileDescriptorProto`). Missing is
    /// read as empty, which a server answers with 42201 `Empty schema`, as Confluent does.
    #[serde(default)]
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<SchemaType>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub references: Vec<SchemaReference>,
    /// Data-contract metadata; kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Data-contract rules; kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<serde_json::Value>,
    /// Only allowed in IMPORT mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Only allowed in IMPORT mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i32>,
}

impl RegisterSchemaRequest {
    /// The request's schema type; absent means Avro.
    pub fn schema_type(&self) -> SchemaType {
        self.schema_type.clone().unwrap_or_default()
    }
}

/// Answer of a registration: Confluent 7.x sends only `{"id": N}`; newer servers may add more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterSchemaResponse {
    pub id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<SchemaType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// A schema under a subject: `GET /subjects/{s}/versions/{v}` and `POST /subjects/{s}` (lookup).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    /// Omitted for Avro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<SchemaType>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub references: Vec<SchemaReference>,
    pub schema: String,
    /// Present (and `true`) only for a soft-deleted version read with `deleted=true`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

impl Schema {
    pub fn schema_type(&self) -> SchemaType {
        self.schema_type.clone().unwrap_or_default()
    }
}

/// A schema by id: `GET /schemas/ids/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaString {
    pub schema: String,
    /// Omitted for Avro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<SchemaType>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub references: Vec<SchemaReference>,
    /// The highest id in the registry, only with `fetchMaxId=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_id: Option<i32>,
}

impl SchemaString {
    pub fn schema_type(&self) -> SchemaType {
        self.schema_type.clone().unwrap_or_default()
    }
}

/// One element of `GET /schemas/ids/{id}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
}

/// Answer of `GET /config` and `GET /config/{s}` (and of the `DELETE`s, with the old value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
}

/// Body and answer of `PUT /config` and `PUT /config/{s}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigUpdateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
}

/// A registry (or subject) mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Normal operation.
    #[default]
    ReadWrite,
    /// Writes rejected with 42205.
    ReadOnly,
    /// Like READONLY, but also for subject-level overrides.
    ReadOnlyOverride,
    /// Registrations must carry their `id` (and may carry `version`): migrating another registry.
    Import,
    /// Confluent's schema-linking forwarding mode; accepted and treated as READWRITE.
    Forward,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::ReadWrite,
        Mode::ReadOnly,
        Mode::ReadOnlyOverride,
        Mode::Import,
        Mode::Forward,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::ReadOnlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
            Mode::Forward => "FORWARD",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == upper)
            .ok_or_else(|| {
                "Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD."
                    .to_string()
            })
    }
}

/// Body and answer of `GET|PUT|DELETE /mode[/{s}]`: `{"mode": "READWRITE"}`. Kept as a string so
/// that a server can answer 42204 for an unknown mode; parse it with [`ModeBody::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeBody {
    pub mode: String,
}

impl ModeBody {
    pub fn new(mode: Mode) -> Self {
        ModeBody {
            mode: mode.as_str().to_string(),
        }
    }

    pub fn parse(&self) -> Result<Mode, String> {
        self.mode.parse()
    }
}

/// Answer of `POST /compatibility/subjects/{s}/versions[/{v}]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatibilityCheckResponse {
    pub is_compatible: bool,
    /// Why not, with `verbose=true`.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<String>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_request_accepts_what_python_and_kafkajs_send() {
        // confluent-kafka (Python) always sends schemaType and an empty references list.
        let py: RegisterSchemaRequest = serde_json::from_str(
            r#"{"schema": "\"string\"", "schemaType": "AVRO", "references": [], "metadata": null, "ruleSet": null}"#,
        )
        .unwrap();
        assert_eq!(py.schema_type(), SchemaType::Avro);
        // kafkajs omits schemaType for Avro; unknown fields are ignored.
        let js: RegisterSchemaRequest =
            serde_json::from_str(r#"{"schema": "\"string\"", "whatever": 1}"#).unwrap();
        assert_eq!(js.schema_type, None);
        assert_eq!(js.schema_type(), SchemaType::Avro);
        let null_refs: RegisterSchemaRequest =
            serde_json::from_str(r#"{"schema": "x", "references": null}"#).unwrap();
        assert!(null_refs.references.is_empty());
    }

    #[test]
    fn unknown_schema_type_is_kept_for_a_422_answer() {
        let r: RegisterSchemaRequest =
            serde_json::from_str(r#"{"schema": "x", "schemaType": "XML"}"#).unwrap();
        assert_eq!(r.schema_type(), SchemaType::Other("XML".into()));
        let r: RegisterSchemaRequest =
            serde_json::from_str(r#"{"schema": "x", "schemaType": "protobuf"}"#).unwrap();
        assert_eq!(r.schema_type(), SchemaType::Protobuf);
    }

    #[test]
    fn avro_schema_answer_omits_schema_type_references_and_deleted() {
        let s = Schema {
            subject: "s".into(),
            version: 1,
            id: 3,
            schema_type: None,
            references: vec![],
            schema: "\"int\"".into(),
            deleted: false,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"subject":"s","version":1,"id":3,"schema":"\"int\""}"#
        );
    }

    #[test]
    fn config_reads_use_compatibility_level_and_writes_use_compatibility() {
        let c = Config {
            compatibility_level: Some("BACKWARD".into()),
            normalize: None,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"compatibilityLevel":"BACKWARD"}"#
        );
        let u: ConfigUpdateRequest = serde_json::from_str(r#"{"compatibility":"FULL"}"#).unwrap();
        assert_eq!(u.compatibility.as_deref(), Some("FULL"));
    }

    #[test]
    fn compatibility_answer_omits_empty_messages() {
        let r = CompatibilityCheckResponse {
            is_compatible: true,
            messages: vec![],
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"is_compatible":true}"#
        );
    }

    #[test]
    fn http_status_is_the_first_three_digits_of_the_code() {
        assert_eq!(codes::http_status(codes::SUBJECT_NOT_FOUND), 404);
        assert_eq!(codes::http_status(codes::INCOMPATIBLE_SCHEMA), 409);
        assert_eq!(codes::http_status(codes::INCOMPATIBLE_SCHEMA_V82), 409);
        assert_eq!(codes::http_status(codes::INVALID_SCHEMA), 422);
        assert_eq!(codes::http_status(codes::STORE_ERROR), 500);
    }

    #[test]
    fn modes_parse_case_insensitively() {
        assert_eq!("readonly".parse::<Mode>(), Ok(Mode::ReadOnly));
        assert!("bogus".parse::<Mode>().is_err());
    }
}
