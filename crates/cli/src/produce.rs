//! `contracts produce TOPIC --event NAME`: JSON values from stdin, one per line, checked against
//! the contract and sent as the services send them: the Confluent wire format with the schema id
//! the registry holds for the contract version, the key from the contract's key field, and the
//! runtime's headers. Every line is checked before anything is sent; nothing is registered.

use std::io::BufRead as _;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use contracts_core::{SchemaId, wire};
use contracts_model::Schema;
use contracts_model::manifest::{Event, SchemaVersion};
use contracts_runtime::client_config::Scope;
use contracts_runtime::headers;
use prost_reflect::{DynamicMessage, Value as ProtoValue};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use serde_json::Value as Json;

use crate::avro_json::{AvroCodec, FieldError};
use crate::kafka::KafkaArgs;
use crate::remote::{self, RegistryArgs};
use crate::{proto_json, writer_schemas};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each line of stdin is one JSON value of the event, e.g. for shop.orders.OrderCreated:
  {\"order_id\": \"o-1\", \"product_name\": \"teapot\", \"quantity\": 2}
Avro: a field left out takes its default; a union's value is given as is (null, \"c-1\") or as
{\"string\": \"c-1\"}; a decimal as a string (\"12.50\"); timestamps as milliseconds since the
epoch. Protobuf: the Protobuf JSON mapping (either field spelling, Timestamps as RFC 3339).

Every line is checked first: if any does not match the contract, the errors name the line,
the field and the expected type, and nothing is sent. The schema id is looked up in the
registry (register the contracts first with `contracts register`); nothing is registered.
For each record sent, a JSON line with its partition, offset and key is printed.")]
pub struct Args {
    /// The topic to write to; it must exist
    topic: String,
    /// The event, by its name in the manifest (shop.orders.OrderCreated)
    #[arg(long, value_name = "NAME")]
    event: String,
    /// The contract version [default: the newest]
    #[arg(long, value_name = "N")]
    version: Option<u32>,
    #[command(flatten)]
    manifest: crate::ManifestArg,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
}

/// A checked line, ready to send.
struct Record {
    line: usize,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// How to turn a JSON line into a payload and a key.
enum Contract {
    Avro(AvroCodec),
    Protobuf(prost_reflect::MessageDescriptor),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manifest = match args.manifest.load() {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let event = manifest.event(&args.event).ok_or_else(|| {
        let known: Vec<&str> = manifest.events.iter().map(|e| e.name.as_str()).collect();
        anyhow!(
            "no event \"{}\" in {} (its events: {})",
            args.event,
            args.manifest.path.display(),
            known.join(", ")
        )
    })?;
    let version = match args.version {
        None => event.latest(),
        Some(n) => event.version(n).ok_or_else(|| {
            anyhow!(
                "{} has no version {n} (it has {})",
                event.name,
                event
                    .versions
                    .iter()
                    .map(|v| v.number.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
    };
    let (local, _) = remote::load(&manifest);
    let contract = contract(&local, event, version)?;

    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut lines = 0;
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        match check(&contract, &event.key, &line) {
            Ok((key, value)) => records.push(Record {
                line: i + 1,
                key,
                value,
            }),
            Err(e) => errors.push(format!("line {}: {e}", i + 1)),
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{e}");
        }
        bail!(
            "{} of {lines} line(s) do not match {} v{}; nothing was sent",
            errors.len(),
            version.full_name,
            version.number
        );
    }
    if records.is_empty() {
        bail!("no JSON values on stdin; nothing was sent");
    }

    let client = args.registry.client()?;
    remote::block_on(async {
        let ids = writer_schemas::registered_ids(&client, &local, |e, v| {
            e.name == event.name && v.number == version.number
        })
        .await?;
        let Some(&(_, _, id)) = ids.first() else {
            bail!(
                "the schema registry at {} does not hold {} v{} under subject \"{}\": register \
                 the contracts first (contracts register --registry {}); nothing was sent",
                client.url(),
                event.name,
                version.number,
                event.subject_of(version),
                client.url()
            );
        };
        let id = SchemaId(u32::try_from(id).context("a negative schema id")?);
        let kafka = args.kafka.connect().await?;
        let producer: FutureProducer = kafka
            .config(Scope::Producer)
            .create()
            .context("cannot create the Kafka producer")?;
        kafka.partitions(producer.client(), &args.topic)?;
        send(
            &producer,
            &args.topic,
            event,
            version,
            id,
            &contract,
            records,
        )
        .await
    })??;
    Ok(ExitCode::SUCCESS)
}

fn contract(
    local: &remote::Local<'_>,
    event: &Event,
    version: &SchemaVersion,
) -> anyhow::Result<Contract> {
    let local_version = local
        .subjects
        .iter()
        .filter(|s| s.event.name == event.name)
        .flat_map(|s| s.versions.iter())
        .find(|v| v.meta.number == version.number)
        .context("the version is missing from the manifest's subjects")?;
    match &local_version.schema {
        Err(d) => Err(anyhow!(
            "{} v{} ({}) does not parse: {}",
            event.name,
            version.number,
            local_version.file,
            d.message()
        )),
        Ok(Schema::Avro(_)) => Ok(Contract::Avro(AvroCodec::parse(&local_version.text)?)),
        Ok(Schema::Protobuf(proto)) => {
            let pool = proto_json::pool(proto)?;
            let message = pool
                .get_message_by_name(&version.full_name)
                .with_context(|| {
                    format!("no message {} in {}", version.full_name, local_version.file)
                })?;
            Ok(Contract::Protobuf(message))
        }
    }
}

/// The key and payload of one JSON line, or what is wrong with it.
fn check(contract: &Contract, key_field: &str, line: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    match contract {
        Contract::Avro(codec) => {
            let json: Json = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
            let (value, payload) = codec.encode(&json).map_err(|e| e.to_string())?;
            let apache_avro::types::Value::Record(fields) = &value else {
                return Err("the contract is not a record".into());
            };
            let key = fields
                .iter()
                .find(|(name, _)| name == key_field)
                .map(|(_, v)| v);
            let key = match key {
                Some(apache_avro::types::Value::String(s)) => s.as_bytes().to_vec(),
                Some(apache_avro::types::Value::Int(n)) => n.to_be_bytes().to_vec(),
                Some(apache_avro::types::Value::Long(n)) => n.to_be_bytes().to_vec(),
                _ => {
                    return Err(format!(
                        "$.{key_field}: the key field has no string, int or long value"
                    ));
                }
            };
            Ok((key, payload))
        }
        Contract::Protobuf(message) => {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(line) {
                return Err(format!("not JSON: {e}"));
            }
            let parsed: DynamicMessage = proto_json::from_json(message.clone(), line)
                .map_err(|e: FieldError| e.to_string())?;
            let key = match parsed.get_field_by_name(key_field).as_deref() {
                Some(ProtoValue::String(s)) => s.as_bytes().to_vec(),
                Some(ProtoValue::I32(n)) => n.to_be_bytes().to_vec(),
                Some(ProtoValue::I64(n)) => n.to_be_bytes().to_vec(),
                _ => {
                    return Err(format!(
                        "$.{key_field}: the key field has no string, int32 or int64 value"
                    ));
                }
            };
            Ok((key, prost::Message::encode_to_vec(&parsed)))
        }
    }
}

async fn send(
    producer: &FutureProducer,
    topic: &str,
    event: &Event,
    version: &SchemaVersion,
    id: SchemaId,
    contract: &Contract,
    records: Vec<Record>,
) -> anyhow::Result<()> {
    let indexes = match contract {
        Contract::Protobuf(message) => proto_json::indexes_of(message),
        Contract::Avro(_) => Vec::new(),
    };
    let id_text = id.0.to_string();
    let mut pending = Vec::with_capacity(records.len());
    for record in &records {
        let mut value = Vec::with_capacity(record.value.len() + 8);
        wire::write_header(&mut value, id, event.format, &indexes);
        value.extend_from_slice(&record.value);
        let event_id = uuid::Uuid::new_v4().hyphenated().to_string();
        let hdrs = OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: headers::EVENT_TYPE,
                value: Some(&version.full_name),
            })
            .insert(Header {
                key: headers::SCHEMA_ID,
                value: Some(&id_text),
            })
            .insert(Header {
                key: headers::EVENT_ID,
                value: Some(&event_id),
            });
        let future = producer.send_result(
            FutureRecord::to(topic)
                .key(&record.key)
                .payload(&value)
                .headers(hdrs),
        );
        match future {
            Ok(f) => pending.push((record, f)),
            Err((e, _)) => bail!("line {}: cannot queue the record: {e}", record.line),
        }
    }
    producer
        .flush(Timeout::Never)
        .context("waiting for the broker's acknowledgements")?;
    let mut failed = 0;
    for (record, delivery) in pending {
        match delivery.await {
            Ok(Ok(d)) => println!(
                "{}",
                serde_json::json!({
                    "line": record.line,
                    "partition": d.partition,
                    "offset": d.offset,
                    "key": String::from_utf8_lossy(&record.key),
                })
            ),
            Ok(Err((e, _))) => {
                failed += 1;
                eprintln!("line {}: not sent: {e}", record.line);
            }
            Err(_) => {
                failed += 1;
                eprintln!("line {}: not sent: the producer stopped", record.line);
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} record(s) were not sent", records.len());
    }
    // A prefixed topic (staging.orders) is normal; another contract's topic is likely a slip.
    let elsewhere = if topic.ends_with(&event.topic) {
        String::new()
    } else {
        format!(" (note: the contract's topic is {})", event.topic)
    };
    eprintln!(
        "sent {} record(s) of {} v{} (schema id {}) to {topic}{elsewhere}",
        records.len(),
        version.full_name,
        version.number,
        id.0
    );
    Ok(())
}
