//! What a process implements to be served over the admin API.
//!
//! The server validates every request before a backend sees it (ids parse, limits are in
//! range, names are not empty), so a backend handles only well-formed calls. Methods return
//! `impl Future + Send`; an implementation can simply write `async fn`.

use std::future::Future;

use crate::model::*;

/// Why a backend could not answer. The server turns each kind into its gRPC status:
/// [`BackendError::Internal`] is logged with its detail and answered generically, the others
/// pass their message to the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The named thing does not exist (`NOT_FOUND`).
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but names something the backend refuses (`INVALID_ARGUMENT`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The request cannot be carried out in the current state (`FAILED_PRECONDITION`).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A dependency (broker, registry, database) is unreachable for now; retrying may help
    /// (`UNAVAILABLE`).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: a bug or an unexpected failure (`INTERNAL`, detail only in the log).
    #[error(transparent)]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl BackendError {
    pub fn not_found(message: impl Into<String>) -> Self {
        BackendError::NotFound(message.into())
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        BackendError::InvalidArgument(message.into())
    }

    pub fn failed_precondition(message: impl Into<String>) -> Self {
        BackendError::FailedPrecondition(message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        BackendError::Unavailable(message.into())
    }

    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        BackendError::Internal(error.into())
    }
}

pub type BackendResult<T> = Result<T, BackendError>;

/// The event plumbing of one process: every service implements this (usually over its
/// `contracts-runtime` producers and consumers) and serves it with [`crate::AdminServer`].
pub trait AdminBackend: Send + Sync + 'static {
    /// The contracts the process produces and consumes; one entry per event version and role.
    fn contracts(&self) -> impl Future<Output = BackendResult<Vec<ContractInfo>>> + Send;

    /// The consumers the process runs.
    fn consumers(&self) -> impl Future<Output = BackendResult<Vec<ConsumerInfo>>> + Send;

    /// Lag per partition of `group`'s topics, or of every group of the process when `None`.
    /// An unknown group is `NotFound`.
    fn lag(
        &self,
        group: Option<&str>,
    ) -> impl Future<Output = BackendResult<Vec<PartitionLag>>> + Send;

    /// Records on the process's dead-letter topics, oldest first, without dropped ones.
    fn dead_letters(
        &self,
        query: DeadLetterQuery,
    ) -> impl Future<Output = BackendResult<DeadLetterPage>> + Send;

    /// Re-validates each record against the current contract and sends the valid ones back to
    /// their original topic. One result per id, in the order given; an unknown id is a
    /// `NotFound` outcome, not an error.
    fn replay(
        &self,
        ids: &[DeadLetterId],
    ) -> impl Future<Output = BackendResult<Vec<ReplayResult>>> + Send;

    /// Marks records handled so they are neither listed nor replayed again. One result per id,
    /// in the order given.
    fn drop_dead_letters(
        &self,
        ids: &[DeadLetterId],
    ) -> impl Future<Output = BackendResult<Vec<DropResult>>> + Send;

    /// Pauses the named consumer (a name from [`AdminBackend::consumers`]) and returns its new
    /// state; an unknown name is `NotFound`. Pausing a paused consumer is not an error.
    fn pause(&self, consumer: &str) -> impl Future<Output = BackendResult<ConsumerInfo>> + Send;

    /// Resumes the named consumer; the mirror of [`AdminBackend::pause`].
    fn resume(&self, consumer: &str) -> impl Future<Output = BackendResult<ConsumerInfo>> + Send;
}

/// The order service's data.
pub trait OrderBackend: Send + Sync + 'static {
    /// `None` when there is no such order.
    fn order(&self, order_id: &str) -> impl Future<Output = BackendResult<Option<Order>>> + Send;

    /// Up to `limit` orders in `status`, newest first.
    fn orders_by_status(
        &self,
        status: OrderStatus,
        limit: usize,
    ) -> impl Future<Output = BackendResult<Vec<Order>>> + Send;
}

