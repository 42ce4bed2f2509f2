//! The admin API's values as plain Rust types.
//!
//! Backends return these and the client hands them back, so neither side touches the
//! generated protobuf types ([`crate::pb`]); the conversions live in one place (`convert.rs`).
//! They serialize with serde for the CLI's `--json` output.

use std::fmt;
use std::str::FromStr;

use contracts_core::types::{DateTime, Utc};
use contracts_core::{Event, Format, SchemaId, SchemaInfo, Topic};
use serde::{Deserialize, Serialize};

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// Whether a process writes or reads an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractRole {
    Produced,
    Consumed,
}

impl fmt::Display for ContractRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            ContractRole::Produced => "produced",
            ContractRole::Consumed => "consumed",
        })
    }
}

/// The schema language of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaFormat {
    Avro,
    Protobuf,
}

impl From<Format> for SchemaFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Avro => SchemaFormat::Avro,
            Format::Protobuf => SchemaFormat::Protobuf,
        }
    }
}

impl fmt::Display for SchemaFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            SchemaFormat::Avro => "avro",
            SchemaFormat::Protobuf => "protobuf",
        })
    }
}

/// One version of one event that a process produces or consumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractInfo {
    /// Fully-qualified name: Avro `namespace.name`, Protobuf `package.Message`.
    pub event: String,
    pub version: u32,
    pub subject: String,
    pub topic: String,
    pub format: SchemaFormat,
    pub role: ContractRole,
    /// The registry's id, once the process has looked it up.
    pub schema_id: Option<u32>,
    /// SHA-256 of the schema's canonical form, lower-case hex.
    pub fingerprint: String,
}

impl ContractInfo {
    /// The contract of generated event `E`, without a schema id:
    /// `ContractInfo::of::<events::orders::v3::OrderCreated>(ContractRole::Produced)`.
    pub fn of<E: Event>(role: ContractRole) -> Self {
        Self::from_schema(E::SCHEMA, <E::Topic as Topic>::NAME, role)
    }

    /// The contract of one embedded schema on `topic` (for consumers, which know their topic's
    /// [`contracts_core::TopicMessage::EVENTS`] rather than each event type).
    pub fn from_schema(schema: &SchemaInfo, topic: &str, role: ContractRole) -> Self {
        ContractInfo {
            event: schema.name.to_owned(),
            version: schema.version,
            subject: schema.subject.to_owned(),
            topic: topic.to_owned(),
            format: schema.format.into(),
            role,
            schema_id: None,
            fingerprint: schema
                .fingerprint
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }

    /// The same contract with the id the registry gave its schema.
    pub fn with_schema_id(mut self, id: SchemaId) -> Self {
        self.schema_id = Some(id.0);
        self
    }
}

/// A consumer a process runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerInfo {
    /// The name pause and resume take; unique within the process.
    pub name: String,
    pub group: String,
    pub topics: Vec<String>,
    pub paused: bool,
}

/// How far one consumer group is behind on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLag {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// `None` when the group has committed nothing on the partition yet.
    pub committed_offset: Option<i64>,
    /// The offset the next record written to the partition will get.
    pub high_watermark: i64,
    /// Records written and not yet committed by the group.
    pub lag: i64,
}

/// Names one record on a dead-letter topic: `<topic>:<partition>:<offset>` (`orders.DLT:0:42`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeadLetterId {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl fmt::Display for DeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.topic, self.partition, self.offset)
    }
}

/// Why a string is not a [`DeadLetterId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a dead-letter id: {reason}; expected TOPIC:PARTITION:OFFSET as `dlt list` shows them (orders.DLT:0:42)"
)]
pub struct ParseDeadLetterIdError {
    input: String,
    reason: &'static str,
}

impl FromStr for DeadLetterId {
    type Err = ParseDeadLetterIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ParseDeadLetterIdError {
            input: s.to_owned(),
            reason,
        };
        // Topic names cannot contain ':', so the last two fields are unambiguous.
        let mut parts = s.rsplitn(3, ':');
        let (offset, partition, topic) = match (parts.next(), parts.next(), parts.next()) {
            (Some(o), Some(p), Some(t)) => (o, p, t),
            _ => return Err(fail("it needs three fields separated by ':'")),
        };
        if !is_valid_topic(topic) {
            return Err(fail(
                "the topic must be 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' or '-'",
            ));
        }
        let partition: i32 = partition
            .parse()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| fail("the partition must be a whole number, 0 or more"))?;
        let offset: i64 = offset
            .parse()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| fail("the offset must be a whole number, 0 or more"))?;
        Ok(DeadLetterId {
            topic: topic.to_owned(),
            partition,
            offset,
        })
    }
}

impl Serialize for DeadLetterId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeadLetterId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Kafka's rule for topic names.
pub(crate) fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One Kafka record header, its value as UTF-8 (lossy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub key: String,
    pub value: String,
}

