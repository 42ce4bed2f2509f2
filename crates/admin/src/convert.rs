//! Conversions between the plain model ([`crate::model`]) and the wire types ([`crate::pb`]).
//!
//! Model → wire cannot fail. Wire → model can (an unknown enum number from a newer server, an
//! id that does not parse); those errors name the field.

use contracts_core::types::{DateTime, Utc};

use crate::model::*;
use crate::pb;

/// A wire value the model cannot represent; `field` is the protobuf field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server sent an invalid {field}: {reason}")]
pub struct WireError {
    pub field: &'static str,
    pub reason: String,
}

fn wire(field: &'static str, reason: impl Into<String>) -> WireError {
    WireError {
        field,
        reason: reason.into(),
    }
}

pub(crate) fn timestamp(t: &Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn from_timestamp(
    field: &'static str,
    t: Option<prost_types::Timestamp>,
) -> Result<Option<Timestamp>, WireError> {
    t.map(|t| {
        u32::try_from(t.nanos)
            .ok()
            .and_then(|nanos| DateTime::<Utc>::from_timestamp(t.seconds, nanos))
            .ok_or_else(|| {
                wire(
                    field,
                    format!("{}s {}ns is out of range", t.seconds, t.nanos),
                )
            })
    })
    .transpose()
}

fn id(field: &'static str, s: &str) -> Result<DeadLetterId, WireError> {
    s.parse()
        .map_err(|e: ParseDeadLetterIdError| wire(field, e.to_string()))
}

impl From<ContractRole> for pb::ContractRole {
    fn from(r: ContractRole) -> Self {
        match r {
            ContractRole::Produced => pb::ContractRole::Produced,
            ContractRole::Consumed => pb::ContractRole::Consumed,
        }
    }
}

impl From<SchemaFormat> for pb::SchemaFormat {
    fn from(f: SchemaFormat) -> Self {
        match f {
            SchemaFormat::Avro => pb::SchemaFormat::Avro,
            SchemaFormat::Protobuf => pb::SchemaFormat::Protobuf,
        }
    }
}

impl From<OrderStatus> for pb::OrderStatus {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::Pending => pb::OrderStatus::Pending,
            OrderStatus::Confirmed => pb::OrderStatus::Confirmed,
            OrderStatus::Rejected => pb::OrderStatus::Rejected,
            OrderStatus::Paid => pb::OrderStatus::Paid,
            OrderStatus::Shipped => pb::OrderStatus::Shipped,
        }
    }
}

/// `None` for `ORDER_STATUS_UNSPECIFIED`.
pub(crate) fn order_status(s: pb::OrderStatus) -> Option<OrderStatus> {
    Some(match s {
        pb::OrderStatus::Unspecified => return None,
        pb::OrderStatus::Pending => OrderStatus::Pending,
        pb::OrderStatus::Confirmed => OrderStatus::Confirmed,
        pb::OrderStatus::Rejected => OrderStatus::Rejected,
        pb::OrderStatus::Paid => OrderStatus::Paid,
        pb::OrderStatus::Shipped => OrderStatus::Shipped,
    })
}

impl From<ContractInfo> for pb::Contract {
    fn from(c: ContractInfo) -> Self {
        pb::Contract {
            event: c.event,
            version: c.version,
            subject: c.subject,
            topic: c.topic,
            format: pb::SchemaFormat::from(c.format).into(),
            role: pb::ContractRole::from(c.role).into(),
            schema_id: c.schema_id,
            fingerprint: c.fingerprint,
        }
    }
}

impl TryFrom<pb::Contract> for ContractInfo {
    type Error = WireError;
    fn try_from(c: pb::Contract) -> Result<Self, WireError> {
        let format = match pb::SchemaFormat::try_from(c.format) {
            Ok(pb::SchemaFormat::Avro) => SchemaFormat::Avro,
            Ok(pb::SchemaFormat::Protobuf) => SchemaFormat::Protobuf,
            _ => {
                return Err(wire(
                    "Contract.format",
                    format!("unknown value {}", c.format),
                ));
            }
        };
        let role = match pb::ContractRole::try_from(c.role) {
            Ok(pb::ContractRole::Produced) => ContractRole::Produced,
            Ok(pb::ContractRole::Consumed) => ContractRole::Consumed,
            _ => return Err(wire("Contract.role", format!("unknown value {}", c.role))),
        };
        Ok(ContractInfo {
            event: c.event,
            version: c.version,
            subject: c.subject,
            topic: c.topic,
            format,
            role,
            schema_id: c.schema_id,
            fingerprint: c.fingerprint,
        })
    }
}

impl From<ConsumerInfo> for pb::Consumer {
    fn from(c: ConsumerInfo) -> Self {
        pb::Consumer {
            name: c.name,
            group: c.group,
            topics: c.topics,
            paused: c.paused,
        }
    }
}

