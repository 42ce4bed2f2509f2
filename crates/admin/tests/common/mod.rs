//! A real admin server on a loopback port, over the in-memory backend.

#![allow(dead_code)]

use std::net::SocketAddr;

use contracts_admin::memory::MemoryBackend;
use contracts_admin::{AdminClient, AdminConfig, AdminServer, ClientConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Running {
    pub addr: SocketAddr,
    pub backend: MemoryBackend,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<contracts_admin::Result<()>>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> AdminClient {
        AdminClient::connect(ClientConfig::new(self.url()))
            .await
            .expect("connect")
    }

    pub async fn client_with_token(&self, token: &str) -> AdminClient {
        AdminClient::connect(ClientConfig::new(self.url()).token(token))
            .await
            .expect("connect")
    }

    /// Stops the server and returns how `serve` ended.
    pub async fn stop(mut self) -> contracts_admin::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.expect("server task")
    }
}

/// All four services over one [`MemoryBackend::sample`].
pub async fn start(config: AdminConfig) -> Running {
    let backend = MemoryBackend::sample();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = AdminServer::new(config, backend.clone())
        .with_orders(backend.clone())
        .with_inventory(backend.clone())
        .with_notifications(backend.clone());
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        backend,
        stop: Some(stop),
        task: Some(task),
    }
}
