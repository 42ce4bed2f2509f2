//! The gRPC services: validate the request, call the backend, map the answer.
//!
//! Client mistakes are answered with `INVALID_ARGUMENT` and a message that names the field;
//! backend failures are mapped once, in [`status`].

use std::collections::HashMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::backend::*;
use crate::convert;
use crate::model::{DeadLetterId, DeadLetterQuery, is_valid_topic};
use crate::pb;

/// The most records or rows one call returns or takes.
pub const MAX_LIMIT: usize = 1000;
/// What a limit of 0 means.
pub const DEFAULT_LIMIT: usize = 100;
/// The longest id or name a request may carry.
const MAX_NAME_LEN: usize = 256;

/// Maps a backend failure to the caller's status. Internal errors are logged with their detail
/// (the caller learns only that it happened: internals are not an API).
pub(crate) fn status(rpc: &'static str, error: BackendError) -> Status {
    match error {
        BackendError::NotFound(m) => Status::not_found(m),
        BackendError::InvalidArgument(m) => Status::invalid_argument(m),
        BackendError::FailedPrecondition(m) => Status::failed_precondition(m),
        BackendError::Unavailable(m) => {
            tracing::warn!(rpc, error = %m, "admin call failed: a dependency is unavailable");
            Status::unavailable(m)
        }
        BackendError::Internal(e) => {
            tracing::error!(rpc, error = %e, detail = ?e, "admin call failed");
            Status::internal(format!(
                "{rpc} failed inside the server; its log has the details"
            ))
        }
    }
}

/// A required, printable name of at most [`MAX_NAME_LEN`] bytes.
fn name<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    if value.trim().is_empty() {
        return Err(Status::invalid_argument(format!(
            "{field} must not be empty"
        )));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(Status::invalid_argument(format!(
            "{field} is {} bytes long; the most is {MAX_NAME_LEN}",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Status::invalid_argument(format!(
            "{field} {value:?} contains control characters"
        )));
    }
    Ok(value)
}

/// 0 means [`DEFAULT_LIMIT`]; above [`MAX_LIMIT`] is refused rather than silently cut.
fn limit(value: u32) -> Result<usize, Status> {
    match value as usize {
        0 => Ok(DEFAULT_LIMIT),
        n if n > MAX_LIMIT => Err(Status::invalid_argument(format!(
            "limit {n} is above the maximum of {MAX_LIMIT}"
        ))),
        n => Ok(n),
    }
}

/// At least one, at most [`MAX_LIMIT`], each well-formed, none repeated.
fn ids(values: &[String]) -> Result<Vec<DeadLetterId>, Status> {
    if values.is_empty() {
        return Err(Status::invalid_argument(
            "ids must name at least one dead letter (ids as ListDeadLetters gives them)",
        ));
    }
    if values.len() > MAX_LIMIT {
        return Err(Status::invalid_argument(format!(
            "ids has {} entries; the most is {MAX_LIMIT} per call",
            values.len()
        )));
    }
    let mut seen = HashMap::new();
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let id: DeadLetterId = v
                .parse()
                .map_err(|e| Status::invalid_argument(format!("ids[{i}]: {e}")))?;
            if let Some(first) = seen.insert(id.clone(), i) {
                return Err(Status::invalid_argument(format!(
                    "ids[{i}] repeats ids[{first}] ({v:?})"
                )));
            }
            Ok(id)
        })
        .collect()
}

pub(crate) struct AdminSvc<B>(pub(crate) Arc<B>);

#[tonic::async_trait]
impl<B: AdminBackend> pb::admin_service_server::AdminService for AdminSvc<B> {
    async fn list_contracts(
        &self,
        _: Request<pb::ListContractsRequest>,
    ) -> Result<Response<pb::ListContractsResponse>, Status> {
        let contracts = self
            .0
            .contracts()
            .await
            .map_err(|e| status("ListContracts", e))?;
        Ok(Response::new(pb::ListContractsResponse {
            contracts: contracts.into_iter().map(Into::into).collect(),
        }))
    }

    async fn list_consumers(
        &self,
        _: Request<pb::ListConsumersRequest>,
    ) -> Result<Response<pb::ListConsumersResponse>, Status> {
        let consumers = self
            .0
            .consumers()
            .await
            .map_err(|e| status("ListConsumers", e))?;
        Ok(Response::new(pb::ListConsumersResponse {
            consumers: consumers.into_iter().map(Into::into).collect(),
        }))
    }

