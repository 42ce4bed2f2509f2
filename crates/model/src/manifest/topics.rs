//! The Kafka topics a manifest implies: each declared topic with its partitions, replication and
//! settings, the dead-letter and retry topics of the topics that have consumers, and the schema
//! registry's topic. `contracts topics plan|apply` and the demo compare them with a cluster
//! through `contracts_runtime::topics`.

use contracts_core::{TopicSpec, dead_letter_topic_name, retry_topic_name};

use super::model::{Manifest, Topic};

/// How the manifest's topics are named on a cluster.
#[derive(Debug, Clone)]
pub struct TopicOptions {
    /// Put before every topic name but the registry's, as the services' `--topic-prefix` does.
    pub prefix: String,
    /// The schema registry's topic (one partition, compacted), `_schemas` by default; `None`
    /// leaves it out.
    pub registry_topic: Option<String>,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions {
            prefix: String::new(),
            registry_topic: Some("_schemas".to_owned()),
        }
    }
}

/// Partitions of a topic that does not declare them: Kafka's `num.partitions` default.
pub const DEFAULT_PARTITIONS: u32 = 1;

impl Manifest {
    /// Every topic the manifest implies, in manifest order: each declared topic, then its
    /// dead-letter topic and retry topics when an event on it has consumers, then the registry's.
    ///
    /// Dead-letter and retry topics get their topic's partitions, replication factor and
    /// `min.insync.replicas`, but not its `cleanup.policy` or `retention.ms`: compacting dead
    /// letters by key would drop all but the newest of each order.
    pub fn topic_specs(&self, options: &TopicOptions) -> Vec<TopicSpec> {
        let mut out = Vec::new();
        for topic in &self.topics {
            let name = format!("{}{}", options.prefix, topic.name);
            let replication_factor = topic
                .replication_factor
                .or(self.defaults.replication_factor);
            let min_insync = topic
                .min_insync_replicas
                .or(self.defaults.min_insync_replicas);
            let mut spec = TopicSpec::new(&name, topic.partitions.unwrap_or(DEFAULT_PARTITIONS));
            spec.replication_factor = replication_factor;
            spec.reason = format!(
                "[topics.{}] at {}:{}",
                topic.name,
                self.path.display(),
                topic.location.line
            );
            // Beside its source topic, with the durability settings only.
            let companion = |name: String, reason: String| {
                let mut s = TopicSpec::new(name, spec.partitions);
                s.replication_factor = replication_factor;
                if let Some(n) = min_insync {
                    s.configs
                        .insert("min.insync.replicas".into(), n.to_string());
                }
                s.reason = reason;
                s
            };
            let consumers = self.consumers_of(topic);
            let mut implied = Vec::new();
            if !consumers.is_empty() {
                let by = format!("consumed by {}", consumers.join(", "));
                implied.push(companion(
                    dead_letter_topic_name(&name),
                    format!("dead-letter topic of {name} ({by})"),
                ));
                for n in 1..=topic.retry_topics as usize {
                    implied.push(companion(
                        retry_topic_name(&name, n),
                        format!("retry topic {n} of {name} ({by})"),
                    ));
                }
            }
            if let Some(policy) = &topic.cleanup_policy {
                spec.configs.insert("cleanup.policy".into(), policy.clone());
            }
            if let Some(ms) = topic.retention_ms {
                spec.configs.insert("retention.ms".into(), ms.to_string());
            }
            if let Some(n) = min_insync {
                spec.configs
                    .insert("min.insync.replicas".into(), n.to_string());
            }
            out.push(spec);
            out.extend(implied);
        }
        if let Some(registry) = &options.registry_topic {
            let mut spec = TopicSpec::new(registry, 1).config("cleanup.policy", "compact");
            spec.replication_factor = self.defaults.replication_factor;
            if let Some(n) = self.defaults.min_insync_replicas {
                spec = spec.config("min.insync.replicas", n.to_string());
            }
            spec.reason = "the schema registry's topic (one partition, compacted)".into();
            out.push(spec);
        }
        out
    }

