//! The manifest's rules: which keys each table takes, what each value must be, and what must hold
//! between them (declared topics and services, versions counting up from one, existing schema
//! files, one event per subject), read into the model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use crate::{Format, Level, Span};

use super::model::{Defaults, Event, Manifest, SchemaVersion, Service, SubjectStrategy, Topic};
use super::reader::{Parser, Str, entries, span_of};

const ROOT_KEYS: &[&str] = &["defaults", "services", "topics", "events"];
const DEFAULTS_KEYS: &[&str] = &[
    "compatibility",
    "subject_strategy",
    "replication_factor",
    "min_insync_replicas",
];
const SERVICE_KEYS: &[&str] = &["description", "consumer_group"];
const TOPIC_KEYS: &[&str] = &[
    "description",
    "partitions",
    "key",
    "subject_strategy",
    "replication_factor",
    "min_insync_replicas",
    "cleanup_policy",
    "retention_ms",
    "retry_topics",
];
/// Kafka stores a replication factor in 16 bits.
const MAX_REPLICAS: i64 = i16::MAX as i64;
/// More retry topics than this is a mistake, not a retry policy.
const MAX_RETRY_TOPICS: i64 = 20;
const EVENT_KEYS: &[&str] = &[
    "name",
    "description",
    "format",
    "topic",
    "key",
    "subject_strategy",
    "compatibility",
    "producers",
    "consumers",
    "versions",
];
const VERSION_KEYS: &[&str] = &["version", "file", "root", "name"];

/// A `cleanup.policy` as Kafka writes it, or `None` when it is not one.
fn cleanup_policy(value: &str) -> Option<String> {
    let mut parts: Vec<String> = value
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    parts.sort();
    parts.dedup();
    match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["delete"] | ["compact"] | ["compact", "delete"] => Some(parts.join(",")),
        _ => None,
    }
}

impl Parser {
    pub(super) fn manifest(&mut self, root: &DeTable<'_>) -> Manifest {
        self.check_keys(root, ROOT_KEYS, "the manifest");
        let defaults = self.defaults(root);
        let mut services = self.named_tables(root, "services", Parser::service);
        let mut topics = self.named_tables(root, "topics", Parser::topic);
        self.check_replicas(root, &defaults, &topics);
        let events = self.events(root, &defaults, &services, &topics);
        self.check_subjects(&events, &topics);

        for event in &events {
            if let Some(t) = topics.iter_mut().find(|t| t.name == event.topic) {
                t.events.push(event.name.clone());
            }
            for s in services.iter_mut() {
                if event.producers.contains(&s.name) {
                    s.produces.push(event.name.clone());
                }
                if event.consumers.contains(&s.name) {
                    s.consumes.push(event.name.clone());
                }
            }
        }
        Manifest {
            path: self.file.path().to_path_buf(),
            base_dir: self.base_dir.clone(),
            defaults,
            services,
            topics,
            events,
            source: self.file.clone(),
        }
    }

    fn defaults(&mut self, root: &DeTable<'_>) -> Defaults {
        let mut defaults = Defaults::default();
        let Some(value) = root.get("defaults") else {
            return defaults;
        };
        let Some(table) = self.table(value, "defaults", "the manifest") else {
            return defaults;
        };
        self.check_keys(table, DEFAULTS_KEYS, "[defaults]");
        if let Some((level, _)) = self.parsed(table, "compatibility", "[defaults]") {
            defaults.compatibility = level;
        }
        if let Some((strategy, _)) = self.parsed(table, "subject_strategy", "[defaults]") {
            defaults.subject_strategy = strategy;
        }
        let replicas = "a positive integer (at most 32767)";
        defaults.replication_factor = self
            .bounded(
                table,
                "replication_factor",
                "[defaults]",
                1,
                MAX_REPLICAS,
                replicas,
            )
            .map(|n| n as u16);
        defaults.min_insync_replicas = self
            .bounded(
                table,
                "min_insync_replicas",
                "[defaults]",
                1,
                MAX_REPLICAS,
                replicas,
            )
            .map(|n| n as u16);
        defaults
    }

