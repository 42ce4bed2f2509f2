//! Dead letters: listing a process's records of its dead-letter topics, replaying them to their
//! topic after validating them against the current contract, and dropping them.

use std::collections::{BTreeMap, HashMap, HashSet};

use contracts_core::source::SourceError;
use contracts_core::{Format, SchemaInfo, WriterSchema, wire};
use contracts_runtime::headers;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

use super::scan::{RawRecord, scan};
use super::{BROKER_TIMEOUT, KafkaAdmin, Watched, blocking, kafka_unavailable};
use crate::{
    BackendError, BackendResult, DeadLetterId, DeadLetterPage, DeadLetterQuery, DropOutcome,
    DropResult, ReplayOutcome, ReplayResult,
};

/// Why a dead letter cannot be replayed, or that the registry did not answer.
enum Invalid {
    Reason(String),
    Registry(SourceError),
}

impl KafkaAdmin {
    /// The dead letters of the process's groups not yet dropped or replayed, oldest first.
    pub(super) async fn list_dead_letters(
        &self,
        query: DeadLetterQuery,
    ) -> BackendResult<DeadLetterPage> {
        let topics = self.dead_letter_topics();
        if let Some(t) = &query.topic
            && !topics.contains_key(t.as_str())
        {
            return Err(BackendError::not_found(format!(
                "{t} is not a dead-letter topic of this process; it has {:?}",
                topics.keys().collect::<Vec<_>>()
            )));
        }
        let mut all = Vec::new();
        for (dlt, groups) in &topics {
            if query.topic.as_deref().is_some_and(|t| t != *dlt) {
                continue;
            }
            let marks = self.marks(dlt).await?;
            let records = self
                .records(dlt, groups, move |p, o| !marks.contains(&(p, o)))
                .await?;
            all.extend(records.iter().map(|r| r.dead_letter(dlt)));
        }
        all.sort_by(|a, b| (a.dead_lettered_at, &a.id).cmp(&(b.dead_lettered_at, &b.id)));
        let truncated = all.len() > query.limit;
        all.truncate(query.limit);
        Ok(DeadLetterPage {
            dead_letters: all,
            truncated,
        })
    }

