//! The order service's SQLite store: orders, their lines, and the outbox, changed together.

use std::path::Path;
use std::str::FromStr;

use contracts_core::types::{DateTime, Decimal, Utc};
use events::orders::{v1, v3};
use events::{order_created_pb, proto};
use rusqlite::{OptionalExtension, Transaction, params};
use shop_service_kit::db::Db;
use shop_service_kit::{now_ms, outbox};

use crate::domain::{Action, Applied, Line, NewOrder, Order, Outcome, Status, decide, transition};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    id               TEXT PRIMARY KEY,
    customer         TEXT    NOT NULL,
    currency         TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    rejection_reason TEXT,
    payment_id       TEXT,
    carrier          TEXT,
    tracking_number  TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders(status, created_at_ms);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id   TEXT    NOT NULL REFERENCES orders(id),
    line_no    INTEGER NOT NULL,
    product    TEXT    NOT NULL,
    quantity   INTEGER NOT NULL,
    unit_price TEXT    NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("no order with id {0:?}")]
    NotFound(String),
    #[error("order {id} cannot be {action}ed: {reason}")]
    IllegalTransition {
        id: String,
        from: Status,
        action: Action,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] shop_service_kit::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The only currency the shop sells in for now.
pub const CURRENCY: &str = "EUR";

/// Orders and their outbox.
#[derive(Debug, Clone)]
pub struct OrderStore {
    db: Db,
}

/// The runner pings the database for `/health` and relays its outbox.
impl AsRef<Db> for OrderStore {
    fn as_ref(&self) -> &Db {
        &self.db
    }
}