    /// `[services.<name>]` or `[topics.<name>]`: a table of tables keyed by name, in file order.
    fn named_tables<T>(
        &mut self,
        root: &DeTable<'_>,
        section: &str,
        each: fn(&mut Parser, String, &DeTable<'_>, Span) -> T,
    ) -> Vec<T> {
        let Some(value) = root.get(section) else {
            return Vec::new();
        };
        let Some(table) = self.table(value, section, "the manifest") else {
            return Vec::new();
        };
        let what = format!("[{section}]");
        let mut out = Vec::new();
        for (key, value) in entries(table) {
            if let Some(inner) = self.table(value, key.get_ref(), &what) {
                out.push(each(self, key.get_ref().to_string(), inner, span_of(value)));
            }
        }
        out
    }

    fn service(&mut self, name: String, table: &DeTable<'_>, span: Span) -> Service {
        let what = format!("[services.{name}]");
        self.check_keys(table, SERVICE_KEYS, &what);
        Service {
            description: self.string(table, "description", &what).map(|s| s.value),
            consumer_group: self.string(table, "consumer_group", &what).map(|s| s.value),
            produces: Vec::new(),
            consumes: Vec::new(),
            location: self.file.location(span),
            span,
            name,
        }
    }

    fn topic(&mut self, name: String, table: &DeTable<'_>, span: Span) -> Topic {
        let what = format!("[topics.{name}]");
        self.check_keys(table, TOPIC_KEYS, &what);
        let partitions = table.get("partitions").and_then(|value| {
            let expected = "a positive integer";
            match self.integer(value, "partitions", &what, expected) {
                Some(n) if n > 0 && n <= i64::from(u32::MAX) => Some(n as u32),
                Some(_) => {
                    self.type_error(value, "partitions", &what, expected);
                    None
                }
                None => None,
            }
        });
        let replicas = "a positive integer (at most 32767)";
        let replication_factor = self
            .bounded(
                table,
                "replication_factor",
                &what,
                1,
                MAX_REPLICAS,
                replicas,
            )
            .map(|n| n as u16);
        let min_insync_replicas = self
            .bounded(
                table,
                "min_insync_replicas",
                &what,
                1,
                MAX_REPLICAS,
                replicas,
            )
            .map(|n| n as u16);
        let cleanup_policy = self.string(table, "cleanup_policy", &what).and_then(|s| {
            match cleanup_policy(&s.value) {
                Some(policy) => Some(policy),
                None => {
                    let d = self
                        .at(
                            s.span,
                            format!("unknown cleanup_policy \"{}\" in {what}", s.value),
                        )
                        .with_help(
                            "use \"delete\" (records expire after retention_ms), \"compact\" \
                             (the newest record of each key is kept) or \"compact,delete\"",
                        );
                    self.report(d);
                    None
                }
            }
        });
        let retention_ms = self.bounded(
            table,
            "retention_ms",
            &what,
            -1,
            i64::MAX,
            "a number of milliseconds, or -1 to keep records forever",
        );
        let retry_topics = self
            .bounded(
                table,
                "retry_topics",
                &what,
                0,
                MAX_RETRY_TOPICS,
                "a number of retry topics from 0 to 20",
            )
            .unwrap_or(0) as u32;
        Topic {
            description: self.string(table, "description", &what).map(|s| s.value),
            partitions,
            replication_factor,
            min_insync_replicas,
            cleanup_policy,
            retention_ms,
            retry_topics,
            key: self.string(table, "key", &what).map(|s| s.value),
            subject_strategy: self
                .parsed(table, "subject_strategy", &what)
                .map(|(s, _)| s),
            events: Vec::new(),
            location: self.file.location(span),
            span,
            name,
        }
    }

    /// An integer key in `min..=max`; anything else is reported as not being `expected`.
    fn bounded(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        what: &str,
        min: i64,
        max: i64,
        expected: &str,
    ) -> Option<i64> {
        let value = table.get(key)?;
        match self.integer(value, key, what, expected)? {
            n if (min..=max).contains(&n) => Some(n),
            n => {
                let d = self.at(
                    span_of(value),
                    format!("\"{key}\" in {what} must be {expected}, not {n}"),
                );
                self.report(d);
                None
            }
        }
    }

    /// `min_insync_replicas` above the replication factor would refuse every write with
    /// `acks=all`: reported at the `min_insync_replicas` that exceeds it.
    fn check_replicas(&mut self, root: &DeTable<'_>, defaults: &Defaults, topics: &[Topic]) {
        let key_span = |table: Option<&toml::Spanned<toml::de::DeValue<'_>>>| {
            table
                .and_then(|t| t.get_ref().as_table())
                .and_then(|t| t.get("min_insync_replicas"))
                .map(span_of)
        };
        let section = root.get("topics").and_then(|t| t.get_ref().as_table());
        for topic in topics {
            let (Some(replicas), Some(min)) = (
                topic.replication_factor.or(defaults.replication_factor),
                topic.min_insync_replicas.or(defaults.min_insync_replicas),
            ) else {
                continue;
            };
            if min <= replicas {
                continue;
            }
            let span = key_span(section.and_then(|s| s.get(topic.name.as_str())))
                .or_else(|| key_span(root.get("defaults")))
                .unwrap_or(topic.span);
            let d = self
                .at(
                    span,
                    format!(
                        "topic \"{}\" would have min_insync_replicas = {min} but only {replicas} \
                         replicas: no write with acks=all could succeed",
                        topic.name
                    ),
                )
                .with_help(format!(
                    "set min_insync_replicas to at most {replicas} (usually one less than the \
                     replication factor), or raise replication_factor"
                ));
            self.report(d);
        }
    }

