//! What both runtime benches share: a broker, a topic, an `OrderCreated` v3 event and its
//! pre-encoded, framed bytes for the raw baseline.

use std::sync::Arc;

use contracts_core::source::{BoxFuture, RegisteredSchema, SchemaSource, SourceError};
use contracts_core::types::Decimal;
use contracts_core::{Event, SchemaId, SchemaInfo, wire};
use events::orders;

pub use contracts_testkit::shared_broker;

/// A schema source that knows one schema, so registry round trips stay out of the figures
/// (the producer resolves its id once per process anyway).
#[derive(Debug)]
pub struct OneSchema(pub &'static SchemaInfo);

pub const ID: SchemaId = SchemaId(1);

impl SchemaSource for OneSchema {
    fn schema_id<'a>(
        &'a self,
        _: &'static SchemaInfo,
        _: bool,
    ) -> BoxFuture<'a, Result<SchemaId, SourceError>> {
        Box::pin(async { Ok(ID) })
    }

    fn schema_by_id(&self, id: SchemaId) -> BoxFuture<'_, Result<RegisteredSchema, SourceError>> {
        let info = self.0;
        Box::pin(async move {
            if id != ID {
                return Err(SourceError::UnknownId(id));
            }
            Ok(RegisteredSchema {
                format: info.format,
                text: info.schema.to_string(),
                subjects: vec![info.subject.to_string()],
            })
        })
    }
}

pub fn source() -> Arc<dyn SchemaSource> {
    Arc::new(OneSchema(<orders::v3::OrderCreated as Event>::SCHEMA))
}

/// A realistic order: three lines, a customer, a timestamp.
pub fn order(i: usize) -> orders::v3::OrderCreated {
    let mut e =
        orders::v3::OrderCreated::new(format!("order-{i:08}"), "espresso machine".into(), 1);
    e.customer_id = Some(format!("customer-{:06}", i % 1000));
    e.line_items = (0..3)
        .map(|n| {
            orders::v3::LineItem::new(
                format!("product-{n}"),
                n + 1,
                Decimal::new(1999 + n as i64, 2),
            )
        })
        .collect();
    e.currency = orders::v3::Currency::Eur;
    e.created_at = chrono_now();
    e
}

fn chrono_now() -> Option<contracts_core::types::DateTime<contracts_core::types::Utc>> {
    contracts_core::types::DateTime::from_timestamp(1_700_000_000, 0)
}

/// The framed record value the typed producer writes for `order(i)`: the raw baseline sends
/// these bytes as they are.
#[allow(dead_code)] // the consumer bench pre-produces through the typed producer instead
pub fn framed(i: usize) -> (Vec<u8>, Vec<u8>) {
    let e = order(i);
    let mut value = Vec::new();
    wire::write_header(
        &mut value,
        ID,
        <orders::v3::OrderCreated as Event>::SCHEMA.format,
        &[],
    );
    e.encode(&mut value);
    (e.order_id.clone().into_bytes(), value)
}