impl OrderStore {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(OrderStore {
            db: Db::open(path, SCHEMA)?,
        })
    }

    pub fn open_in_memory() -> Result<Self> {
        Ok(OrderStore {
            db: Db::open_in_memory(SCHEMA)?,
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stores a validated order as PENDING together with its `OrderCreated` events (Avro on
    /// `orders`, Protobuf on `order-created-pb`), in one transaction.
    pub fn create(&self, id: &str, new: &NewOrder) -> Result<Order> {
        let now = now_ms();
        let order = Order {
            id: id.to_owned(),
            customer: new.customer.clone(),
            lines: new.lines.clone(),
            currency: CURRENCY.to_owned(),
            status: Status::Pending,
            created_at_ms: now,
            updated_at_ms: now,
            rejection_reason: None,
            payment_id: None,
            carrier: None,
            tracking_number: None,
        };
        self.db.transaction(|tx| -> Result<()> {
            tx.execute(
                "INSERT INTO orders (id, customer, currency, status, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![
                    order.id,
                    order.customer,
                    order.currency,
                    order.status.as_str(),
                    now
                ],
            )?;
            for (i, line) in order.lines.iter().enumerate() {
                tx.execute(
                    "INSERT INTO order_lines (order_id, line_no, product, quantity, unit_price)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        order.id,
                        i as i64,
                        line.product,
                        line.quantity,
                        line.unit_price.to_string()
                    ],
                )?;
            }
            outbox::enqueue(tx, &v3::OrderCreated::from(&order))?;
            outbox::enqueue(tx, &order_created_pb::v1::OrderCreated::from(&order))?;
            Ok(())
        })?;
        Ok(order)
    }

    pub fn get(&self, id: &str) -> Result<Option<Order>> {
        let conn = self.db.lock();
        load(&conn, id)
    }

    /// Orders, newest first, optionally only those in `status`.
    pub fn list(&self, status: Option<Status>, limit: usize) -> Result<Vec<Order>> {
        let conn = self.db.lock();
        let ids: Vec<String> = {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM orders WHERE (?1 IS NULL OR status = ?1)
                 ORDER BY created_at_ms DESC, id LIMIT ?2",
            )?;
            stmt.query_map(params![status.map(Status::as_str), limit as i64], |r| {
                r.get(0)
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        ids.iter()
            .filter_map(|id| load(&conn, id).transpose())
            .collect()
    }

    /// How many orders are in each status.
    pub fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        let conn = self.db.lock();
        let mut stmt =
            conn.prepare_cached("SELECT status, COUNT(*) FROM orders GROUP BY status")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| Some((Status::from_str(&s).ok()?, n as u64)))
            .collect())
    }

    /// CONFIRMED → PAID, with its `OrderPaid` event.
    pub fn pay(&self, id: &str, payment_id: &str) -> Result<Order> {
        self.act(id, Action::Pay, |tx, order| {
            tx.execute(
                "UPDATE orders SET payment_id = ?2 WHERE id = ?1",
                params![id, payment_id],
            )?;
            order.payment_id = Some(payment_id.to_owned());
            outbox::enqueue(tx, &paid_event(order, order.updated_at_ms))?;
            Ok(())
        })
    }

    /// PAID → SHIPPED, with its `OrderShipped` event.
    pub fn ship(&self, id: &str, carrier: &str, tracking_number: Option<&str>) -> Result<Order> {
        self.act(id, Action::Ship, |tx, order| {
            tx.execute(
                "UPDATE orders SET carrier = ?2, tracking_number = ?3 WHERE id = ?1",
                params![id, carrier, tracking_number],
            )?;
            order.carrier = Some(carrier.to_owned());
            order.tracking_number = tracking_number.map(str::to_owned);
            outbox::enqueue(
                tx,
                &v1::OrderShipped {
                    order_id: order.id.clone(),
                    carrier: carrier.to_owned(),
                    tracking_number: order.tracking_number.clone(),
                    shipped_at: datetime(order.updated_at_ms),
                },
            )?;
            Ok(())
        })
    }

    fn act(
        &self,
        id: &str,
        action: Action,
        effect: impl FnOnce(&Transaction<'_>, &mut Order) -> rusqlite::Result<()>,
    ) -> Result<Order> {
        self.db.transaction(|tx| {
            let mut order = load(tx, id)?.ok_or_else(|| Error::NotFound(id.to_owned()))?;
            let next =
                transition(order.status, action).map_err(|reason| Error::IllegalTransition {
                    id: id.to_owned(),
                    from: order.status,
                    action,
                    reason,
                })?;
            order.status = next;
            order.updated_at_ms = now_ms();
            tx.execute(
                "UPDATE orders SET status = ?2, updated_at_ms = ?3 WHERE id = ?1",
                params![id, next.as_str(), order.updated_at_ms],
            )?;
            effect(tx, &mut order)?;
            Ok(order)
        })
    }

    /// Applies the inventory's decision. Idempotent: only a PENDING order moves, so a
    /// redelivered event changes nothing.
    pub fn apply_outcome(&self, id: &str, outcome: &Outcome) -> Result<Applied> {
        self.db.transaction(|tx| {
            let status: Option<String> = tx
                .query_row("SELECT status FROM orders WHERE id = ?1", [id], |r| r.get(0))
                .optional()?;
            let status = status.ok_or_else(|| Error::NotFound(id.to_owned()))?;
            let from = Status::from_str(&status).unwrap_or(Status::Pending);
            let applied = decide(from, outcome);
            if let Applied::Moved(next) = applied {
                let reason = match outcome {
                    Outcome::Rejected { reason } => Some(reason.as_str()),
                    Outcome::Reserved => None,
                };
                tx.execute(
                    "UPDATE orders SET status = ?2, rejection_reason = ?3, updated_at_ms = ?4 WHERE id = ?1",
                    params![id, next.as_str(), reason, now_ms()],
                )?;
            }
            Ok(applied)
        })
    }
}

fn load(conn: &rusqlite::Connection, id: &str) -> Result<Option<Order>> {
    let order = conn
        .prepare_cached(
            "SELECT id, customer, currency, status, created_at_ms, updated_at_ms,
                    rejection_reason, payment_id, carrier, tracking_number
             FROM orders WHERE id = ?1",
        )?
        .query_row([id], |r| {
            let status: String = r.get(3)?;
            Ok(Order {
                id: r.get(0)?,
                customer: r.get(1)?,
                currency: r.get(2)?,
                status: Status::from_str(&status).unwrap_or(Status::Pending),
                created_at_ms: r.get(4)?,
                updated_at_ms: r.get(5)?,
                rejection_reason: r.get(6)?,
                payment_id: r.get(7)?,
                carrier: r.get(8)?,
                tracking_number: r.get(9)?,
                lines: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut order) = order else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT product, quantity, unit_price FROM order_lines WHERE order_id = ?1 ORDER BY line_no",
    )?;
    order.lines = stmt
        .query_map([id], |r| {
            let price: String = r.get(2)?;
            Ok(Line {
                product: r.get(0)?,
                quantity: r.get(1)?,
                unit_price: Decimal::from_str(&price).unwrap_or_default(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(order))
}

fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

fn paid_event(order: &Order, paid_at_ms: i64) -> v1::OrderPaid {
    v1::OrderPaid {
        order_id: order.id.clone(),
        payment_id: order.payment_id.clone().unwrap_or_default(),
        amount: order.total().round_dp(2),
        currency: v1::Currency::from_symbol(&order.currency).unwrap_or_default(),
        paid_at: datetime(paid_at_ms),
    }
}

/// The Avro `OrderCreated` (v3) for a stored order. v3 keeps v1's `product_name` and
/// `quantity` for older readers: they carry the first line.
impl From<&Order> for v3::OrderCreated {
    fn from(order: &Order) -> Self {
        let first = order.lines.first();
        v3::OrderCreated {
            order_id: order.id.clone(),
            product_name: first.map(|l| l.product.clone()).unwrap_or_default(),
            quantity: first.map(|l| l.quantity as i32).unwrap_or_default(),
            customer_id: Some(order.customer.clone()),
            line_items: order
                .lines
                .iter()
                .map(|l| {
                    v3::LineItem::new(
                        l.product.clone(),
                        l.quantity as i32,
                        l.unit_price.round_dp(2),
                    )
                })
                .collect(),
            currency: v3::Currency::from_symbol(&order.currency).unwrap_or_default(),
            created_at: Some(datetime(order.created_at_ms)),
        }
    }
}

/// The Protobuf edition of `OrderCreated`, for teams that consume Protobuf.
impl From<&Order> for order_created_pb::v1::OrderCreated {
    fn from(order: &Order) -> Self {
        order_created_pb::v1::OrderCreated {
            order_id: order.id.clone(),
            customer_id: order.customer.clone(),
            line_items: order
                .lines
                .iter()
                .map(|l| proto::shop::common::v1::LineItem {
                    product_name: l.product.clone(),
                    quantity: l.quantity as i32,
                    unit_price: Some(money(&order.currency, l.unit_price)),
                })
                .collect(),
            created_at: Some(timestamp(order.created_at_ms)),
        }
    }
}

/// A decimal amount as `google.type.Money`-style units and nanos.
pub fn money(currency: &str, amount: Decimal) -> proto::shop::common::v1::Money {
    let units = amount.trunc();
    let nanos = ((amount - units) * Decimal::from(1_000_000_000)).trunc();
    proto::shop::common::v1::Money {
        currency_code: currency.to_owned(),
        units: i64::try_from(units).unwrap_or_default(),
        nanos: i32::try_from(nanos).unwrap_or_default(),
    }
}