    fn events(
        &mut self,
        root: &DeTable<'_>,
        defaults: &Defaults,
        services: &[Service],
        topics: &[Topic],
    ) -> Vec<Event> {
        let Some(value) = root.get("events") else {
            return Vec::new();
        };
        let tables = match value.get_ref().as_array() {
            Some(items) if items.iter().all(|i| i.get_ref().is_table()) => items,
            _ => {
                let d = self
                    .at(
                        span_of(value),
                        "\"events\" must be a list of [[events]] tables",
                    )
                    .with_help("start each event with its own [[events]] line, then its keys");
                self.report(d);
                return Vec::new();
            }
        };
        let mut out: Vec<Event> = Vec::new();
        let mut first_seen: HashMap<String, Span> = HashMap::new();
        for (index, value) in tables.iter().enumerate() {
            let Some(table) = value.get_ref().as_table() else {
                continue;
            };
            let span = span_of(value);
            let Some(event) = self.event(index, table, span, defaults, services, topics) else {
                continue;
            };
            let name_span = table.get("name").map_or(span, span_of);
            if let Some(first) = first_seen.get(&event.name) {
                let d = self
                    .at(
                        name_span,
                        format!("event \"{}\" is declared twice", event.name),
                    )
                    .with_help(format!(
                        "it was first declared on line {}; give each event its own name, or add \
                         a version to the first declaration instead",
                        self.line(*first)
                    ));
                self.report(d);
                continue;
            }
            first_seen.insert(event.name.clone(), name_span);
            out.push(event);
        }
        out
    }

    fn event(
        &mut self,
        index: usize,
        table: &DeTable<'_>,
        span: Span,
        defaults: &Defaults,
        services: &[Service],
        topics: &[Topic],
    ) -> Option<Event> {
        let unnamed = format!("event #{}", index + 1);
        let name = self.required_string(
            table,
            span,
            "name",
            &unnamed,
            "set name to the record's fully-qualified name, such as \"shop.orders.OrderCreated\" \
             (Avro namespace.name, or Protobuf package.Message)",
        );
        if let Some(n) = &name {
            self.check_full_name(n);
        }
        let what = match &name {
            Some(n) => format!("event \"{}\"", n.value),
            None => unnamed,
        };
        self.check_keys(table, EVENT_KEYS, &what);

        let description = self.string(table, "description", &what).map(|s| s.value);
        let format = if self.is_missing(
            table,
            span,
            "format",
            &what,
            "set format = \"avro\" or format = \"protobuf\"",
        ) {
            None
        } else {
            self.parsed::<Format>(table, "format", &what)
                .map(|(f, _)| f)
        };

        let topic = self.required_string(
            table,
            span,
            "topic",
            &what,
            "set topic to the name of a topic declared under [topics]",
        );
        let declared_topic = topic.as_ref().and_then(|t| {
            let found = topics.iter().find(|d| d.name == t.value);
            if found.is_none() {
                let help =
                    declared_help("topics", &t.value, topics.iter().map(|t| t.name.as_str()));
                let d = self
                    .at(
                        t.span,
                        format!("topic \"{}\" is not declared under [topics]", t.value),
                    )
                    .with_help(help);
                self.report(d);
            }
            found
        });

        let key = match self.string(table, "key", &what) {
            Some(k) => Some(k.value),
            None => declared_topic.and_then(|t| t.key.clone()),
        };
        if key.is_none() && declared_topic.is_some() && !table.contains_key("key") {
            let topic_name = &declared_topic.map_or("", |t| t.name.as_str());
            let d = self
                .at(span, format!("{what} has no key field"))
                .with_help(format!(
                    "set key = \"<field>\" on the event, or on [topics.{topic_name}] for all its \
                     events: the Kafka key is taken from that field, so that one entity's events \
                     stay in order on one partition"
                ));
            self.report(d);
        }

        let subject_strategy = match self.parsed(table, "subject_strategy", &what) {
            Some((s, _)) => s,
            None => declared_topic
                .and_then(|t| t.subject_strategy)
                .unwrap_or(defaults.subject_strategy),
        };
        let level = self
            .parsed(table, "compatibility", &what)
            .map_or(defaults.compatibility, |(l, _)| l);

        let producers = self.services(table, "producers", &what, services);
        let consumers = self.services(table, "consumers", &what, services);
        let versions = match (&name, format) {
            (Some(name), Some(format)) => self.versions(table, span, &what, &name.value, format),
            _ => Vec::new(),
        };
        if let (Some(format), false) = (format, versions.is_empty()) {
            self.check_renames(format, subject_strategy, level, &versions, table);
        }

        // An event with problems is still returned when its essentials parsed, so that checks
        // across events run too; the manifest as a whole is rejected anyway.
        if versions.is_empty() {
            return None;
        }
        Some(Event {
            name: name?.value,
            description,
            format: format?,
            topic: topic?.value,
            key: key?,
            subject_strategy,
            level,
            producers,
            consumers,
            versions,
            location: self.file.location(span),
            span,
        })
    }

    fn check_full_name(&mut self, name: &Str) {
        let valid = name.value.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !valid {
            let d = self
                .at(
                    name.span,
                    format!("\"{}\" is not a fully-qualified record name", name.value),
                )
                .with_help(
                    "write dot-separated identifiers (letters, digits, _; not starting with a \
                     digit), such as \"shop.orders.OrderCreated\"",
                );
            self.report(d);
        }
    }

