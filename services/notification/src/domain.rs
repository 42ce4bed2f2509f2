//! What a customer is told, and when.

use std::fmt;

use contracts_core::types::Decimal;
use events::inventory;
use events::orders::{v1, v3};

/// The kinds of message, in the order a customer receives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Received,
    Confirmed,
    Rejected,
    Paid,
    Shipped,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Received,
        Kind::Confirmed,
        Kind::Rejected,
        Kind::Paid,
        Kind::Shipped,
    ];

    /// The message's place in an order's sequence. Confirmed and rejected share a step: an
    /// order gets one of them, never both.
    pub fn step(self) -> u8 {
        match self {
            Kind::Received => 0,
            Kind::Confirmed | Kind::Rejected => 1,
            Kind::Paid => 2,
            Kind::Shipped => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Received => "received",
            Kind::Confirmed => "confirmed",
            Kind::Rejected => "rejected",
            Kind::Paid => "paid",
            Kind::Shipped => "shipped",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Something to tell the customer of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub order_id: String,
    pub kind: Kind,
    /// The customer's address, known from `OrderCreated` only.
    pub customer: Option<String>,
    /// The facts of the event, in words.
    pub detail: String,
}

/// An event that names no order cannot be told to anyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event}: order_id is empty")]
pub struct NoOrder {
    pub event: &'static str,
}

fn order_id(id: &str, event: &'static str) -> Result<String, NoOrder> {
    if id.is_empty() {
        Err(NoOrder { event })
    } else {
        Ok(id.to_owned())
    }
}

fn lines<'a>(items: impl Iterator<Item = (&'a str, i32)>) -> String {
    items
        .map(|(product, quantity)| format!("{quantity} × {product}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TryFrom<&v3::OrderCreated> for Notice {
    type Error = NoOrder;

    fn try_from(e: &v3::OrderCreated) -> Result<Self, NoOrder> {
        let what = if e.line_items.is_empty() {
            lines(std::iter::once((e.product_name.as_str(), e.quantity)))
        } else {
            lines(
                e.line_items
                    .iter()
                    .map(|l| (l.product_name.as_str(), l.quantity)),
            )
        };
        let total: Decimal = e
            .line_items
            .iter()
            .map(|l| l.unit_price * Decimal::from(l.quantity))
            .sum();
        let detail = if e.line_items.is_empty() {
            format!("We received your order {}: {what}.", e.order_id)
        } else {
            format!(
                "We received your order {}: {what}, {total:.2} {}.",
                e.order_id,
                e.currency.symbol()
            )
        };
        Ok(Notice {
            order_id: order_id(&e.order_id, "OrderCreated")?,
            kind: Kind::Received,
            customer: e.customer_id.clone().filter(|c| !c.is_empty()),
            detail,
        })
    }
}

impl TryFrom<&v1::OrderPaid> for Notice {
    type Error = NoOrder;

    fn try_from(e: &v1::OrderPaid) -> Result<Self, NoOrder> {
        Ok(Notice {
            order_id: order_id(&e.order_id, "OrderPaid")?,
            kind: Kind::Paid,
            customer: None,
            detail: format!(
                "We received your payment of {:.2} {} for order {} (reference {}).",
                e.amount,
                e.currency.symbol(),
                e.order_id,
                e.payment_id
            ),
        })
    }
}

impl TryFrom<&v1::OrderShipped> for Notice {
    type Error = NoOrder;

    fn try_from(e: &v1::OrderShipped) -> Result<Self, NoOrder> {
        let tracking = e
            .tracking_number
            .as_deref()
            .map(|t| format!(", tracking number {t}"))
            .unwrap_or_default();
        Ok(Notice {
            order_id: order_id(&e.order_id, "OrderShipped")?,
            kind: Kind::Shipped,
            customer: None,
            detail: format!(
                "Your order {} is on its way with {}{tracking}.",
                e.order_id, e.carrier
            ),
        })
    }
}

fn confirmed(order: &str, event: &'static str) -> Result<Notice, NoOrder> {
    Ok(Notice {
        order_id: order_id(order, event)?,
        kind: Kind::Confirmed,
        customer: None,
        detail: format!(
            "Good news: everything in order {order} is in stock and set aside for you."
        ),
    })
}

fn rejected(order: &str, why: &str, event: &'static str) -> Result<Notice, NoOrder> {
    let why = if why.is_empty() {
        "stock could not be reserved"
    } else {
        why
    };
    Ok(Notice {
        order_id: order_id(order, event)?,
        kind: Kind::Rejected,
        customer: None,
        detail: format!("Sorry, we cannot fulfil order {order}: {why}. You have not been charged."),
    })
}

impl TryFrom<&inventory::v1::InventoryReserved> for Notice {
    type Error = NoOrder;
    fn try_from(e: &inventory::v1::InventoryReserved) -> Result<Self, NoOrder> {
        confirmed(&e.order_id, "InventoryReserved")
    }
}

impl TryFrom<&inventory::v2::InventoryReserved> for Notice {
    type Error = NoOrder;
    fn try_from(e: &inventory::v2::InventoryReserved) -> Result<Self, NoOrder> {
        confirmed(&e.order_id, "InventoryReserved")
    }
}

impl TryFrom<&inventory::v1::InventoryRejected> for Notice {
    type Error = NoOrder;
    fn try_from(e: &inventory::v1::InventoryRejected) -> Result<Self, NoOrder> {
        rejected(&e.order_id, &e.reason, "InventoryRejected")
    }
}

impl TryFrom<&inventory::v3::InventoryRejected> for Notice {
    type Error = NoOrder;
    fn try_from(e: &inventory::v3::InventoryRejected) -> Result<Self, NoOrder> {
        let why = if e.detail.is_empty() {
            match e.reason() {
                inventory::v3::RejectionReason::OutOfStock => "out of stock",
                inventory::v3::RejectionReason::UnknownProduct => "unknown product",
                inventory::v3::RejectionReason::QuantityLimit => "quantity over the limit",
                inventory::v3::RejectionReason::Unspecified => "",
            }
        } else {
            e.detail.as_str()
        };
        rejected(&e.order_id, why, "InventoryRejected")
    }
}

/// One message ready to go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Unique per (order, kind): the file name in a mailbox and the SMTP Message-ID, so a
    /// receiver can recognise the one duplicate a crash mid-send may cause.
    pub id: String,
    pub order_id: String,
    pub kind: Kind,
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Mail {
    pub fn new(order_id: &str, kind: Kind, to: &str, detail: &str) -> Mail {
        let subject = match kind {
            Kind::Received => format!("Order {order_id} received"),
            Kind::Confirmed => format!("Order {order_id} confirmed"),
            Kind::Rejected => format!("Order {order_id} cannot be fulfilled"),
            Kind::Paid => format!("Payment received for order {order_id}"),
            Kind::Shipped => format!("Order {order_id} shipped"),
        };
        Mail {
            id: format!("{order_id}.{}.{}", kind.step(), kind.as_str()),
            order_id: order_id.to_owned(),
            kind,
            to: to.to_owned(),
            subject,
            body: format!("Hello {to},\n\n{detail}\n\nThe Shop\n"),
        }
    }
}
