//! Optional bearer-token authentication, as a tonic interceptor on the admin services.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Checks `authorization: Bearer <token>` on every call when a token is configured; lets every
/// call through otherwise.
#[derive(Clone)]
pub struct BearerAuth {
    token: Option<Arc<str>>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("BearerAuth")
            .field("enabled", &self.token.is_some())
            .finish()
    }
}

impl BearerAuth {
    /// `None` (or an empty token) turns authentication off.
    pub fn new(token: Option<&str>) -> Self {
        BearerAuth {
            token: token.filter(|t| !t.is_empty()).map(Arc::from),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.token.is_some()
    }

    fn check(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let Some(value) = metadata.get("authorization") else {
            return Err(Status::unauthenticated(
                "this admin server requires a bearer token: send metadata `authorization: Bearer <token>` (contracts admin --token)",
            ));
        };
        let value = value.to_str().map_err(|_| {
            Status::unauthenticated("the authorization metadata is not printable ASCII")
        })?;
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(Status::unauthenticated(
                "the authorization metadata must be `Bearer <token>`",
            ));
        };
        if constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            tracing::warn!("admin call refused: wrong bearer token");
            Err(Status::unauthenticated("the bearer token is not valid"))
        }
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.check(request.metadata())?;
        Ok(request)
    }
}

/// Compares without an early exit, so the time taken does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(auth: &BearerAuth, header: Option<&str>) -> Result<(), Status> {
        let mut request = Request::new(());
        if let Some(h) = header {
            request
                .metadata_mut()
                .insert("authorization", h.parse().unwrap());
        }
        auth.clone().call(request).map(|_| ())
    }

    #[test]
    fn without_a_token_every_call_passes() {
        assert!(call(&BearerAuth::new(None), None).is_ok());
        assert!(call(&BearerAuth::new(Some("")), None).is_ok());
    }

    #[test]
    fn with_a_token_only_the_right_bearer_passes() {
        let auth = BearerAuth::new(Some("s3cret"));
        assert!(call(&auth, Some("Bearer s3cret")).is_ok());
        for bad in [
            None,
            Some("Bearer wrong"),
            Some("Basic s3cret"),
            Some("s3cret"),
        ] {
            let err = call(&auth, bad).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn the_debug_form_does_not_show_the_token() {
        let shown = format!("{:?}", BearerAuth::new(Some("s3cret")));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
