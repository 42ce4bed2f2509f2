//! `contracts consume TOPIC`: prints a topic's records decoded through the schemas they were
//! written with (fetched from the registry by the id in each record), one JSON line each, or for
//! people with `--format pretty`. Any topic: the services' topics, their retry topics
//! (`<topic>.retry-N`) and dead-letter topics (`<topic>.DLT`, whose `dlt-*` headers say where a
//! record came from and why it failed). A record that cannot be decoded is printed with the
//! reason, never skipped.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use contracts_model::manifest::Manifest;
use contracts_runtime::client_config::Scope;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value as Json, json};

use crate::kafka::KafkaArgs;
use crate::remote::{self, RegistryArgs};
use crate::writer_schemas::{Decoded, Versions, WriterSchemas};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    /// One JSON object per line
    Json,
    /// A header line and the indented value, for people
    Pretty,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each record is printed as one JSON line:
  {\"topic\":..., \"partition\":0, \"offset\":12, \"timestamp\":1795780800000, \"key\":\"o-1\",
   \"headers\":{\"event_type\":...}, \"event\":\"shop.orders.OrderCreated\", \"version\":3,
   \"schema_id\":4, \"value\":{...}}
\"version\" is the manifest's contract version registered under that schema id (null when the
manifest has none). A record that cannot be decoded has \"error\" with the reason and
\"raw_value\" (base64) instead of \"value\". A key or header value that is not UTF-8 is
printed as {\"base64\": ...} (an int or long key as its number); a header name that repeats
has its values in an array.

Without --from-beginning, --offset or --timestamp, reading starts at the end (with --group: at
the group's committed offsets, else the end). Without --follow, it stops at the end offsets the
partitions had when it started.")]
pub struct Args {
    /// The topic to read: any topic, retry and dead-letter topics included
    topic: String,
    /// Start at the first record of each partition (with --group: of each partition the group
    /// has no committed offset for)
    #[arg(long, conflicts_with_all = ["offset", "timestamp"])]
    from_beginning: bool,
    /// Start at this offset in each partition read
    #[arg(long, value_name = "N", conflicts_with_all = ["timestamp", "group"])]
    offset: Option<i64>,
    /// Start at the first record at or after this time: RFC 3339 (2026-12-06T10:00:00Z) or
    /// milliseconds since the epoch
    #[arg(long, value_name = "TIME", conflicts_with = "group", value_parser = parse_time)]
    timestamp: Option<i64>,
    /// Read only this partition (repeatable) [default: every partition]
    #[arg(long, value_name = "P", conflicts_with = "group")]
    partition: Vec<i32>,
    /// Read as a member of this consumer group, committing what was printed; without it the
    /// partitions are read directly and nothing is committed
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Keep waiting for new records instead of stopping at the end, until Ctrl-C or SIGTERM
    /// (with --group, what was printed is committed then)
    #[arg(long)]
    follow: bool,
    /// Stop after this many records
    #[arg(long, value_name = "N")]
    max: Option<u64>,
    /// How to print each record
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    format: OutputFormat,
    /// The contracts manifest, to name each record's contract version (optional)
    #[arg(
        long = "manifest",
        env = "CONTRACTS_MANIFEST",
        default_value = "schemas/contracts.toml"
    )]
    manifest: std::path::PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
}

/// Milliseconds since the epoch, given as such or as an RFC 3339 time.
fn parse_time(s: &str) -> Result<i64, String> {
    s.parse::<i64>().or_else(|_| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| {
                format!("{e}: give an RFC 3339 time (2026-12-06T10:00:00Z) or milliseconds since the epoch")
            })
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The manifest only names versions: a topic can be read without one.
    let manifest = if args.manifest.exists() {
        match Manifest::load(&args.manifest) {
            Ok(m) => Some(m),
            Err(diagnostics) => return Ok(crate::report::print_problems(&diagnostics)),
        }
    } else {
        None
    };
    let client = args.registry.client()?;
    remote::block_on(consume(args, client, manifest))??;
    Ok(ExitCode::SUCCESS)
}