impl From<pb::Consumer> for ConsumerInfo {
    fn from(c: pb::Consumer) -> Self {
        ConsumerInfo {
            name: c.name,
            group: c.group,
            topics: c.topics,
            paused: c.paused,
        }
    }
}

impl From<PartitionLag> for pb::PartitionLag {
    fn from(l: PartitionLag) -> Self {
        pb::PartitionLag {
            group: l.group,
            topic: l.topic,
            partition: l.partition,
            committed_offset: l.committed_offset,
            high_watermark: l.high_watermark,
            lag: l.lag,
        }
    }
}

impl From<pb::PartitionLag> for PartitionLag {
    fn from(l: pb::PartitionLag) -> Self {
        PartitionLag {
            group: l.group,
            topic: l.topic,
            partition: l.partition,
            committed_offset: l.committed_offset,
            high_watermark: l.high_watermark,
            lag: l.lag,
        }
    }
}

impl From<DeadLetter> for pb::DeadLetter {
    fn from(d: DeadLetter) -> Self {
        pb::DeadLetter {
            id: d.id.to_string(),
            topic: d.id.topic,
            partition: d.id.partition,
            offset: d.id.offset,
            key: d.key,
            original_topic: d.original_topic,
            original_partition: d.original_partition,
            original_offset: d.original_offset,
            consumer_group: d.consumer_group,
            error_class: d.error_class,
            error_message: d.error_message,
            attempts: d.attempts,
            dead_lettered_at: d.dead_lettered_at.as_ref().map(timestamp),
            headers: d
                .headers
                .into_iter()
                .map(|h| pb::Header {
                    key: h.key,
                    value: h.value,
                })
                .collect(),
            event_type: d.event_type,
            value_size: d.value_size,
        }
    }
}

impl TryFrom<pb::DeadLetter> for DeadLetter {
    type Error = WireError;
    fn try_from(d: pb::DeadLetter) -> Result<Self, WireError> {
        Ok(DeadLetter {
            id: id("DeadLetter.id", &d.id)?,
            key: d.key,
            original_topic: d.original_topic,
            original_partition: d.original_partition,
            original_offset: d.original_offset,
            consumer_group: d.consumer_group,
            error_class: d.error_class,
            error_message: d.error_message,
            attempts: d.attempts,
            dead_lettered_at: from_timestamp("DeadLetter.dead_lettered_at", d.dead_lettered_at)?,
            headers: d
                .headers
                .into_iter()
                .map(|h| Header {
                    key: h.key,
                    value: h.value,
                })
                .collect(),
            event_type: d.event_type,
            value_size: d.value_size,
        })
    }
}

impl From<ReplayResult> for pb::ReplayResult {
    fn from(r: ReplayResult) -> Self {
        let outcome = match r.outcome {
            ReplayOutcome::Replayed => pb::ReplayOutcome::Replayed,
            ReplayOutcome::Rejected => pb::ReplayOutcome::Rejected,
            ReplayOutcome::NotFound => pb::ReplayOutcome::NotFound,
        };
        pb::ReplayResult {
            id: r.id.to_string(),
            outcome: outcome.into(),
            message: r.message,
        }
    }
}

impl TryFrom<pb::ReplayResult> for ReplayResult {
    type Error = WireError;
    fn try_from(r: pb::ReplayResult) -> Result<Self, WireError> {
        let outcome = match pb::ReplayOutcome::try_from(r.outcome) {
            Ok(pb::ReplayOutcome::Replayed) => ReplayOutcome::Replayed,
            Ok(pb::ReplayOutcome::Rejected) => ReplayOutcome::Rejected,
            Ok(pb::ReplayOutcome::NotFound) => ReplayOutcome::NotFound,
            _ => {
                return Err(wire(
                    "ReplayResult.outcome",
                    format!("unknown value {}", r.outcome),
                ));
            }
        };
        Ok(ReplayResult {
            id: id("ReplayResult.id", &r.id)?,
            outcome,
            message: r.message,
        })
    }
}

impl From<DropResult> for pb::DropResult {
    fn from(r: DropResult) -> Self {
        let outcome = match r.outcome {
            DropOutcome::Dropped => pb::DropOutcome::Dropped,
            DropOutcome::NotFound => pb::DropOutcome::NotFound,
        };
        pb::DropResult {
            id: r.id.to_string(),
            outcome: outcome.into(),
        }
    }
}

impl TryFrom<pb::DropResult> for DropResult {
    type Error = WireError;
    fn try_from(r: pb::DropResult) -> Result<Self, WireError> {
        let outcome = match pb::DropOutcome::try_from(r.outcome) {
            Ok(pb::DropOutcome::Dropped) => DropOutcome::Dropped,
            Ok(pb::DropOutcome::NotFound) => DropOutcome::NotFound,
            _ => {
                return Err(wire(
                    "DropResult.outcome",
                    format!("unknown value {}", r.outcome),
                ));
            }
        };
        Ok(DropResult {
            id: id("DropResult.id", &r.id)?,
            outcome,
        })
    }
}

