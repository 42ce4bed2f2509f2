//! A Kafka topic as it should be on the cluster: what the manifest asks for
//! (`contracts-model`) and what the runtime's topic planner compares with the cluster and creates
//! (`contracts_runtime::topics`), so both sides speak of one type.

use std::collections::BTreeMap;

/// A topic's partitions, replication and explicitly managed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    /// `None`: the broker's `default.replication.factor`, and an existing topic's factor is not
    /// compared.
    pub replication_factor: Option<u16>,
    /// Topic settings (`cleanup.policy`, `retention.ms`, `min.insync.replicas`) this topic must
    /// have; settings not listed are left as the broker has them.
    pub configs: BTreeMap<String, String>,
    /// Why the topic exists, as plans print it: `[topics.orders] in schemas/contracts.toml:42`,
    /// `dead-letter topic of orders`.
    pub reason: String,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: u32) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            partitions,
            replication_factor: None,
            configs: BTreeMap::new(),
            reason: String::new(),
        }
    }

    /// Sets a topic setting.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> TopicSpec {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// Where a consumer of `topic` sends records it cannot handle: `<topic>.DLT`.
pub fn dead_letter_topic_name(topic: &str) -> String {
    format!("{topic}.DLT")
}

/// The name of retry topic `n` (from 1) of `topic`: `<topic>.retry-<n>`.
pub fn retry_topic_name(topic: &str, n: usize) -> String {
    format!("{topic}.retry-{n}")
}