    /// Validates each record against the current contract and sends it back to its topic.
    pub(super) async fn replay_dead_letters(
        &self,
        ids: &[DeadLetterId],
    ) -> BackendResult<Vec<ReplayResult>> {
        let topics = self.dead_letter_topics();
        let (found, mut marks) = self.lookup(ids).await?;
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let marked = marks
                .get(&id.topic)
                .is_some_and(|m| m.contains(&(id.partition, id.offset)));
            let (Some(record), false) = (found.get(id), marked) else {
                results.push(ReplayResult {
                    id: id.clone(),
                    outcome: ReplayOutcome::NotFound,
                    message: not_found_reason(id, &topics, &marks),
                });
                continue;
            };
            let Some(watched) = self.owner(&id.topic, record) else {
                results.push(ReplayResult {
                    id: id.clone(),
                    outcome: ReplayOutcome::NotFound,
                    message: not_found_reason(id, &topics, &marks),
                });
                continue;
            };
            let event = match self.validate(watched, &record.value).await {
                Ok(event) => event,
                Err(Invalid::Reason(reason)) => {
                    results.push(ReplayResult {
                        id: id.clone(),
                        outcome: ReplayOutcome::Rejected,
                        message: reason,
                    });
                    continue;
                }
                Err(Invalid::Registry(e)) => {
                    return Err(BackendError::unavailable(format!(
                        "validating {id} against the registry: {e}"
                    )));
                }
            };
            let mut sent = OwnedHeaders::new();
            for (k, v) in record.headers.iter().filter(|(k, _)| {
                !k.starts_with("dlt-") && k.as_str() != headers::REPLAY_CONSUMER_GROUP
            }) {
                sent = sent.insert(Header {
                    key: k,
                    value: Some(v),
                });
            }
            if let Some(group) = record.header(headers::DLT_CONSUMER_GROUP) {
                sent = sent.insert(Header {
                    key: headers::REPLAY_CONSUMER_GROUP,
                    value: Some(group),
                });
            }
            let mut out = FutureRecord::to(&watched.topic)
                .payload(&record.value)
                .headers(sent);
            if let Some(key) = &record.key {
                out = out.key(key);
            }
            let delivery = self
                .state
                .producer
                .send(out, BROKER_TIMEOUT)
                .await
                .map_err(|(e, _)| kafka_unavailable(&format!("sending {id} back"), e))?;
            self.mark(id, "replayed").await?;
            marks
                .entry(id.topic.clone())
                .or_default()
                .insert((id.partition, id.offset));
            tracing::info!(%id, topic = %watched.topic, partition = delivery.partition, offset = delivery.offset, "dead letter replayed");
            results.push(ReplayResult {
                id: id.clone(),
                outcome: ReplayOutcome::Replayed,
                message: format!(
                    "{event} sent back to {}:{}:{}",
                    watched.topic, delivery.partition, delivery.offset
                ),
            });
        }
        Ok(results)
    }

    /// Marks each record as dropped.
    pub(super) async fn drop_by_id(&self, ids: &[DeadLetterId]) -> BackendResult<Vec<DropResult>> {
        let (found, mut marks) = self.lookup(ids).await?;
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let marked = marks
                .get(&id.topic)
                .is_some_and(|m| m.contains(&(id.partition, id.offset)));
            let outcome = if found.contains_key(id) && !marked {
                self.mark(id, "dropped").await?;
                marks
                    .entry(id.topic.clone())
                    .or_default()
                    .insert((id.partition, id.offset));
                tracing::info!(%id, "dead letter dropped");
                DropOutcome::Dropped
            } else {
                DropOutcome::NotFound
            };
            results.push(DropResult {
                id: id.clone(),
                outcome,
            });
        }
        Ok(results)
    }

    /// Every record of `dlt` that belongs to `groups`, by `(partition, offset)`, keeping only
    /// those `keep` wants.
    async fn records(
        &self,
        dlt: &str,
        groups: &HashSet<&str>,
        keep: impl Fn(i32, i64) -> bool + Send + 'static,
    ) -> BackendResult<Vec<RawRecord>> {
        let client = self.state.client.clone();
        let topic = dlt.to_owned();
        let groups: HashSet<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        blocking(move || {
            let mut out = Vec::new();
            scan(&client, &topic, |r| {
                let ours = r
                    .header(headers::DLT_CONSUMER_GROUP)
                    .is_some_and(|g| groups.contains(g));
                if ours && keep(r.partition, r.offset) {
                    out.push(r);
                }
            })?;
            Ok(out)
        })
        .await
    }

    /// Checks a dead-lettered value the way the consumer of `watched` reads records.
    async fn validate(&self, watched: &Watched, value: &[u8]) -> Result<String, Invalid> {
        let (id, rest) = wire::read_header(value)
            .map_err(|e| Invalid::Reason(format!("no Confluent wire header: {e}")))?;
        let registered = match self.state.source.schema_by_id(id).await {
            Ok(r) => r,
            Err(SourceError::UnknownId(id)) => {
                return Err(Invalid::Reason(format!(
                    "schema id {id} is unknown to the registry"
                )));
            }
            Err(e) => return Err(Invalid::Registry(e)),
        };
        let (indexes, payload) = match registered.format {
            Format::Avro => (Vec::new(), rest),
            Format::Protobuf => wire::read_message_indexes(rest)
                .map_err(|e| Invalid::Reason(format!("bad Protobuf message indexes: {e}")))?,
        };
        let name = writer_name(
            registered.format,
            &registered.text,
            &registered.subjects,
            &indexes,
            watched.events,
        );
        let writer = WriterSchema::new(id, registered.format, registered.text, name, indexes);
        let schema = (watched.decode)(&writer, payload).map_err(|e| {
            Invalid::Reason(format!(
                "does not decode as any event of {} under the current contract: {e}",
                watched.topic
            ))
        })?;
        Ok(format!("{} v{}", schema.name, schema.version))
    }

    /// The consumer whose dead-letter topic is `topic` and whose group wrote `record`.
    fn owner(&self, topic: &str, record: &RawRecord) -> Option<&Watched> {
        let group = record.header(headers::DLT_CONSUMER_GROUP)?;
        self.state
            .consumers
            .iter()
            .find(|c| c.dead_letter_topic == topic && c.group == group)
    }

    /// The records behind `ids`, read once per dead-letter topic, with the marks of each topic.
    async fn lookup(
        &self,
        ids: &[DeadLetterId],
    ) -> BackendResult<(
        HashMap<DeadLetterId, RawRecord>,
        HashMap<String, HashSet<(i32, i64)>>,
    )> {
        let topics = self.dead_letter_topics();
        let mut found = HashMap::new();
        let mut marks = HashMap::new();
        for (dlt, groups) in &topics {
            let wanted: HashSet<(i32, i64)> = ids
                .iter()
                .filter(|id| id.topic == *dlt)
                .map(|id| (id.partition, id.offset))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            marks.insert((*dlt).to_owned(), self.marks(dlt).await?);
            let records = self
                .records(dlt, groups, move |p, o| wanted.contains(&(p, o)))
                .await?;
            for r in records {
                found.insert(
                    DeadLetterId {
                        topic: (*dlt).to_owned(),
                        partition: r.partition,
                        offset: r.offset,
                    },
                    r,
                );
            }
        }
        Ok((found, marks))
    }
}

