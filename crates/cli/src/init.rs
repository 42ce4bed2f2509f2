//! `contracts init`: a new crate (or repository) with event contracts, laid out as the shop is:
//! `schemas/contracts.toml` with one event and its first schema, `build.rs` generating the typed
//! event with `contracts-build`, `src/lib.rs` including it, the Cargo dependency lines, the CI
//! workflow and a README section.
//!
//! It never overwrites a file. In a directory that already holds a crate, the files a crate
//! already has (`Cargo.toml`, `src/lib.rs`, `README.md`, `.gitignore`) are left alone and what
//! to add to them is printed instead; any other file that exists stops it before it writes
//! anything.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

/// The CI workflow users copy: the repository's own template, so there is one.
const CI_WORKFLOW: &str = include_str!("../../../.github/workflows/contracts.yml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaFormat {
    /// An Avro record (`.avsc`)
    Avro,
    /// A Protobuf message (`.proto`), its package carrying the major version (`<namespace>.v1`)
    Protobuf,
}

#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("source").required(true).args(["contracts_path", "contracts_git"])),
    after_help = "\
Example:
  contracts init orders-events --contracts-git https://github.com/you/event-contracts \\
      --event acme.orders.OrderPlaced --topic orders --key order_id
  cd orders-events && cargo build && contracts check

