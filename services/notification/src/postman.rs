//! Delivers recorded messages, in order per order, through a [`Transport`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use shop_service_kit::ops::Counters;
use shop_service_kit::outbox;
use shop_service_kit::shutdown::Shutdown;
use tokio::sync::Notify;
use tracing::Instrument as _;

use crate::domain::Mail;
use crate::store::{NotificationStore, Result};
use crate::transport::Transport;

/// Messages of different orders handed to the transport at once (SMTP connections, or files).
pub const CONCURRENT_DELIVERIES: usize = 16;

/// The mail lease's key (an arbitrary constant: one postman per database).
const MAIL_LEASE: i64 = 0x5348_4f50_4d41_494c;

/// Takes deliverable messages from the store and hands them to the transport.
#[derive(Debug)]
pub struct Postman<T> {
    store: NotificationStore,
    transport: T,
    counters: Counters,
    wake: Arc<Notify>,
    /// Between idle polls, and before retrying a failed delivery.
    pub retry_after: Duration,
}

impl<T: Transport> Postman<T> {
    pub fn new(store: NotificationStore, transport: T, counters: Counters) -> Self {
        Postman {
            store,
            transport,
            counters,
            wake: Arc::new(Notify::new()),
            retry_after: Duration::from_millis(500),
        }
    }

    /// Wakes the postman at once (after recording a message).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Delivers everything deliverable now; a failed message is retried on the next round,
    /// and the later messages of its order wait for it. Returns how many went out.
    ///
    /// A batch holds at most one message per order (the next one of each), so its messages go
    /// out concurrently, up to [`CONCURRENT_DELIVERIES`] at a time; each is marked delivered as
    /// soon as the transport took it, and the order's next message comes in a later batch.
    pub async fn run_once(&self) -> Result<usize> {
        let mut delivered = 0;
        let mut failed = HashSet::new();
        loop {
            let batch: Vec<_> = self
                .store
                .deliverable_traced(256)
                .await?
                .into_iter()
                .filter(|(m, _)| !failed.contains(&m.id))
                .collect();
            if batch.is_empty() {
                return Ok(delivered);
            }
            let outcomes: Vec<Option<String>> = stream::iter(batch)
                .map(|(mail, trace)| {
                    let span = outbox::continued_span(
                        tracing::info_span!(
                            "mail",
                            otel.name = %format_args!("mail {}", mail.kind.as_str()),
                            order_id = %mail.order_id,
                            kind = %mail.kind,
                        ),
                        trace.as_deref(),
                    );
                    self.deliver(mail).instrument(span)
                })
                .buffer_unordered(CONCURRENT_DELIVERIES)
                .try_collect()
                .await?;
            for outcome in outcomes {
                match outcome {
                    None => delivered += 1,
                    Some(id) => {
                        failed.insert(id);
                    }
                }
            }
        }
    }

    /// Hands one message to the transport and records the outcome: `None` when delivered, its
    /// id when it failed.
    async fn deliver(&self, mail: Mail) -> Result<Option<String>> {
        match self.transport.deliver(&mail).await {
            Ok(()) => {
                self.store.mark_delivered(&mail).await?;
                self.counters.add(
                    "shop_notifications_delivered_total",
                    "Messages handed to the transport, by kind.",
                    &[("kind", mail.kind.as_str())],
                    1,
                );
                tracing::info!(order_id = %mail.order_id, kind = %mail.kind, to = %mail.to, "notification delivered");
                Ok(None)
            }
            Err(error) => {
                tracing::warn!(order_id = %mail.order_id, kind = %mail.kind, %error, "delivery failed; will retry");
                self.store.mark_failed(&mail, &error.to_string()).await?;
                Ok(Some(mail.id))
            }
        }
    }

    /// Delivers until `shutdown`, whenever woken and every `retry_after`. With several
    /// replicas on one PostgreSQL database, one delivers at a time (it holds the mail lease;
    /// the others stand by and take over when it dies), so no two send the same message.
    pub async fn run(&self, shutdown: Shutdown) {
        tracing::info!(transport = %self.transport.describe(), "delivering notifications");
        let mut standing_by = false;
        while !shutdown.is_triggered() {
            let lease = match self.store.db().try_lease(MAIL_LEASE).await {
                Ok(Some(lease)) => Some(lease),
                Ok(None) => {
                    if !standing_by {
                        tracing::info!(
                            "another replica delivers the notifications; standing by to take over"
                        );
                        standing_by = true;
                    }
                    None
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot take the mail lease");
                    None
                }
            };
            if let Some(mut lease) = lease {
                if self.store.db().backend() == shop_service_kit::db::Backend::Postgres {
                    tracing::info!("this replica delivers the notifications");
                }
                standing_by = false;
                while !shutdown.is_triggered() {
                    if let Err(error) = lease.check().await {
                        tracing::warn!(%error, "lost the mail lease with its database session; standing by");
                        break;
                    }
                    if let Err(error) = self.run_once().await {
                        tracing::error!(%error, "notification store failed");
                    }
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(self.retry_after) => {}
                        _ = shutdown.wait() => {}
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.retry_after) => {}
                _ = shutdown.wait() => {}
            }
        }
    }
}