    async fn get_consumer_lag(
        &self,
        request: Request<pb::GetConsumerLagRequest>,
    ) -> Result<Response<pb::GetConsumerLagResponse>, Status> {
        let req = request.into_inner();
        let group = match req.group.as_str() {
            "" => None,
            g => Some(name("group", g)?),
        };
        let partitions = self
            .0
            .lag(group)
            .await
            .map_err(|e| status("GetConsumerLag", e))?;
        Ok(Response::new(pb::GetConsumerLagResponse {
            partitions: partitions.into_iter().map(Into::into).collect(),
        }))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let req = request.into_inner();
        let topic = match req.topic.as_str() {
            "" => None,
            t if is_valid_topic(t) => Some(t.to_owned()),
            t => {
                return Err(Status::invalid_argument(format!(
                    "topic {t:?} is not a Kafka topic name (1 to 249 characters of a-z, A-Z, 0-9, '.', '_' or '-')"
                )));
            }
        };
        let query = DeadLetterQuery {
            topic,
            limit: limit(req.limit)?,
        };
        let page = self
            .0
            .dead_letters(query)
            .await
            .map_err(|e| status("ListDeadLetters", e))?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: page.dead_letters.into_iter().map(Into::into).collect(),
            truncated: page.truncated,
        }))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<pb::ReplayDeadLettersRequest>,
    ) -> Result<Response<pb::ReplayDeadLettersResponse>, Status> {
        let ids = ids(&request.into_inner().ids)?;
        let results = self
            .0
            .replay(&ids)
            .await
            .map_err(|e| status("ReplayDeadLetters", e))?;
        for r in &results {
            tracing::info!(id = %r.id, outcome = %r.outcome, message = %r.message, "dead letter replay");
        }
        Ok(Response::new(pb::ReplayDeadLettersResponse {
            results: results.into_iter().map(Into::into).collect(),
        }))
    }

    async fn drop_dead_letters(
        &self,
        request: Request<pb::DropDeadLettersRequest>,
    ) -> Result<Response<pb::DropDeadLettersResponse>, Status> {
        let ids = ids(&request.into_inner().ids)?;
        let results = self
            .0
            .drop_dead_letters(&ids)
            .await
            .map_err(|e| status("DropDeadLetters", e))?;
        for r in &results {
            tracing::info!(id = %r.id, outcome = %r.outcome, "dead letter drop");
        }
        Ok(Response::new(pb::DropDeadLettersResponse {
            results: results.into_iter().map(Into::into).collect(),
        }))
    }

    async fn pause_consumer(
        &self,
        request: Request<pb::PauseConsumerRequest>,
    ) -> Result<Response<pb::PauseConsumerResponse>, Status> {
        let req = request.into_inner();
        let consumer = name("consumer", &req.consumer)?;
        let info = self
            .0
            .pause(consumer)
            .await
            .map_err(|e| status("PauseConsumer", e))?;
        tracing::info!(consumer, "consumer paused over the admin API");
        Ok(Response::new(pb::PauseConsumerResponse {
            consumer: Some(info.into()),
        }))
    }

    async fn resume_consumer(
        &self,
        request: Request<pb::ResumeConsumerRequest>,
    ) -> Result<Response<pb::ResumeConsumerResponse>, Status> {
        let req = request.into_inner();
        let consumer = name("consumer", &req.consumer)?;
        let info = self
            .0
            .resume(consumer)
            .await
            .map_err(|e| status("ResumeConsumer", e))?;
        tracing::info!(consumer, "consumer resumed over the admin API");
        Ok(Response::new(pb::ResumeConsumerResponse {
            consumer: Some(info.into()),
        }))
    }
}

pub(crate) struct OrderSvc<B>(pub(crate) Arc<B>);

#[tonic::async_trait]
impl<B: OrderBackend> pb::order_admin_service_server::OrderAdminService for OrderSvc<B> {
    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        let req = request.into_inner();
        let order_id = name("order_id", &req.order_id)?;
        let order = self
            .0
            .order(order_id)
            .await
            .map_err(|e| status("GetOrder", e))?
            .ok_or_else(|| Status::not_found(format!("no order {order_id:?}")))?;
        Ok(Response::new(pb::GetOrderResponse {
            order: Some(order.into()),
        }))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let req = request.into_inner();
        let status_ = pb::OrderStatus::try_from(req.status)
            .ok()
            .and_then(convert::order_status)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "status {} is not an order status; use one of PENDING, CONFIRMED, REJECTED, PAID, SHIPPED",
                    match pb::OrderStatus::try_from(req.status) {
                        Ok(s) => s.as_str_name().to_owned(),
                        Err(_) => req.status.to_string(),
                    }
                ))
            })?;
        let orders = self
            .0
            .orders_by_status(status_, limit(req.limit)?)
            .await
            .map_err(|e| status("ListOrders", e))?;
        Ok(Response::new(pb::ListOrdersResponse {
            orders: orders.into_iter().map(Into::into).collect(),
        }))
    }
}