The crates are not on crates.io: the dependency lines point at an event-contracts checkout
(--contracts-path) or its git repository (--contracts-git, pinned with --contracts-rev).
Exit codes: 0 written, 1 a file exists already or a usage error (nothing is written)."
)]
pub struct Args {
    /// The directory to scaffold in; created when missing. A directory with a Cargo.toml gets
    /// the contract files, and what to add to its Cargo.toml, src/lib.rs and README is printed
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The package name in Cargo.toml (default: the directory's name)
    #[arg(long)]
    name: Option<String>,
    /// The event's fully-qualified name: Avro namespace and record name (for Protobuf the
    /// package is this namespace plus `.v1`)
    #[arg(long, default_value = "example.events.Greeting")]
    event: String,
    /// The Kafka topic the event travels on (lowercase letters, digits, `-`, `_`, `.`)
    #[arg(long, default_value = "greetings")]
    topic: String,
    /// The field the Kafka key is taken from (a string field of the first schema)
    #[arg(long, default_value = "id")]
    key: String,
    /// The schema language of the event
    #[arg(long, value_enum, default_value_t = SchemaFormat::Avro)]
    format: SchemaFormat,
    /// A checkout of event-contracts: the dependencies become `path = "<DIR>/crates/..."`
    #[arg(long, value_name = "DIR")]
    contracts_path: Option<PathBuf>,
    /// The git URL of event-contracts: the dependencies become `git = "<URL>"`
    #[arg(long, value_name = "URL")]
    contracts_git: Option<String>,
    /// A tag, branch or commit of --contracts-git to pin (default: its default branch)
    #[arg(long, value_name = "REV", requires = "contracts_git")]
    contracts_rev: Option<String>,
}

/// Where the crates come from, as a Cargo dependency's source keys.
enum Source {
    Path(PathBuf),
    Git { url: String, rev: Option<String> },
}

impl Source {
    fn dependency(&self, crate_dir: &str) -> String {
        match self {
            Source::Path(root) => format!(
                "{{ path = {} }}",
                toml_string(&root.join("crates").join(crate_dir).display().to_string())
            ),
            Source::Git { url, rev: None } => format!("{{ git = {} }}", toml_string(url)),
            Source::Git {
                url,
                rev: Some(rev),
            } => {
                format!(
                    "{{ git = {}, rev = {} }}",
                    toml_string(url),
                    toml_string(rev)
                )
            }
        }
    }
}

/// Everything the files are made from.
struct Plan {
    package: String,
    format: SchemaFormat,
    /// `example.events` and `Greeting`.
    namespace: String,
    record: String,
    topic: String,
    key: String,
    source: Source,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = plan(&args)?;
    let dir = &args.dir;
    let files = plan.files();
    let crate_files = ["Cargo.toml", "src/lib.rs", "README.md", ".gitignore"];
    let existing: Vec<&str> = files
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| dir.join(name).exists() && !crate_files.contains(name))
        .collect();
    if !existing.is_empty() {
        for name in &existing {
            eprintln!("exists: {}", dir.join(name).display());
        }
        eprintln!(
            "error: contracts init never overwrites a file, and nothing was written; move these \
             away or scaffold into another directory"
        );
        return Ok(ExitCode::from(1));
    }
    let mut skipped = Vec::new();
    for (name, text) in &files {
        let path = dir.join(name);
        if path.exists() {
            skipped.push(name.as_str());
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("  created {}", path.display());
    }
    for name in &skipped {
        println!(
            "\n{} exists and was left alone; add this to it:\n",
            dir.join(name).display()
        );
        println!("{}", plan.addition(name));
    }
    println!("\n{}", plan.next_steps(dir));
    Ok(ExitCode::SUCCESS)
}

fn plan(args: &Args) -> anyhow::Result<Plan> {
    let Some((namespace, record)) = args.event.rsplit_once('.') else {
        bail!(
            "--event \"{}\" needs a namespace: give the fully-qualified name, such as \
             acme.orders.OrderPlaced",
            args.event
        );
    };
    for part in args.event.split('.') {
        if !is_identifier(part) {
            bail!(
                "--event \"{}\": \"{part}\" is not a name; each dot-separated part starts with a \
                 letter or _ and holds letters, digits and _",
                args.event
            );
        }
    }
    if !is_identifier(&args.key) {
        bail!(
            "--key \"{}\" is not a field name (letters, digits and _)",
            args.key
        );
    }
    let topic_ok = !args.topic.is_empty()
        && args.topic.len() <= 249
        && args
            .topic
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && args.topic.starts_with(|c: char| c.is_ascii_lowercase());
    if !topic_ok {
        bail!(
            "--topic \"{}\": start with a lowercase letter and use lowercase letters, digits, \
             `-`, `_` and `.` (it also names the generated module)",
            args.topic
        );
    }
    let package = match &args.name {
        Some(name) => name.clone(),
        None => {
            let dir = std::path::absolute(&args.dir).unwrap_or_else(|_| args.dir.clone());
            dir.file_name()
                .map(|n| n.to_string_lossy().to_lowercase().replace([' ', '.'], "-"))
                .unwrap_or_default()
        }
    };
    let package_ok = package.starts_with(|c: char| c.is_ascii_alphabetic())
        && package
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !package_ok {
        bail!(
            "\"{package}\" is not a Cargo package name (letters, digits, - and _, starting with a \
             letter); pass --name"
        );
    }
    let source = match (&args.contracts_path, &args.contracts_git) {
        (Some(path), _) => {
            let root = std::fs::canonicalize(path)
                .with_context(|| format!("--contracts-path {}", path.display()))?;
            for krate in ["core", "build"] {
                if !root.join("crates").join(krate).join("Cargo.toml").is_file() {
                    bail!(
                        "--contracts-path {} is not an event-contracts checkout: it has no \
                         crates/{krate}/Cargo.toml",
                        path.display()
                    );
                }
            }
            Source::Path(root)
        }
        (None, Some(url)) => Source::Git {
            url: url.clone(),
            rev: args.contracts_rev.clone(),
        },
        (None, None) => bail!("pass --contracts-path DIR or --contracts-git URL"),
    };
    Ok(Plan {
        package,
        format: args.format,
        namespace: namespace.to_string(),
        record: record.to_string(),
        topic: args.topic.clone(),
        key: args.key.clone(),
        source,
    })
}

fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn toml_string(s: &str) -> String {
    // A TOML basic string is a JSON string for everything a path or URL holds.
    serde_json::Value::String(s.to_string()).to_string()
}

/// `OrderPlaced` → `order_placed`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Plan {
    /// The generated module of the topic: `order-events` → `order_events`.
    fn module(&self) -> String {
        self.topic.replace(['-', '.'], "_")
    }

    /// The manifest's name of the first version (Protobuf: in the versioned package).
    fn full_name(&self) -> String {
        match self.format {
            SchemaFormat::Avro => format!("{}.{}", self.namespace, self.record),
            SchemaFormat::Protobuf => format!("{}.v1.{}", self.namespace, self.record),
        }
    }

    /// The first schema file, relative to schemas/.
    fn schema_file(&self) -> String {
        let dirs = self.namespace.replace('.', "/");
        match self.format {
            SchemaFormat::Avro => format!("{dirs}/{}/v1.avsc", snake(&self.record)),
            SchemaFormat::Protobuf => format!("{dirs}/v1/{}.proto", snake(&self.record)),
        }
    }

    fn files(&self) -> Vec<(String, String)> {
        vec![
            ("Cargo.toml".into(), self.cargo_toml()),
            ("build.rs".into(), BUILD_RS.into()),
            ("src/lib.rs".into(), self.lib_rs()),
            ("schemas/contracts.toml".into(), self.manifest()),
            (format!("schemas/{}", self.schema_file()), self.schema()),
            (
                ".github/workflows/contracts.yml".into(),
                CI_WORKFLOW.to_string(),
            ),
            (
                "README.md".into(),
                format!("# {}\n\n{}", self.package, self.readme()),
            ),
            (".gitignore".into(), "/target\n".into()),
        ]
    }