    fn services(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        what: &str,
        services: &[Service],
    ) -> Vec<String> {
        let names = self.strings(table, key, what);
        for name in &names {
            if !services.iter().any(|s| s.name == name.value) {
                let help = declared_help(
                    "services",
                    &name.value,
                    services.iter().map(|s| s.name.as_str()),
                );
                let d = self
                    .at(
                        name.span,
                        format!(
                            "service \"{}\" in {key} of {what} is not declared under [services]",
                            name.value
                        ),
                    )
                    .with_help(help);
                self.report(d);
            }
        }
        names.into_iter().map(|n| n.value).collect()
    }

    fn versions(
        &mut self,
        table: &DeTable<'_>,
        span: Span,
        what: &str,
        name: &str,
        format: Format,
    ) -> Vec<SchemaVersion> {
        let example = match format {
            Format::Avro => {
                "versions = [{ version = 1, file = \"shop/orders/order_created/v1.avsc\" }]"
            }
            Format::Protobuf => {
                "versions = [{ version = 1, file = \"shop/orders/v1/order_created.proto\" }]"
            }
        };
        let items = match table.get("versions") {
            None => {
                let d = self
                    .at(span, format!("{what} has no \"versions\""))
                    .with_help(format!("list its schema files, oldest first: {example}"));
                self.report(d);
                return Vec::new();
            }
            Some(value) => match value.get_ref().as_array() {
                Some(items) if !items.is_empty() => items,
                Some(_) => {
                    let d = self
                        .at(span_of(value), format!("{what} has no versions"))
                        .with_help(format!("list its schema files, oldest first: {example}"));
                    self.report(d);
                    return Vec::new();
                }
                None => {
                    self.type_error(value, "versions", what, "an array of tables");
                    return Vec::new();
                }
            },
        };
        let mut out = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let Some(entry) = self.table(item, "versions", what) else {
                continue;
            };
            if let Some(v) = self.version(index, entry, span_of(item), what, name, format) {
                out.push(v);
            }
        }
        out
    }

    fn version(
        &mut self,
        index: usize,
        table: &DeTable<'_>,
        span: Span,
        event: &str,
        event_name: &str,
        format: Format,
    ) -> Option<SchemaVersion> {
        let expected = index as u32 + 1;
        let what = format!("version {expected} of {event}");
        self.check_keys(table, VERSION_KEYS, &what);

        let number = match table.get("version") {
            None => {
                let d = self
                    .at(span, format!("{what} has no \"version\" number"))
                    .with_help(format!("write version = {expected}"));
                self.report(d);
                None
            }
            Some(value) => match self.integer(value, "version", &what, "an integer") {
                Some(n) if n == i64::from(expected) => Some(expected),
                Some(n) => {
                    let d = self
                        .at(
                            span_of(value),
                            format!(
                                "versions must count up from 1 in order: expected version \
                                     {expected} here, found {n}"
                            ),
                        )
                        .with_help(
                            "list every version of the event, oldest first, numbered 1, 2, \
                                 3, … with no gaps",
                        );
                    self.report(d);
                    None
                }
                None => None,
            },
        };

        let full_name = match self.string(table, "name", &what) {
            Some(n) => {
                self.check_full_name(&n);
                n.value
            }
            None => event_name.to_string(),
        };

        let root = match self.string(table, "root", &what) {
            None => Some(self.base_dir.clone()),
            Some(r) => self.relative(&r, &what).and_then(|rel| {
                let root = self.base_dir.join(rel);
                if root.is_dir() {
                    Some(root)
                } else {
                    let d = self
                        .at(
                            r.span,
                            format!("import root \"{}\" is not a directory", r.value),
                        )
                        .with_help(format!(
                            "looked for {}; the root is relative to the manifest's directory",
                            root.display()
                        ));
                    self.report(d);
                    None
                }
            }),
        };

        let file = self.required_string(
            table,
            span,
            "file",
            &what,
            "set file to the schema's path, relative to the manifest's directory (or to root)",
        );
        let file = file.and_then(|f| self.relative(&f, &what).map(|rel| (f, rel)));
        let (file, root) = (file?, root?);
        let path = root.join(&file.1);
        if !path.is_file() {
            let problem = if path.is_dir() {
                "is a directory, not a file"
            } else {
                "not found"
            };
            let d = self
                .at(
                    file.0.span,
                    format!("schema file \"{}\" {problem}", file.0.value),
                )
                .with_help(format!(
                    "looked for {}; fix the path (relative to {}) or add the file",
                    path.display(),
                    describe_dir(&root)
                ));
            self.report(d);
        } else if Format::from_extension(&path) != Some(format) {
            let wanted = match format {
                Format::Avro => ".avsc",
                Format::Protobuf => ".proto",
            };
            let d = self
                .at(
                    file.0.span,
                    format!(
                        "schema file \"{}\" does not end in {wanted}, but the event's format is \
                         {format}",
                        file.0.value
                    ),
                )
                .with_help(format!(
                    "name the {format} schema file *{wanted}, or fix the event's format"
                ));
            self.report(d);
        }
        Some(SchemaVersion {
            number: number?,
            label: format!("v{expected}"),
            full_name,
            file: file.1,
            root,
            path,
            location: self.file.location(span),
            span,
        })
    }

    /// A path in the manifest, which must be relative so the repository can move.
    fn relative(&mut self, s: &Str, what: &str) -> Option<PathBuf> {
        let p = PathBuf::from(&s.value);
        if p.is_absolute() || s.value.is_empty() {
            let d = self
                .at(
                    s.span,
                    format!("path \"{}\" in {what} must be relative", s.value),
                )
                .with_help("write it relative to the manifest's directory");
            self.report(d);
            return None;
        }
        Some(p)
    }

    /// A Protobuf message renamed under one subject is a break the registry always rejects.
    fn check_renames(
        &mut self,
        format: Format,
        strategy: SubjectStrategy,
        level: Level,
        versions: &[SchemaVersion],
        table: &DeTable<'_>,
    ) {
        if format != Format::Protobuf || strategy != SubjectStrategy::TopicName {
            return;
        }
        if level == Level::None {
            return;
        }
        let version_tables = table
            .get("versions")
            .and_then(|v| v.get_ref().as_array())
            .map(|a| a.iter().collect::<Vec<_>>())
            .unwrap_or_default();
        for pair in versions.windows(2) {
            let (old, new) = (&pair[0], &pair[1]);
            if old.full_name == new.full_name {
                continue;
            }
            let name_span = version_tables
                .get(new.number as usize - 1)
                .and_then(|t| t.get_ref().get("name"))
                .map_or(new.span, span_of);
            let d = self
                .at(
                    name_span,
                    format!(
                        "version {} renames the message from \"{}\" to \"{}\" but stays in the \
                         same subject (TopicNameStrategy), where the registry rejects a changed \
                         package or message name at level {level}",
                        new.number, old.full_name, new.full_name
                    ),
                )
                .with_help(
                    "use subject_strategy = \"TopicRecordNameStrategy\" (or \
                     \"RecordNameStrategy\") so that each package starts its own subject, or \
                     publish the new package as a new event on a new topic",
                );
            self.report(d);
        }
    }

    /// Two events in one subject would share, and break, one version history.
    fn check_subjects(&mut self, events: &[Event], topics: &[Topic]) {
        for topic in topics {
            let shared: Vec<&Event> = events
                .iter()
                .filter(|e| {
                    e.topic == topic.name && e.subject_strategy == SubjectStrategy::TopicName
                })
                .collect();
            if shared.len() < 2 {
                continue;
            }
            let names: Vec<String> = shared.iter().map(|e| format!("\"{}\"", e.name)).collect();
            let d = self
                .at(
                    topic.span,
                    format!(
                        "topic \"{}\" carries {} events ({}) under TopicNameStrategy, which \
                         registers them all in the one subject \"{}\"",
                        topic.name,
                        shared.len(),
                        names.join(", "),
                        shared[0].subject()
                    ),
                )
                .with_help(format!(
                    "a topic with several events needs a subject per event: set subject_strategy \
                     = \"TopicRecordNameStrategy\" (or \"RecordNameStrategy\") on [topics.{}]",
                    topic.name
                ));
            self.report(d);
        }

        let mut owners: HashMap<String, &Event> = HashMap::new();
        for event in events {
            for history in event.histories() {
                let Some(owner) = owners.get(&history.subject) else {
                    owners.insert(history.subject, event);
                    continue;
                };
                if owner.name == event.name
                    || (owner.topic == event.topic
                        && owner.subject_strategy == SubjectStrategy::TopicName
                        && event.subject_strategy == SubjectStrategy::TopicName)
                {
                    continue;
                }
                let d = self
                    .at(
                        event.span,
                        format!(
                            "event \"{}\" would be registered in subject \"{}\", which event \
                             \"{}\" (line {}) already uses",
                            event.name, history.subject, owner.name, owner.location.line
                        ),
                    )
                    .with_help(
                        "each subject holds one event's history; change the event's name, topic \
                         or subject_strategy",
                    );
                self.report(d);
            }
        }
    }
}

