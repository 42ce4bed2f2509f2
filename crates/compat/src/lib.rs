//! Compatibility verdicts for schema evolution, as the Confluent Schema Registry gives them.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate sits
//! on the model and decides: `contracts-build` runs it as the compile-time gate, the registry
//! server on every registration, and the CLI in `contracts check` and `contracts compat`. The
//! runtime side never links it.
//!
//! - Avro follows Apache Avro Java's `SchemaCompatibility` (what Confluent runs), see [`avro`].
//! - Protobuf follows the Confluent Protobuf provider's schema diff, see [`protobuf`].
//! - [`check`] applies a [`Level`] to a version history: which versions are compared, in which
//!   direction, and where to stop, exactly as the registry does when a version is registered.
//!
//! Every incompatibility is a [`Finding`]: data, not an error, with the rule, the versions
//! compared, the path inside the schema, the file position and a message that says how to fix it.

pub mod avro;
pub mod manifest;
pub mod protobuf;
mod rule;

pub use contracts_model::Level;
pub use rule::{Category, Rule};

use contracts_model::{Location, Schema};

/// Which way data flows in one pairwise comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The new schema reads data written with an old one.
    Backward,
    /// An old schema reads data written with the new one.
    Forward,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Backward => "BACKWARD",
            Direction::Forward => "FORWARD",
        }
    }

    /// How the reader schema is called in messages.
    pub fn reader(self) -> &'static str {
        match self {
            Direction::Backward => "new",
            Direction::Forward => "old",
        }
    }

    /// How the writer schema is called in messages.
    pub fn writer(self) -> &'static str {
        match self {
            Direction::Backward => "old",
            Direction::Forward => "new",
        }
    }
}

/// One reason why a reader cannot read a writer's data, from one pairwise comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    pub rule: Rule,
    /// Where inside the schema: a JSON pointer into the Avro reader schema (Apache Avro's
    /// location), or the Confluent path of the Protobuf element (`#/OrderCreated/2`).
    pub path: String,
    pub message: String,
    /// The offending element in its file, when known.
    pub location: Option<Location>,
}

/// An incompatibility found while checking a candidate version against its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    /// The level whose check produced the finding.
    pub level: Level,
    pub direction: Direction,
    pub path: String,
    pub location: Option<Location>,
    pub message: String,
    /// The earlier version compared with.
    pub old_version: String,
    /// The candidate version.
    pub new_version: String,
}

/// A labelled schema version in a history.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    pub label: &'a str,
    pub schema: &'a Schema,
}

/// Why `reader` cannot read data written with `writer`; empty when it can.
///
/// This is Confluent's `reader.isBackwardCompatible(writer)`.
pub fn can_read(reader: &Schema, writer: &Schema, direction: Direction) -> Vec<Incompatibility> {
    match (reader, writer) {
        (Schema::Avro(r), Schema::Avro(w)) => avro::check(r, w, direction),
        (Schema::Protobuf(r), Schema::Protobuf(w)) => protobuf::check(w, r, direction),
        _ => vec![Incompatibility {
            rule: Rule::SchemaTypeChanged,
            path: String::new(),
            message: format!(
                "Incompatible because of different schema type: the {} schema is {} and the {} \
                 schema is {}; keep the subject's format, or publish the new format under a new \
                 subject",
                direction.reader(),
                reader.format(),
                direction.writer(),
                writer.format()
            ),
            location: None,
        }],
    }
}

/// Checks `candidate` against `history` (oldest first) at `level`, as the registry does when the
/// candidate is registered after the history.
///
/// Non-transitive levels compare with the latest version only; transitive levels walk the history
/// from newest to oldest and stop at the first version with findings. Earlier versions are never
/// compared with each other.
pub fn check(level: Level, history: &[Version<'_>], candidate: Version<'_>) -> Vec<Finding> {
    if level == Level::None || history.is_empty() {
        return Vec::new();
    }
    let newest_first = history.iter().rev();
    let compared: Vec<&Version<'_>> = if level.is_transitive() {
        newest_first.collect()
    } else {
        newest_first.take(1).collect()
    };
    for old in compared {
        let mut findings = Vec::new();
        let mut push = |direction, found: Vec<Incompatibility>| {
            findings.extend(found.into_iter().map(|i| Finding {
                rule: i.rule,
                level,
                direction,
                path: i.path,
                location: i.location,
                message: i.message,
                old_version: old.label.to_string(),
                new_version: candidate.label.to_string(),
            }));
        };
        if level.checks_backward() {
            let d = Direction::Backward;
            push(d, can_read(candidate.schema, old.schema, d));
        }
        if level.checks_forward() {
            let d = Direction::Forward;
            push(d, can_read(old.schema, candidate.schema, d));
        }
        if !findings.is_empty() {
            return findings;
        }
    }
    Vec::new()
}

/// Checks a whole history as if each version had been registered in turn: version N against
/// versions 1..N. Returns the findings of every version that would have been rejected.
pub fn check_history(level: Level, versions: &[Version<'_>]) -> Vec<Finding> {
    (1..versions.len())
        .flat_map(|n| check(level, &versions[..n], versions[n]))
        .collect()
}
