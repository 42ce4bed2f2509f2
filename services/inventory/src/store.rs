//! The inventory's store (SQLite or PostgreSQL): stock per product, reservations, processed event ids and the
//! outbox.

use events::inventory::{v2, v3};
use events::proto::shop::common::v1::LineItem;
use shop_service_kit::db::{Db, Migration};
use shop_service_kit::{now_ms, outbox};
use sqlx::Row as _;

use crate::domain::{Decision, Refusal, Reservation, decide, describe};

/// The inventory store's schema, version by version (the kit's outbox comes first).
pub const MIGRATIONS: &[Migration] = &[
    Migration::both(
        100,
        "stock, reservations, processed events",
        "
CREATE TABLE IF NOT EXISTS stock (
    product   TEXT PRIMARY KEY,
    available BIGINT NOT NULL CHECK (available >= 0)
);
CREATE TABLE IF NOT EXISTS reservations (
    order_id TEXT    NOT NULL,
    product  TEXT    NOT NULL,
    quantity BIGINT  NOT NULL,
    PRIMARY KEY (order_id, product)
);
CREATE TABLE IF NOT EXISTS processed_events (
    event_id        TEXT PRIMARY KEY,
    outcome         TEXT    NOT NULL,
    processed_at_ms BIGINT  NOT NULL
);
",
    ),
    Migration::both(
        101,
        "processed events by age, for pruning",
        "CREATE INDEX IF NOT EXISTS processed_events_by_age ON processed_events(processed_at_ms);",
    ),
];