async fn consume(
    args: Args,
    client: contracts_registry_client::client::Client,
    manifest: Option<Manifest>,
) -> anyhow::Result<()> {
    // Fail before reading anything when the registry does not answer at all.
    client
        .schema_types()
        .await
        .map_err(|e| crate::writer_schemas::registry_error(&client, e))?;
    let kafka = args.kafka.connect().await?;
    let mut config = kafka.config(Scope::Consumer);
    config
        .set("enable.partition.eof", "true")
        .set("allow.auto.create.topics", "false");
    match &args.group {
        Some(group) => {
            config
                .set("group.id", group)
                .set("enable.auto.commit", "true")
                .set("enable.auto.offset.store", "false")
                .set(
                    "auto.offset.reset",
                    if args.from_beginning {
                        "earliest"
                    } else {
                        "latest"
                    },
                );
        }
        None => {
            // librdkafka wants a group id; nothing is committed under it.
            config
                .set("group.id", "contracts-consume")
                .set("enable.auto.commit", "false");
        }
    }
    let consumer: BaseConsumer = config
        .create()
        .context("cannot create the Kafka consumer")?;
    let all = kafka.partitions(consumer.client(), &args.topic)?;
    let partitions = if args.partition.is_empty() {
        all
    } else {
        for p in &args.partition {
            if !all.contains(p) {
                bail!(
                    "topic \"{}\" has no partition {p} (it has {})",
                    args.topic,
                    all.len()
                );
            }
        }
        args.partition.clone()
    };
    // Where each partition ends now: without --follow, reading stops there.
    let mut ends = HashMap::new();
    for &p in &partitions {
        let (_, high) = consumer
            .fetch_watermarks(&args.topic, p, kafka.timeout)
            .with_context(|| format!("cannot read the end offset of partition {p}"))?;
        ends.insert(p, high);
    }

    let mut starts: HashMap<i32, i64> = HashMap::new();
    match &args.group {
        Some(_) => {
            consumer
                .subscribe(&[&args.topic])
                .context("cannot join the consumer group")?;
        }
        None => {
            let mut tpl = TopicPartitionList::new();
            for &p in &partitions {
                let offset = match (args.offset, args.timestamp, args.from_beginning) {
                    (Some(n), _, _) => Offset::Offset(n),
                    (_, Some(t), _) => Offset::Offset(t),
                    (_, _, true) => Offset::Beginning,
                    _ => Offset::End,
                };
                tpl.add_partition_offset(&args.topic, p, offset)?;
            }
            if args.timestamp.is_some() {
                tpl = consumer
                    .offsets_for_times(tpl, kafka.timeout)
                    .context("cannot find the offsets for --timestamp")?;
                // No record at or after the time: start at the end.
                for e in tpl.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        starts.insert(e.partition(), o);
                    }
                }
            }
            consumer
                .assign(&tpl)
                .context("cannot assign the partitions")?;
            if let Some(n) = args.offset {
                for &p in &partitions {
                    starts.insert(p, n);
                }
            }
            if !args.from_beginning && args.offset.is_none() && args.timestamp.is_none() {
                starts = ends.clone();
            }
        }
    }

    let mut schemas = WriterSchemas::new(client);
    let mut versions = Versions::default();
    let mut printed: u64 = 0;
    // Partitions read to their end (without --follow).
    let mut done: BTreeMap<i32, bool> = partitions.iter().map(|&p| (p, false)).collect();
    if args.group.is_none() && !args.follow {
        for &p in &partitions {
            let end = ends[&p];
            if starts.get(&p).is_some_and(|&s| s >= end) || end == 0 {
                done.insert(p, true);
            }
        }
    }
    let finished = |done: &BTreeMap<i32, bool>, consumer: &BaseConsumer| {
        if args.group.is_some() {
            // In a group only the partitions assigned to this member count.
            let assigned = consumer.assignment().unwrap_or_default();
            let mine: Vec<i32> = assigned.elements().iter().map(|e| e.partition()).collect();
            !mine.is_empty() && mine.iter().all(|p| done.get(p).copied().unwrap_or(true))
        } else {
            done.values().all(|&d| d)
        }
    };
    // Ctrl-C (or SIGTERM) ends the reading like the end of the topic does: what was printed is
    // committed (with --group) before leaving.
    let mut stop = std::pin::pin!(stop_signal());
    while args.max.is_none_or(|m| printed < m) {
        if !args.follow && finished(&done, &consumer) {
            break;
        }
        // Waiting is done here rather than in librdkafka, so that a signal is noticed.
        let Some(polled) = consumer.poll(Duration::ZERO) else {
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
            }
        };
        let message = match polled {
            Ok(m) => m,
            Err(KafkaError::PartitionEOF(p)) => {
                if !args.follow {
                    done.insert(p, true);
                }
                continue;
            }
            Err(e) => bail!("reading {}: {e}", args.topic),
        };
        let p = message.partition();
        let end = ends.get(&p).copied().unwrap_or(i64::MAX);
        if !args.follow && message.offset() >= end {
            done.insert(p, true);
            continue;
        }
        let record = describe(&message, &mut schemas, &mut versions, manifest.as_ref()).await;
        match args.format {
            OutputFormat::Json => println!("{}", json_line(&record)),
            OutputFormat::Pretty => println!("{}", pretty(&record)),
        }
        printed += 1;
        if args.group.is_some() {
            consumer
                .store_offset_from_message(&message)
                .context("cannot store the offset to commit")?;
        }
        if !args.follow && message.offset() + 1 >= end {
            done.insert(p, true);
        }
    }
    if args.group.is_some() {
        // What was printed is committed before leaving the group.
        let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
    }
    Ok(())
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// One record as the JSON line `consume` prints.
async fn describe(
    message: &BorrowedMessage<'_>,
    schemas: &mut WriterSchemas,
    versions: &mut Versions,
    manifest: Option<&Manifest>,
) -> Json {
    let headers = headers_json(
        message
            .headers()
            .into_iter()
            .flat_map(|h| h.iter().map(|h| (h.key, h.value))),
    );
    let key = match message.key() {
        None => Json::Null,
        Some(k) => match std::str::from_utf8(k) {
            Ok(s) => Json::String(s.to_owned()),
            Err(_) => json!({ "base64": base64(k) }),
        },
    };
    let mut record = json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": message.timestamp().to_millis(),
        "key": key,
        "headers": headers,
    });
    let Some(payload) = message.payload() else {
        record["event"] = Json::Null;
        record["value"] = Json::Null;
        return record;
    };
    match schemas.decode(payload).await {
        Ok(decoded) => {
            let version = versions
                .of(schemas.client(), manifest, decoded.schema_id)
                .await
                .map(|(_, v)| v);
            if let Some(number) = numeric_key(message.key(), &decoded, manifest) {
                record["key"] = json!(number);
            }
            record["event"] = Json::String(decoded.name);
            record["version"] = json!(version);
            record["schema_id"] = json!(decoded.schema_id);
            record["value"] = decoded.value;
        }
        Err(e) => {
            record["schema_id"] = json!(e.schema_id);
            record["error"] = Json::String(e.reason);
            record["raw_value"] = Json::String(base64(payload));
        }
    }
    record
}

