//! The order domain: what an order is and how it may change, free of HTTP, SQL and Kafka.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use contracts_core::types::Decimal;

/// The life of an order.
///
/// ```text
/// PENDING ──stock reserved──► CONFIRMED ──pay──► PAID ──ship──► SHIPPED
///    └─────stock refused────► REJECTED
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Stored and announced; waiting for the inventory's answer.
    Pending,
    /// Stock is reserved; the customer may pay.
    Confirmed,
    /// The inventory could not reserve stock; final.
    Rejected,
    Paid,
    /// Final.
    Shipped,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Confirmed,
        Status::Rejected,
        Status::Paid,
        Status::Shipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Confirmed => "CONFIRMED",
            Status::Rejected => "REJECTED",
            Status::Paid => "PAID",
            Status::Shipped => "SHIPPED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown status {s:?}; expected one of PENDING, CONFIRMED, REJECTED, PAID, SHIPPED")
            })
    }
}

/// What a customer may ask of an order over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pay,
    Ship,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Action::Pay => "pay",
            Action::Ship => "ship",
        })
    }
}

/// What the inventory decided about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Reserved,
    Rejected { reason: String },
}

/// What applying an inventory outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The order moved to this status.
    Moved(Status),
    /// The order had already left PENDING (a redelivered event): nothing changed.
    AlreadyDecided(Status),
}

/// The next status for `action`, or why the transition is illegal.
pub fn transition(from: Status, action: Action) -> Result<Status, String> {
    match (from, action) {
        (Status::Confirmed, Action::Pay) => Ok(Status::Paid),
        (Status::Paid, Action::Ship) => Ok(Status::Shipped),
        (Status::Pending, Action::Pay) => Err(
            "it is PENDING: it can be paid once the inventory has reserved its stock (CONFIRMED)"
                .into(),
        ),
        (Status::Rejected, _) => {
            Err("it was REJECTED because its stock could not be reserved; place a new order".into())
        }
        (Status::Paid | Status::Shipped, Action::Pay) => Err(format!("it is already {from}")),
        (Status::Shipped, Action::Ship) => Err("it is already SHIPPED".into()),
        (Status::Pending | Status::Confirmed, Action::Ship) => {
            Err(format!("it is {from}: only a PAID order can be shipped"))
        }
    }
}

/// The status after the inventory's `outcome`, for an order in `from`.
pub fn decide(from: Status, outcome: &Outcome) -> Applied {
    match (from, outcome) {
        (Status::Pending, Outcome::Reserved) => Applied::Moved(Status::Confirmed),
        (Status::Pending, Outcome::Rejected { .. }) => Applied::Moved(Status::Rejected),
        (other, _) => Applied::AlreadyDecided(other),
    }
}

/// One product in an order, priced from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product: String,
    pub quantity: u32,
    /// Price of one unit, two decimals.
    pub unit_price: Decimal,
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub customer: String,
    pub lines: Vec<Line>,
    pub currency: String,
    pub status: Status,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub rejection_reason: Option<String>,
    pub payment_id: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
}

impl Order {
    /// Sum of quantity × unit price over the lines.
    pub fn total(&self) -> Decimal {
        self.lines
            .iter()
            .map(|l| l.unit_price * Decimal::from(l.quantity))
            .sum()
    }
}

/// An order that passed validation, not yet stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer: String,
    pub lines: Vec<Line>,
}

/// A client mistake in an order request: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The JSON path of the offending field, such as `line_items[1].quantity`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Limits on one order.
pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i64 = 1000;
pub const MAX_CUSTOMER_LEN: usize = 254;

/// The products the shop sells, with their unit prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    prices: BTreeMap<String, Decimal>,
}

impl Default for Catalog {
    /// The demo shop's products.
    fn default() -> Self {
        "tea=3.50,coffee=8.00,mug=12.00,teapot=25.00"
            .parse()
            .expect("the default catalog parses")
    }
}

impl FromStr for Catalog {
    type Err = String;

    /// `product=price` pairs separated by commas: `tea=3.50,coffee=8.00`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut prices = BTreeMap::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (product, price) = entry.split_once('=').ok_or_else(|| {
                format!("catalog entry {entry:?}: expected product=price, such as tea=3.50")
            })?;
            let price = Decimal::from_str(price.trim()).map_err(|e| {
                format!("catalog entry {entry:?}: price {price:?} is not a decimal number ({e})")
            })?;
            if price.is_sign_negative() || price.scale() > 2 {
                return Err(format!(
                    "catalog entry {entry:?}: a price is zero or more with at most two decimals"
                ));
            }
            prices.insert(product.trim().to_owned(), price);
        }
        if prices.is_empty() {
            return Err("the catalog is empty: give at least one product=price".into());
        }
        Ok(Catalog { prices })
    }
}

impl Catalog {
    pub fn price(&self, product: &str) -> Option<Decimal> {
        self.prices.get(product).copied()
    }

    pub fn products(&self) -> impl Iterator<Item = &str> {
        self.prices.keys().map(String::as_str)
    }
}

/// An order request as the client sent it (JSON), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub customer: String,
    pub line_items: Vec<LineRequest>,
}

