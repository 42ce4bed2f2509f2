//! What the manifest says about one service, embedded at build time like [`SchemaInfo`].

use crate::SchemaInfo;

/// What one service of the manifest publishes and consumes, generated as
/// `services::<service>::SERVICE`. A process hands it to whatever must know its contracts (the
/// admin API lists them), so no hand-written list repeats the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The service's name in the manifest.
    pub name: &'static str,
    /// The Kafka consumer group it consumes with.
    pub consumer_group: &'static str,
    /// The events it publishes: the newest version of each, which its producer set sends.
    pub produces: &'static [ProducedEvent],
    /// The topics it consumes, in the manifest's order (names without any prefix).
    pub consumes: &'static [&'static str],
}

/// One event a service publishes, and the topic it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducedEvent {
    /// The topic's name, without any prefix.
    pub topic: &'static str,
    pub schema: &'static SchemaInfo,
}
