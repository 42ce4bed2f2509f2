//! The records the registry writes to its log (the `_schemas` topic), and how they are read back.
//!
//! # Write scheme: optimistic concurrency on the log offset (as Redpanda does)
//!
//! Any number of registry instances may write to one single-partition topic. There is no leader:
//! before a write an instance reads the log to its end, decides the outcome (id, version) from
//! that state, and produces **one** record whose key carries `seq`, the offset it expects the
//! record to land at (the log end it just read). The producer is idempotent with `acks=all`; the
//! broker answers with the offset the record really got. If that equals `seq`, nobody wrote in
//! between, so the decision was taken on the whole truth: the write is acknowledged. Otherwise
//! another instance won the race; the record is void, and the instance re-reads and retries after
//! a jittered backoff.
//!
//! Every reader applies a record **only if `seq` equals the offset it was read at**; void records
//! are skipped by everyone, so all instances rebuild the same state from the same log, and every
//! valid record was decided against exactly the records before it (the log is serializable).
//!
//! Kafka transactions (fencing a deposed leader) are not available on the local broker, which is
//! why the leader-based scheme of Confluent and Karapace is not used.
//!
//! # Keys and values (compact JSON)
//!
//! Keys follow Confluent's field order (`keytype, subject, version, magic`) and add `seq`, `node`
//! (the writing instance) and `attempt` (a per-instance counter). Because of these three fields
//! every key is unique, so compaction never drops a valid record in favour of a void one with the
//! same key; the only records compaction removes are those a permanent delete tombstones. This
//! makes the topic **not** byte-compatible with Confluent's (Redpanda made the same trade).
//!
//! | keytype | value | meaning |
//! |---|---|---|
//! | `SCHEMA` | `{"subject","version","id","schemaType"?,"references"?,"schema","deleted"}` | a version registered, or (`deleted: true`) soft-deleted |
//! | `CONFIG` | `{"subject"?,"compatibilityLevel": "FULL" \| null}` | subject (or, without subject, global) level set or cleared |
//! | `MODE` | `{"subject"?,"mode": "IMPORT" \| null}` | mode set or cleared |
//! | `DELETE_SUBJECT` | `{"subject","version"}` | soft delete of every version up to `version` |
//! | `CLEAR_SUBJECT` | `{"subject","versions":[..],"maxId"}` | permanent delete of those (soft-deleted) versions |
//!
//! A permanent delete is one `CLEAR_SUBJECT` record (so it applies atomically); afterwards the
//! writer tombstones the original `SCHEMA` keys of the cleared versions so that compaction can
//! reclaim them. Tombstones carry no decision and readers ignore them. `maxId` keeps ids from being
//! reused once compaction has removed the cleared schemas.

use serde::{Deserialize, Serialize};

use contracts_registry_client::api::{SchemaReference, SchemaType};

/// The key of a log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub keytype: KeyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    pub magic: i32,
    /// The offset the writer expected this record to land at.
    pub seq: i64,
    pub node: String,
    pub attempt: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyType {
    Schema,
    Config,
    Mode,
    DeleteSubject,
    ClearSubject,
}

/// A registered version (or its soft deletion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<SchemaType>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `None` clears the level (back to the global level, or the server default).
    pub compatibility_level: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    pub subject: String,
    pub version: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearSubjectValue {
    pub subject: String,
    pub versions: Vec<i32>,
    pub max_id: i32,
}

/// A decided change, before it gets its `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Schema(SchemaValue),
    Config(ConfigValue),
    Mode(ModeValue),
    DeleteSubject(DeleteSubjectValue),
    ClearSubject(ClearSubjectValue),
}

impl Change {
    /// The key and value bytes of this change written at `seq` by `node`.
    pub fn encode(&self, seq: i64, node: &str, attempt: u64) -> (Vec<u8>, Vec<u8>) {
        let key = |keytype, subject: Option<&String>, version, magic| Key {
            keytype,
            subject: subject.cloned(),
            version,
            magic,
            seq,
            node: node.to_string(),
            attempt,
        };
        let (key, value) = match self {
            Change::Schema(v) => (
                key(KeyType::Schema, Some(&v.subject), Some(v.version), 1),
                serde_json::to_vec(v),
            ),
            Change::Config(v) => (
                key(KeyType::Config, v.subject.as_ref(), None, 0),
                serde_json::to_vec(v),
            ),
            Change::Mode(v) => (
                key(KeyType::Mode, v.subject.as_ref(), None, 0),
                serde_json::to_vec(v),
            ),
            Change::DeleteSubject(v) => (
                key(KeyType::DeleteSubject, Some(&v.subject), None, 0),
                serde_json::to_vec(v),
            ),
            Change::ClearSubject(v) => (
                key(KeyType::ClearSubject, Some(&v.subject), None, 0),
                serde_json::to_vec(v),
            ),
        };
        // Serializing these plain structs cannot fail.
        (
            serde_json::to_vec(&key).unwrap_or_default(),
            value.unwrap_or_default(),
        )
    }

    /// Reads a record back. `Ok(None)` for tombstones; `Err` for bytes that are not ours.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<(Key, Change)>, String> {
        let k: Key = serde_json::from_slice(key).map_err(|e| format!("bad key: {e}"))?;
        let Some(value) = value else {
            return Ok(None);
        };
        let bad = |e: serde_json::Error| format!("bad {:?} value: {e}", k.keytype);
        let change = match k.keytype {
            KeyType::Schema => Change::Schema(serde_json::from_slice(value).map_err(bad)?),
            KeyType::Config => Change::Config(serde_json::from_slice(value).map_err(bad)?),
            KeyType::Mode => Change::Mode(serde_json::from_slice(value).map_err(bad)?),
            KeyType::DeleteSubject => {
                Change::DeleteSubject(serde_json::from_slice(value).map_err(bad)?)
            }
            KeyType::ClearSubject => {
                Change::ClearSubject(serde_json::from_slice(value).map_err(bad)?)
            }
        };
        Ok(Some((k, change)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_confluents_field_order_and_add_seq_node_attempt() {
        let change = Change::Schema(SchemaValue {
            subject: "orders-value".into(),
            version: 2,
            id: 7,
            schema_type: None,
            references: vec![],
            schema: "\"string\"".into(),
            deleted: false,
        });
        let (k, v) = change.encode(41, "n1", 3);
        assert_eq!(
            String::from_utf8(k.clone()).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"orders-value","version":2,"magic":1,"seq":41,"node":"n1","attempt":3}"#
        );
        let (key, back) = Change::decode(&k, Some(&v)).unwrap().unwrap();
        assert_eq!(key.seq, 41);
        assert_eq!(back, change);
        assert_eq!(Change::decode(&k, None).unwrap(), None);
    }

    #[test]
    fn the_global_config_key_has_no_subject() {
        let (k, _) = Change::Config(ConfigValue {
            subject: None,
            compatibility_level: Some("FULL".into()),
        })
        .encode(0, "n", 0);
        assert_eq!(
            String::from_utf8(k).unwrap(),
            r#"{"keytype":"CONFIG","magic":0,"seq":0,"node":"n","attempt":0}"#
        );
    }

    #[test]
    fn foreign_bytes_are_an_error_not_a_panic() {
        assert!(Change::decode(b"not json", Some(b"{}")).is_err());
        let (k, _) = Change::Mode(ModeValue {
            subject: None,
            mode: None,
        })
        .encode(0, "n", 0);
        assert!(Change::decode(&k, Some(b"[1]")).is_err());
    }
}
