use std::error::Error as StdError;
use std::fmt;

/// A record's payload could not be turned into the event it claims to be.
///
/// Never retriable: the same bytes fail the same way, so the runtime dead-letters the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The record does not start with the Confluent wire header (magic byte 0, schema id).
    #[error("not a schema-registry framed record: {0}")]
    Framing(String),
    /// The payload ended before the value did.
    #[error("payload truncated at byte {offset} while reading {path}")]
    Truncated { offset: usize, path: String },
    /// The payload holds a value that the schema does not allow.
    #[error("invalid data at byte {offset} in {path}: {reason}")]
    Invalid {
        offset: usize,
        path: String,
        reason: String,
    },
    /// The value was read completely but bytes were left over.
    #[error("{remaining} trailing byte(s) after the value")]
    TrailingBytes { remaining: usize },
    /// The writer's schema is not one this type can read.
    #[error("cannot read data written with schema {schema}: {reason}")]
    Unreadable { schema: String, reason: String },
    /// Protobuf decoding failed.
    #[error("invalid protobuf payload: {0}")]
    Protobuf(String),
}

/// Why a handler could not process an event.
///
/// The runtime retries a retriable error with backoff and dead-letters the record once the
/// retries are spent; a permanent error goes to the dead-letter topic at once.
#[derive(Debug)]
pub struct HandlerError {
    retriable: bool,
    source: Box<dyn StdError + Send + Sync + 'static>,
}

impl HandlerError {
    /// A failure that may go away (a database or network hiccup): retry the event.
    pub fn retriable(error: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        HandlerError {
            retriable: true,
            source: error.into(),
        }
    }

    /// A failure that will happen again for this event: dead-letter it.
    pub fn permanent(error: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        HandlerError {
            retriable: false,
            source: error.into(),
        }
    }

    pub fn is_retriable(&self) -> bool {
        self.retriable
    }

    /// The underlying error.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.retriable {
            "retriable"
        } else {
            "permanent"
        };
        write!(f, "{kind} handler error: {}", self.source)
    }
}

impl StdError for HandlerError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}