fn declared_help<'a>(section: &str, name: &str, declared: impl Iterator<Item = &'a str>) -> String {
    let declared: Vec<&str> = declared.collect();
    let add = format!("declare it with a [{section}.{name}] table");
    if declared.is_empty() {
        add
    } else {
        format!("{add}, or use one of: {}", declared.join(", "))
    }
}

fn describe_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() {
        "the current directory".to_string()
    } else {
        dir.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Diagnostic;
    use crate::manifest::test_support::*;

    #[test]
    fn a_valid_manifest_resolves_defaults_paths_and_services() {
        let dir = schemas(FILES);
        let m = Manifest::parse("contracts.toml", &format!("{HEAD}{EVENT}"), dir.path()).unwrap();
        let e = &m.events[0];
        assert_eq!(e.key, "order_id");
        assert_eq!(e.level, Level::Backward);
        assert_eq!(e.subject_strategy, SubjectStrategy::TopicName);
        assert_eq!(e.subject(), "orders-value");
        assert_eq!(e.short_name(), "OrderCreated");
        assert_eq!(e.versions[1].label, "v2");
        assert_eq!(e.versions[1].path, dir.path().join("a/v2.avsc"));
        assert_eq!(e.versions[1].file, Path::new("a/v2.avsc"));
        assert_eq!(e.location.line, line_of(EVENT, "[[events]]"));
        assert_eq!(
            m.service("order").unwrap().produces,
            ["shop.orders.OrderCreated"]
        );
        assert!(m.service("shipping").unwrap().consumes.is_empty());
        assert_eq!(
            m.topic("orders").unwrap().events,
            ["shop.orders.OrderCreated"]
        );
        let histories = e.histories();
        assert_eq!(histories.len(), 1);
        assert_eq!(histories[0].versions.len(), 2);
    }

    #[test]
    fn a_missing_schema_file_names_the_line_of_its_entry() {
        let body = EVENT.replace("a/v2.avsc", "a/v3.avsc");
        let (line, message, help) = error(&body);
        assert_eq!(line, line_of(&body, "a/v3.avsc"));
        assert_eq!(message, "schema file \"a/v3.avsc\" not found");
        assert!(help.contains("v3.avsc"), "{help}");
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let other = EVENT
            .replace("OrderCreated", "OrderPaid")
            .replace("{ version = 2, file = \"a/v2.avsc\" },", "");
        let body = format!("{EVENT}{other}")
            .replace("a/v1.avsc", "a/missing1.avsc")
            .replace("a/v2.avsc", "a/missing2.avsc");
        let errors = parse(&body).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.location().unwrap().line).collect();
        assert_eq!(
            lines,
            [
                line_of(&body, "[topics.orders]"),
                line_of(&body, "missing1"),
                line_of(&body, "missing2"),
                line_of(&body, "missing1") + EVENT.matches('\n').count(),
            ]
        );
    }

    #[test]
    fn a_schema_file_with_the_wrong_extension_is_rejected() {
        let body = EVENT.replace("a/v2.avsc", "p/v1/a.proto");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "p/v1/a.proto"));
        assert_eq!(
            message,
            "schema file \"p/v1/a.proto\" does not end in .avsc, but the event's format is avro"
        );
    }

    #[test]
    fn duplicate_event_names_are_rejected() {
        let body = format!("{EVENT}{EVENT}");
        let (line, message, help) = error(&body);
        let first = line_of(&body, "name = ");
        assert_eq!(line, first + EVENT.matches('\n').count());
        assert_eq!(
            message,
            "event \"shop.orders.OrderCreated\" is declared twice"
        );
        assert!(
            help.contains(&format!("first declared on line {first}")),
            "{help}"
        );
    }

    #[test]
    fn versions_must_count_up_from_one() {
        let body = EVENT.replace("version = 2", "version = 3");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "version = 3"));
        assert_eq!(
            message,
            "versions must count up from 1 in order: expected version 2 here, found 3"
        );

        let body = EVENT.replace("version = 1", "version = 0");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "version = 0"));
        assert!(message.contains("expected version 1 here, found 0"));
    }

    #[test]
    fn an_event_needs_at_least_one_version() {
        let body =
            "\n[[events]]\nname = \"a.B\"\nformat = \"avro\"\ntopic = \"orders\"\nversions = []\n";
        let (line, message, _) = error(body);
        assert_eq!(line, line_of(body, "versions"));
        assert_eq!(message, "event \"a.B\" has no versions");
    }

    #[test]
    fn unknown_levels_are_rejected() {
        let body = EVENT.replace(
            "topic = \"orders\"",
            "topic = \"orders\"\ncompatibility = \"SOMETIMES\"",
        );
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "SOMETIMES"));
        assert!(
            message.starts_with("unknown compatibility level \"SOMETIMES\""),
            "{message}"
        );
    }

    #[test]
    fn unknown_strategies_are_rejected() {
        let body = format!("{EVENT}\n[defaults]\nsubject_strategy = \"TopicStrategy\"\n");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "TopicStrategy"));
        assert_eq!(
            message,
            "unknown subject strategy \"TopicStrategy\": expected TopicNameStrategy, \
             RecordNameStrategy or TopicRecordNameStrategy"
        );
    }

    #[test]
    fn unknown_formats_are_rejected() {
        let body = EVENT.replace("\"avro\"", "\"json\"");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "json"));
        assert_eq!(
            message,
            "unknown schema format \"json\": expected \"avro\" or \"protobuf\""
        );
    }

    #[test]
    fn producers_and_consumers_must_be_declared_services() {
        let body = EVENT.replace(
            "producers = [\"order\"]",
            "producers = [\"order\"]\nconsumers = [\"billing\"]",
        );
        let (line, message, help) = error(&body);
        assert_eq!(line, line_of(&body, "billing"));
        assert_eq!(
            message,
            "service \"billing\" in consumers of event \"shop.orders.OrderCreated\" is not \
             declared under [services]"
        );
        assert!(help.ends_with("use one of: order, shipping"), "{help}");
    }

    #[test]
    fn topics_must_be_declared() {
        let body = EVENT.replace("topic = \"orders\"", "topic = \"order\"");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "topic = "));
        assert_eq!(message, "topic \"order\" is not declared under [topics]");
    }

    #[test]
    fn an_event_without_a_key_field_is_rejected() {
        let dir = schemas(FILES);
        let text = format!("[services.order]\n[topics.orders]\n{EVENT}");
        let errors = Manifest::parse("contracts.toml", &text, dir.path()).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].location().unwrap().line, 4);
        assert_eq!(
            errors[0].message(),
            "event \"shop.orders.OrderCreated\" has no key field"
        );
        assert!(errors[0].help().unwrap().contains("[topics.orders]"));

        // The event's own key is enough.
        let text = text.replace("topic = \"orders\"", "topic = \"orders\"\nkey = \"id\"");
        let m = Manifest::parse("contracts.toml", &text, dir.path()).unwrap();
        assert_eq!(m.events[0].key, "id");
    }

    #[test]
    fn names_must_be_fully_qualified_identifiers() {
        let body = EVENT.replace("shop.orders.OrderCreated", "shop..Order-Created");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "shop..Order"));
        assert_eq!(
            message,
            "\"shop..Order-Created\" is not a fully-qualified record name"
        );
    }

    #[test]
    fn paths_must_be_relative() {
        let body = EVENT.replace("a/v1.avsc", "/etc/v1.avsc");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "/etc/v1.avsc"));
        assert!(message.starts_with("path \"/etc/v1.avsc\""), "{message}");
    }

    #[test]
    fn a_version_may_resolve_from_its_own_root() {
        let body = EVENT
            .replace("\"avro\"", "\"protobuf\"")
            .replace(
                "file = \"a/v1.avsc\"",
                "root = \"p\", file = \"v1/a.proto\"",
            )
            .replace("{ version = 2, file = \"a/v2.avsc\" },", "");
        let m = parse(&body).unwrap();
        let v = &m.events[0].versions[0];
        assert!(v.root.ends_with("p"));
        assert_eq!(v.file, Path::new("v1/a.proto"));
        assert_eq!(v.path, v.root.join("v1/a.proto"));

        let body = body.replace("root = \"p\"", "root = \"q\"");
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "root = "));
        assert_eq!(message, "import root \"q\" is not a directory");
    }

    #[test]
    fn a_multi_event_topic_under_topic_name_strategy_is_rejected() {
        let other = EVENT
            .replace("OrderCreated", "OrderPaid")
            .replace("{ version = 2, file = \"a/v2.avsc\" },", "");
        let body = format!("{EVENT}{other}");
        let (line, message, help) = error(&body);
        assert_eq!(line, 4, "points at [topics.orders]");
        assert_eq!(
            message,
            "topic \"orders\" carries 2 events (\"shop.orders.OrderCreated\", \
             \"shop.orders.OrderPaid\") under TopicNameStrategy, which registers them all in the \
             one subject \"orders-value\""
        );
        assert!(help.contains("TopicRecordNameStrategy"), "{help}");

        // Fixed on the topic: one subject per record.
        let fixed = body.replace(
            "key = \"order_id\"",
            "key = \"order_id\"\nsubject_strategy = \"TopicRecordNameStrategy\"",
        );
        let dir = schemas(FILES);
        let text = format!("{HEAD}{fixed}").replace(
            "key = \"order_id\"\n",
            "key = \"order_id\"\nsubject_strategy = \"TopicRecordNameStrategy\"\n",
        );
        let m = Manifest::parse("contracts.toml", &text, dir.path()).unwrap();
        assert_eq!(m.events[1].subject(), "orders-shop.orders.OrderPaid");
    }

    #[test]
    fn a_subject_used_by_two_events_is_rejected() {
        let body = format!(
            "{EVENT}{}",
            EVENT
                .replace("shop.orders.OrderCreated", "shop.orders.Other")
                .replace(
                    "{ version = 1, file = \"a/v1.avsc\" },",
                    "{ version = 1, file = \"a/v1.avsc\", name = \"shop.orders.OrderCreated\" },"
                )
                .replace("{ version = 2, file = \"a/v2.avsc\" },", "")
        )
        .replace(
            "[[events]]",
            "[[events]]\nsubject_strategy = \"RecordNameStrategy\"",
        );
        let (line, message, _) = error(&body);
        assert_eq!(line, line_of(&body, "shop.orders.Other") - 2);
        assert!(
            message.starts_with(
                "event \"shop.orders.Other\" would be registered in subject \
                 \"shop.orders.OrderCreated\", which event \"shop.orders.OrderCreated\""
            ),
            "{message}"
        );
    }

    #[test]
    fn protobuf_package_versions_get_their_own_subjects() {
        let body = r#"
[[events]]
name = "p.v1.A"
format = "protobuf"
topic = "orders"
subject_strategy = "TopicRecordNameStrategy"
versions = [
    { version = 1, file = "p/v1/a.proto" },
    { version = 2, file = "p/v2/a.proto", name = "p.v2.A" },
]
"#;
        let m = parse(body).unwrap();
        let e = &m.events[0];
        assert_eq!(e.versions[1].full_name, "p.v2.A");
        assert_eq!(e.subject(), "orders-p.v2.A");
        let subjects: Vec<String> = e.histories().into_iter().map(|h| h.subject).collect();
        assert_eq!(subjects, ["orders-p.v1.A", "orders-p.v2.A"]);

        // Under TopicNameStrategy both packages would share one subject.
        let body = body.replace("subject_strategy = \"TopicRecordNameStrategy\"\n", "");
        let (line, message, help) = error(&body);
        assert_eq!(line, line_of(&body, "name = \"p.v2.A\""));
        assert_eq!(
            message,
            "version 2 renames the message from \"p.v1.A\" to \"p.v2.A\" but stays in the same \
             subject (TopicNameStrategy), where the registry rejects a changed package or \
             message name at level BACKWARD"
        );
        assert!(help.contains("TopicRecordNameStrategy"), "{help}");

        // At level NONE nothing is compared, so the rename is allowed.
        let none = body.replace(
            "format = \"protobuf\"",
            "format = \"protobuf\"\ncompatibility = \"NONE\"",
        );
        assert_eq!(parse(&none).unwrap().events[0].histories().len(), 1);
    }

    /// The shop's own manifest, as a reader of `schemas/contracts.toml` would describe it.
    #[test]
    fn the_shop_manifest_says_what_its_comments_say() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/contracts.toml");
        let m = Manifest::load(&path).unwrap_or_else(|errors| {
            let all: Vec<String> = errors.iter().map(Diagnostic::render).collect();
            panic!("{}", all.join("\n"))
        });
        let summary: Vec<(&str, Format, &str, String, Level, usize)> = m
            .events
            .iter()
            .map(|e| {
                (
                    e.name.as_str(),
                    e.format,
                    e.topic.as_str(),
                    e.subject(),
                    e.level,
                    e.versions.len(),
                )
            })
            .collect();
        use Format::{Avro, Protobuf};
        use Level::{Backward, BackwardTransitive, FullTransitive};
        assert_eq!(
            summary,
            [
                (
                    "shop.orders.OrderCreated",
                    Avro,
                    "orders",
                    "shop.orders.OrderCreated".into(),
                    FullTransitive,
                    3
                ),
                (
                    "shop.orders.OrderPaid",
                    Avro,
                    "orders",
                    "shop.orders.OrderPaid".into(),
                    Backward,
                    1
                ),
                (
                    "shop.orders.OrderShipped",
                    Avro,
                    "orders",
                    "shop.orders.OrderShipped".into(),
                    Backward,
                    1
                ),
                (
                    "shop.inventory.v1.InventoryReserved",
                    Protobuf,
                    "inventory",
                    "inventory-shop.inventory.v2.InventoryReserved".into(),
                    Backward,
                    2
                ),
                (
                    "shop.inventory.v1.InventoryRejected",
                    Protobuf,
                    "inventory",
                    "inventory-shop.inventory.v2.InventoryRejected".into(),
                    Backward,
                    3
                ),
                (
                    "shop.orders.v1.OrderCreated",
                    Protobuf,
                    "order-created-pb",
                    "order-created-pb-value".into(),
                    BackwardTransitive,
                    2
                ),
            ]
        );
        assert!(m.events.iter().all(|e| e.key == "order_id"));

        // Each Protobuf package version is its own subject.
        let reserved = m.event("shop.inventory.v1.InventoryReserved").unwrap();
        let subjects: Vec<String> = reserved
            .histories()
            .into_iter()
            .map(|h| h.subject)
            .collect();
        assert_eq!(
            subjects,
            [
                "inventory-shop.inventory.v1.InventoryReserved",
                "inventory-shop.inventory.v2.InventoryReserved"
            ]
        );
        // A Protobuf package with a newer version is one subject of several versions; the
        // older one is kept under schemas/history/, its own import root.
        let created_pb = m.event("shop.orders.v1.OrderCreated").unwrap();
        let histories = created_pb.histories();
        assert_eq!(histories.len(), 1);
        assert_eq!(histories[0].versions.len(), 2);
        assert!(
            created_pb.versions[0]
                .path
                .starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/history")),
            "{}",
            created_pb.versions[0].path.display()
        );
        // The Avro history is one subject of three versions.
        let created = m.event("shop.orders.OrderCreated").unwrap();
        assert_eq!(created.histories()[0].versions.len(), 3);
        assert!(
            created
                .latest()
                .path
                .ends_with("shop/orders/order_created/v3.avsc")
        );

        let order = m.service("order").unwrap();
        assert_eq!(
            order.produces,
            [
                "shop.orders.OrderCreated",
                "shop.orders.OrderPaid",
                "shop.orders.OrderShipped",
                "shop.orders.v1.OrderCreated"
            ]
        );
        assert_eq!(
            order.consumes,
            [
                "shop.inventory.v1.InventoryReserved",
                "shop.inventory.v1.InventoryRejected"
            ]
        );
        assert_eq!(
            m.service("inventory").unwrap().consumes,
            ["shop.orders.OrderCreated"]
        );
        assert_eq!(m.topic("orders").unwrap().events.len(), 3);
        assert_eq!(m.defaults, Defaults::default());
    }
}
