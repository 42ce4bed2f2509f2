//! The inventory's SQLite store: stock per product, reservations, processed event ids and the
//! outbox.

use std::path::Path;

use events::inventory::v2;
use events::proto::shop::common::v1::LineItem;
use rusqlite::{OptionalExtension, params};
use shop_service_kit::db::Db;
use shop_service_kit::{now_ms, outbox};

use crate::domain::{Decision, Refusal, Reservation, decide, describe};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stock (
    product   TEXT PRIMARY KEY,
    available INTEGER NOT NULL CHECK (available >= 0)
);
CREATE TABLE IF NOT EXISTS reservations (
    order_id TEXT    NOT NULL,
    product  TEXT    NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (order_id, product)
);
CREATE TABLE IF NOT EXISTS processed_events (
    event_id        TEXT PRIMARY KEY,
    outcome         TEXT    NOT NULL,
    processed_at_ms INTEGER NOT NULL
);
";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("stock for {product:?} must be zero or more, got {quantity}")]
    NegativeStock { product: String, quantity: i64 },
    #[error(transparent)]
    Store(#[from] shop_service_kit::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What handling an `OrderCreated` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Stock taken; `InventoryReserved` is in the outbox.
    Reserved,
    /// Nothing taken; `InventoryRejected` is in the outbox.
    Rejected(Refusal),
    /// This event was processed before (a redelivery): nothing changed.
    Duplicate,
}

/// The id under which an order's `OrderCreated` is recorded as processed.
///
/// Why not the record's offset or the producer's `event_id` header: the order service's outbox
/// may publish the same `OrderCreated` twice (a crash between send and mark), and the copies
/// have different offsets and headers. An order is created once, so the order id names the event.
pub fn event_id(order_id: &str) -> String {
    format!("OrderCreated/{order_id}")
}

/// Stock, reservations and the outbox.
#[derive(Debug, Clone)]
pub struct InventoryStore {
    db: Db,
    warehouse_id: String,
}

/// The runner pings the database for `/health` and relays its outbox.
impl AsRef<Db> for InventoryStore {
    fn as_ref(&self) -> &Db {
        &self.db
    }
}

impl InventoryStore {
    pub fn open(path: &Path, warehouse_id: impl Into<String>) -> Result<Self> {
        Ok(InventoryStore {
            db: Db::open(path, SCHEMA)?,
            warehouse_id: warehouse_id.into(),
        })
    }

