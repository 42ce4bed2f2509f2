//! The inventory service's producer set has no method for OrderCreated: the contract does not
//! list inventory as its producer.

use std::convert::Infallible;
use std::future::Future;

use contracts_core::{Event, Publish};
use events::{orders, services};

struct Publisher;

impl Publish for Publisher {
    type Delivery = ();
    type Error<E: Event> = Infallible;

    fn publish<E: Event>(&self, _: &E) -> impl Future<Output = Result<(), Infallible>> + Send {
        std::future::ready(Ok(()))
    }
}

fn main() {
    let producer = services::inventory::Producer::new(Publisher);
    let created = orders::v1::OrderCreated {
        order_id: "o-1".into(),
        product_name: "tea".into(),
        quantity: 1,
    };
    let _ = producer.order_created(&created);
}