/// A record on a dead-letter topic with the `dlt-*` headers the runtime wrote, read out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: DeadLetterId,
    /// The record's key, as UTF-8 (lossy).
    pub key: String,
    pub original_topic: String,
    pub original_partition: i32,
    pub original_offset: i64,
    pub consumer_group: String,
    /// `decode`, `unknown-schema`, `handler-permanent`, `handler-retries-exhausted`, `handler-panic`.
    pub error_class: String,
    pub error_message: String,
    /// Handler calls before it was dead-lettered (0 when it could not be decoded).
    pub attempts: u32,
    pub dead_lettered_at: Option<Timestamp>,
    /// Every header of the record, in order, the `dlt-*` ones included.
    pub headers: Vec<Header>,
    /// From the record's `event_type` header; empty when it has none.
    pub event_type: String,
    pub value_size: u32,
}

impl DeadLetter {
    /// Reads a record of a dead-letter topic as the runtime wrote it: the `dlt-*` headers
    /// (`dlt-original-topic`, `-partition`, `-offset`, `dlt-consumer-group`, `dlt-error-class`,
    /// `dlt-error-message`, `dlt-attempts`) and `event_type` fill the fields; missing or
    /// unreadable ones are left empty or 0, and every header is kept in `headers`.
    /// `timestamp_ms` is the record's Kafka timestamp.
    pub fn from_record<'a>(
        id: DeadLetterId,
        key: Option<&[u8]>,
        value_len: usize,
        timestamp_ms: Option<i64>,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Self {
        let headers: Vec<Header> = headers
            .into_iter()
            .map(|(k, v)| Header {
                key: k.to_owned(),
                value: String::from_utf8_lossy(v).into_owned(),
            })
            .collect();
        // The last value wins when a header repeats, as the runtime reads them.
        let get = |name: &str| {
            headers
                .iter()
                .rev()
                .find(|h| h.key == name)
                .map(|h| h.value.clone())
                .unwrap_or_default()
        };
        DeadLetter {
            key: key
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            original_topic: get("dlt-original-topic"),
            original_partition: get("dlt-original-partition").parse().unwrap_or(0),
            original_offset: get("dlt-original-offset").parse().unwrap_or(0),
            consumer_group: get("dlt-consumer-group"),
            error_class: get("dlt-error-class"),
            error_message: get("dlt-error-message"),
            attempts: get("dlt-attempts").parse().unwrap_or(0),
            dead_lettered_at: timestamp_ms.and_then(DateTime::<Utc>::from_timestamp_millis),
            event_type: get("event_type"),
            value_size: u32::try_from(value_len).unwrap_or(u32::MAX),
            id,
            headers,
        }
    }
}

/// What [`crate::AdminBackend::dead_letters`] is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQuery {
    /// Only this dead-letter topic; all of the process's when `None`.
    pub topic: Option<String>,
    /// At most this many records, oldest first (1 to [`crate::MAX_LIMIT`]).
    pub limit: usize,
}

/// A page of dead letters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterPage {
    pub dead_letters: Vec<DeadLetter>,
    /// More records matched than the limit let through.
    pub truncated: bool,
}

/// What happened to one record of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplayOutcome {
    /// Valid under the current contract and written back to its original topic.
    Replayed,
    /// Still invalid under the current contract; it stays on the dead-letter topic.
    Rejected,
    /// No such record, or it was dropped.
    NotFound,
}

impl fmt::Display for ReplayOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            ReplayOutcome::Replayed => "replayed",
            ReplayOutcome::Rejected => "rejected",
            ReplayOutcome::NotFound => "not found",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayResult {
    pub id: DeadLetterId,
    pub outcome: ReplayOutcome,
    /// Why it was rejected or not found; where it went when replayed.
    pub message: String,
}

/// What happened to one record of a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropOutcome {
    Dropped,
    NotFound,
}

