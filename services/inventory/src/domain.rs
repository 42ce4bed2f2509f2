//! Reservations: what an order asks of the stock, and the all-or-nothing answer.

use std::fmt;

use events::orders::v3;

/// The most units one line may reserve.
pub const MAX_QUANTITY_PER_LINE: i64 = 1000;

/// What an order asks of the stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub order_id: String,
    pub lines: Vec<Wanted>,
}

/// One product and how many units of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub product: String,
    pub quantity: i64,
}

/// Why an `OrderCreated` cannot be read as a reservation at all (it will never be).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("OrderCreated {order_id:?}: {field}: {message}")]
pub struct InvalidOrder {
    pub order_id: String,
    pub field: String,
    pub message: String,
}

impl TryFrom<&v3::OrderCreated> for Reservation {
    type Error = InvalidOrder;

    /// Orders written by v1 and v2 producers have no `line_items` (they read as empty): their
    /// single line is `product_name` × `quantity`.
    fn try_from(event: &v3::OrderCreated) -> Result<Self, Self::Error> {
        let invalid = |field: &str, message: &str| InvalidOrder {
            order_id: event.order_id.clone(),
            field: field.to_owned(),
            message: message.to_owned(),
        };
        if event.order_id.is_empty() {
            return Err(invalid("order_id", "is empty"));
        }
        let lines: Vec<Wanted> = if event.line_items.is_empty() {
            vec![Wanted {
                product: event.product_name.clone(),
                quantity: event.quantity.into(),
            }]
        } else {
            event
                .line_items
                .iter()
                .map(|l| Wanted {
                    product: l.product_name.clone(),
                    quantity: l.quantity.into(),
                })
                .collect()
        };
        if lines.iter().any(|l| l.product.is_empty()) {
            return Err(invalid(
                "line_items.product_name",
                "a line names no product",
            ));
        }
        Ok(Reservation {
            order_id: event.order_id.clone(),
            lines,
        })
    }
}

/// Why a line cannot be reserved; the order of the variants is the order of precedence when
/// several lines fail differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    UnknownProduct,
    QuantityLimit,
    OutOfStock,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Refusal::UnknownProduct => "unknown product",
            Refusal::QuantityLimit => "quantity over the limit",
            Refusal::OutOfStock => "out of stock",
        })
    }
}

/// A line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedLine {
    pub product: String,
    pub quantity: i64,
    /// Units on hand (0 for an unknown product).
    pub available: i64,
    pub refusal: Refusal,
}

/// The answer to a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every line fits: take these units.
    Reserve(Vec<Wanted>),
    /// At least one line does not fit: take nothing.
    Reject(Vec<RefusedLine>),
}

impl Decision {
    /// The main reason of a rejection (the first by precedence).
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Decision::Reject(lines) => lines.iter().map(|l| l.refusal).min(),
            Decision::Reserve(_) => None,
        }
    }
}

/// Decides all-or-nothing: `available(product)` is the stock on hand, `None` for a product the
/// inventory does not carry. Lines of the same product add up.
pub fn decide(request: &Reservation, available: impl Fn(&str) -> Option<i64>) -> Decision {
    let mut totals: Vec<Wanted> = Vec::new();
    for line in &request.lines {
        match totals.iter_mut().find(|t| t.product == line.product) {
            Some(t) => t.quantity += line.quantity,
            None => totals.push(line.clone()),
        }
    }
    let refused: Vec<RefusedLine> = totals
        .iter()
        .filter_map(|t| {
            let on_hand = available(&t.product);
            let refusal = match on_hand {
                None => Refusal::UnknownProduct,
                Some(_) if t.quantity < 1 || t.quantity > MAX_QUANTITY_PER_LINE => {
                    Refusal::QuantityLimit
                }
                Some(n) if n < t.quantity => Refusal::OutOfStock,
                Some(_) => return None,
            };
            Some(RefusedLine {
                product: t.product.clone(),
                quantity: t.quantity,
                available: on_hand.unwrap_or(0),
                refusal,
            })
        })
        .collect();
    if refused.is_empty() {
        Decision::Reserve(totals)
    } else {
        Decision::Reject(refused)
    }
}

/// The rejection in words for a person: every refused line.
pub fn describe(refused: &[RefusedLine]) -> String {
    refused
        .iter()
        .map(|l| match l.refusal {
            Refusal::UnknownProduct => format!("{:?}: unknown product", l.product),
            Refusal::QuantityLimit => format!(
                "{:?}: quantity {} outside 1..={MAX_QUANTITY_PER_LINE}",
                l.product, l.quantity
            ),
            Refusal::OutOfStock => format!(
                "{:?}: {} wanted, {} in stock",
                l.product, l.quantity, l.available
            ),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