/// One line of an [`OrderRequest`]. The quantity is read as a wide integer so that negative and
/// huge values reach validation and get a precise answer instead of a type error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    pub product: String,
    pub quantity: i64,
}

impl OrderRequest {
    /// Checks every field and prices the lines from `catalog`; the first mistake is reported.
    pub fn validate(self, catalog: &Catalog) -> Result<NewOrder, ValidationError> {
        let customer = self.customer.trim();
        check_customer(customer)?;
        if self.line_items.is_empty() {
            return Err(ValidationError::new(
                "line_items",
                "an order needs at least one line item",
            ));
        }
        if self.line_items.len() > MAX_LINES {
            return Err(ValidationError::new(
                "line_items",
                format!(
                    "at most {MAX_LINES} line items per order, got {}",
                    self.line_items.len()
                ),
            ));
        }
        let mut lines: Vec<Line> = Vec::with_capacity(self.line_items.len());
        for (i, item) in self.line_items.into_iter().enumerate() {
            let product = item.product.trim();
            if product.is_empty() {
                return Err(ValidationError::new(
                    format!("line_items[{i}].product"),
                    "must not be empty",
                ));
            }
            let unit_price = catalog.price(product).ok_or_else(|| {
                let known: Vec<_> = catalog.products().collect();
                ValidationError::new(
                    format!("line_items[{i}].product"),
                    format!(
                        "unknown product {product:?}; the catalog has {}",
                        known.join(", ")
                    ),
                )
            })?;
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                return Err(ValidationError::new(
                    format!("line_items[{i}].quantity"),
                    format!(
                        "must be between 1 and {MAX_QUANTITY}, got {}",
                        item.quantity
                    ),
                ));
            }
            if let Some(first) = lines.iter().position(|l| l.product == product) {
                return Err(ValidationError::new(
                    format!("line_items[{i}].product"),
                    format!(
                        "{product:?} is already ordered in line_items[{first}]; put the whole quantity on one line"
                    ),
                ));
            }
            lines.push(Line {
                product: product.to_owned(),
                quantity: item.quantity as u32,
                unit_price,
            });
        }
        Ok(NewOrder {
            customer: customer.to_owned(),
            lines,
        })
    }
}

/// Customers are e-mail addresses: notifications go there.
fn check_customer(customer: &str) -> Result<(), ValidationError> {
    let bad = |message: String| Err(ValidationError::new("customer", message));
    if customer.is_empty() {
        return bad("must not be empty; give the customer's e-mail address".into());
    }
    if customer.len() > MAX_CUSTOMER_LEN {
        return bad(format!(
            "at most {MAX_CUSTOMER_LEN} characters, got {}",
            customer.len()
        ));
    }
    match customer.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !customer
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(())
        }
        _ => bad(format!(
            "{customer:?} is not an e-mail address such as alice@example.com"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confirmed_orders_can_be_paid_and_only_paid_ones_shipped() {
        for from in Status::ALL {
            assert_eq!(
                transition(from, Action::Pay).is_ok(),
                from == Status::Confirmed,
                "{from}"
            );
            assert_eq!(
                transition(from, Action::Ship).is_ok(),
                from == Status::Paid,
                "{from}"
            );
        }
        assert_eq!(transition(Status::Confirmed, Action::Pay), Ok(Status::Paid));
        assert_eq!(transition(Status::Paid, Action::Ship), Ok(Status::Shipped));
    }

    #[test]
    fn the_inventory_decides_only_pending_orders() {
        let rejected = Outcome::Rejected { reason: "x".into() };
        assert_eq!(
            decide(Status::Pending, &Outcome::Reserved),
            Applied::Moved(Status::Confirmed)
        );
        assert_eq!(
            decide(Status::Pending, &rejected),
            Applied::Moved(Status::Rejected)
        );
        for from in [
            Status::Confirmed,
            Status::Rejected,
            Status::Paid,
            Status::Shipped,
        ] {
            assert_eq!(
                decide(from, &Outcome::Reserved),
                Applied::AlreadyDecided(from)
            );
            assert_eq!(decide(from, &rejected), Applied::AlreadyDecided(from));
        }
    }

    #[test]
    fn the_same_product_twice_is_refused_naming_both_lines() {
        let request = OrderRequest {
            customer: "a@b.io".into(),
            line_items: vec![
                LineRequest {
                    product: "tea".into(),
                    quantity: 1,
                },
                LineRequest {
                    product: "tea".into(),
                    quantity: 2,
                },
            ],
        };
        let err = request.validate(&Catalog::default()).unwrap_err();
        assert_eq!(err.field, "line_items[1].product");
        assert!(
            err.message.contains("already ordered in line_items[0]"),
            "{err}"
        );
    }

    #[test]
    fn a_catalog_entry_without_a_price_is_refused() {
        let err = "tea=3.50,coffee".parse::<Catalog>().unwrap_err();
        assert!(err.contains("\"coffee\": expected product=price"), "{err}");
        let err = "tea=abc".parse::<Catalog>().unwrap_err();
        assert!(err.contains("is not a decimal number"), "{err}");
    }
}