    /// The services that consume an event on `topic`, in manifest order.
    fn consumers_of(&self, topic: &Topic) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for event in self.events.iter().filter(|e| e.topic == topic.name) {
            for c in &event.consumers {
                if !out.contains(&c.as_str()) {
                    out.push(c);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Diagnostic;
    use crate::manifest::test_support::{FILES, schemas};

    const SHOP: &str = r#"[defaults]
replication_factor = 3
min_insync_replicas = 2

[services.order]
[services.shipping]

[topics.orders]
partitions = 6
key = "order_id"
cleanup_policy = "delete, compact"
retention_ms = 604800000
retry_topics = 2

[topics.audit]
key = "id"
replication_factor = 1
min_insync_replicas = 1

[[events]]
name = "shop.orders.OrderCreated"
format = "avro"
topic = "orders"
producers = ["order"]
consumers = ["shipping"]
versions = [{ version = 1, file = "a/v1.avsc" }]

[[events]]
name = "shop.audit.Entry"
format = "avro"
topic = "audit"
producers = ["order"]
versions = [{ version = 1, file = "a/v2.avsc" }]
"#;

    fn parse(text: &str) -> Result<Manifest, Vec<Diagnostic>> {
        Manifest::parse("contracts.toml", text, schemas(FILES).path())
    }

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_consumed_topic_implies_its_dead_letter_and_retry_topics_and_the_registry_topic() {
        let manifest = parse(SHOP).unwrap();
        let specs = manifest.topic_specs(&TopicOptions {
            prefix: "staging.".into(),
            registry_topic: Some("_schemas".into()),
        });
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "staging.orders",
                "staging.orders.DLT",
                "staging.orders.retry-1",
                "staging.orders.retry-2",
                "staging.audit",
                "_schemas"
            ]
        );
        let orders = &specs[0];
        assert_eq!(orders.partitions, 6);
        assert_eq!(orders.replication_factor, Some(3));
        assert_eq!(
            orders.configs,
            configs(&[
                ("cleanup.policy", "compact,delete"),
                ("min.insync.replicas", "2"),
                ("retention.ms", "604800000"),
            ])
        );
        assert_eq!(orders.reason, "[topics.orders] at contracts.toml:8");
        // Dead letters are not compacted away and do not expire with the orders.
        let dlt = &specs[1];
        assert_eq!((dlt.partitions, dlt.replication_factor), (6, Some(3)));
        assert_eq!(dlt.configs, configs(&[("min.insync.replicas", "2")]));
        assert!(
            dlt.reason.contains("consumed by shipping"),
            "{}",
            dlt.reason
        );
        let audit = &specs[4];
        assert_eq!(audit.partitions, DEFAULT_PARTITIONS);
        assert_eq!(audit.replication_factor, Some(1));
        assert_eq!(audit.configs, configs(&[("min.insync.replicas", "1")]));
        let registry = &specs[5];
        assert_eq!(registry.partitions, 1);
        assert_eq!(
            registry.configs,
            configs(&[("cleanup.policy", "compact"), ("min.insync.replicas", "2")])
        );
    }

    #[test]
    fn without_durability_keys_the_brokers_defaults_apply() {
        let text = SHOP
            .replace("replication_factor = 3\nmin_insync_replicas = 2\n", "")
            .replace("replication_factor = 1\nmin_insync_replicas = 1\n", "");
        let manifest = parse(&text).unwrap();
        let specs = manifest.topic_specs(&TopicOptions {
            registry_topic: None,
            ..TopicOptions::default()
        });
        assert_eq!(specs.last().unwrap().name, "audit");
        assert!(specs.iter().all(|s| s.replication_factor.is_none()));
        assert!(specs[4].configs.is_empty());
    }

    fn errors(text: &str) -> Vec<(usize, String)> {
        parse(text)
            .expect_err("the manifest should be rejected")
            .iter()
            .map(|d| (d.location().unwrap().line, d.message().to_owned()))
            .collect()
    }

    fn line(text: &str, needle: &str) -> usize {
        text[..text.find(needle).unwrap()].matches('\n').count() + 1
    }

    #[test]
    fn bad_topic_settings_are_named_at_their_line() {
        let text = SHOP
            .replace(
                "cleanup_policy = \"delete, compact\"",
                "cleanup_policy = \"compacted\"",
            )
            .replace("retention_ms = 604800000", "retention_ms = -2")
            .replace("retry_topics = 2", "retry_topics = 21")
            .replace("replication_factor = 1", "replication_factor = 0");
        assert_eq!(
            errors(&text),
            [
                (
                    line(&text, "cleanup_policy"),
                    "unknown cleanup_policy \"compacted\" in [topics.orders]".to_owned()
                ),
                (
                    line(&text, "retention_ms"),
                    "\"retention_ms\" in [topics.orders] must be a number of milliseconds, or -1 \
                     to keep records forever, not -2"
                        .to_owned()
                ),
                (
                    line(&text, "retry_topics"),
                    "\"retry_topics\" in [topics.orders] must be a number of retry topics from 0 \
                     to 20, not 21"
                        .to_owned()
                ),
                (
                    line(&text, "replication_factor = 0"),
                    "\"replication_factor\" in [topics.audit] must be a positive integer (at \
                     most 32767), not 0"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn more_in_sync_replicas_than_replicas_is_refused_where_it_is_set() {
        let text = SHOP.replace("min_insync_replicas = 1", "min_insync_replicas = 2");
        assert_eq!(
            errors(&text),
            [(
                line(&text, "min_insync_replicas = 2\n\n[[events]]"),
                "topic \"audit\" would have min_insync_replicas = 2 but only 1 replicas: no \
                 write with acks=all could succeed"
                    .to_owned()
            )]
        );
        // From [defaults]: reported there.
        let text = SHOP.replace("replication_factor = 3", "replication_factor = 1");
        assert_eq!(
            errors(&text),
            [(
                line(&text, "min_insync_replicas = 2"),
                "topic \"orders\" would have min_insync_replicas = 2 but only 1 replicas: no \
                 write with acks=all could succeed"
                    .to_owned()
            )]
        );
    }
}