    pub fn open_in_memory(warehouse_id: impl Into<String>) -> Result<Self> {
        Ok(InventoryStore {
            db: Db::open_in_memory(SCHEMA)?,
            warehouse_id: warehouse_id.into(),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Sets the units on hand of `product` (the admin's call).
    pub fn set_stock(&self, product: &str, quantity: i64) -> Result<()> {
        if quantity < 0 {
            return Err(Error::NegativeStock {
                product: product.to_owned(),
                quantity,
            });
        }
        self.db.lock().execute(
            "INSERT INTO stock (product, available) VALUES (?1, ?2)
             ON CONFLICT (product) DO UPDATE SET available = excluded.available",
            params![product, quantity],
        )?;
        Ok(())
    }

    /// Sets the stock of products the store does not know yet; a restart keeps what was sold.
    pub fn seed_stock(&self, product: &str, quantity: i64) -> Result<bool> {
        if quantity < 0 {
            return Err(Error::NegativeStock {
                product: product.to_owned(),
                quantity,
            });
        }
        let n = self.db.lock().execute(
            "INSERT OR IGNORE INTO stock (product, available) VALUES (?1, ?2)",
            params![product, quantity],
        )?;
        Ok(n == 1)
    }

    /// Units on hand, `None` for a product the inventory does not carry.
    pub fn stock(&self, product: &str) -> Result<Option<i64>> {
        Ok(self
            .db
            .lock()
            .query_row(
                "SELECT available FROM stock WHERE product = ?1",
                [product],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every product and its units on hand, by name.
    pub fn all_stock(&self) -> Result<Vec<(String, i64)>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare("SELECT product, available FROM stock ORDER BY product")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Units reserved by all orders, per product (products with none are left out).
    pub fn reserved_by_product(&self) -> Result<Vec<(String, i64)>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare(
            "SELECT product, SUM(quantity) FROM reservations GROUP BY product ORDER BY product",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Units reserved for `order_id`, per product.
    pub fn reservation(&self, order_id: &str) -> Result<Vec<(String, i64)>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare(
            "SELECT product, quantity FROM reservations WHERE order_id = ?1 ORDER BY product",
        )?;
        let rows = stmt
            .query_map([order_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// How many events were processed.
    pub fn processed_count(&self) -> Result<u64> {
        let n: i64 =
            self.db
                .lock()
                .query_row("SELECT COUNT(*) FROM processed_events", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Reserves every line or none, exactly once per order: the processed id, the stock change,
    /// the reservation rows and the answer's outbox row commit together.
    pub fn reserve(&self, request: &Reservation) -> Result<Handled> {
        let id = event_id(&request.order_id);
        self.db.transaction(|tx| {
            let seen = tx
                .query_row("SELECT 1 FROM processed_events WHERE event_id = ?1", [&id], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if seen {
                return Ok(Handled::Duplicate);
            }
            let mut on_hand = std::collections::HashMap::new();
            {
                let mut stmt = tx.prepare_cached("SELECT available FROM stock WHERE product = ?1")?;
                for line in &request.lines {
                    let available: Option<i64> =
                        stmt.query_row([&line.product], |r| r.get(0)).optional()?;
                    on_hand.insert(line.product.as_str(), available);
                }
            }
            let decision = decide(request, |product| on_hand.get(product).copied().flatten());
            let now = now_ms();
            let handled = match &decision {
                Decision::Reserve(lines) => {
                    for line in lines {
                        tx.execute(
                            "UPDATE stock SET available = available - ?2 WHERE product = ?1",
                            params![line.product, line.quantity],
                        )?;
                        tx.execute(
                            "INSERT INTO reservations (order_id, product, quantity) VALUES (?1, ?2, ?3)",
                            params![request.order_id, line.product, line.quantity],
                        )?;
                    }
                    outbox::enqueue(
                        tx,
                        &v2::InventoryReserved {
                            order_id: request.order_id.clone(),
                            line_items: line_items(request),
                            reserved_at: Some(timestamp(now)),
                            warehouse_id: self.warehouse_id.clone(),
                            // Reservations do not lapse in this shop.
                            expires_at: None,
                        },
                    )?;
                    Handled::Reserved
                }
                Decision::Reject(refused) => {
                    let refusal = decision.refusal().unwrap_or(Refusal::OutOfStock);
                    let reason = match refusal {
                        Refusal::UnknownProduct => v2::RejectionReason::UnknownProduct,
                        Refusal::QuantityLimit => v2::RejectionReason::QuantityLimit,
                        Refusal::OutOfStock => v2::RejectionReason::OutOfStock,
                    };
                    outbox::enqueue(
                        tx,
                        &v2::InventoryRejected {
                            order_id: request.order_id.clone(),
                            line_items: refused
                                .iter()
                                .map(|l| LineItem {
                                    product_name: l.product.clone(),
                                    quantity: l.quantity as i32,
                                    unit_price: None,
                                })
                                .collect(),
                            reason: reason as i32,
                            rejected_at: Some(timestamp(now)),
                            detail: describe(refused),
                        },
                    )?;
                    Handled::Rejected(refusal)
                }
            };
            let outcome = match &handled {
                Handled::Reserved => "reserved",
                _ => "rejected",
            };
            tx.execute(
                "INSERT INTO processed_events (event_id, outcome, processed_at_ms) VALUES (?1, ?2, ?3)",
                params![id, outcome, now],
            )?;
            Ok(handled)
        })
    }
}

fn line_items(request: &Reservation) -> Vec<LineItem> {
    request
        .lines
        .iter()
        .map(|l| LineItem {
            product_name: l.product.clone(),
            quantity: l.quantity as i32,
            unit_price: None,
        })
        .collect()
}

fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}
