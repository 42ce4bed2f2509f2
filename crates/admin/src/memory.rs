//! An in-memory backend for tests and examples: every trait, over plain collections.
//!
//! It behaves like a real process would: pause and resume change the consumer's state, a drop
//! removes the record, a replay takes away the records marked valid under the current contract
//! and leaves the others, set stock is what get stock then reads. Not for production: nothing
//! is persisted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::*;
use crate::model::*;

#[derive(Debug, Default)]
struct State {
    contracts: Vec<ContractInfo>,
    consumers: Vec<ConsumerInfo>,
    lag: Vec<PartitionLag>,
    /// Each record with whether the current contract accepts it.
    dead_letters: Vec<(DeadLetter, bool)>,
    replayed: Vec<DeadLetterId>,
    orders: Vec<Order>,
    stock: BTreeMap<String, Stock>,
    notifications: Vec<Notification>,
    /// When set, every call fails with this internal detail.
    failing: Option<String>,
}

/// Shared state behind every admin trait; clones see the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self) -> BackendResult<MutexGuard<'_, State>> {
        let state = self.lock();
        match &state.failing {
            Some(detail) => Err(BackendError::internal(detail.clone())),
            None => Ok(state),
        }
    }

    pub fn add_contract(&self, contract: ContractInfo) -> &Self {
        self.lock().contracts.push(contract);
        self
    }

    pub fn add_consumer(&self, consumer: ConsumerInfo) -> &Self {
        self.lock().consumers.push(consumer);
        self
    }

    pub fn add_lag(&self, lag: PartitionLag) -> &Self {
        self.lock().lag.push(lag);
        self
    }

    /// `valid`: whether the current contract accepts the record, i.e. whether a replay sends
    /// it back.
    pub fn add_dead_letter(&self, record: DeadLetter, valid: bool) -> &Self {
        self.lock().dead_letters.push((record, valid));
        self
    }

    pub fn add_order(&self, order: Order) -> &Self {
        self.lock().orders.push(order);
        self
    }

    pub fn add_stock(&self, stock: Stock) -> &Self {
        self.lock().stock.insert(stock.product_id.clone(), stock);
        self
    }

    pub fn add_notification(&self, notification: Notification) -> &Self {
        self.lock().notifications.push(notification);
        self
    }

    /// Makes every call fail with an internal error carrying `detail` (or stop failing).
    pub fn set_failing(&self, detail: Option<&str>) {
        self.lock().failing = detail.map(str::to_owned);
    }

    /// The records replay sent back, in order.
    pub fn replayed(&self) -> Vec<DeadLetterId> {
        self.lock().replayed.clone()
    }

    /// The ids still on the dead-letter topics.
    pub fn dead_letter_ids(&self) -> Vec<DeadLetterId> {
        self.lock()
            .dead_letters
            .iter()
            .map(|(d, _)| d.id.clone())
            .collect()
    }

    pub fn consumer(&self, name: &str) -> Option<ConsumerInfo> {
        self.lock()
            .consumers
            .iter()
            .find(|c| c.name == name)
            .cloned()
    }

    pub fn stock_of(&self, product_id: &str) -> Option<Stock> {
        self.lock().stock.get(product_id).cloned()
    }

    fn set_paused(&self, name: &str, paused: bool) -> BackendResult<ConsumerInfo> {
        let mut state = self.check()?;
        let consumer = state
            .consumers
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| BackendError::not_found(format!("no consumer {name:?}")))?;
        consumer.paused = paused;
        Ok(consumer.clone())
    }
}

impl AdminBackend for MemoryBackend {
    async fn contracts(&self) -> BackendResult<Vec<ContractInfo>> {
        Ok(self.check()?.contracts.clone())
    }

    async fn consumers(&self) -> BackendResult<Vec<ConsumerInfo>> {
        Ok(self.check()?.consumers.clone())
    }

    async fn lag(&self, group: Option<&str>) -> BackendResult<Vec<PartitionLag>> {
        let state = self.check()?;
        if let Some(g) = group
            && !state.consumers.iter().any(|c| c.group == g)
        {
            return Err(BackendError::not_found(format!("no consumer group {g:?}")));
        }
        Ok(state
            .lag
            .iter()
            .filter(|l| group.is_none_or(|g| l.group == g))
            .cloned()
            .collect())
    }

