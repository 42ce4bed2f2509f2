//! Code generation for Event Contracts, driven from `build.rs` (the prost-build model).
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate turns
//! the model into the `events` crate at build time, after the compatibility gate
//! (`contracts-compat`) passes. What it generates links only `contracts-core`; this crate and its
//! parsers stay in `build.rs`.
//!
//! `contracts-build` reads the contracts manifest (`schemas/contracts.toml`), checks every
//! event's subject history at its compatibility level (the *gate*), and writes one Rust file
//! into `OUT_DIR` with a typed event per version, a type per topic, and stubs per service.
//!
//! ```no_run
//! // build.rs
//! if let Err(error) = contracts_build::compile("schemas/contracts.toml") {
//!     // The diagnostics were printed already; this line only ends the build.
//!     eprintln!("{error}");
//!     std::process::exit(1);
//! }
//! ```
//!
//! ```text
//! // src/lib.rs
//! include!(concat!(env!("OUT_DIR"), "/events.rs"));
//! ```
//!
//! # What is generated
//! - `<topic>::v<N>::<Event>`: one type per event version, in a module named after the topic
//!   (snake_case) and the manifest's version number: `orders::v2::OrderCreated`. Avro records
//!   become structs with their own codec; Protobuf messages are prost types, generated into
//!   `proto::<package>` (as prost-build nests packages) and re-exported into the versioned module
//!   with the messages and enums their fields use.
//! - Every event type implements [`contracts_core::Event`](https://docs.rs/contracts-core): its
//!   topic type, typed key, the embedded schema and its fingerprint, encoder and decoders.
//!   Protobuf fingerprints are the SHA-256 of the file's `FileDescriptorProto` serialized without
//!   source code info (what the registry's `serialized` format carries), so that a comment or
//!   whitespace edit does not change it; Avro fingerprints are the SHA-256 of the Parsing
//!   Canonical Form.
//! - `<topic>::Topic` and `<topic>::Message`, an enum with one variant per subject history on the
//!   topic (the event's name, with `V<first version>` appended when the event's versions form
//!   several subjects), each holding the newest version of that history.
//! - `services::<service>`: `Producer<P>` with one method per produced event (named after the
//!   event, `order_paid`; `_on_<topic>` is appended when two produced events share a name, as
//!   the Avro and Protobuf `OrderCreated` do), taking the newest version, a
//!   `<Topic>Handler` trait per consumed topic with one method per consumed variant, a
//!   `<Topic>Dispatcher<H>` that implements `contracts_core::Handle<<topic>::Message>`,
//!   `CONSUMER_GROUP`, and `SERVICE`, a `contracts_core::ServiceInfo` listing what the service
//!   produces and consumes for code that needs it at run time (the admin API).
//!
//! # The gate
//! Every subject history is checked with `contracts-compat` at its level, exactly as
//! `contracts check` does. A finding fails the build with a rustc-like diagnostic (file, line,
//! field path, rule, versions, fix, consuming services). [`Gate::Warn`], or the environment
//! variable `CONTRACTS_GATE=warn`, prints the same diagnostics as warnings and generates the code
//! anyway, for local experiments; `CONTRACTS_GATE=fail` forces failure.
//!
//! # Offline, against the registry's snapshot (the sqlx model)
//! Builds never talk to a registry. `contracts prepare --registry URL` writes what the registry
//! holds for our subjects into `.registry/` beside the manifest (`schemas/.registry/`, one JSON
//! file per subject, committed like sqlx's `.sqlx/`), and `contracts prepare --check` fails in CI
//! when it is stale. When that directory exists the gate checks against it, exactly as
//! `contracts check --offline-snapshot` does (the check is shared, in `contracts-compat`):
//! - a registered version whose local file was edited in place (its SHA-256 no longer matches
//!   the one recorded when the registry was asked, and no version of the subject has the
//!   registered text any more) fails the build: a registered schema never changes. A file moved
//!   unchanged, as a superseded Protobuf version moves into its own import root, keeps its
//!   registration;
//! - each local version the registry does not hold yet is checked, in order, against the
//!   registered history at the subject's level, as registering it would be.
//!
//! Without the directory, each history is checked as the manifest lists it.
//! [`Config::registry_snapshot`] names another directory. The snapshot directory and its files
//! rerun the build when they change.
//!
//! # Configuration
//! ```no_run
//! // build.rs
//! let mut config = contracts_build::Config::new();
//! config
//!     .type_attribute("shop.orders.OrderCreated", "#[must_use]")
//!     .field_attribute("shop.orders.OrderCreated.order_id", "#[doc(alias = \"id\")]")
//!     .events(["shop.orders.OrderCreated", "shop.orders.OrderPaid"])
//!     .registry_snapshot("schemas/.registry")
//!     .gate(contracts_build::Gate::Fail);
//! if let Err(error) = config.compile("schemas/contracts.toml") {
//!     eprintln!("{error}");
//!     std::process::exit(1);
//! }
//! ```

pub mod avro;
mod gate;
mod generate;
mod names;
mod protobuf;

use std::path::{Path, PathBuf};

use contracts_model::Diagnostic;

pub use gate::Gate;

/// The file written into the output directory.
pub const OUTPUT_FILE: &str = "events.rs";

/// The environment variable that overrides [`Config::gate`]: `warn` or `fail`.
pub const GATE_ENV: &str = "CONTRACTS_GATE";

