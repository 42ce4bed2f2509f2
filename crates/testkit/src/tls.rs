//! TLS for tests: a private certificate authority ([`TestCa`]) and a TLS-terminating TCP proxy
//! ([`TlsProxy`]) that puts a TLS listener in front of a plain one, such as a Tansu broker
//! (which cannot serve TLS itself in 0.6: `--cert` and `--key` cannot be given together).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::oneshot;
use tracing::debug;

use crate::{Error, Result, io};

fn cert_error(e: rcgen::Error) -> Error {
    Error::Tls(format!("generating a test certificate: {e}"))
}

/// A certificate authority made for one test run: its certificate is trusted by nobody else.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A certificate signed by a [`TestCa`], with its private key.
#[derive(Clone)]
pub struct Issued {
    /// PEM: the certificate, then the CA's.
    pub chain_pem: String,
    /// PEM, PKCS#8.
    pub key_pem: String,
    der: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("chain_pem", &self.chain_pem)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA named `name` (its subject's common name).
    pub fn new(name: &str) -> Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(cert_error)?;
        let cert = params.self_signed(&key).map_err(cert_error)?;
        Ok(TestCa { cert, key })
    }

    /// The CA certificate, PEM: what a client's `ssl.ca.location` names.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA certificate to `dir/<name>` and returns the path.
    pub fn write_cert(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, self.cert_pem())
            .map_err(io(format!("writing {}", path.display())))?;
        Ok(path)
    }

    /// A server certificate for 127.0.0.1 and `localhost`, signed by this CA.
    pub fn issue_for_loopback(&self) -> Result<Issued> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        params.subject_alt_names = vec![
            SanType::IpAddress([127, 0, 0, 1].into()),
            SanType::DnsName("localhost".try_into().map_err(cert_error)?),
        ];
        self.sign(params)
    }

    /// A new key with a certificate for `params`, signed by this CA.
    fn sign(&self, params: CertificateParams) -> Result<Issued> {
        let key = KeyPair::generate().map_err(cert_error)?;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(cert_error)?;
        Ok(Issued {
            chain_pem: format!("{}{}", cert.pem(), self.cert.pem()),
            key_pem: key.serialize_pem(),
            der: vec![cert.der().clone(), self.cert.der().clone()],
            key_der: key.serialize_der(),
        })
    }

    /// A client certificate (mTLS) whose subject's common name is `common_name`, signed by
    /// this CA.
    pub fn issue_client(&self, common_name: &str) -> Result<Issued> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }
}

/// A TLS listener on 127.0.0.1 that forwards each connection's plain bytes to `upstream`. It runs
/// on its own thread (and tokio runtime), so it serves whatever the test's runtime does, and
/// stops when dropped.
#[derive(Debug)]
pub struct TlsProxy {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsProxy {
    /// Listens on 127.0.0.1:`port` (0: a free port) with `identity`, forwarding to `upstream`.
    pub fn start(port: u16, identity: &Issued, upstream: SocketAddr) -> Result<TlsProxy> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(identity.der.clone(), key)
            .map_err(|e| Error::Tls(format!("the proxy's certificate: {e}")))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(io(format!("binding the TLS proxy on 127.0.0.1:{port}")))?;
        listener
            .set_nonblocking(true)
            .map_err(io("setting up the TLS proxy's listener"))?;
        let port = listener
            .local_addr()
            .map_err(io("reading the TLS proxy's port"))?
            .port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io("starting the TLS proxy's runtime"))?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("tls-proxy-{port}"))
            .spawn(move || runtime.block_on(serve(listener, acceptor, upstream, stopped)))
            .map_err(io("starting the TLS proxy's thread"))?;
        Ok(TlsProxy {
            port,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: SocketAddr,
    mut stopped: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, peer)) = accepted else {
            continue;
        };
        let acceptor = acceptor.clone();
        // Connections end with the runtime when the proxy stops.
        tokio::spawn(async move {
            let mut tls = match acceptor.accept(client).await {
                Ok(tls) => tls,
                Err(e) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                debug!(%upstream, "the proxied listener refused");
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}
