//! The event feed: every record on the shop's topics, each consumer group that read it (from the
//! group's committed offset) and each mail sent, printed as it happens.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use contracts_model::manifest::Manifest;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;

/// What the manifest says of one registry subject.
pub struct Subject {
    /// The event's short name (`OrderCreated`).
    pub event: String,
    pub format: &'static str,
    /// The contract version of each registered subject version, oldest first.
    pub versions: Vec<u32>,
    /// The services that produce the event (`order-service`).
    pub producers: String,
}

/// Who produces and who consumes what, from the manifest.
pub struct Topology {
    /// Topic → the consumer groups that read it (service name, group).
    pub readers: BTreeMap<String, Vec<(String, String)>>,
    pub partitions: BTreeMap<String, i32>,
    pub subjects: HashMap<String, Subject>,
    pub bootstrap: String,
    pub registry_url: String,
    pub mailbox: PathBuf,
}

impl Topology {
    pub fn new(
        manifest: &Manifest,
        partitions: &BTreeMap<String, i32>,
        bootstrap: &str,
        registry_url: &str,
        mailbox: &Path,
    ) -> anyhow::Result<Topology> {
        let mut readers: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for service in &manifest.services {
            let group = service
                .consumer_group
                .clone()
                .unwrap_or_else(|| service.name.clone());
            let topics: BTreeSet<&str> = manifest
                .events
                .iter()
                .filter(|e| e.consumers.contains(&service.name))
                .map(|e| e.topic.as_str())
                .collect();
            for topic in topics {
                readers
                    .entry(topic.to_owned())
                    .or_default()
                    .push((format!("{}-service", service.name), group.clone()));
            }
        }
        let mut subjects = HashMap::new();
        for event in &manifest.events {
            let producers: Vec<String> = event
                .producers
                .iter()
                .map(|p| format!("{p}-service"))
                .collect();
            let short = event
                .name
                .rsplit('.')
                .next()
                .unwrap_or(&event.name)
                .to_owned();
            let format = match event.format {
                contracts_model::Format::Avro => "Avro",
                contracts_model::Format::Protobuf => "Protobuf",
            };
            for h in event.histories() {
                let subject = Subject {
                    event: short.clone(),
                    format,
                    versions: h.versions.iter().map(|v| v.number).collect(),
                    producers: producers.join(", "),
                };
                subjects.insert(h.subject, subject);
            }
        }
        Ok(Topology {
            readers,
            subjects,
            partitions: partitions.clone(),
            bootstrap: bootstrap.to_owned(),
            registry_url: registry_url.to_owned(),
            mailbox: mailbox.to_owned(),
        })
    }
}

/// A record seen on a topic, waiting for its consumer groups to commit past it.
#[derive(Debug, Clone)]
pub struct AwaitingReaders {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub label: String,
    pub waiting: Vec<(String, String)>,
}

/// What the feed has seen so far.
#[derive(Default)]
pub struct Observed {
    pub pending: Vec<AwaitingReaders>,
    pub records: usize,
    /// Mail files already reported, with when they were written.
    pub mails: HashMap<PathBuf, SystemTime>,
    /// Per order id: (customer, kind, written).
    pub mail_by_order: BTreeMap<String, Vec<(String, String, SystemTime)>>,
}

/// What [`EventFeed::settle`] waits for of one order: its mails, and a decision.
#[derive(Debug)]
pub struct AwaitedOrder<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub decided: bool,
    /// The mails the customer must get, by `X-Notification` kind.
    pub mail: Vec<&'static str>,
}

/// Watches the topics, the consumer groups' offsets and the mailbox, and prints what happens.
pub struct EventFeed {
    pub state: Arc<Mutex<Observed>>,
    pub started: Instant,
    pub quiet: bool,
    pub task: tokio::task::JoinHandle<()>,
}

impl EventFeed {
    pub fn start(topology: Topology, http: &reqwest::Client, quiet: bool) -> EventFeed {
        let state = Arc::new(Mutex::new(Observed::default()));
        let started = Instant::now();
        let task = tokio::spawn(watch(topology, http.clone(), state.clone(), started, quiet));
        EventFeed {
            state,
            started,
            quiet,
            task,
        }
    }

    pub fn say(&self, line: &str) {
        if !self.quiet {
            say(self.started, line);
        }
    }