/// Why code generation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manifest or a schema is invalid, or cannot be turned into Rust.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    /// The gate found incompatible changes; `report` holds the rendered diagnostics.
    #[error(
        "{count} incompatible schema change(s); fix them, or build anyway with {GATE_ENV}=warn:\n{report}"
    )]
    Incompatible { count: usize, report: String },
    /// The output directory is not known: not run from a build script, and none configured.
    #[error("OUT_DIR is not set: run from build.rs, or set Config::out_dir")]
    NoOutDir,
    /// Writing the output failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(Diagnostic::render)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Generates the events of `manifest` into `$OUT_DIR/events.rs` with the default [`Config`].
pub fn compile(manifest: impl AsRef<Path>) -> Result<()> {
    Config::new().compile(manifest)
}

/// Code generation settings, set with `&mut self` builder methods as in prost-build.
#[derive(Debug, Clone)]
pub struct Config {
    out_dir: Option<PathBuf>,
    type_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    events: Option<Vec<String>>,
    gate: Gate,
    registry_snapshot: Option<PathBuf>,
    emit_cargo: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of [`Config::generate`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Generated {
    /// The Rust source of every generated module.
    pub code: String,
    /// Every file the output depends on: the manifest, every schema file it reads, and the
    /// registry snapshot's directory and files when one is used.
    pub inputs: Vec<PathBuf>,
    /// Gate diagnostics that did not fail the build ([`Gate::Warn`]), rendered.
    pub warnings: Vec<String>,
}

impl Config {
    pub fn new() -> Self {
        Config {
            out_dir: None,
            type_attributes: Vec::new(),
            field_attributes: Vec::new(),
            events: None,
            gate: Gate::Fail,
            registry_snapshot: None,
            emit_cargo: true,
        }
    }

    /// Where `events.rs` is written; `OUT_DIR` by default.
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Adds an attribute to generated types. `path` is `.` for every type, or a type's
    /// fully-qualified schema name (`shop.orders.OrderCreated`; for Protobuf prost-build's
    /// matching rules apply, e.g. `.shop.orders.v1.OrderCreated`).
    pub fn type_attribute(
        &mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> &mut Self {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to generated fields: `path` is `<type's full name>.<field>` or `.`.
    pub fn field_attribute(
        &mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> &mut Self {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Generates only these events (full names from the manifest). Topics and services keep
    /// only what refers to them. Every event is still checked by the gate.
    pub fn events<I, S>(&mut self, names: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.events = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Whether an incompatible change fails the build ([`Gate::Fail`], the default) or only
    /// warns. The environment variable `CONTRACTS_GATE` (`warn` or `fail`) overrides it.
    pub fn gate(&mut self, gate: Gate) -> &mut Self {
        self.gate = gate;
        self
    }

    /// Checks against this registry snapshot: the directory `contracts prepare` writes
    /// (`.registry/` beside the manifest, which is used by default when it exists; see the crate
    /// docs). The build fails when a registered version's local file was edited in place, and
    /// when a local version the registry does not hold yet is incompatible with the registered
    /// history at the subject's level. The directory and its files rerun the build when they
    /// change.
    pub fn registry_snapshot(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.registry_snapshot = Some(dir.into());
        self
    }

    /// Whether to print `cargo:` instructions (rerun-if-changed, diagnostics). On by default;
    /// turn it off when calling the generator outside a build script.
    pub fn emit_cargo_instructions(&mut self, emit: bool) -> &mut Self {
        self.emit_cargo = emit;
        self
    }

    /// Checks and generates, then writes `events.rs` into the output directory (only when its
    /// content changed, so that nothing downstream rebuilds needlessly).
    pub fn compile(&self, manifest: impl AsRef<Path>) -> Result<()> {
        let manifest = manifest.as_ref();
        if self.emit_cargo {
            // Before anything can fail, so that fixing the manifest reruns the build.
            println!("cargo:rerun-if-changed={}", manifest.display());
            println!("cargo:rerun-if-env-changed={GATE_ENV}");
        }
        let generated = self.generate(manifest);
        let generated = match generated {
            Ok(g) => g,
            Err(e) => {
                if self.emit_cargo {
                    gate::print_error(&e);
                }
                return Err(e);
            }
        };
        if self.emit_cargo {
            for input in &generated.inputs {
                println!("cargo:rerun-if-changed={}", input.display());
            }
            for warning in &generated.warnings {
                gate::print_warning(warning);
            }
        }
        let dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutDir)?,
        };
        let path = dir.join(OUTPUT_FILE);
        let unchanged = std::fs::read_to_string(&path).is_ok_and(|old| old == generated.code);
        if !unchanged {
            std::fs::write(&path, &generated.code).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        }
        tracing::debug!(path = %path.display(), unchanged, "wrote generated events");
        Ok(())
    }

    /// Checks and generates without writing or printing anything.
    pub fn generate(&self, manifest: impl AsRef<Path>) -> Result<Generated> {
        let manifest =
            contracts_model::manifest::Manifest::load(manifest.as_ref()).map_err(Error::Invalid)?;
        let gate = Gate::from_env()?.unwrap_or(self.gate);
        // The sqlx model: the committed snapshot beside the manifest, when there is one.
        let snapshot = self.registry_snapshot.clone().or_else(|| {
            let dir = contracts_model::snapshot::Snapshot::dir_of(&manifest.path);
            dir.is_dir().then_some(dir)
        });
        let checked = gate::check(&manifest, gate, snapshot.as_deref())?;
        let code = generate::generate(&manifest, &checked.events, self)?;
        Ok(Generated {
            code,
            inputs: checked.inputs,
            warnings: checked.warnings,
        })
    }
}
