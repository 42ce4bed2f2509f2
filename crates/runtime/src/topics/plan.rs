//! Keeping a cluster's topics as declared: read what the cluster has ([`describe`]), compare it
//! with what is wanted ([`plan`]) and carry out the difference ([`apply`]).
//!
//! A plan only ever adds: it creates missing topics, adds partitions and sets topic settings.
//! Fewer partitions than a topic has, or another replication factor, cannot be done by adding
//! and is refused ([`Refusal`]); nothing is ever deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use contracts_core::TopicSpec;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    OwnedResourceSpecifier, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::{Error, Result};

/// A topic as the cluster has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTopic {
    pub name: String,
    pub partitions: u32,
    /// The replicas of its first partition.
    pub replication_factor: u16,
    /// Every setting the broker reports, with its value. Apache Kafka reports all of them,
    /// defaults too; Tansu 0.6 only those set explicitly.
    pub configs: BTreeMap<String, String>,
    /// The settings set on the topic itself rather than inherited: a (non-incremental)
    /// AlterConfigs request must repeat them, or the broker resets them.
    pub overrides: BTreeSet<String>,
}

/// One setting to change: from the value the broker reports (`None`: not reported) to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub key: String,
    pub from: Option<String>,
    pub to: String,
}

/// One step of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The topic does not exist.
    Create(TopicSpec),
    /// The topic has fewer partitions than wanted.
    AddPartitions { topic: String, from: u32, to: u32 },
    /// Settings of the topic differ from the wanted ones.
    SetConfigs {
        topic: String,
        changes: Vec<ConfigChange>,
    },
}

impl Change {
    pub fn topic(&self) -> &str {
        match self {
            Change::Create(spec) => &spec.name,
            Change::AddPartitions { topic, .. } | Change::SetConfigs { topic, .. } => topic,
        }
    }

    /// `create`, `add partitions` or `set configs`, as machine-readable output names a step.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Create(_) => "create",
            Change::AddPartitions { .. } => "add partitions",
            Change::SetConfigs { .. } => "set configs",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Create(spec) => {
                let s = if spec.partitions == 1 { "" } else { "s" };
                write!(
                    f,
                    "create {}: {} partition{s}, ",
                    spec.name, spec.partitions
                )?;
                match spec.replication_factor {
                    Some(n) => write!(f, "replication factor {n}")?,
                    None => f.write_str("the broker's default replication factor")?,
                }
                for (k, v) in &spec.configs {
                    write!(f, ", {k}={v}")?;
                }
                Ok(())
            }
            Change::AddPartitions { topic, from, to } => {
                write!(f, "add partitions to {topic}: {from} → {to}")
            }
            Change::SetConfigs { topic, changes } => {
                write!(f, "set configs of {topic}: ")?;
                for (i, c) in changes.iter().enumerate() {
                    let from = c.from.as_deref().unwrap_or("(not reported)");
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{} {from} → {}", c.key, c.to)?;
                }
                Ok(())
            }
        }
    }
}

/// What must change for the cluster to have the wanted topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// In the order of the wanted topics; a topic's partitions before its settings.
    pub changes: Vec<Change>,
    /// The wanted topics that are as wanted already.
    pub unchanged: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A difference a plan cannot remove by adding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error(
        "topic {topic} has {has} partitions but {wants} are wanted: Kafka cannot remove \
         partitions (records are spread over all of them); declare {has} or more, or move the \
         events to a new topic"
    )]
    Shrink { topic: String, has: u32, wants: u32 },
    #[error(
        "topic {topic} has replication factor {has} but {wants} is wanted: changing it means \
         reassigning its partitions (kafka-reassign-partitions.sh), which this does not do; \
         reassign them, or declare replication_factor = {has}"
    )]
    Replication { topic: String, has: u16, wants: u16 },
}