    /// Waits until every record seen was read by every consumer group and every order's mails
    /// arrived; reports what is missing when `timeout` passes.
    pub async fn settle(&self, placed: &[AwaitedOrder<'_>], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let (unread, missing) = {
                let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let unread: Vec<AwaitingReaders> = s.pending.clone();
                let missing: Vec<(String, Vec<String>)> = placed
                    .iter()
                    .filter_map(|p| {
                        let got: BTreeSet<&str> = s
                            .mail_by_order
                            .get(p.id)
                            .map(|m| m.iter().map(|(_, k, _)| k.as_str()).collect())
                            .unwrap_or_default();
                        let lacking: Vec<String> = p
                            .mail
                            .iter()
                            .copied()
                            .filter(|k| !got.contains(k))
                            .map(str::to_owned)
                            .collect();
                        (!lacking.is_empty()).then(|| (p.id.to_owned(), lacking))
                    })
                    .collect();
                (unread, missing)
            };
            let undecided: Vec<&AwaitedOrder<'_>> = placed.iter().filter(|p| !p.decided).collect();
            if unread.is_empty() && missing.is_empty() && undecided.is_empty() {
                return true;
            }
            if Instant::now() > deadline {
                println!("\nNOT everything played out within {timeout:?}:");
                for p in undecided {
                    println!("  order {} is still {}", short(p.id), p.status);
                }
                for s in unread {
                    let groups: Vec<&str> = s.waiting.iter().map(|(svc, _)| svc.as_str()).collect();
                    println!(
                        "  {}[{}]@{} ({}) not yet read by {}",
                        s.topic,
                        s.partition,
                        s.offset,
                        s.label,
                        groups.join(", ")
                    );
                }
                for (id, kinds) in missing {
                    println!(
                        "  order {}: no mail yet for {}",
                        short(&id),
                        kinds.join(", ")
                    );
                }
                println!("  (the logs are in the data directory's logs/)");
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for EventFeed {
    // Stop watching before the broker goes away, so Ctrl-C does not end in connection errors.
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn say(started: Instant, line: &str) {
    println!("   [{:>6.2}s] {line}", started.elapsed().as_secs_f64());
}

pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub async fn watch(
    topology: Topology,
    http: reqwest::Client,
    state: Arc<Mutex<Observed>>,
    started: Instant,
    quiet: bool,
) {
    if let Err(e) = watch_inner(&topology, &http, &state, started, quiet).await {
        eprintln!("   (the event feed stopped: {e:#})");
    }
}

pub async fn watch_inner(
    topology: &Topology,
    http: &reqwest::Client,
    state: &Mutex<Observed>,
    started: Instant,
    quiet: bool,
) -> anyhow::Result<()> {
    let tap = tap(topology, Duration::from_millis(100))?;
    // One offset reader per consumer group; they never join their group.
    let mut groups: BTreeMap<String, BaseConsumer> = BTreeMap::new();
    for readers in topology.readers.values() {
        for (_, group) in readers {
            if !groups.contains_key(group) {
                let c: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", &topology.bootstrap)
                    .set("group.id", group)
                    .set("enable.auto.commit", "false")
                    .create()?;
                groups.insert(group.clone(), c);
            }
        }
    }
    let groups = Arc::new(groups);
    let mut schema_names: HashMap<i32, (String, String)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let print = |line: &str| {
        if !quiet {
            say(started, line);
        }
    };
    loop {
        tokio::select! {
            m = tap.recv() => {
                let m = m?.detach();
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                let header = |name: &str| {
                    m.headers().and_then(|h| {
                        h.iter()
                            .find(|h| h.key == name)
                            .and_then(|h| h.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    })
                };
                let schema_id = schema_id(m.payload());
                let (producer, event) = match schema_id {
                    Some(id) => {
                        match schema_names.get(&id) {
                            Some(name) => name.clone(),
                            None => {
                                let name = describe_schema(http, topology, id).await;
                                schema_names.insert(id, name.clone());
                                name
                            }
                        }
                    }
                    None => (
                        "?".to_owned(),
                        header("event_type").unwrap_or_else(|| "a record without the wire header".into()),
                    ),
                };
                let label = format!("{} key {}", event, short(&key));
                let topic = m.topic().to_owned();
                print(&format!("▸ {producer} → {topic}[{}]@{}  {label}", m.partition(), m.offset()));
                let waiting = topology.readers.get(&topic).cloned().unwrap_or_default();
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                s.records += 1;
                if !waiting.is_empty() {
                    s.pending.push(AwaitingReaders { topic, partition: m.partition(), offset: m.offset(), label, waiting });
                }
            }
            _ = tick.tick() => {
                let pending = state.lock().unwrap_or_else(|p| p.into_inner()).pending.clone();
                if !pending.is_empty() {
                    let committed = committed(groups.clone(), &pending).await;
                    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                    for seen in s.pending.iter_mut() {
                        seen.waiting.retain(|(service, group)| {
                            let done = committed
                                .get(&(group.clone(), seen.topic.clone(), seen.partition))
                                .is_some_and(|c| *c > seen.offset);
                            if done {
                                print(&format!("    ✓ {service} read {}[{}]@{}", seen.topic, seen.partition, seen.offset));
                            }
                            !done
                        });
                    }
                    s.pending.retain(|seen| !seen.waiting.is_empty());
                }
                scan_mailbox(&topology.mailbox, state, &print);
            }
        }
    }
}

/// A consumer of every partition of the shop's topics from their current end, outside any
/// consumer group. `fetch_wait` bounds how late it sees a record: the broker answers a fetch
/// with little data only when that wait is over.
pub fn tap(topology: &Topology, fetch_wait: Duration) -> anyhow::Result<StreamConsumer> {
    let tap: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &topology.bootstrap)
        .set("group.id", "contracts-demo-tap")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", fetch_wait.as_millis().to_string())
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for (topic, n) in &topology.partitions {
        for p in 0..*n {
            let (_, high) = tap
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .with_context(|| format!("reading the end of {topic}[{p}]"))?;
            tpl.add_partition_offset(topic, p, Offset::Offset(high))?;
        }
    }
    tap.assign(&tpl)?;
    Ok(tap)
}

/// The registry schema id of a record in the Confluent wire format (magic byte 0, then the id).
pub fn schema_id(payload: Option<&[u8]>) -> Option<i32> {
    payload
        .filter(|p| p.len() >= 5 && p[0] == 0)
        .map(|p| i32::from_be_bytes([p[1], p[2], p[3], p[4]]))
}

/// The subject and subject version a schema id was registered under, from the registry.
pub async fn schema_subject(
    http: &reqwest::Client,
    registry_url: &str,
    id: i32,
) -> Option<(String, usize)> {
    let url = format!("{registry_url}/schemas/ids/{id}/versions");
    let versions: Value = match http.get(&url).send().await {
        Ok(r) if r.status().is_success() => r.json().await.ok()?,
        _ => return None,
    };
    let first = versions.as_array()?.first()?;
    Some((
        first["subject"].as_str().unwrap_or("?").to_owned(),
        first["version"].as_u64().unwrap_or(0) as usize,
    ))
}

/// Who produces a schema id's event and `OrderCreated v3 (Avro, schema id 5)`: the registry
/// names its subject and version, the manifest the producers and the contract version that
/// subject version holds (registered oldest first).
pub async fn describe_schema(
    http: &reqwest::Client,
    topology: &Topology,
    id: i32,
) -> (String, String) {
    schema_subject(http, &topology.registry_url, id)
        .await
        .map(|(subject, version)| {
            let Some(known) = topology.subjects.get(&subject) else {
                return (
                    "?".into(),
                    format!("{subject} version {version} (schema id {id})"),
                );
            };
            let (event, format) = (&known.event, known.format);
            let description = match known.versions.get(version.wrapping_sub(1)) {
                Some(contract) => format!("{event} v{contract} ({format}, schema id {id})"),
                None => format!("{event} ({format}, {subject} version {version}, schema id {id})"),
            };
            (known.producers.clone(), description)
        })
        .unwrap_or_else(|| {
            (
                "?".into(),
                format!("schema id {id}, unknown to the registry"),
            )
        })
}

/// Each group's committed offset per (group, topic, partition) of the records waiting.
pub async fn committed(
    groups: Arc<BTreeMap<String, BaseConsumer>>,
    pending: &[AwaitingReaders],
) -> HashMap<(String, String, i32), i64> {
    let mut wanted: BTreeMap<String, BTreeSet<(String, i32)>> = BTreeMap::new();
    for s in pending {
        for (_, group) in &s.waiting {
            wanted
                .entry(group.clone())
                .or_default()
                .insert((s.topic.clone(), s.partition));
        }
    }
    tokio::task::spawn_blocking(move || {
        let mut out = HashMap::new();
        for (group, partitions) in wanted {
            let Some(consumer) = groups.get(&group) else {
                continue;
            };
            let mut tpl = TopicPartitionList::new();
            for (topic, p) in &partitions {
                tpl.add_partition(topic, *p);
            }
            if let Ok(c) = consumer.committed_offsets(tpl, Duration::from_secs(5)) {
                for e in c.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        out.insert((group.clone(), e.topic().to_owned(), e.partition()), o);
                    }
                }
            }
        }
        out
    })
    .await
    .unwrap_or_default()
}

/// New `<customer>/<order>.<step>.<kind>.eml` files in the mailbox.
pub fn scan_mailbox(dir: &Path, state: &Mutex<Observed>, print: &dyn Fn(&str)) {
    let Ok(folders) = std::fs::read_dir(dir) else {
        return;
    };
    for folder in folders.flatten() {
        let Ok(files) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            if s.mails.contains_key(&path) {
                continue;
            }
            let written = file
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or_else(|_| SystemTime::now());
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let field = |name: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            let (to, subject, order, kind) = (
                field("To:"),
                field("Subject:"),
                field("X-Order-Id:"),
                field("X-Notification:"),
            );
            print(&format!(
                "    ✉ notification-service mailed {to}: \"{subject}\""
            ));
            s.mails.insert(path, written);
            s.mail_by_order
                .entry(order)
                .or_default()
                .push((to, kind, written));
        }
    }
}
