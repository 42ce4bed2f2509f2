//! Encoding into a reused buffer allocates nothing: counted by a global allocator (dhat's, in
//! its testing mode). One test per binary, because the allocator is global.

use contracts_core::Event;
use events::orders::v3::{Currency, LineItem, OrderCreated};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn encoding_order_created_v3_into_a_reused_buffer_allocates_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut order = OrderCreated::new("order-7f3a9c".into(), "Green tea, 100 g".into(), 2);
    order.customer_id = Some("customer-42".into());
    order.line_items = vec![
        LineItem::new("Green tea, 100 g".into(), 2, "7.90".parse().unwrap()),
        LineItem::new("Teapot".into(), 1, "34.5".parse().unwrap()),
    ];
    order.currency = Currency::Usd;
    order.created_at = contracts_core::types::DateTime::from_timestamp_millis(1_764_000_000_000);
    let mut buf = Vec::new();
    order.encode(&mut buf); // the first encode sizes the buffer
    let first = buf.clone();

    let before = dhat::HeapStats::get();
    for _ in 0..1_000 {
        buf.clear();
        order.encode(&mut buf);
    }
    let after = dhat::HeapStats::get();
    assert_eq!(buf, first);
    dhat::assert_eq!(after.total_blocks, before.total_blocks, "encode allocated");

    // The counter counts: a decode allocates its strings and vector.
    let decoded = OrderCreated::decode(&buf).unwrap();
    let after_decode = dhat::HeapStats::get();
    dhat::assert!(after_decode.total_blocks > after.total_blocks);
    assert_eq!(decoded, order);
}