/// Deletes processed event ids past the retention (`$1`: the cutoff), a chunk at a time.
pub const PRUNE_PROCESSED: &str = "DELETE FROM processed_events WHERE event_id IN
    (SELECT event_id FROM processed_events WHERE processed_at_ms < $1 LIMIT 5000)";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("stock for {product:?} must be zero or more, got {quantity}")]
    NegativeStock { product: String, quantity: i64 },
    #[error(transparent)]
    Store(#[from] shop_service_kit::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
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
    /// The store on `db`, whose schema [`MIGRATIONS`] brought up to date.
    pub fn new(db: Db, warehouse_id: impl Into<String>) -> Self {
        InventoryStore {
            db,
            warehouse_id: warehouse_id.into(),
        }
    }

    /// The SQLite store in the file at `path` (created when missing), for tools and tests that
    /// read a service's file.
    pub async fn open(path: &std::path::Path, warehouse_id: impl Into<String>) -> Result<Self> {
        Ok(InventoryStore::new(
            Db::open(path, MIGRATIONS).await?,
            warehouse_id,
        ))
    }

    /// A private in-memory SQLite store, for tests.
    pub async fn open_in_memory(warehouse_id: impl Into<String>) -> Result<Self> {
        Ok(InventoryStore::new(
            Db::open_in_memory(MIGRATIONS).await?,
            warehouse_id,
        ))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Sets the units on hand of `product` (the admin's call).
    pub async fn set_stock(&self, product: &str, quantity: i64) -> Result<()> {
        if quantity < 0 {
            return Err(Error::NegativeStock {
                product: product.to_owned(),
                quantity,
            });
        }
        sqlx::query(
            "INSERT INTO stock (product, available) VALUES ($1, $2)
             ON CONFLICT (product) DO UPDATE SET available = excluded.available",
        )
        .bind(product)
        .bind(quantity)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Sets the stock of products the store does not know yet; a restart keeps what was sold.
    pub async fn seed_stock(&self, product: &str, quantity: i64) -> Result<bool> {
        if quantity < 0 {
            return Err(Error::NegativeStock {
                product: product.to_owned(),
                quantity,
            });
        }
        let n = sqlx::query(
            "INSERT INTO stock (product, available) VALUES ($1, $2) ON CONFLICT (product) DO NOTHING",
        )
        .bind(product)
        .bind(quantity)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Units on hand, `None` for a product the inventory does not carry.
    pub async fn stock(&self, product: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT available FROM stock WHERE product = $1")
                .bind(product)
                .fetch_optional(self.db.pool())
                .await?,
        )
    }

    /// Every product and its units on hand, by name.
    pub async fn all_stock(&self) -> Result<Vec<(String, i64)>> {
        self.pairs(
            "SELECT product, available FROM stock ORDER BY product",
            None,
        )
        .await
    }

    /// Units reserved by all orders, per product (products with none are left out).
    pub async fn reserved_by_product(&self) -> Result<Vec<(String, i64)>> {
        self.pairs(
            "SELECT product, CAST(SUM(quantity) AS BIGINT) FROM reservations
              GROUP BY product ORDER BY product",
            None,
        )
        .await
    }

    /// Units reserved for `order_id`, per product.
    pub async fn reservation(&self, order_id: &str) -> Result<Vec<(String, i64)>> {
        self.pairs(
            "SELECT product, quantity FROM reservations WHERE order_id = $1 ORDER BY product",
            Some(order_id),
        )
        .await
    }

    async fn pairs(&self, sql: &'static str, arg: Option<&str>) -> Result<Vec<(String, i64)>> {
        let mut query = sqlx::query(sql);
        if let Some(arg) = arg {
            query = query.bind(arg);
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<sqlx::Result<_>>()?)
    }

    /// How many events were processed.
    pub async fn processed_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM processed_events")
            .fetch_one(self.db.pool())
            .await?;
        Ok(n as u64)
    }

    /// Reserves every line or none, exactly once per order: the processed id, the stock change,
    /// the reservation rows and the answer's outbox row commit together.
    ///
    /// Safe with several replicas on one PostgreSQL database: the processed id is claimed
    /// first (a second transaction for the same order waits for the first, then finds it taken),
    /// and the stock rows are locked in product order before they are read, so two orders for
    /// the same product never both take its last units and never deadlock.
    pub async fn reserve(&self, request: &Reservation) -> Result<Handled> {
        let id = event_id(&request.order_id);
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO processed_events (event_id, outcome, processed_at_ms) VALUES ($1, '', $2)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(Handled::Duplicate);
        }
        let mut products: Vec<&str> = request.lines.iter().map(|l| l.product.as_str()).collect();
        products.sort_unstable();
        products.dedup();
        let lock = format!(
            "SELECT available FROM stock WHERE product = $1{}",
            self.db.backend().for_update()
        );
        let mut on_hand = std::collections::HashMap::new();
        for product in products {
            let available: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(lock.as_str()))
                .bind(product)
                .fetch_optional(&mut *tx)
                .await?;
            on_hand.insert(product, available);
        }
        let decision = decide(request, |product| on_hand.get(product).copied().flatten());
        let handled = match &decision {
            Decision::Reserve(lines) => {
                for line in lines {
                    sqlx::query("UPDATE stock SET available = available - $2 WHERE product = $1")
                        .bind(&line.product)
                        .bind(line.quantity)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO reservations (order_id, product, quantity) VALUES ($1, $2, $3)",
                    )
                    .bind(&request.order_id)
                    .bind(&line.product)
                    .bind(line.quantity)
                    .execute(&mut *tx)
                    .await?;
                }
                outbox::enqueue(
                    &mut tx,
                    &v2::InventoryReserved {
                        order_id: request.order_id.clone(),
                        line_items: line_items(request),
                        reserved_at: Some(timestamp(now)),
                        warehouse_id: self.warehouse_id.clone(),
                        // Reservations do not lapse in this shop.
                        expires_at: None,
                    },
                )
                .await?;
                Handled::Reserved
            }
            Decision::Reject(refused) => {
                let refusal = decision.refusal().unwrap_or(Refusal::OutOfStock);
                let reason = match refusal {
                    Refusal::UnknownProduct => v3::RejectionReason::UnknownProduct,
                    Refusal::QuantityLimit => v3::RejectionReason::QuantityLimit,
                    Refusal::OutOfStock => v3::RejectionReason::OutOfStock,
                };
                outbox::enqueue(
                    &mut tx,
                    &v3::InventoryRejected {
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
                        stock_on_hand: refused
                            .iter()
                            .filter(|l| l.refusal != Refusal::UnknownProduct)
                            .map(|l| (l.product.clone(), l.available))
                            .collect(),
                    },
                )
                .await?;
                Handled::Rejected(refusal)
            }
        };
        let outcome = match &handled {
            Handled::Reserved => "reserved",
            _ => "rejected",
        };
        sqlx::query("UPDATE processed_events SET outcome = $2 WHERE event_id = $1")
            .bind(&id)
            .bind(outcome)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(handled)
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