impl From<Order> for pb::Order {
    fn from(o: Order) -> Self {
        pb::Order {
            order_id: o.order_id,
            customer_id: o.customer_id,
            status: pb::OrderStatus::from(o.status).into(),
            lines: o
                .lines
                .into_iter()
                .map(|l| pb::OrderLine {
                    product_id: l.product_id,
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                })
                .collect(),
            created_at: o.created_at.as_ref().map(timestamp),
            updated_at: o.updated_at.as_ref().map(timestamp),
            rejection_reason: o.rejection_reason,
            currency: o.currency,
        }
    }
}

impl TryFrom<pb::Order> for Order {
    type Error = WireError;
    fn try_from(o: pb::Order) -> Result<Self, WireError> {
        let status = pb::OrderStatus::try_from(o.status)
            .ok()
            .and_then(order_status)
            .ok_or_else(|| wire("Order.status", format!("unknown value {}", o.status)))?;
        Ok(Order {
            order_id: o.order_id,
            customer_id: o.customer_id,
            status,
            lines: o
                .lines
                .into_iter()
                .map(|l| OrderLine {
                    product_id: l.product_id,
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                })
                .collect(),
            created_at: from_timestamp("Order.created_at", o.created_at)?,
            updated_at: from_timestamp("Order.updated_at", o.updated_at)?,
            rejection_reason: o.rejection_reason,
            currency: o.currency,
        })
    }
}

impl From<Stock> for pb::Stock {
    fn from(s: Stock) -> Self {
        pb::Stock {
            product_id: s.product_id,
            available: s.available,
            reserved: s.reserved,
        }
    }
}

impl From<pb::Stock> for Stock {
    fn from(s: pb::Stock) -> Self {
        Stock {
            product_id: s.product_id,
            available: s.available,
            reserved: s.reserved,
        }
    }
}

impl From<Notification> for pb::Notification {
    fn from(n: Notification) -> Self {
        pb::Notification {
            order_id: n.order_id,
            kind: n.kind,
            detail: n.detail,
            recipient: n.recipient,
            transport: n.transport,
            event_id: n.event_id,
            sent_at: n.sent_at.as_ref().map(timestamp),
            attempts: n.attempts,
            last_error: n.last_error,
        }
    }
}

impl TryFrom<pb::Notification> for Notification {
    type Error = WireError;
    fn try_from(n: pb::Notification) -> Result<Self, WireError> {
        Ok(Notification {
            order_id: n.order_id,
            kind: n.kind,
            detail: n.detail,
            recipient: n.recipient,
            transport: n.transport,
            event_id: n.event_id,
            sent_at: from_timestamp("Notification.sent_at", n.sent_at)?,
            attempts: n.attempts,
            last_error: n.last_error,
        })
    }
}

impl From<SetAsideOutboxRow> for pb::SetAsideOutboxRow {
    fn from(r: SetAsideOutboxRow) -> Self {
        pb::SetAsideOutboxRow {
            id: r.id,
            event: r.event,
            version: r.version,
            key: r.key,
            attempts: r.attempts,
            reason: r.reason,
            created_at: r.created_at.as_ref().map(timestamp),
            set_aside_at: r.set_aside_at.as_ref().map(timestamp),
        }
    }
}

impl TryFrom<pb::SetAsideOutboxRow> for SetAsideOutboxRow {
    type Error = WireError;
    fn try_from(r: pb::SetAsideOutboxRow) -> Result<Self, WireError> {
        Ok(SetAsideOutboxRow {
            id: r.id,
            event: r.event,
            version: r.version,
            key: r.key,
            attempts: r.attempts,
            reason: r.reason,
            created_at: from_timestamp("SetAsideOutboxRow.created_at", r.created_at)?,
            set_aside_at: from_timestamp("SetAsideOutboxRow.set_aside_at", r.set_aside_at)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_survives_the_wire_round_trip() {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 123_000_000).unwrap();
        let order = Order {
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            status: OrderStatus::Rejected,
            lines: vec![OrderLine {
                product_id: "p".into(),
                quantity: 3,
                unit_price: "1.25".into(),
            }],
            created_at: Some(at),
            updated_at: None,
            rejection_reason: "out of stock".into(),
            currency: "EUR".into(),
        };
        assert_eq!(Order::try_from(pb::Order::from(order.clone())), Ok(order));
    }

    #[test]
    fn an_unknown_enum_number_from_the_server_names_the_field() {
        let err = Order::try_from(pb::Order {
            status: 99,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.field, "Order.status");
    }
}
