//! A topic's message enum only holds the events of that topic.

use events::{inventory, orders};

fn main() {
    let reserved = inventory::v2::InventoryReserved::default();
    let _message: orders::Message = reserved.into();
}