/// Headers as a JSON object: UTF-8 values as strings, others as `{"base64": ...}`; a name that
/// repeats has its values in an array, in order.
fn headers_json<'a>(headers: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>) -> Json {
    let mut out = serde_json::Map::new();
    for (name, value) in headers {
        let value = match value {
            None => Json::Null,
            Some(v) => match std::str::from_utf8(v) {
                Ok(s) => Json::String(s.to_owned()),
                Err(_) => json!({ "base64": base64(v) }),
            },
        };
        match out.get_mut(name) {
            None => {
                out.insert(name.to_owned(), value);
            }
            // A single header's value is never an array: an array holds repeats.
            Some(Json::Array(values)) => values.push(value),
            Some(first) => *first = Json::Array(vec![first.take(), value]),
        }
    }
    Json::Object(out)
}

/// An int or long key as the number it is, when the contract's key field holds that number and
/// the key is its big-endian bytes (as Kafka's IntegerSerializer and LongSerializer write it).
fn numeric_key(key: Option<&[u8]>, decoded: &Decoded, manifest: Option<&Manifest>) -> Option<i64> {
    let event = manifest?
        .events
        .iter()
        .find(|e| e.versions.iter().any(|v| v.full_name == decoded.name))?;
    let field = &decoded.value[event.key.as_str()];
    // Protobuf's JSON mapping writes int64 as a string.
    let n = field
        .as_i64()
        .or_else(|| field.as_str().and_then(|s| s.parse().ok()))?;
    let matches = match key? {
        k if k.len() == 4 => i32::try_from(n).is_ok_and(|n| n.to_be_bytes() == k),
        k if k.len() == 8 => n.to_be_bytes() == k,
        _ => false,
    };
    matches.then_some(n)
}

/// The fields of a printed record, in the order a reader looks for them.
const FIELDS: [&str; 12] = [
    "topic",
    "partition",
    "offset",
    "timestamp",
    "key",
    "headers",
    "event",
    "version",
    "schema_id",
    "value",
    "error",
    "raw_value",
];

