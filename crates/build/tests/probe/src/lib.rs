include!(concat!(env!("OUT_DIR"), "/events.rs"));

pub fn subject() -> &'static str {
    <orders::v3::OrderCreated as contracts_core::Event>::SCHEMA.subject
}

/// A service written against its stubs: inventory handles what the manifest says it consumes.
pub struct Inventory;

impl services::inventory::OrdersHandler for Inventory {
    async fn order_created(
        &self,
        _event: orders::v3::OrderCreated,
        _meta: &contracts_core::RecordMeta,
    ) -> Result<(), contracts_core::HandlerError> {
        Ok(())
    }
}