    fn dependencies(&self) -> String {
        let mut deps = format!(
            "[dependencies]\ncontracts-core = {}\n",
            self.source.dependency("core")
        );
        if self.format == SchemaFormat::Protobuf {
            // prost generates the Protobuf messages; its types are in the generated code.
            deps.push_str("prost = \"0.14\"\nprost-types = \"0.14\"\n");
        }
        let _ = write!(
            deps,
            "\n[build-dependencies]\ncontracts-build = {}\n",
            self.source.dependency("build")
        );
        deps
    }

    fn cargo_toml(&self) -> String {
        format!(
            "[package]\nname = \"{}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             # contracts-build (in build.rs) generates the typed events from schemas/ and fails the\n\
             # build on an incompatible schema change; the generated code needs contracts-core.\n{}",
            self.package,
            self.dependencies()
        )
    }

    fn lib_rs(&self) -> String {
        let (module, record, key) = (self.module(), &self.record, &self.key);
        format!(
            "//! Event contracts, generated from schemas/ at build time by contracts-build (see build.rs).\n\
             //!\n\
             //! Every version of every event is a type in a module named after its topic and version:\n\
             //! `{module}::v1::{record}`. It implements `contracts_core::Event` (its topic, key, embedded\n\
             //! schema, encoder and decoders), which contracts-runtime's typed producers and consumers use.\n\
             \n\
             include!(concat!(env!(\"OUT_DIR\"), \"/events.rs\"));\n\
             \n\
             #[cfg(test)]\n\
             mod tests {{\n\
             \x20   use contracts_core::Event;\n\
             \n\
             \x20   use super::{module}::v1::{record};\n\
             \n\
             \x20   #[test]\n\
             \x20   fn an_event_reads_back_what_it_wrote() {{\n\
             \x20       let event = {record} {{\n\
             \x20           {key}: \"42\".to_string(),\n\
             \x20           message: \"hello\".to_string(),\n\
             \x20       }};\n\
             \x20       let mut payload = Vec::new();\n\
             \x20       event.encode(&mut payload);\n\
             \x20       assert_eq!({record}::decode(&payload).unwrap(), event);\n\
             \x20       assert_eq!(event.key(), \"42\");\n\
             \x20   }}\n\
             }}\n"
        )
    }

    fn manifest(&self) -> String {
        let format = match self.format {
            SchemaFormat::Avro => "avro",
            SchemaFormat::Protobuf => "protobuf",
        };
        format!(
            "# The event contracts of {package}: every event it exchanges over Kafka.\n\
             #\n\
             # For each event: its fully-qualified name (Avro namespace.name, Protobuf package.Message),\n\
             # its format, its topic, the field the Kafka key is taken from, the compatibility level\n\
             # every new version must pass, and every version, oldest first. Each file is a complete\n\
             # schema; a released file is never edited: a change is a new version (v2, v3, ...).\n\
             # Paths are relative to this directory. `contracts check` checks it; `cargo build`\n\
             # generates the types and fails on an incompatible change.\n\
             \n\
             [defaults]\n\
             # BACKWARD: each new version reads data written with the previous one (upgrade\n\
             # consumers first). `contracts check --help` lists the other levels.\n\
             compatibility = \"BACKWARD\"\n\
             \n\
             [services.{service}]\n\
             description = \"Publishes {record} events.\"\n\
             \n\
             [topics.{topic}]\n\
             description = \"{record} events, keyed by {key}.\"\n\
             partitions = 1\n\
             key = \"{key}\"\n\
             \n\
             [[events]]\n\
             name = \"{name}\"\n\
             description = \"TODO: what happened, in one sentence.\"\n\
             format = \"{format}\"\n\
             topic = \"{topic}\"\n\
             producers = [\"{service}\"]\n\
             versions = [\n\
             \x20   {{ version = 1, file = \"{file}\" }},\n\
             ]\n",
            package = self.package,
            service = self.package.replace('-', "_"),
            record = self.record,
            topic = self.topic,
            key = self.key,
            name = self.full_name(),
            file = self.schema_file(),
        )
    }

