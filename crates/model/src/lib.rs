//! The schema model of Event Contracts.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate is the
//! model: the first step after the files. `contracts-compat`, `contracts-build`, the registry
//! server and the CLI read schemas through it; the runtime side never links it. Its Avro schemas
//! lower to the one schema graph in `contracts-core`, whose canonical form and fingerprints it
//! reports.
//!
//! Parses the contracts manifest and the Avro and Protobuf schemas it names into models that keep
//! where every element came from (`file:line:column`), so that compatibility findings and parse
//! errors can point at the text a user wrote. Nothing here decides compatibility; that is
//! `contracts-compat`.

pub mod avro;
pub mod diagnostic;
pub mod json;
pub mod level;
pub mod manifest;
pub mod protobuf;
pub mod snapshot;
pub mod text;

pub use diagnostic::Diagnostic;
pub use level::Level;
pub use text::{Location, SourceFile, Span};

/// The schema languages a contract can be written in: the runtime's own type, so that a
/// format read from a manifest is the one generated code and the registry client speak of.
pub use contracts_core::Format;

/// A parsed schema of either format.
#[derive(Debug, Clone)]
pub enum Schema {
    Avro(avro::AvroSchema),
    Protobuf(protobuf::ProtoSchema),
}

impl Schema {
    pub fn format(&self) -> Format {
        match self {
            Schema::Avro(_) => Format::Avro,
            Schema::Protobuf(_) => Format::Protobuf,
        }
    }
}

/// How a schema version is given on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaOnDisk {
    /// A schema file, or a directory of Protobuf files.
    pub path: std::path::PathBuf,
    /// In a directory: the subject's own file, relative to the directory.
    pub entry: Option<String>,
}

impl Schema {
    /// Loads a schema version. The format is inferred from the extension (of the entry file for
    /// a directory) unless given. `validation` applies to Avro; Protobuf has one mode.
    pub fn load(
        source: &SchemaOnDisk,
        format: Option<Format>,
        validation: avro::Validation,
    ) -> Result<Schema, Diagnostic> {
        let path = &source.path;
        let is_dir = path.is_dir();
        let format_path = match (&source.entry, is_dir) {
            (Some(entry), true) => path.join(entry),
            _ => path.clone(),
        };
        let format = format
            .or_else(|| Format::from_extension(&format_path))
            .ok_or_else(|| {
                Diagnostic::new(format!(
                    "cannot tell the schema format of \"{}\"",
                    format_path.display()
                ))
                .with_help("name files *.avsc (Avro) or *.proto (Protobuf), or pass --format")
            })?;
        let unreadable =
            |e: std::io::Error| Diagnostic::new(format!("cannot read \"{}\": {e}", path.display()));
        match format {
            Format::Avro => {
                let file = if is_dir {
                    let entry = source.entry.as_deref().ok_or_else(|| {
                        Diagnostic::new(format!(
                            "\"{}\" is a directory: name the schema file in it with --entry",
                            path.display()
                        ))
                    })?;
                    path.join(entry)
                } else {
                    path.clone()
                };
                let file = SourceFile::read(&file).map_err(unreadable)?;
                avro::AvroSchema::parse(file, validation).map(Schema::Avro)
            }
            Format::Protobuf => {
                if is_dir {
                    let entry = source.entry.as_deref().ok_or_else(|| {
                        Diagnostic::new(format!(
                            "\"{}\" is a directory of Protobuf files: name the subject's file with --entry",
                            path.display()
                        ))
                    })?;
                    protobuf::ProtoSchema::parse_dir(path, entry).map(Schema::Protobuf)
                } else {
                    protobuf::ProtoSchema::parse_file(path).map(Schema::Protobuf)
                }
            }
        }
    }
}