/// Compares the wanted topics with the cluster's (`cluster`, by name; see [`describe`]).
///
/// Settings are compared as strings, `cleanup.policy` as a set (`delete,compact` equals
/// `compact,delete`); a setting the broker does not report counts as different. Every refusal
/// is returned, not only the first.
pub fn plan(
    wanted: &[TopicSpec],
    cluster: &BTreeMap<String, ClusterTopic>,
) -> Result<Plan, Vec<Refusal>> {
    let mut out = Plan::default();
    let mut refusals = Vec::new();
    for spec in wanted {
        let Some(have) = cluster.get(&spec.name) else {
            out.changes.push(Change::Create(spec.clone()));
            continue;
        };
        let before = out.changes.len();
        if spec.partitions < have.partitions {
            refusals.push(Refusal::Shrink {
                topic: spec.name.clone(),
                has: have.partitions,
                wants: spec.partitions,
            });
        } else if spec.partitions > have.partitions {
            out.changes.push(Change::AddPartitions {
                topic: spec.name.clone(),
                from: have.partitions,
                to: spec.partitions,
            });
        }
        if let Some(wants) = spec.replication_factor
            && wants != have.replication_factor
        {
            refusals.push(Refusal::Replication {
                topic: spec.name.clone(),
                has: have.replication_factor,
                wants,
            });
        }
        let changes: Vec<ConfigChange> = spec
            .configs
            .iter()
            .filter(|(k, v)| !have.configs.get(*k).is_some_and(|h| same_value(k, h, v)))
            .map(|(k, v)| ConfigChange {
                key: k.clone(),
                from: have.configs.get(k).cloned(),
                to: v.clone(),
            })
            .collect();
        if !changes.is_empty() {
            out.changes.push(Change::SetConfigs {
                topic: spec.name.clone(),
                changes,
            });
        }
        if out.changes.len() == before {
            out.unchanged.push(spec.name.clone());
        }
    }
    if refusals.is_empty() {
        Ok(out)
    } else {
        Err(refusals)
    }
}

fn same_value(key: &str, have: &str, wants: &str) -> bool {
    if key == "cleanup.policy" {
        let set = |s: &str| -> BTreeSet<String> {
            s.split(',')
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect()
        };
        set(have) == set(wants)
    } else {
        have.trim() == wants.trim()
    }
}

/// Reads the partitions, replication factor and settings of those of `names` that exist.
pub async fn describe<C: ClientContext + 'static>(
    admin: &AdminClient<C>,
    names: &[&str],
    timeout: Duration,
) -> Result<BTreeMap<String, ClusterTopic>> {
    let metadata = admin
        .inner()
        .fetch_metadata(None, timeout)
        .map_err(|source| Error::Kafka {
            what: "reading the cluster's topics".into(),
            source,
        })?;
    let mut out = BTreeMap::new();
    for t in metadata.topics() {
        if !names.contains(&t.name()) || t.error().is_some() {
            continue;
        }
        let replication_factor = t
            .partitions()
            .iter()
            .find(|p| p.id() == 0)
            .or_else(|| t.partitions().first())
            .map_or(0, |p| p.replicas().len() as u16);
        out.insert(
            t.name().to_owned(),
            ClusterTopic {
                name: t.name().to_owned(),
                partitions: t.partitions().len() as u32,
                replication_factor,
                configs: BTreeMap::new(),
                overrides: BTreeSet::new(),
            },
        );
    }
    if out.is_empty() {
        return Ok(out);
    }
    let resources: Vec<ResourceSpecifier<'_>> =
        out.keys().map(|n| ResourceSpecifier::Topic(n)).collect();
    let described = admin
        .describe_configs(
            &resources,
            &AdminOptions::new().request_timeout(Some(timeout)),
        )
        .await
        .map_err(|source| Error::Kafka {
            what: "reading the topics' settings".into(),
            source,
        })?;
    let mut configs = Vec::new();
    for (resource, name) in described.into_iter().zip(out.keys()) {
        let resource = resource.map_err(|code| Error::Kafka {
            what: format!("reading the settings of topic {name}"),
            source: KafkaError::AdminOp(code),
        })?;
        // By the name the broker answers with, whatever order it answers in.
        let name = match resource.specifier {
            OwnedResourceSpecifier::Topic(answered) => answered,
            _ => name.clone(),
        };
        configs.push((name, resource.entries));
    }
    for (name, entries) in configs {
        let Some(topic) = out.get_mut(&name) else {
            continue;
        };
        for e in entries {
            let Some(value) = e.value else { continue };
            // Brokers that do not say where a setting comes from (Tansu) report only settings
            // made on the topic.
            if matches!(e.source, ConfigSource::DynamicTopic | ConfigSource::Unknown) {
                topic.overrides.insert(e.name.clone());
            }
            topic.configs.insert(e.name, value);
        }
    }
    Ok(out)
}