impl fmt::Display for DropOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            DropOutcome::Dropped => "dropped",
            DropOutcome::NotFound => "not found",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropResult {
    pub id: DeadLetterId,
    pub outcome: DropOutcome,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed; waiting for the inventory's answer.
    Pending,
    /// Stock is reserved.
    Confirmed,
    /// Stock could not be reserved.
    Rejected,
    Paid,
    Shipped,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Rejected,
        OrderStatus::Paid,
        OrderStatus::Shipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Paid => "PAID",
            OrderStatus::Shipped => "SHIPPED",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a string is not an [`OrderStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an order status; use one of PENDING, CONFIRMED, REJECTED, PAID, SHIPPED")]
pub struct ParseOrderStatusError(String);

impl FromStr for OrderStatus {
    type Err = ParseOrderStatusError;

    /// Case-insensitive: `confirmed` and `CONFIRMED` both parse.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseOrderStatusError(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: String,
    pub quantity: u32,
    /// Price of one unit as a decimal string (`"12.50"`), in the order's currency.
    pub unit_price: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    /// Why the inventory rejected it; empty otherwise.
    pub rejection_reason: String,
    /// ISO 4217 code of the prices (`EUR`).
    pub currency: String,
}

/// One product's stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    pub product_id: String,
    /// Units that new orders can reserve.
    pub available: i64,
    /// Units reserved by confirmed orders.
    pub reserved: i64,
}

/// A message to a customer about an order, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub order_id: String,
    /// What it tells the customer: `order_received`, `order_confirmed`, `order_rejected`, ...
    pub kind: String,
    /// The message text (or its subject line).
    pub detail: String,
    pub recipient: String,
    /// How it goes out: `smtp`, `mailbox`.
    pub transport: String,
    /// The id of the event it reports; empty when unknown.
    pub event_id: String,
    /// When it was delivered; `None` while delivery is pending.
    pub sent_at: Option<Timestamp>,
    pub attempts: u32,
    /// Why the last attempt failed; empty when none did.
    pub last_error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_ids_round_trip_through_their_text_form() {
        let id: DeadLetterId = "orders.DLT:3:42".parse().unwrap();
        assert_eq!(
            id,
            DeadLetterId {
                topic: "orders.DLT".into(),
                partition: 3,
                offset: 42
            }
        );
        assert_eq!(id.to_string(), "orders.DLT:3:42");
    }

    #[test]
    fn malformed_dead_letter_ids_say_which_part_is_wrong() {
        for (input, reason) in [
            ("orders.DLT", "three fields"),
            ("orders.DLT:x:1", "partition"),
            ("orders.DLT:-1:1", "partition"),
            ("orders.DLT:0:-5", "offset"),
            ("orders.DLT:0:", "offset"),
            ("bad/topic:0:1", "topic"),
            (":0:1", "topic"),
        ] {
            let err = input.parse::<DeadLetterId>().unwrap_err().to_string();
            assert!(err.contains(reason), "{input}: {err}");
            assert!(err.contains(&format!("{input:?}")), "{input}: {err}");
        }
    }

    #[test]
    fn a_dead_letter_record_is_read_from_the_runtimes_dlt_headers() {
        let id: DeadLetterId = "orders.DLT:1:9".parse().unwrap();
        let d = DeadLetter::from_record(
            id.clone(),
            Some(b"o-7"),
            120,
            Some(1_700_000_000_500),
            [
                ("event_type", b"shop.orders.OrderCreated".as_slice()),
                ("dlt-original-topic", b"orders"),
                ("dlt-original-partition", b"1"),
                ("dlt-original-offset", b"314"),
                ("dlt-consumer-group", b"inventory-service"),
                ("dlt-error-class", b"handler-retries-exhausted"),
                ("dlt-error-message", b"database is locked"),
                ("dlt-attempts", b"5"),
            ],
        );
        assert_eq!(d.id, id);
        assert_eq!(d.key, "o-7");
        assert_eq!(
            (
                d.original_topic.as_str(),
                d.original_partition,
                d.original_offset
            ),
            ("orders", 1, 314)
        );
        assert_eq!(d.consumer_group, "inventory-service");
        assert_eq!(d.error_class, "handler-retries-exhausted");
        assert_eq!(d.error_message, "database is locked");
        assert_eq!(d.attempts, 5);
        assert_eq!(d.event_type, "shop.orders.OrderCreated");
        assert_eq!(d.value_size, 120);
        assert_eq!(
            d.dead_lettered_at.unwrap().timestamp_millis(),
            1_700_000_000_500
        );
        assert_eq!(d.headers.len(), 8);
    }

    #[test]
    fn order_statuses_parse_case_insensitively_and_name_the_choices_when_wrong() {
        assert_eq!(
            "confirmed".parse::<OrderStatus>(),
            Ok(OrderStatus::Confirmed)
        );
        assert_eq!("SHIPPED".parse::<OrderStatus>(), Ok(OrderStatus::Shipped));
        let err = "lost".parse::<OrderStatus>().unwrap_err().to_string();
        assert!(err.contains("PENDING, CONFIRMED"), "{err}");
    }
}

/// An outbox row that the relay set aside because it can never be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideOutboxRow {
    /// The row's id in the service's outbox table.
    pub id: i64,
    /// The contract's fully-qualified name.
    pub event: String,
    pub version: u32,
    /// The Kafka key, as UTF-8 (lossy).
    pub key: String,
    /// Publish attempts made.
    pub attempts: u32,
    /// Why it was set aside: the error, or the earlier row of the same key it waits behind.
    pub reason: String,
    pub created_at: Option<Timestamp>,
    pub set_aside_at: Option<Timestamp>,
}

/// A page of [`SetAsideOutboxRow`]s, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideOutboxPage {
    pub rows: Vec<SetAsideOutboxRow>,
    /// More rows are set aside than were returned.
    pub truncated: bool,
}
