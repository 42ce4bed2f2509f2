//! Every event on a multi-event topic must be handled by a match.

use events::orders;

fn describe(message: &orders::Message) -> &'static str {
    match message {
        orders::Message::OrderCreated(_) => "created",
        orders::Message::OrderPaid(_) => "paid",
    }
}

fn main() {}