/// Carries out `plan` step by step, in order, and returns the steps done. A topic that exists by
/// the time it is created (another apply won the race) counts as created.
///
/// The first step the broker refuses stops the apply with an error that names the topic, the
/// step and the broker's answer (Tansu 0.6 has no CreatePartitions or AlterConfigs, so adding
/// partitions and changing settings fail there); the steps before it stay done. `cluster` is
/// what the plan was made from: a settings change repeats the topic's other settings, because
/// AlterConfigs replaces them all.
pub async fn apply<C: ClientContext + 'static>(
    admin: &AdminClient<C>,
    plan: &Plan,
    cluster: &BTreeMap<String, ClusterTopic>,
    timeout: Duration,
) -> Result<Vec<Change>> {
    let options = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout + Duration::from_secs(5)));
    let refused = |change: &Change, source: KafkaError| Error::Kafka {
        what: format!("{change}: the broker refused it"),
        source,
    };
    let mut done = Vec::new();
    for change in &plan.changes {
        let result = match change {
            Change::Create(spec) => {
                let replication = spec.replication_factor.map_or(-1, i32::from);
                let mut new = NewTopic::new(
                    &spec.name,
                    spec.partitions as i32,
                    TopicReplication::Fixed(replication),
                );
                for (k, v) in &spec.configs {
                    new = new.set(k, v);
                }
                admin.create_topics([&new], &options).await.map(|r| {
                    r.into_iter()
                        .find_map(|r| match r {
                            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => None,
                            Err((_, code)) => Some(code),
                        })
                        .map_or(Ok(()), |code| Err(KafkaError::AdminOp(code)))
                })
            }
            Change::AddPartitions { topic, to, .. } => {
                let new = NewPartitions::new(topic, *to as usize);
                admin
                    .create_partitions([&new], &options)
                    .await
                    .map(|r| first_error(r.into_iter().map(|r| r.map(|_| ()))))
            }
            Change::SetConfigs { topic, changes } => {
                let mut settings: BTreeMap<&str, &str> = BTreeMap::new();
                if let Some(have) = cluster.get(topic) {
                    for k in &have.overrides {
                        settings.insert(k, &have.configs[k]);
                    }
                }
                for c in changes {
                    settings.insert(&c.key, &c.to);
                }
                let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
                for (k, v) in settings {
                    alter = alter.set(k, v);
                }
                admin
                    .alter_configs([&alter], &options)
                    .await
                    .map(|r| first_error(r.into_iter().map(|r| r.map(|_| ()))))
            }
        };
        match result {
            Ok(Ok(())) => done.push(change.clone()),
            Ok(Err(source)) | Err(source) => return Err(refused(change, source)),
        }
    }
    Ok(done)
}

fn first_error<E>(
    results: impl Iterator<Item = std::result::Result<(), (E, RDKafkaErrorCode)>>,
) -> std::result::Result<(), KafkaError> {
    for r in results {
        if let Err((_, code)) = r {
            return Err(KafkaError::AdminOp(code));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have(name: &str, partitions: u32, configs: &[(&str, &str)]) -> (String, ClusterTopic) {
        (
            name.to_owned(),
            ClusterTopic {
                name: name.to_owned(),
                partitions,
                replication_factor: 1,
                configs: configs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                overrides: configs.iter().map(|(k, _)| k.to_string()).collect(),
            },
        )
    }

    #[test]
    fn missing_topics_are_created_and_matching_ones_left_alone() {
        let wanted = [
            TopicSpec::new("orders", 6).config("cleanup.policy", "delete,compact"),
            TopicSpec::new("orders.DLT", 6),
        ];
        let cluster = BTreeMap::from([have("orders", 6, &[("cleanup.policy", "compact,delete")])]);
        let plan = plan(&wanted, &cluster).unwrap();
        assert_eq!(plan.changes, [Change::Create(wanted[1].clone())]);
        assert_eq!(plan.unchanged, ["orders"]);
        assert_eq!(
            plan.changes[0].to_string(),
            "create orders.DLT: 6 partitions, the broker's default replication factor"
        );
    }

    #[test]
    fn more_partitions_and_other_settings_are_planned_as_changes() {
        let mut orders = TopicSpec::new("orders", 8)
            .config("retention.ms", "86400000")
            .config("min.insync.replicas", "2");
        orders.replication_factor = Some(1);
        let cluster = BTreeMap::from([have("orders", 6, &[("retention.ms", "604800000")])]);
        let plan = plan(&[orders], &cluster).unwrap();
        let shown: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "add partitions to orders: 6 → 8",
                "set configs of orders: min.insync.replicas (not reported) → 2, retention.ms \
                 604800000 → 86400000"
            ]
        );
        assert!(plan.unchanged.is_empty());
    }

    #[test]
    fn fewer_partitions_or_another_replication_factor_is_refused_for_every_topic() {
        let mut audit = TopicSpec::new("audit", 1);
        audit.replication_factor = Some(3);
        let wanted = [TopicSpec::new("orders", 3), audit];
        let cluster = BTreeMap::from([have("orders", 6, &[]), have("audit", 1, &[])]);
        let refusals = plan(&wanted, &cluster).unwrap_err();
        assert_eq!(
            refusals,
            [
                Refusal::Shrink {
                    topic: "orders".into(),
                    has: 6,
                    wants: 3
                },
                Refusal::Replication {
                    topic: "audit".into(),
                    has: 1,
                    wants: 3
                }
            ]
        );
        assert!(
            refusals[0]
                .to_string()
                .starts_with("topic orders has 6 partitions but 3 are wanted"),
            "{}",
            refusals[0]
        );
    }
}