    async fn dead_letters(&self, query: DeadLetterQuery) -> BackendResult<DeadLetterPage> {
        let state = self.check()?;
        let mut matching = state
            .dead_letters
            .iter()
            .map(|(d, _)| d)
            .filter(|d| query.topic.as_ref().is_none_or(|t| &d.id.topic == t));
        let dead_letters: Vec<_> = matching.by_ref().take(query.limit).cloned().collect();
        Ok(DeadLetterPage {
            dead_letters,
            truncated: matching.next().is_some(),
        })
    }

    async fn replay(&self, ids: &[DeadLetterId]) -> BackendResult<Vec<ReplayResult>> {
        let mut state = self.check()?;
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let position = state.dead_letters.iter().position(|(d, _)| &d.id == id);
            let result = match position {
                None => ReplayResult {
                    id: id.clone(),
                    outcome: ReplayOutcome::NotFound,
                    message: format!("no dead letter {id}"),
                },
                Some(i) if state.dead_letters[i].1 => {
                    let (record, _) = state.dead_letters.remove(i);
                    state.replayed.push(id.clone());
                    ReplayResult {
                        id: id.clone(),
                        outcome: ReplayOutcome::Replayed,
                        message: format!("sent back to {}", record.original_topic),
                    }
                }
                Some(_) => ReplayResult {
                    id: id.clone(),
                    outcome: ReplayOutcome::Rejected,
                    message: "still invalid under the current contract".into(),
                },
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn drop_dead_letters(&self, ids: &[DeadLetterId]) -> BackendResult<Vec<DropResult>> {
        let mut state = self.check()?;
        Ok(ids
            .iter()
            .map(|id| {
                let before = state.dead_letters.len();
                state.dead_letters.retain(|(d, _)| &d.id != id);
                DropResult {
                    id: id.clone(),
                    outcome: if state.dead_letters.len() < before {
                        DropOutcome::Dropped
                    } else {
                        DropOutcome::NotFound
                    },
                }
            })
            .collect())
    }

    async fn pause(&self, consumer: &str) -> BackendResult<ConsumerInfo> {
        self.set_paused(consumer, true)
    }

    async fn resume(&self, consumer: &str) -> BackendResult<ConsumerInfo> {
        self.set_paused(consumer, false)
    }
}

impl OrderBackend for MemoryBackend {
    async fn order(&self, order_id: &str) -> BackendResult<Option<Order>> {
        Ok(self
            .check()?
            .orders
            .iter()
            .find(|o| o.order_id == order_id)
            .cloned())
    }

    async fn orders_by_status(
        &self,
        status: OrderStatus,
        limit: usize,
    ) -> BackendResult<Vec<Order>> {
        // Newest first: the last added is the newest.
        Ok(self
            .check()?
            .orders
            .iter()
            .rev()
            .filter(|o| o.status == status)
            .take(limit)
            .cloned()
            .collect())
    }
}

impl InventoryBackend for MemoryBackend {
    async fn stock(&self, product_id: &str) -> BackendResult<Option<Stock>> {
        Ok(self.check()?.stock.get(product_id).cloned())
    }

    async fn all_stock(&self) -> BackendResult<Vec<Stock>> {
        Ok(self.check()?.stock.values().cloned().collect())
    }

    async fn set_stock(&self, product_id: &str, available: i64) -> BackendResult<Stock> {
        let mut state = self.check()?;
        let stock = state
            .stock
            .entry(product_id.to_owned())
            .or_insert_with(|| Stock {
                product_id: product_id.to_owned(),
                available: 0,
                reserved: 0,
            });
        stock.available = available;
        Ok(stock.clone())
    }
}

impl NotificationBackend for MemoryBackend {
    async fn notifications(&self, order_id: &str) -> BackendResult<Vec<Notification>> {
        Ok(self
            .check()?
            .notifications
            .iter()
            .filter(|n| n.order_id == order_id)
            .cloned()
            .collect())
    }
}

impl MemoryBackend {
    /// A small shop: two contracts, a consumer with lag, three dead letters (two valid under
    /// the current contract), three orders, two products and two notifications for `o-1`.
    pub fn sample() -> Self {
        use contracts_core::types::{DateTime, Utc};
        let at = |secs| DateTime::<Utc>::from_timestamp(secs, 0);
        let b = MemoryBackend::new();
        b.add_contract(ContractInfo {
            event: "shop.orders.OrderCreated".into(),
            version: 3,
            subject: "shop.orders.OrderCreated".into(),
            topic: "orders".into(),
            format: SchemaFormat::Avro,
            role: ContractRole::Produced,
            schema_id: Some(1),
            fingerprint: "5e".repeat(32),
        })
        .add_contract(ContractInfo {
            event: "shop.inventory.v2.InventoryReserved".into(),
            version: 2,
            subject: "inventory-shop.inventory.v2.InventoryReserved".into(),
            topic: "inventory".into(),
            format: SchemaFormat::Protobuf,
            role: ContractRole::Consumed,
            schema_id: None,
            fingerprint: "a0".repeat(32),
        })
        .add_consumer(ConsumerInfo {
            name: "inventory-events".into(),
            group: "order-service".into(),
            topics: vec!["inventory".into()],
            paused: false,
        })
        .add_lag(PartitionLag {
            group: "order-service".into(),
            topic: "inventory".into(),
            partition: 0,
            committed_offset: Some(10),
            high_watermark: 15,
            lag: 5,
        })
        .add_lag(PartitionLag {
            group: "order-service".into(),
            topic: "inventory".into(),
            partition: 1,
            committed_offset: None,
            high_watermark: 3,
            lag: 3,
        });
        let dead_letter = |topic: &str, partition, offset, class: &str, message: &str| {
            let original = topic.trim_end_matches(".DLT").to_owned();
            DeadLetter {
                id: DeadLetterId {
                    topic: topic.into(),
                    partition,
                    offset,
                },
                key: format!("o-{offset}"),
                original_topic: original.clone(),
                original_partition: partition,
                original_offset: offset * 10,
                consumer_group: "inventory-service".into(),
                error_class: class.into(),
                error_message: message.into(),
                attempts: if class == "decode" { 0 } else { 5 },
                dead_lettered_at: at(1_700_000_000 + offset),
                headers: vec![
                    Header {
                        key: "event_type".into(),
                        value: "shop.orders.OrderCreated".into(),
                    },
                    Header {
                        key: "dlt-original-topic".into(),
                        value: original,
                    },
                    Header {
                        key: "dlt-error-class".into(),
                        value: class.into(),
                    },
                    Header {
                        key: "dlt-error-message".into(),
                        value: message.into(),
                    },
                ],
                event_type: "shop.orders.OrderCreated".into(),
                value_size: 42,
            }
        };
        b.add_dead_letter(
            dead_letter(
                "orders.DLT",
                0,
                7,
                "handler-retries-exhausted",
                "database is locked",
            ),
            true,
        )
        .add_dead_letter(
            dead_letter("orders.DLT", 0, 8, "decode", "unknown union branch 7"),
            false,
        )
        .add_dead_letter(
            dead_letter(
                "inventory.DLT",
                2,
                0,
                "handler-panic",
                "index out of bounds",
            ),
            true,
        );
        let order = |id: &str, status, secs| Order {
            order_id: id.into(),
            customer_id: "c-42".into(),
            status,
            lines: vec![OrderLine {
                product_id: "apple".into(),
                quantity: 2,
                unit_price: "0.40".into(),
            }],
            created_at: at(secs),
            updated_at: at(secs + 1),
            rejection_reason: if status == OrderStatus::Rejected {
                "not enough apple: 2 wanted, 0 available".into()
            } else {
                String::new()
            },
            currency: "EUR".into(),
        };
        b.add_order(order("o-1", OrderStatus::Confirmed, 1_700_000_100))
            .add_order(order("o-2", OrderStatus::Rejected, 1_700_000_200))
            .add_order(order("o-3", OrderStatus::Confirmed, 1_700_000_300))
            .add_stock(Stock {
                product_id: "apple".into(),
                available: 10,
                reserved: 2,
            })
            .add_stock(Stock {
                product_id: "pear".into(),
                available: 0,
                reserved: 0,
            });
        for (n, kind) in [(1, "order_received"), (2, "order_confirmed")] {
            b.add_notification(Notification {
                order_id: "o-1".into(),
                kind: kind.into(),
                detail: format!("Your order o-1: {kind}"),
                recipient: "c-42@example.com".into(),
                transport: "mailbox".into(),
                event_id: format!("e-{n}"),
                // The second is still waiting for delivery.
                sent_at: if n == 1 { at(1_700_000_101) } else { None },
                attempts: 1,
                last_error: if n == 1 {
                    String::new()
                } else {
                    "mailbox full".into()
                },
            });
        }
        b
    }
}
