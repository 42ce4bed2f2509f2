//! `contracts registry subjects | versions | get | schema | config | mode`: browse any
//! Confluent-compatible registry, and change its compatibility levels and modes, without curl.
//!
//! The registry is reached exactly as `register` reaches it ([`RegistryArgs`]: `--registry`,
//! TLS files, credentials from the environment). Each command prints text for people, or with
//! `--output json` one JSON document for tools. A failure is one line naming what was asked, of
//! which registry, and what to do next; it exits 1 like every operational error of the CLI.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use contracts_registry_client::api::{Mode, SchemaReference, SchemaType, codes};
use contracts_registry_client::client::{Client, Error, VersionId};
use serde_json::{Value, json};

use crate::remote::{self, RegistryArgs};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the registry's subjects (with --deleted, soft-deleted ones too, marked as such)
    Subjects {
        /// Also list soft-deleted subjects
        #[arg(long)]
        deleted: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List the version numbers of a subject, oldest first
    Versions {
        subject: String,
        /// Also list soft-deleted versions
        #[arg(long)]
        deleted: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Show one version of a subject: its id, type, references and schema
    #[command(after_help = "\
SUBJECT alone is its latest version; SUBJECT/3 is version 3 and SUBJECT/latest the newest.
A subject that itself ends in /NUMBER (a Protobuf import path never does) is written SUBJECT/latest.")]
    Get {
        /// SUBJECT or SUBJECT/VERSION (a number from 1, or latest)
        #[arg(value_name = "SUBJECT[/VERSION]")]
        target: String,
        #[command(flatten)]
        common: Common,
    },
    /// Show the schema with a global id and every subject version that holds it
    Schema {
        /// The schema id (as written after the magic byte of each record)
        id: i32,
        #[command(flatten)]
        common: Common,
    },
    /// Show the compatibility level, global or of one subject; with --set, change it
    Config {
        /// The subject; without it, the global level
        subject: Option<String>,
        /// The new level: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE,
        /// FULL or FULL_TRANSITIVE (case-insensitive)
        #[arg(long, value_name = "LEVEL")]
        set: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Show the mode (READWRITE, READONLY, IMPORT, ...), global or of one subject; with --set,
    /// change it
    Mode {
        /// The subject; without it, the global mode
        subject: Option<String>,
        /// The new mode: READWRITE, READONLY, READONLY_OVERRIDE, IMPORT or FORWARD
        /// (case-insensitive)
        #[arg(long, value_name = "MODE")]
        set: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// What every browsing command takes: the registry, and how to print.
#[derive(Debug, clap::Args)]
pub struct Common {
    #[command(flatten)]
    registry: RegistryArgs,
    /// text for people, json (one document) for tools
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "CONTRACTS_OUTPUT",
        value_name = "FORMAT"
    )]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// What a command found, in both shapes.
struct Shown {
    text: String,
    json: Value,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let common = match &command {
        Command::Subjects { common, .. }
        | Command::Versions { common, .. }
        | Command::Get { common, .. }
        | Command::Schema { common, .. }
        | Command::Config { common, .. }
        | Command::Mode { common, .. } => common,
    };
    let client = common.registry.client()?;
    let output = common.output;
    let shown = remote::block_on(execute(&client, &command))??;
    match output {
        Output::Text => print!("{}", shown.text),
        Output::Json => println!("{}", serde_json::to_string_pretty(&shown.json)?),
    }
    Ok(ExitCode::SUCCESS)
}

async fn execute(client: &Client, command: &Command) -> anyhow::Result<Shown> {
    match command {
        Command::Subjects { deleted, .. } => subjects(client, *deleted).await,
        Command::Versions {
            subject, deleted, ..
        } => versions(client, subject, *deleted).await,
        Command::Get { target, .. } => {
            let (subject, version) = split_target(target);
            get(client, subject, version).await
        }
        Command::Schema { id, .. } => schema(client, *id).await,
        Command::Config { subject, set, .. } => match set {
            Some(level) => set_config(client, subject.as_deref(), level).await,
            None => config(client, subject.as_deref()).await,
        },
        Command::Mode { subject, set, .. } => match set {
            Some(mode) => set_mode(client, subject.as_deref(), mode).await,
            None => mode(client, subject.as_deref()).await,
        },
    }
}

async fn subjects(client: &Client, deleted: bool) -> anyhow::Result<Shown> {
    let op = Op::ListSubjects;
    let live = client
        .subjects(false)
        .await
        .map_err(|e| explain(e, client, &op))?;
    let all = if deleted {
        client
            .subjects(true)
            .await
            .map_err(|e| explain(e, client, &op))?
    } else {
        live.clone()
    };
    Ok(marked(
        &all,
        &live,
        |subject, gone| json!({"subject": subject, "deleted": gone}),
    ))
}

async fn versions(client: &Client, subject: &str, deleted: bool) -> anyhow::Result<Shown> {
    let op = Op::Versions(subject);
    let live = match client.versions(subject).await {
        Ok(live) => live,
        // A soft-deleted subject has no live versions, but --deleted still lists its old ones.
        Err(e) if deleted && e.error_code() == Some(codes::SUBJECT_NOT_FOUND) => Vec::new(),
        Err(e) => return Err(explain(e, client, &op)),
    };
    let all = if deleted {
        client
            .versions_with_deleted(subject, true)
            .await
            .map_err(|e| explain(e, client, &op))?
    } else {
        live.clone()
    };
    Ok(marked(
        &all,
        &live,
        |version, gone| json!({"subject": subject, "version": version, "deleted": gone}),
    ))
}

/// One line per entry of `all`, those `live` lacks marked soft-deleted; `row` is an entry's JSON.
fn marked<T: PartialEq + std::fmt::Display>(
    all: &[T],
    live: &[T],
    row: impl Fn(&T, bool) -> Value,
) -> Shown {
    let mut text = String::new();
    let mut rows = Vec::new();
    for item in all {
        let gone = !live.contains(item);
        text.push_str(&item.to_string());
        text.push_str(if gone { "  (soft-deleted)\n" } else { "\n" });
        rows.push(row(item, gone));
    }
    Shown {
        text,
        json: Value::Array(rows),
    }
}

async fn get(client: &Client, subject: &str, version: VersionId) -> anyhow::Result<Shown> {
    let found = client
        .version(subject, version)
        .await
        .map_err(|e| explain(e, client, &Op::Get(subject, version)))?;
    let schema_type = found.schema_type();
    let mut text = format!(
        "subject     {}\nversion     {}\nid          {}\ntype        {}\n",
        found.subject, found.version, found.id, schema_type
    );
    text.push_str(&references_text(&found.references));
    text.push('\n');
    text.push_str(&schema_text(&found.schema, &schema_type));
    Ok(Shown {
        text,
        json: json!({
            "subject": found.subject,
            "version": found.version,
            "id": found.id,
            "schemaType": schema_type.as_str(),
            "references": references_json(&found.references),
            "schema": found.schema,
        }),
    })
}

async fn schema(client: &Client, id: i32) -> anyhow::Result<Shown> {
    let op = Op::Schema(id);
    let found = client
        .schema_by_id(id)
        .await
        .map_err(|e| explain(e, client, &op))?;
    let mut used_by = client
        .versions_of_id(id)
        .await
        .map_err(|e| explain(e, client, &op))?;
    used_by.sort();
    let schema_type = found.schema_type();
    let mut text = format!("id          {id}\ntype        {schema_type}\n");
    if used_by.is_empty() {
        text.push_str("used by     (no live subject version)\n");
    }
    for (i, sv) in used_by.iter().enumerate() {
        let label = if i == 0 { "used by" } else { "" };
        text.push_str(&format!(
            "{label:<12}{} version {}\n",
            sv.subject, sv.version
        ));
    }
    text.push_str(&references_text(&found.references));
    text.push('\n');
    text.push_str(&schema_text(&found.schema, &schema_type));
    let versions: Vec<Value> = used_by
        .iter()
        .map(|sv| json!({"subject": sv.subject, "version": sv.version}))
        .collect();
    Ok(Shown {
        text,
        json: json!({
            "id": id,
            "schemaType": schema_type.as_str(),
            "references": references_json(&found.references),
            "schema": found.schema,
            "versions": versions,
        }),
    })
}

async fn config(client: &Client, subject: Option<&str>) -> anyhow::Result<Shown> {
    let op = Op::ReadConfig(subject);
    let own = match subject {
        Some(s) => client
            .subject_config(s)
            .await
            .map_err(|e| explain(e, client, &op))?
            .and_then(|c| c.compatibility_level),
        None => None,
    };
    let (level, source) = match own {
        Some(level) => (level, "subject"),
        None => {
            let global = client
                .global_config()
                .await
                .map_err(|e| explain(e, client, &op))?;
            let level = global.compatibility_level.ok_or_else(|| {
                anyhow::anyhow!(
                    "the registry at {} answered GET /config without a compatibilityLevel",
                    client.url()
                )
            })?;
            (level, "global")
        }
    };
    Ok(setting("compatibilityLevel", subject, level, source))
}

async fn set_config(client: &Client, subject: Option<&str>, level: &str) -> anyhow::Result<Shown> {
    let level = level.trim().to_ascii_uppercase();
    let echo = client
        .set_config(subject, &level)
        .await
        .map_err(|e| explain(e, client, &Op::SetConfig(subject, &level)))?;
    let level = echo.compatibility.unwrap_or(level);
    Ok(changed(
        "compatibilityLevel",
        "compatibility level",
        subject,
        level,
    ))
}

async fn mode(client: &Client, subject: Option<&str>) -> anyhow::Result<Shown> {
    let op = Op::ReadMode(subject);
    let own = match subject {
        Some(s) => client
            .subject_mode(s)
            .await
            .map_err(|e| explain(e, client, &op))?,
        None => None,
    };
    let (mode, source) = match own {
        Some(mode) => (mode, "subject"),
        None => (
            client
                .mode(None)
                .await
                .map_err(|e| explain(e, client, &op))?,
            "global",
        ),
    };
    Ok(setting("mode", subject, mode.to_string(), source))
}

async fn set_mode(client: &Client, subject: Option<&str>, mode: &str) -> anyhow::Result<Shown> {
    let parsed: Mode = mode.parse().map_err(|_| {
        anyhow::anyhow!(
            "\"{mode}\" is not a mode: give READWRITE, READONLY, READONLY_OVERRIDE, IMPORT or FORWARD"
        )
    })?;
    client
        .set_mode(subject, parsed)
        .await
        .map_err(|e| explain(e, client, &Op::SetMode(subject, parsed.as_str())))?;
    Ok(changed("mode", "mode", subject, parsed.to_string()))
}

/// A level or mode as read: whose it is, and whether it is the subject's own or the global one
/// the subject falls back to.
fn setting(key: &str, subject: Option<&str>, value: String, source: &str) -> Shown {
    let text = match (subject, source) {
        (None, _) => format!("{value}  (global)\n"),
        (Some(_), "subject") => format!("{value}  (the subject's own)\n"),
        (Some(_), _) => format!("{value}  (global: the subject has none of its own)\n"),
    };
    Shown {
        text,
        json: json!({"subject": subject, key: value, "source": source}),
    }
}

fn changed(key: &str, what: &str, subject: Option<&str>, value: String) -> Shown {
    let text = match subject {
        Some(s) => format!("{what} of subject \"{s}\" set to {value}\n"),
        None => format!("global {what} set to {value}\n"),
    };
    let source = if subject.is_some() {
        "subject"
    } else {
        "global"
    };
    Shown {
        text,
        json: json!({"subject": subject, key: value, "source": source}),
    }
}

fn references_text(references: &[SchemaReference]) -> String {
    let mut text = String::new();
    for (i, r) in references.iter().enumerate() {
        let label = if i == 0 { "references" } else { "" };
        text.push_str(&format!(
            "{label:<12}{} (subject {} version {})\n",
            r.name, r.subject, r.version
        ));
    }
    text
}

fn references_json(references: &[SchemaReference]) -> Value {
    Value::Array(
        references
            .iter()
            .map(|r| json!({"name": r.name, "subject": r.subject, "version": r.version}))
            .collect(),
    )
}

/// The schema for reading: Avro (and JSON Schema) indented, keys in their written order (`type`
/// and `name` first), Protobuf as registered.
fn schema_text(schema: &str, schema_type: &SchemaType) -> String {
    let mut text = match schema_type {
        SchemaType::Protobuf => None,
        _ => indent_json(schema),
    }
    .unwrap_or_else(|| schema.to_string());
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Streams the JSON through a pretty serializer: a round trip through `serde_json::Value`
/// would sort the keys. `None` when the text is not JSON.
fn indent_json(json: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut from = serde_json::Deserializer::from_str(json);
    serde_transcode::transcode(&mut from, &mut serde_json::Serializer::pretty(&mut out)).ok()?;
    from.end().ok()?;
    String::from_utf8(out).ok()
}

/// `SUBJECT/3`, `SUBJECT/latest` or `SUBJECT` (its latest). Subjects may hold `/` (Protobuf
/// import paths), so only a last segment that is a version is taken as one.
fn split_target(target: &str) -> (&str, VersionId) {
    if let Some((subject, tail)) = target.rsplit_once('/')
        && !subject.is_empty()
    {
        if tail.trim().eq_ignore_ascii_case("latest") {
            return (subject, VersionId::Latest);
        }
        if let Ok(n) = tail.trim().parse::<i32>() {
            return (subject, VersionId::Number(n));
        }
    }
    (target, VersionId::Latest)
}

/// What a command asked the registry, for its error line.
enum Op<'a> {
    ListSubjects,
    Versions(&'a str),
    Get(&'a str, VersionId),
    Schema(i32),
    ReadConfig(Option<&'a str>),
    SetConfig(Option<&'a str>, &'a str),
    ReadMode(Option<&'a str>),
    SetMode(Option<&'a str>, &'a str),
}

impl Op<'_> {
    fn describe(&self) -> String {
        let of = |subject: &Option<&str>, what: &str| match subject {
            Some(s) => format!("the {what} of subject \"{s}\""),
            None => format!("the global {what}"),
        };
        match self {
            Op::ListSubjects => "listing the subjects".into(),
            Op::Versions(s) => format!("listing the versions of subject \"{s}\""),
            Op::Get(s, v) => format!("reading version {v} of subject \"{s}\""),
            Op::Schema(id) => format!("reading schema id {id}"),
            Op::ReadConfig(s) => format!("reading {}", of(s, "compatibility level")),
            Op::SetConfig(s, level) => {
                format!("setting {} to {level}", of(s, "compatibility level"))
            }
            Op::ReadMode(s) => format!("reading {}", of(s, "mode")),
            Op::SetMode(s, mode) => format!("setting {} to {mode}", of(s, "mode")),
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            Op::Versions(s) | Op::Get(s, _) => Some(s),
            Op::ReadConfig(s) | Op::SetConfig(s, _) | Op::ReadMode(s) | Op::SetMode(s, _) => *s,
            Op::ListSubjects | Op::Schema(_) => None,
        }
    }
}

/// One line: what went wrong with which request to which registry, and what to do next.
fn explain(e: Error, client: &Client, op: &Op<'_>) -> anyhow::Error {
    let url = client.url();
    let message = e.registry_message().unwrap_or_default().to_string();
    let line = match (&e, e.status(), e.error_code()) {
        (Error::Transport { source, .. }, _, _) => format!(
            "cannot reach the registry at {url} ({}): {}; check --registry or SCHEMA_REGISTRY_URL",
            op.describe(),
            root_cause(source)
        ),
        (_, Some(401), _) => format!(
            "the registry at {url} refused {} without valid credentials (401: {message}); \
             set SCHEMA_REGISTRY_AUTH=USER:PASSWORD or SCHEMA_REGISTRY_TOKEN (or their _FILE variants)",
            op.describe()
        ),
        (_, Some(403), _) => format!(
            "the registry at {url} denied {} to this user (403: {message}); \
             it needs a user with that permission",
            op.describe()
        ),
        (_, _, Some(codes::SUBJECT_NOT_FOUND)) => format!(
            "subject \"{}\" not found in the registry at {url}; `contracts registry subjects` lists them",
            op.subject().unwrap_or_default()
        ),
        (_, _, Some(codes::VERSION_NOT_FOUND)) => {
            let version = match op {
                Op::Get(_, v) => v.to_string(),
                _ => "?".into(),
            };
            let subject = op.subject().unwrap_or_default();
            format!(
                "subject \"{subject}\" has no version {version} in the registry at {url}; \
                 `contracts registry versions {subject}` lists them"
            )
        }
        (_, _, Some(codes::SCHEMA_NOT_FOUND)) => match op {
            Op::Schema(id) => format!("no schema with id {id} in the registry at {url}"),
            _ => format!("{} at {url}: {message}", op.describe()),
        },
        (_, _, Some(codes::INVALID_VERSION)) => format!(
            "{} at {url}: not a version; give a number from 1, or latest",
            op.describe()
        ),
        (_, _, Some(codes::INVALID_COMPATIBILITY_LEVEL | codes::INVALID_MODE)) => {
            format!("the registry at {url} refused {}: {message}", op.describe())
        }
        (_, _, Some(codes::OPERATION_NOT_PERMITTED)) => {
            format!("the registry at {url} refused {}: {message}", op.describe())
        }
        _ => format!("{} failed: {e}", op.describe()),
    };
    anyhow::anyhow!(line)
}

/// The innermost cause ("Connection refused (os error 111)"), which says the most.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_segment_is_a_version_only_when_it_is_one() {
        assert_eq!(
            split_target("orders-value"),
            ("orders-value", VersionId::Latest)
        );
        assert_eq!(
            split_target("orders-value/3"),
            ("orders-value", VersionId::Number(3))
        );
        assert_eq!(
            split_target("orders-value/LATEST"),
            ("orders-value", VersionId::Latest)
        );
        assert_eq!(
            split_target("shop/common/v1/money.proto"),
            ("shop/common/v1/money.proto", VersionId::Latest)
        );
        assert_eq!(
            split_target("shop/common/v1/money.proto/2"),
            ("shop/common/v1/money.proto", VersionId::Number(2))
        );
        assert_eq!(split_target("/7"), ("/7", VersionId::Latest));
    }

    #[test]
    fn avro_schemas_are_indented_and_protobuf_is_kept_as_written() {
        assert_eq!(
            schema_text(
                r#"{"type":"record","name":"A","fields":[]}"#,
                &SchemaType::Avro
            ),
            "{\n  \"type\": \"record\",\n  \"name\": \"A\",\n  \"fields\": []\n}\n"
        );
        assert_eq!(
            schema_text(
                "{ \"type\" : \"enum\", \"name\": \"S\", \"doc\": \"a \\\" , {[ b\",\n \"symbols\": [\"X\", \"Y\"], \"aliases\": [ ] }",
                &SchemaType::Avro
            ),
            "{\n  \"type\": \"enum\",\n  \"name\": \"S\",\n  \"doc\": \"a \\\" , {[ b\",\n  \"symbols\": [\n    \"X\",\n    \"Y\"\n  ],\n  \"aliases\": []\n}\n"
        );
        let proto = "syntax = \"proto3\";\nmessage A {}";
        assert_eq!(
            schema_text(proto, &SchemaType::Protobuf),
            format!("{proto}\n")
        );
    }
}