pub(crate) struct InventorySvc<B>(pub(crate) Arc<B>);

#[tonic::async_trait]
impl<B: InventoryBackend> pb::inventory_admin_service_server::InventoryAdminService
    for InventorySvc<B>
{
    async fn get_stock(
        &self,
        request: Request<pb::GetStockRequest>,
    ) -> Result<Response<pb::GetStockResponse>, Status> {
        let req = request.into_inner();
        let product_id = name("product_id", &req.product_id)?;
        let stock = self
            .0
            .stock(product_id)
            .await
            .map_err(|e| status("GetStock", e))?
            .ok_or_else(|| Status::not_found(format!("no product {product_id:?}")))?;
        Ok(Response::new(pb::GetStockResponse {
            stock: Some(stock.into()),
        }))
    }

    async fn list_stock(
        &self,
        _: Request<pb::ListStockRequest>,
    ) -> Result<Response<pb::ListStockResponse>, Status> {
        let stock = self
            .0
            .all_stock()
            .await
            .map_err(|e| status("ListStock", e))?;
        Ok(Response::new(pb::ListStockResponse {
            stock: stock.into_iter().map(Into::into).collect(),
        }))
    }

    async fn set_stock(
        &self,
        request: Request<pb::SetStockRequest>,
    ) -> Result<Response<pb::SetStockResponse>, Status> {
        let req = request.into_inner();
        let product_id = name("product_id", &req.product_id)?;
        if req.available < 0 {
            return Err(Status::invalid_argument(format!(
                "available must be zero or more, got {}",
                req.available
            )));
        }
        let stock = self
            .0
            .set_stock(product_id, req.available)
            .await
            .map_err(|e| status("SetStock", e))?;
        tracing::info!(
            product_id,
            available = req.available,
            "stock set over the admin API"
        );
        Ok(Response::new(pb::SetStockResponse {
            stock: Some(stock.into()),
        }))
    }
}

pub(crate) struct NotificationSvc<B>(pub(crate) Arc<B>);

#[tonic::async_trait]
impl<B: NotificationBackend> pb::notification_admin_service_server::NotificationAdminService
    for NotificationSvc<B>
{
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let req = request.into_inner();
        let order_id = name("order_id", &req.order_id)?;
        let notifications = self
            .0
            .notifications(order_id)
            .await
            .map_err(|e| status("ListNotifications", e))?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: notifications.into_iter().map(Into::into).collect(),
        }))
    }
}

pub(crate) struct OutboxSvc<B>(pub(crate) Arc<B>);

#[tonic::async_trait]
impl<B: OutboxBackend> pb::outbox_admin_service_server::OutboxAdminService for OutboxSvc<B> {
    async fn list_set_aside_outbox_rows(
        &self,
        request: Request<pb::ListSetAsideOutboxRowsRequest>,
    ) -> Result<Response<pb::ListSetAsideOutboxRowsResponse>, Status> {
        let limit = limit(request.into_inner().limit)?;
        let page = self
            .0
            .set_aside(limit)
            .await
            .map_err(|e| status("ListSetAsideOutboxRows", e))?;
        Ok(Response::new(pb::ListSetAsideOutboxRowsResponse {
            rows: page.rows.into_iter().map(Into::into).collect(),
            truncated: page.truncated,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_dead_letter_id_is_refused_with_both_positions() {
        let err = ids(&["t.DLT:0:1".into(), "t.DLT:0:2".into(), "t.DLT:0:1".into()]).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("ids[2] repeats ids[0]"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn each_backend_error_kind_maps_to_its_grpc_code_and_only_internal_hides_the_message() {
        use tonic::Code;
        for (error, code, shown) in [
            (
                BackendError::not_found("no order \"o-9\""),
                Code::NotFound,
                true,
            ),
            (
                BackendError::invalid_argument("unknown product"),
                Code::InvalidArgument,
                true,
            ),
            (
                BackendError::failed_precondition("consumer stopped"),
                Code::FailedPrecondition,
                true,
            ),
            (
                BackendError::unavailable("broker unreachable"),
                Code::Unavailable,
                true,
            ),
            (
                BackendError::internal("password=hunter2"),
                Code::Internal,
                false,
            ),
        ] {
            let detail = error.to_string();
            let s = status("GetOrder", error);
            assert_eq!(s.code(), code, "{detail}");
            assert_eq!(
                s.message().contains(&detail),
                shown,
                "{detail} -> {}",
                s.message()
            );
        }
    }

    #[test]
    fn limits_default_to_100_and_refuse_more_than_the_maximum() {
        assert_eq!(limit(0).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(7).unwrap(), 7);
        assert!(limit(MAX_LIMIT as u32 + 1).is_err());
    }
}
