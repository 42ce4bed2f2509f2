include!(concat!(env!("OUT_DIR"), "/events.rs"));

pub fn subject() -> &'static str {
    <orders::v3::OrderCreated as contracts_core::Event>::SCHEMA.subject
}