/// A record as one JSON line, its fields in [`FIELDS`] order (a JSON object's own order is
/// alphabetical here).
fn json_line(record: &Json) -> String {
    let fields: Vec<String> = FIELDS
        .iter()
        .filter_map(|&name| {
            let value = record.get(name)?;
            Some(format!("{}:{value}", Json::String(name.to_owned())))
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A record for people: where it is, what it is, its headers, its value.
fn pretty(record: &Json) -> String {
    let time = record["timestamp"]
        .as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| "no timestamp".into());
    let what = match (&record["event"], &record["error"]) {
        (Json::String(event), _) => format!(
            "{event}{} (schema {})",
            record["version"]
                .as_u64()
                .map(|v| format!(" v{v}"))
                .unwrap_or_default(),
            record["schema_id"]
        ),
        (_, Json::String(_)) => "UNDECODABLE".to_owned(),
        _ => "no value (a tombstone)".to_owned(),
    };
    let mut out = format!(
        "{}/{}@{}  {time}  key {}  {what}\n",
        record["topic"].as_str().unwrap_or_default(),
        record["partition"],
        record["offset"],
        record["key"]
    );
    if let Some(headers) = record["headers"].as_object() {
        for (k, v) in headers {
            out.push_str(&format!(
                "  {k}: {}\n",
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            ));
        }
    }
    if let Some(error) = record["error"].as_str() {
        out.push_str(&format!("  error: {error}\n"));
        out.push_str(&format!(
            "  raw value (base64): {}\n",
            record["raw_value"].as_str().unwrap_or_default()
        ));
    } else if !record["value"].is_null() {
        let value = serde_json::to_string_pretty(&record["value"]).unwrap_or_default();
        for line in value.lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_puts_the_fields_in_reading_order() {
        let record = json!({"value": {"b": 1, "a": [2]}, "topic": "t", "key": null, "offset": 3});
        let line = json_line(&record);
        assert_eq!(
            line,
            r#"{"topic":"t","offset":3,"key":null,"value":{"a":[2],"b":1}}"#
        );
        assert_eq!(serde_json::from_str::<Json>(&line).unwrap(), record);
    }

    #[test]
    fn headers_keep_repeated_names_and_bytes_that_are_not_text() {
        let headers = [
            ("event_type", Some(&b"shop.orders.OrderCreated"[..])),
            ("trace", Some(&b"a"[..])),
            ("trace", Some(&b"b"[..])),
            ("trace", Some(&b"c"[..])),
            ("raw", Some(&[0xff, 0x00][..])),
            ("empty", None),
        ];
        assert_eq!(
            headers_json(headers.into_iter()),
            json!({
                "event_type": "shop.orders.OrderCreated",
                "trace": ["a", "b", "c"],
                "raw": {"base64": "/wA="},
                "empty": null,
            })
        );
    }

    #[test]
    fn a_time_is_rfc_3339_or_milliseconds() {
        assert_eq!(parse_time("1795780800000"), Ok(1_795_780_800_000));
        assert_eq!(parse_time("2026-11-27T12:00:00Z"), Ok(1_795_780_800_000));
        assert_eq!(
            parse_time("2026-11-27T13:00:00+01:00"),
            Ok(1_795_780_800_000)
        );
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn an_int_or_long_key_is_printed_as_the_number_its_key_field_holds() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/contracts.toml");
        let manifest = Manifest::load(path).unwrap();
        let decoded = |value: Json| Decoded {
            schema_id: 1,
            name: "shop.orders.OrderCreated".into(),
            value,
        };
        let key = |d: &Decoded, k: &[u8]| numeric_key(Some(k), d, Some(&manifest));
        let seven = decoded(json!({"order_id": 7}));
        assert_eq!(key(&seven, &7i32.to_be_bytes()), Some(7));
        assert_eq!(key(&seven, &7i64.to_be_bytes()), Some(7));
        assert_eq!(
            key(&decoded(json!({"order_id": "7"})), &7i64.to_be_bytes()),
            Some(7)
        );
        assert_eq!(key(&seven, &8i32.to_be_bytes()), None);
        assert_eq!(key(&seven, b"7"), None);
        assert_eq!(key(&decoded(json!({"order_id": "o-7"})), b"o-7"), None);
    }
}