    fn schema(&self) -> String {
        let (record, key) = (&self.record, &self.key);
        match self.format {
            SchemaFormat::Avro => format!(
                "{{\n  \"type\": \"record\",\n  \"name\": \"{record}\",\n  \"namespace\": \"{}\",\n  \
                 \"doc\": \"TODO: what happened, in one sentence.\",\n  \"fields\": [\n    \
                 {{\"name\": \"{key}\", \"type\": \"string\", \"doc\": \"Identifies the event's subject; also the Kafka key.\"}},\n    \
                 {{\"name\": \"message\", \"type\": \"string\", \"doc\": \"TODO: replace with the event's own fields.\"}}\n  \
                 ]\n}}\n",
                self.namespace
            ),
            SchemaFormat::Protobuf => format!(
                "syntax = \"proto3\";\n\npackage {}.v1;\n\n\
                 // TODO: what happened, in one sentence.\n\
                 message {record} {{\n  \
                 // Identifies the event's subject; also the Kafka key.\n  \
                 string {key} = 1;\n  \
                 // TODO: replace with the event's own fields.\n  \
                 string message = 2;\n}}\n",
                self.namespace
            ),
        }
    }

    fn readme(&self) -> String {
        let (module, record) = (self.module(), &self.record);
        let file = self.schema_file();
        format!(
            "## Event contracts\n\
             \n\
             The events this crate exchanges over Kafka are defined in `schemas/`: the manifest\n\
             `schemas/contracts.toml` lists each event, its topic, key, compatibility level and\n\
             versions; each version is one schema file (`schemas/{file}`).\n\
             `cargo build` generates a Rust type per version (`{module}::v1::{record}`, see\n\
             `src/lib.rs`) and fails when a schema change breaks the event's compatibility level.\n\
             \n\
             To change an event, never edit a released file: copy the newest version to the next\n\
             (`v2`), change the copy, add it to the event's `versions` in the manifest, and run\n\
             \n\
             ```sh\n\
             contracts check                      # every event's history at its level\n\
             contracts check --against origin/main  # and nothing released was edited or removed\n\
             ```\n\
             \n\
             Both exit 0 when the change is compatible, 100 with findings (file, line, rule, fix),\n\
             1 on errors. `.github/workflows/contracts.yml` runs the check on every pull request; set\n\
             the repository variable `CONTRACTS_GIT` to the git URL of event-contracts (and\n\
             `CONTRACTS_REV` to pin a tag or commit), and the secret `SCHEMA_REGISTRY_URL` to also\n\
             check against your schema registry.\n"
        )
    }

    /// What to add to a file that exists already.
    fn addition(&self, name: &str) -> String {
        match name {
            "Cargo.toml" => self.dependencies(),
            "src/lib.rs" => "include!(concat!(env!(\"OUT_DIR\"), \"/events.rs\"));\n".into(),
            "README.md" => self.readme(),
            _ => "/target\n".into(),
        }
    }

    fn next_steps(&self, dir: &Path) -> String {
        let cd = if dir == Path::new(".") {
            String::new()
        } else {
            format!("cd {} && ", dir.display())
        };
        let ci = match &self.source {
            Source::Git { url, .. } => format!(
                "In GitHub, set the repository variable CONTRACTS_GIT to {url} for the CI workflow."
            ),
            Source::Path(_) => "In GitHub, set the repository variable CONTRACTS_GIT to the git \
                                URL of event-contracts for the CI workflow."
                .to_string(),
        };
        format!(
            "Next: {cd}cargo build && contracts check\n\
             The event is {}::v1::{} in your code; edit schemas/{} (and the TODOs) before its first release.\n\
             {ci}",
            self.module(),
            self.record,
            self.schema_file()
        )
    }
}

const BUILD_RS: &str = "\
//! Generates the typed events from schemas/, and refuses to build when a schema change breaks
//! its event's compatibility level (`CONTRACTS_GATE=warn` builds anyway, for experiments).

fn main() {
    if let Err(error) = contracts_build::compile(\"schemas/contracts.toml\") {
        // contracts-build printed the diagnostics already; this ends the build with a short reason.
        let error = error.to_string();
        eprintln!(\"error: {}\", error.lines().next().unwrap_or_default());
        std::process::exit(1);
    }
}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_become_snake_case_files() {
        assert_eq!(snake("OrderPlaced"), "order_placed");
        assert_eq!(snake("Greeting"), "greeting");
    }

    #[test]
    fn dependency_lines_name_the_source() {
        let git = Source::Git {
            url: "https://example.com/ec.git".into(),
            rev: Some("v1".into()),
        };
        assert_eq!(
            git.dependency("core"),
            "{ git = \"https://example.com/ec.git\", rev = \"v1\" }"
        );
        let path = Source::Path(PathBuf::from("/src/ec"));
        assert_eq!(
            path.dependency("build"),
            "{ path = \"/src/ec/crates/build\" }"
        );
    }
}
