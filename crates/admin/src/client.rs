//! A typed client for the admin API (what `contracts admin` uses).

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

use contracts_core::secret::Secret;

use crate::error::chain;
use crate::model::*;
use crate::{Error, Result, pb};

/// Where the admin server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http://HOST:PORT`, or `https://HOST:PORT` for TLS.
    pub url: String,
    /// Sent as `authorization: Bearer <token>` on every call.
    pub token: Option<Secret>,
    /// PEM certificate(s) to trust instead of the system's roots (a self-signed server).
    /// Setting it implies TLS.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// The name to check the server's certificate against, when it differs from the URL's host.
    pub tls_domain: Option<String>,
    /// A client certificate chain and its key, PEM, for a server that requires client
    /// certificates (mutual TLS). Setting it implies TLS.
    pub identity: Option<crate::TlsIdentity>,
    /// How long one call may take.
    pub timeout: Duration,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            token: None,
            ca_cert_pem: None,
            tls_domain: None,
            identity: None,
            timeout: Duration::from_secs(10),
        }
    }

    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret::new(token));
        self
    }

    /// The client certificate and key to present (mutual TLS).
    pub fn identity(mut self, identity: crate::TlsIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    pub fn ca_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_cert_pem = Some(pem.into());
        self
    }

    pub fn tls_domain(mut self, domain: impl Into<String>) -> Self {
        self.tls_domain = Some(domain.into());
        self
    }
}

/// Adds the bearer token to every call.
#[derive(Clone)]
struct Token(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Token").field(&self.0.is_some()).finish()
    }
}

