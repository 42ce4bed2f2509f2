//! The crate's error type.

use std::path::PathBuf;

use crate::convert::WireError;

/// What can go wrong starting the server or calling it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the TLS configuration is not usable: {0}")]
    Tls(String),
    #[error("cannot build the reflection service: {0}")]
    Reflection(String),
    #[error("the admin server stopped: {}", chain(.0))]
    Serve(tonic::transport::Error),
    #[error(
        "{url:?} is not an admin server address: {reason}; expected http://HOST:PORT or https://HOST:PORT"
    )]
    InvalidUrl { url: String, reason: String },
    #[error("the admin token must be printable ASCII without line breaks")]
    InvalidToken,
    #[error(
        "cannot reach the admin server at {url}: {reason}; check that the service runs and serves its admin API there"
    )]
    Connect { url: String, reason: String },
    /// The server answered the call with an error status.
    #[error("{rpc}: {} ({:?})", .status.message(), .status.code())]
    Status {
        rpc: &'static str,
        status: tonic::Status,
    },
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl Error {
    /// The gRPC status code, when the server answered with an error.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Error::Status { status, .. } => Some(status.code()),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `error: cause: cause`, since transport errors hide the useful part in their sources.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    out
}