/// The inventory service's data.
pub trait InventoryBackend: Send + Sync + 'static {
    /// `None` when the product is unknown.
    fn stock(&self, product_id: &str) -> impl Future<Output = BackendResult<Option<Stock>>> + Send;

    /// Every product, by product id.
    fn all_stock(&self) -> impl Future<Output = BackendResult<Vec<Stock>>> + Send;

    /// Sets the units available for new orders (never negative: the server refuses that) and
    /// returns the product's stock afterwards; creates the product when it is new.
    fn set_stock(
        &self,
        product_id: &str,
        available: i64,
    ) -> impl Future<Output = BackendResult<Stock>> + Send;
}

/// The notification service's data.
pub trait NotificationBackend: Send + Sync + 'static {
    /// Notifications sent for the order, oldest first; empty when none were.
    fn notifications(
        &self,
        order_id: &str,
    ) -> impl Future<Output = BackendResult<Vec<Notification>>> + Send;
}

/// The transactional outbox of a service that publishes events.
pub trait OutboxBackend: Send + Sync + 'static {
    /// Up to `limit` rows set aside because they can never be published, oldest first.
    fn set_aside(
        &self,
        limit: usize,
    ) -> impl Future<Output = BackendResult<SetAsideOutboxPage>> + Send;
}

// A process usually shares one state between its HTTP API, its consumers and the admin server:
// an `Arc` of a backend is a backend.
impl<T: AdminBackend> AdminBackend for std::sync::Arc<T> {
    fn contracts(&self) -> impl Future<Output = BackendResult<Vec<ContractInfo>>> + Send {
        (**self).contracts()
    }
    fn consumers(&self) -> impl Future<Output = BackendResult<Vec<ConsumerInfo>>> + Send {
        (**self).consumers()
    }
    fn lag(
        &self,
        group: Option<&str>,
    ) -> impl Future<Output = BackendResult<Vec<PartitionLag>>> + Send {
        (**self).lag(group)
    }
    fn dead_letters(
        &self,
        query: DeadLetterQuery,
    ) -> impl Future<Output = BackendResult<DeadLetterPage>> + Send {
        (**self).dead_letters(query)
    }
    fn replay(
        &self,
        ids: &[DeadLetterId],
    ) -> impl Future<Output = BackendResult<Vec<ReplayResult>>> + Send {
        (**self).replay(ids)
    }
    fn drop_dead_letters(
        &self,
        ids: &[DeadLetterId],
    ) -> impl Future<Output = BackendResult<Vec<DropResult>>> + Send {
        (**self).drop_dead_letters(ids)
    }
    fn pause(&self, consumer: &str) -> impl Future<Output = BackendResult<ConsumerInfo>> + Send {
        (**self).pause(consumer)
    }
    fn resume(&self, consumer: &str) -> impl Future<Output = BackendResult<ConsumerInfo>> + Send {
        (**self).resume(consumer)
    }
}

impl<T: OrderBackend> OrderBackend for std::sync::Arc<T> {
    fn order(&self, order_id: &str) -> impl Future<Output = BackendResult<Option<Order>>> + Send {
        (**self).order(order_id)
    }
    fn orders_by_status(
        &self,
        status: OrderStatus,
        limit: usize,
    ) -> impl Future<Output = BackendResult<Vec<Order>>> + Send {
        (**self).orders_by_status(status, limit)
    }
}

impl<T: InventoryBackend> InventoryBackend for std::sync::Arc<T> {
    fn stock(&self, product_id: &str) -> impl Future<Output = BackendResult<Option<Stock>>> + Send {
        (**self).stock(product_id)
    }
    fn all_stock(&self) -> impl Future<Output = BackendResult<Vec<Stock>>> + Send {
        (**self).all_stock()
    }
    fn set_stock(
        &self,
        product_id: &str,
        available: i64,
    ) -> impl Future<Output = BackendResult<Stock>> + Send {
        (**self).set_stock(product_id, available)
    }
}

impl<T: OutboxBackend> OutboxBackend for std::sync::Arc<T> {
    fn set_aside(
        &self,
        limit: usize,
    ) -> impl Future<Output = BackendResult<SetAsideOutboxPage>> + Send {
        (**self).set_aside(limit)
    }
}

impl<T: NotificationBackend> NotificationBackend for std::sync::Arc<T> {
    fn notifications(
        &self,
        order_id: &str,
    ) -> impl Future<Output = BackendResult<Vec<Notification>>> + Send {
        (**self).notifications(order_id)
    }
}
