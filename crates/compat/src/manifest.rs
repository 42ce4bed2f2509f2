//! Checking the subject histories a contracts manifest declares.
//!
//! `contracts check` and the build-time gate in `contracts-build` both load an event's versions
//! the way the registry would see them and check each subject history at its level; this is the
//! one place that does it.

use contracts_model::avro::{Kind, Validation};
use contracts_model::manifest::{Event, SchemaVersion, SubjectHistory};
use contracts_model::{Diagnostic, Format, Schema, SchemaSource};

use crate::{Finding, Version};

/// The outcome of checking one subject history.
#[derive(Debug, Clone)]
pub struct HistoryCheck<'m> {
    pub subject: String,
    pub level: contracts_model::Level,
    /// The versions, oldest first.
    pub versions: Vec<&'m SchemaVersion>,
    /// The parsed schema of each version, in the same order; empty when the newest version does
    /// not parse (see `invalid`).
    pub schemas: Vec<Schema>,
    /// The newest version does not parse: the registry would reject it as `INVALID_SCHEMA`.
    pub invalid: Option<Diagnostic>,
    /// Every incompatibility, as [`crate::check_history`] reports it.
    pub findings: Vec<Finding>,
}

impl HistoryCheck<'_> {
    /// No finding and a valid newest version.
    pub fn is_compatible(&self) -> bool {
        self.invalid.is_none() && self.findings.is_empty()
    }
}

/// Where a version's schema is read from: an Avro file, or a Protobuf file in its import root.
pub fn source_of(event: &Event, version: &SchemaVersion) -> SchemaSource {
    match event.format {
        Format::Avro => SchemaSource {
            path: version.path.clone(),
            entry: None,
        },
        Format::Protobuf => SchemaSource {
            path: version.root.clone(),
            entry: Some(version.file.to_string_lossy().into_owned()),
        },
    }
}

/// Loads every version of `history` and checks it at its level.
///
/// As the registry does, the newest version is parsed strictly and the stored ones leniently.
/// `Err` holds problems that are not findings: an older version that does not parse, or a
/// schema that does not define what the manifest says (its name, its key field).
pub fn check_event_history<'m>(
    event: &'m Event,
    history: &SubjectHistory<'m>,
) -> Result<HistoryCheck<'m>, Vec<Diagnostic>> {
    let versions = &history.versions;
    let mut schemas = Vec::new();
    let mut problems = Vec::new();
    let mut invalid = None;
    let last = versions.len().saturating_sub(1);
    for (i, v) in versions.iter().enumerate() {
        let validation = if i == last {
            Validation::Strict
        } else {
            Validation::Lenient
        };
        match Schema::load(&source_of(event, v), Some(event.format), validation) {
            Ok(schema) => {
                problems.extend(lint_against_manifest(event, v, &schema));
                schemas.push(schema);
            }
            Err(d) if i == last => invalid = Some(d),
            Err(d) => problems.push(d),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let findings = if invalid.is_none() {
        let labelled: Vec<Version<'_>> = versions
            .iter()
            .zip(&schemas)
            .map(|(v, schema)| Version {
                label: &v.label,
                schema,
            })
            .collect();
        crate::check_history(history.level, &labelled)
    } else {
        schemas.clear();
        Vec::new()
    };
    Ok(HistoryCheck {
        subject: history.subject.clone(),
        level: history.level,
        versions: versions.clone(),
        schemas,
        invalid,
        findings,
    })
}

/// The schema must define what the manifest says: its full name and the key field.
pub fn lint_against_manifest(
    event: &Event,
    version: &SchemaVersion,
    schema: &Schema,
) -> Vec<Diagnostic> {
    // What the schema declares: whether it defines the listed name, and that type's field names.
    let (defines_name, fields): (bool, Vec<&str>) = match schema {
        Schema::Avro(avro) => {
            let fields = match &avro.node(avro.root()).kind {
                Kind::Record(r) => r.fields.iter().map(|f| f.name.as_str()).collect(),
                _ => Vec::new(),
            };
            (
                avro.full_name().as_deref() == Some(version.full_name.as_str()),
                fields,
            )
        }
        Schema::Protobuf(proto) => match proto.message(&version.full_name) {
            Some(m) => (true, m.descriptor.field.iter().map(|f| f.name()).collect()),
            None => (false, Vec::new()),
        },
    };
    let at = |d: Diagnostic| d.at_location(version.location.clone());
    let (label, file) = (&version.label, version.path.display());
    if !defines_name {
        return vec![at(Diagnostic::new(format!(
            "{} {label} is listed as \"{}\" but {file} does not define it",
            event.name, version.full_name
        ))
        .with_help(
            "the event's `name` (or the version's `name`) is the full name of the schema's type: \
             Avro namespace.name, Protobuf package.Message",
        ))];
    }
    if !fields.contains(&event.key.as_str()) {
        return vec![at(Diagnostic::new(format!(
            "{} {label} has no field \"{}\" to take the Kafka key from",
            event.name, event.key
        ))
        .with_help(
            "add the field to the schema, or name an existing field as the event's `key`",
        ))];
    }
    Vec::new()
}
