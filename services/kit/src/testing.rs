//! A [`Publish`] that records what would have gone to Kafka, for tests of services without a
//! broker. It can be told to fail, as a broker that is down would.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use contracts_core::{Event, EventKey, Publish, SchemaInfo, Topic};

/// One recorded publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub topic: &'static str,
    pub schema: &'static SchemaInfo,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

impl Sent {
    /// The payload as an `E`, if this is one.
    pub fn decode<E: Event>(&self) -> Option<E> {
        (self.schema == E::SCHEMA)
            .then(|| E::decode(&self.payload).expect("recorded payload decodes"))
    }
}

/// Records every publish; fails every publish while [`set_down`](Self::set_down) is on.
/// Clones share one record, so a test keeps a clone of what it hands to a service.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    inner: Arc<RecorderState>,
}

#[derive(Debug, Default)]
struct RecorderState {
    sent: Mutex<Vec<Sent>>,
    down: AtomicBool,
}

/// The error of a [`Recorder`] that is down.
#[derive(Debug, thiserror::Error)]
#[error("broker unavailable (test)")]
pub struct Down;

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.inner
            .sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Publish for Recorder {
    type Delivery = usize;
    type Error<E: Event> = Down;

    fn publish<E: Event>(&self, event: &E) -> impl Future<Output = Result<usize, Down>> + Send {
        let result = if self.inner.down.load(Ordering::SeqCst) {
            Err(Down)
        } else {
            let mut key = Vec::new();
            event.key().write_key(&mut key);
            let mut payload = Vec::new();
            event.encode(&mut payload);
            let mut sent = self.inner.sent.lock().unwrap_or_else(|p| p.into_inner());
            sent.push(Sent {
                topic: <E::Topic as Topic>::NAME,
                schema: E::SCHEMA,
                key,
                payload,
            });
            Ok(sent.len())
        };
        std::future::ready(result)
    }
}