impl Interceptor for Token {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Svc = InterceptedService<Channel, Token>;

/// A connection to one process's admin server; cheap to clone. Calls to a domain service the
/// process does not serve fail with `Unimplemented`.
#[derive(Debug, Clone)]
pub struct AdminClient {
    admin: pb::admin_service_client::AdminServiceClient<Svc>,
    orders: pb::order_admin_service_client::OrderAdminServiceClient<Svc>,
    inventory: pb::inventory_admin_service_client::InventoryAdminServiceClient<Svc>,
    notifications: pb::notification_admin_service_client::NotificationAdminServiceClient<Svc>,
    outbox: pb::outbox_admin_service_client::OutboxAdminServiceClient<Svc>,
}

fn call(rpc: &'static str) -> impl FnOnce(Status) -> Error {
    move |status| Error::Status { rpc, status }
}

impl AdminClient {
    /// Connects (and for TLS, handshakes) now, so a wrong address fails here.
    pub async fn connect(config: ClientConfig) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: config.url.clone(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(config.url.clone())
            .map_err(|e| invalid(chain(&e)))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.timeout);
        let https = match endpoint.uri().scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(invalid(format!("unsupported scheme {other:?}"))),
        };
        if https || config.ca_cert_pem.is_some() || config.identity.is_some() {
            let mut tls = ClientTlsConfig::new();
            if let Some(identity) = &config.identity {
                tls = tls.identity(identity.to_identity());
            }
            tls = match &config.ca_cert_pem {
                Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
                None => tls.with_native_roots(),
            };
            if let Some(domain) = &config.tls_domain {
                tls = tls.domain_name(domain.clone());
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| Error::Tls(chain(&e)))?;
        }
        let channel = endpoint.connect().await.map_err(|e| Error::Connect {
            url: config.url.clone(),
            reason: chain(&e),
        })?;
        let token = match config
            .token
            .as_ref()
            .map(Secret::expose)
            .filter(|t| !t.is_empty())
        {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| Error::InvalidToken)?,
            ),
            None => None,
        };
        let svc = InterceptedService::new(channel, Token(token));
        Ok(AdminClient {
            admin: pb::admin_service_client::AdminServiceClient::new(svc.clone()),
            orders: pb::order_admin_service_client::OrderAdminServiceClient::new(svc.clone()),
            inventory: pb::inventory_admin_service_client::InventoryAdminServiceClient::new(
                svc.clone(),
            ),
            notifications:
                pb::notification_admin_service_client::NotificationAdminServiceClient::new(
                    svc.clone(),
                ),
            outbox: pb::outbox_admin_service_client::OutboxAdminServiceClient::new(svc),
        })
    }

    pub async fn contracts(&self) -> Result<Vec<ContractInfo>> {
        let r = self
            .admin
            .clone()
            .list_contracts(pb::ListContractsRequest {})
            .await
            .map_err(call("ListContracts"))?;
        Ok(r.into_inner()
            .contracts
            .into_iter()
            .map(ContractInfo::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn consumers(&self) -> Result<Vec<ConsumerInfo>> {
        let r = self
            .admin
            .clone()
            .list_consumers(pb::ListConsumersRequest {})
            .await
            .map_err(call("ListConsumers"))?;
        Ok(r.into_inner()
            .consumers
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Lag of `group`, or of every group of the process.
    pub async fn lag(&self, group: Option<&str>) -> Result<Vec<PartitionLag>> {
        let r = self
            .admin
            .clone()
            .get_consumer_lag(pb::GetConsumerLagRequest {
                group: group.unwrap_or_default().to_owned(),
            })
            .await
            .map_err(call("GetConsumerLag"))?;
        Ok(r.into_inner()
            .partitions
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Dead letters on `topic` (all of the process's when `None`); `limit` 0 means the
    /// server's default.
    pub async fn dead_letters(&self, topic: Option<&str>, limit: u32) -> Result<DeadLetterPage> {
        let r = self
            .admin
            .clone()
            .list_dead_letters(pb::ListDeadLettersRequest {
                topic: topic.unwrap_or_default().to_owned(),
                limit,
            })
            .await
            .map_err(call("ListDeadLetters"))?
            .into_inner();
        Ok(DeadLetterPage {
            dead_letters: r
                .dead_letters
                .into_iter()
                .map(DeadLetter::try_from)
                .collect::<Result<_, _>>()?,
            truncated: r.truncated,
        })
    }

    /// Ids as [`AdminClient::dead_letters`] gives them; the server checks them.
    pub async fn replay(&self, ids: Vec<String>) -> Result<Vec<ReplayResult>> {
        let r = self
            .admin
            .clone()
            .replay_dead_letters(pb::ReplayDeadLettersRequest { ids })
            .await
            .map_err(call("ReplayDeadLetters"))?;
        Ok(r.into_inner()
            .results
            .into_iter()
            .map(ReplayResult::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn drop_dead_letters(&self, ids: Vec<String>) -> Result<Vec<DropResult>> {
        let r = self
            .admin
            .clone()
            .drop_dead_letters(pb::DropDeadLettersRequest { ids })
            .await
            .map_err(call("DropDeadLetters"))?;
        Ok(r.into_inner()
            .results
            .into_iter()
            .map(DropResult::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn pause(&self, consumer: &str) -> Result<ConsumerInfo> {
        let r = self
            .admin
            .clone()
            .pause_consumer(pb::PauseConsumerRequest {
                consumer: consumer.to_owned(),
            })
            .await
            .map_err(call("PauseConsumer"))?;
        Ok(r.into_inner().consumer.unwrap_or_default().into())
    }

    pub async fn resume(&self, consumer: &str) -> Result<ConsumerInfo> {
        let r = self
            .admin
            .clone()
            .resume_consumer(pb::ResumeConsumerRequest {
                consumer: consumer.to_owned(),
            })
            .await
            .map_err(call("ResumeConsumer"))?;
        Ok(r.into_inner().consumer.unwrap_or_default().into())
    }

    pub async fn order(&self, order_id: &str) -> Result<Order> {
        let r = self
            .orders
            .clone()
            .get_order(pb::GetOrderRequest {
                order_id: order_id.to_owned(),
            })
            .await
            .map_err(call("GetOrder"))?;
        Ok(r.into_inner().order.unwrap_or_default().try_into()?)
    }

    /// `limit` 0 means the server's default.
    pub async fn orders(&self, status: OrderStatus, limit: u32) -> Result<Vec<Order>> {
        let r = self
            .orders
            .clone()
            .list_orders(pb::ListOrdersRequest {
                status: pb::OrderStatus::from(status).into(),
                limit,
            })
            .await
            .map_err(call("ListOrders"))?;
        Ok(r.into_inner()
            .orders
            .into_iter()
            .map(Order::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn stock(&self, product_id: &str) -> Result<Stock> {
        let r = self
            .inventory
            .clone()
            .get_stock(pb::GetStockRequest {
                product_id: product_id.to_owned(),
            })
            .await
            .map_err(call("GetStock"))?;
        Ok(r.into_inner().stock.unwrap_or_default().into())
    }

    pub async fn all_stock(&self) -> Result<Vec<Stock>> {
        let r = self
            .inventory
            .clone()
            .list_stock(pb::ListStockRequest {})
            .await
            .map_err(call("ListStock"))?;
        Ok(r.into_inner().stock.into_iter().map(Into::into).collect())
    }

    pub async fn set_stock(&self, product_id: &str, available: i64) -> Result<Stock> {
        let r = self
            .inventory
            .clone()
            .set_stock(pb::SetStockRequest {
                product_id: product_id.to_owned(),
                available,
            })
            .await
            .map_err(call("SetStock"))?;
        Ok(r.into_inner().stock.unwrap_or_default().into())
    }

    pub async fn notifications(&self, order_id: &str) -> Result<Vec<Notification>> {
        let r = self
            .notifications
            .clone()
            .list_notifications(pb::ListNotificationsRequest {
                order_id: order_id.to_owned(),
            })
            .await
            .map_err(call("ListNotifications"))?;
        Ok(r.into_inner()
            .notifications
            .into_iter()
            .map(Notification::try_from)
            .collect::<Result<_, _>>()?)
    }

    /// Outbox rows set aside because they can never be published, oldest first; `limit` 0 means
    /// the server's default.
    pub async fn set_aside_outbox(&self, limit: u32) -> Result<SetAsideOutboxPage> {
        let r = self
            .outbox
            .clone()
            .list_set_aside_outbox_rows(pb::ListSetAsideOutboxRowsRequest { limit })
            .await
            .map_err(call("ListSetAsideOutboxRows"))?;
        let r = r.into_inner();
        Ok(SetAsideOutboxPage {
            rows: r
                .rows
                .into_iter()
                .map(SetAsideOutboxRow::try_from)
                .collect::<Result<_, _>>()?,
            truncated: r.truncated,
        })
    }
}