/// Which of the topic's events a writer schema holds: Avro says it in its text; for Protobuf
/// the subject the id is registered under says it (as the runtime's consumer decides).
fn writer_name(
    format: Format,
    text: &str,
    subjects: &[String],
    indexes: &[i32],
    events: &[&'static SchemaInfo],
) -> Option<String> {
    if format == Format::Avro
        && let Ok(schema) = contracts_core::avro::Schema::parse(text)
        && let Some(name) = schema.node(schema.root()).name()
    {
        return Some(name.to_owned());
    }
    events
        .iter()
        .filter(|info| {
            info.format == format && (format == Format::Avro || info.message_indexes == indexes)
        })
        .find(|info| subjects.iter().any(|s| s == info.subject) || info.schema == text)
        .map(|info| info.name.to_owned())
}

fn not_found_reason(
    id: &DeadLetterId,
    topics: &BTreeMap<&str, HashSet<&str>>,
    marks: &HashMap<String, HashSet<(i32, i64)>>,
) -> String {
    if !topics.contains_key(id.topic.as_str()) {
        let known: Vec<&&str> = topics.keys().collect();
        return format!(
            "{} is not a dead-letter topic of this process ({known:?})",
            id.topic
        );
    }
    if marks
        .get(&id.topic)
        .is_some_and(|m| m.contains(&(id.partition, id.offset)))
    {
        return format!("{id} was dropped or replayed already");
    }
    format!("no dead letter {id} of this process's consumer groups")
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts_core::Format;

    fn info(
        name: &'static str,
        subject: &'static str,
        indexes: &'static [i32],
    ) -> &'static SchemaInfo {
        Box::leak(Box::new(SchemaInfo {
            name,
            version: 1,
            format: Format::Protobuf,
            subject,
            schema: "",
            fingerprint: [0; 32],
            message_indexes: indexes,
            dependencies: &[],
        }))
    }

    #[test]
    fn an_avro_writer_is_named_by_its_schema_text() {
        let text =
            r#"{"type":"record","name":"OrderCreated","namespace":"shop.orders","fields":[]}"#;
        assert_eq!(
            writer_name(Format::Avro, text, &[], &[], &[]).as_deref(),
            Some("shop.orders.OrderCreated")
        );
    }

    #[test]
    fn a_protobuf_writer_is_named_by_the_subject_and_message_index_it_is_registered_under() {
        let events = [
            info("shop.v1.Reserved", "inventory-shop.v1.Reserved", &[0]),
            info("shop.v2.Reserved", "inventory-shop.v2.Reserved", &[0]),
        ];
        let subjects = ["inventory-shop.v2.Reserved".to_owned()];
        assert_eq!(
            writer_name(Format::Protobuf, "syntax", &subjects, &[0], &events).as_deref(),
            Some("shop.v2.Reserved")
        );
        assert_eq!(
            writer_name(Format::Protobuf, "syntax", &subjects, &[1], &events),
            None,
            "another message of the same file"
        );
    }

    #[test]
    fn an_id_is_not_found_for_a_foreign_topic_a_marked_record_or_a_missing_one() {
        let topics = BTreeMap::from([("orders.DLT", HashSet::from(["inventory-service"]))]);
        let marks = HashMap::from([("orders.DLT".to_owned(), HashSet::from([(0, 7)]))]);
        let id = |topic: &str, offset| DeadLetterId {
            topic: topic.into(),
            partition: 0,
            offset,
        };
        assert!(
            not_found_reason(&id("payments.DLT", 1), &topics, &marks)
                .contains("is not a dead-letter topic of this process")
        );
        assert!(
            not_found_reason(&id("orders.DLT", 7), &topics, &marks)
                .contains("dropped or replayed already")
        );
        assert!(
            not_found_reason(&id("orders.DLT", 8), &topics, &marks)
                .starts_with("no dead letter orders.DLT:0:8")
        );
    }
}
