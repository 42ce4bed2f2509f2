//! The order service's store (SQLite or PostgreSQL): orders, their lines, and the outbox,
//! changed together.

use std::str::FromStr;

use contracts_core::types::{DateTime, Decimal, Utc};
use events::orders::{v1, v3};
use events::{order_created_pb, proto};
use shop_service_kit::db::{Db, Migration, Tx};
use shop_service_kit::{now_ms, outbox};
use sqlx::Row as _;

use crate::domain::{Action, Applied, Line, NewOrder, Order, Outcome, Status, decide, transition};

/// The order store's schema, version by version (the kit's outbox comes first).
pub const MIGRATIONS: &[Migration] = &[Migration::both(
    100,
    "orders",
    "
CREATE TABLE IF NOT EXISTS orders (
    id               TEXT PRIMARY KEY,
    customer         TEXT    NOT NULL,
    currency         TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL,
    rejection_reason TEXT,
    payment_id       TEXT,
    carrier          TEXT,
    tracking_number  TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders(status, created_at_ms);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id   TEXT    NOT NULL REFERENCES orders(id),
    line_no    BIGINT  NOT NULL,
    product    TEXT    NOT NULL,
    quantity   BIGINT  NOT NULL,
    unit_price TEXT    NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
",
)];

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

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
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
    /// The store on `db`, whose schema [`MIGRATIONS`] brought up to date.
    pub fn new(db: Db) -> Self {
        OrderStore { db }
    }

    /// The SQLite store in the file at `path` (created when missing), for tools and tests that
    /// read a service's file.
    pub async fn open(path: &std::path::Path) -> Result<Self> {
        Ok(OrderStore::new(Db::open(path, MIGRATIONS).await?))
    }

    /// A private in-memory SQLite store, for tests.
    pub async fn open_in_memory() -> Result<Self> {
        Ok(OrderStore::new(Db::open_in_memory(MIGRATIONS).await?))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stores a validated order as PENDING together with its `OrderCreated` events (Avro on
    /// `orders`, Protobuf on `order-created-pb`), in one transaction.
    pub async fn create(&self, id: &str, new: &NewOrder) -> Result<Order> {
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
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO orders (id, customer, currency, status, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&order.id)
        .bind(&order.customer)
        .bind(&order.currency)
        .bind(order.status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (i, line) in order.lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, product, quantity, unit_price)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&order.id)
            .bind(i as i64)
            .bind(&line.product)
            .bind(i64::from(line.quantity))
            .bind(line.unit_price.to_string())
            .execute(&mut *tx)
            .await?;
        }
        outbox::enqueue(&mut tx, &v3::OrderCreated::from(&order)).await?;
        outbox::enqueue(&mut tx, &order_created_pb::v2::OrderCreated::from(&order)).await?;
        tx.commit().await?;
        Ok(order)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Order>> {
        let mut conn = self.db.pool().acquire().await?;
        load(&mut conn, id, "").await
    }

    /// Orders, newest first, optionally only those in `status`.
    pub async fn list(&self, status: Option<Status>, limit: usize) -> Result<Vec<Order>> {
        let mut conn = self.db.pool().acquire().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM orders WHERE ($1 IS NULL OR status = $1)
             ORDER BY created_at_ms DESC, id LIMIT $2",
        )
        .bind(status.map(Status::as_str))
        .bind(limit as i64)
        .fetch_all(&mut *conn)
        .await?;
        let mut orders = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(order) = load(&mut conn, id, "").await? {
                orders.push(order);
            }
        }
        Ok(orders)
    }

    /// How many orders are in each status.
    pub async fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) FROM orders GROUP BY status")
            .fetch_all(self.db.pool())
            .await?;
        let mut counts = Vec::new();
        for r in &rows {
            let status: String = r.try_get(0)?;
            let n: i64 = r.try_get(1)?;
            if let Ok(status) = Status::from_str(&status) {
                counts.push((status, n as u64));
            }
        }
        Ok(counts)
    }

    /// CONFIRMED → PAID, with its `OrderPaid` event.
    pub async fn pay(&self, id: &str, payment_id: &str) -> Result<Order> {
        let (mut tx, mut order) = self.act(id, Action::Pay).await?;
        sqlx::query("UPDATE orders SET payment_id = $2 WHERE id = $1")
            .bind(id)
            .bind(payment_id)
            .execute(&mut *tx)
            .await?;
        order.payment_id = Some(payment_id.to_owned());
        outbox::enqueue(&mut tx, &paid_event(&order, order.updated_at_ms)).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// PAID → SHIPPED, with its `OrderShipped` event.
    pub async fn ship(
        &self,
        id: &str,
        carrier: &str,
        tracking_number: Option<&str>,
    ) -> Result<Order> {
        let (mut tx, mut order) = self.act(id, Action::Ship).await?;
        sqlx::query("UPDATE orders SET carrier = $2, tracking_number = $3 WHERE id = $1")
            .bind(id)
            .bind(carrier)
            .bind(tracking_number)
            .execute(&mut *tx)
            .await?;
        order.carrier = Some(carrier.to_owned());
        order.tracking_number = tracking_number.map(str::to_owned);
        outbox::enqueue(
            &mut tx,
            &v1::OrderShipped {
                order_id: order.id.clone(),
                carrier: carrier.to_owned(),
                tracking_number: order.tracking_number.clone(),
                shipped_at: datetime(order.updated_at_ms),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(order)
    }

    /// Moves the order by `action` in a transaction the caller finishes (and commits). The
    /// order's row is locked on PostgreSQL, so two replicas cannot both move it.
    async fn act(&self, id: &str, action: Action) -> Result<(Tx, Order)> {
        let mut tx = self.db.begin().await?;
        let mut order = load(&mut tx, id, self.db.backend().for_update())
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        let next = transition(order.status, action).map_err(|reason| Error::IllegalTransition {
            id: id.to_owned(),
            from: order.status,
            action,
            reason,
        })?;
        order.status = next;
        order.updated_at_ms = now_ms();
        sqlx::query("UPDATE orders SET status = $2, updated_at_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(next.as_str())
            .bind(order.updated_at_ms)
            .execute(&mut *tx)
            .await?;
        Ok((tx, order))
    }

    /// Applies the inventory's decision. Idempotent: only a PENDING order moves, so a
    /// redelivered event changes nothing.
    pub async fn apply_outcome(&self, id: &str, outcome: &Outcome) -> Result<Applied> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "SELECT status FROM orders WHERE id = $1{}",
            self.db.backend().for_update()
        );
        let status: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let status = status.ok_or_else(|| Error::NotFound(id.to_owned()))?;
        let from = Status::from_str(&status).unwrap_or(Status::Pending);
        let applied = decide(from, outcome);
        if let Applied::Moved(next) = applied {
            let reason = match outcome {
                Outcome::Rejected { reason } => Some(reason.as_str()),
                Outcome::Reserved => None,
            };
            sqlx::query(
                "UPDATE orders SET status = $2, rejection_reason = $3, updated_at_ms = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(next.as_str())
            .bind(reason)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(applied)
    }
}

/// The order `id` with its lines; `lock` is [`Backend::for_update`] inside a transaction that
/// changes it.
///
/// [`Backend::for_update`]: shop_service_kit::db::Backend::for_update
async fn load(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    lock: &'static str,
) -> Result<Option<Order>> {
    let sql = format!(
        "SELECT id, customer, currency, status, created_at_ms, updated_at_ms,
                rejection_reason, payment_id, carrier, tracking_number
           FROM orders WHERE id = $1{lock}"
    );
    let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let status: String = r.try_get(3)?;
    let mut order = Order {
        id: r.try_get(0)?,
        customer: r.try_get(1)?,
        currency: r.try_get(2)?,
        status: Status::from_str(&status).unwrap_or(Status::Pending),
        created_at_ms: r.try_get(4)?,
        updated_at_ms: r.try_get(5)?,
        rejection_reason: r.try_get(6)?,
        payment_id: r.try_get(7)?,
        carrier: r.try_get(8)?,
        tracking_number: r.try_get(9)?,
        lines: Vec::new(),
    };
    let lines = sqlx::query(
        "SELECT product, quantity, unit_price FROM order_lines WHERE order_id = $1 ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for r in &lines {
        let price: String = r.try_get(2)?;
        order.lines.push(Line {
            product: r.try_get(0)?,
            quantity: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or_default(),
            unit_price: Decimal::from_str(&price).unwrap_or_default(),
        });
    }
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
impl From<&Order> for order_created_pb::v2::OrderCreated {
    fn from(order: &Order) -> Self {
        order_created_pb::v2::OrderCreated {
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
            total: Some(money(&order.currency, order.total())),
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
