//! What `register`, `check --registry` and `prepare` share: how to reach the registry, and the
//! local side of the comparison (each subject of the manifest with its versions, their schema
//! text and Protobuf imports, ready to send).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use contracts_model::Format;
use contracts_registry_client::api::{RegisterSchemaRequest, SchemaReference, SchemaType};
use contracts_registry_client::client::Client;

// The local side is shared with `contracts-build`'s gate, which reads the same snapshot.
pub use contracts_compat::manifest::{Local, LocalSubject, load_local as load};
pub use contracts_model::snapshot::ImportFile;

/// The registry's URL when neither `--registry` nor SCHEMA_REGISTRY_URL gives one.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:8081";

/// Names the CLI read before it shared the services' SCHEMA_REGISTRY_* names; still read, with
/// a warning, when the new name is not set: (deprecated, current).
pub const DEPRECATED_REGISTRY_ENV: [(&str, &str); 6] = [
    ("CONTRACTS_REGISTRY_URL", "SCHEMA_REGISTRY_URL"),
    ("CONTRACTS_REGISTRY_CA", "SCHEMA_REGISTRY_CA"),
    ("CONTRACTS_REGISTRY_CERT", "SCHEMA_REGISTRY_CERT"),
    ("CONTRACTS_REGISTRY_KEY", "SCHEMA_REGISTRY_KEY"),
    ("CONTRACTS_REGISTRY_AUTH", "SCHEMA_REGISTRY_AUTH"),
    ("CONTRACTS_REGISTRY_TOKEN", "SCHEMA_REGISTRY_TOKEN"),
];

/// The value of `deprecated` when `current` is not set (then with a warning on stderr).
fn deprecated_env(current: &str) -> Option<String> {
    let (old, _) = DEPRECATED_REGISTRY_ENV
        .iter()
        .find(|(_, new)| *new == current)?;
    let value = std::env::var(old).ok().filter(|v| !v.is_empty())?;
    warn_once(old, &format!("{old} is deprecated; set {current} instead"));
    Some(value)
}

/// Prints `warning: {message}` on stderr the first time `key` asks.
fn warn_once(key: &'static str, message: &str) {
    static WARNED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if !warned.contains(&key) {
        warned.push(key);
        eprintln!("warning: {message}");
    }
}

/// Where the registry is, for commands that always talk to one.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// The schema registry's base URL (Confluent's REST API; credentials may be given as
    /// http://user:password@host:port) [default: http://127.0.0.1:8081]
    #[arg(long = "registry", env = "SCHEMA_REGISTRY_URL", value_name = "URL")]
    url: Option<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl RegistryArgs {
    /// `--registry`, else SCHEMA_REGISTRY_URL, else the deprecated CONTRACTS_REGISTRY_URL,
    /// else [`DEFAULT_REGISTRY_URL`].
    pub fn url(&self) -> String {
        registry_url(self.url.as_deref()).unwrap_or_else(|| DEFAULT_REGISTRY_URL.to_owned())
    }

    /// A client for the registry, with the TLS files and the environment's credentials.
    pub fn client(&self) -> anyhow::Result<Client> {
        client(&self.url(), &self.auth)
    }
}

/// The registry URL of a flag (or SCHEMA_REGISTRY_URL, which clap read into it), else of the
/// deprecated CONTRACTS_REGISTRY_URL.
pub fn registry_url(given: Option<&str>) -> Option<String> {
    given
        .map(str::to_owned)
        .or_else(|| deprecated_env("SCHEMA_REGISTRY_URL"))
}

/// How to trust and log in to the registry. Files are given as flags; secrets only come from
/// the environment or from files (never the command line, where other users could read them):
/// `SCHEMA_REGISTRY_AUTH=USER:PASSWORD` or `SCHEMA_REGISTRY_AUTH_FILE=path`, or
/// `SCHEMA_REGISTRY_TOKEN=TOKEN` or `SCHEMA_REGISTRY_TOKEN_FILE=path`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// PEM CA certificates to trust for the registry's HTTPS certificate (a private CA), besides
    /// the public ones. Credentials come from SCHEMA_REGISTRY_AUTH (USER:PASSWORD) or
    /// SCHEMA_REGISTRY_TOKEN (a bearer token), or the files their _FILE variants name
    #[arg(long = "registry-ca", env = "SCHEMA_REGISTRY_CA", value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
    /// PEM client certificate for registries that require one (mTLS; with --registry-key)
    #[arg(
        long = "registry-cert",
        env = "SCHEMA_REGISTRY_CERT",
        value_name = "FILE"
    )]
    pub registry_cert: Option<PathBuf>,
    /// PEM private key of --registry-cert
    #[arg(
        long = "registry-key",
        env = "SCHEMA_REGISTRY_KEY",
        value_name = "FILE"
    )]
    pub registry_key: Option<PathBuf>,
}

/// Whether any of `vars` (or its `_FILE` variant) is set.
fn any_set(vars: &[&str]) -> bool {
    vars.iter().any(|v| {
        [v.to_string(), format!("{v}_FILE")]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|x| !x.is_empty()))
    })
}

/// A client for `url`, with the TLS files of `auth` and the credentials of the environment.
pub fn client(url: &str, auth: &AuthArgs) -> anyhow::Result<Client> {
    let (basic, token) = if !any_set(&["SCHEMA_REGISTRY_AUTH", "SCHEMA_REGISTRY_TOKEN"])
        && any_set(&["CONTRACTS_REGISTRY_AUTH", "CONTRACTS_REGISTRY_TOKEN"])
    {
        warn_once(
            "CONTRACTS_REGISTRY_AUTH",
            "CONTRACTS_REGISTRY_AUTH and CONTRACTS_REGISTRY_TOKEN are deprecated; set \
             SCHEMA_REGISTRY_AUTH or SCHEMA_REGISTRY_TOKEN (or their _FILE variants) instead",
        );
        ("CONTRACTS_REGISTRY_AUTH", "CONTRACTS_REGISTRY_TOKEN")
    } else {
        ("SCHEMA_REGISTRY_AUTH", "SCHEMA_REGISTRY_TOKEN")
    };
    let mut builder = Client::builder(url).credentials_from_env(basic, token)?;
    let file = |given: &Option<PathBuf>, current: &str| {
        given
            .clone()
            .or_else(|| deprecated_env(current).map(PathBuf::from))
    };
    if let Some(ca) = file(&auth.registry_ca, "SCHEMA_REGISTRY_CA") {
        builder = builder.ca_file(ca);
    }
    match (
        file(&auth.registry_cert, "SCHEMA_REGISTRY_CERT"),
        file(&auth.registry_key, "SCHEMA_REGISTRY_KEY"),
    ) {
        (Some(cert), Some(key)) => builder = builder.client_cert_files(cert, key),
        (None, None) => {}
        (Some(_), None) => anyhow::bail!(
            "--registry-cert (SCHEMA_REGISTRY_CERT) needs --registry-key (SCHEMA_REGISTRY_KEY)"
        ),
        (None, Some(_)) => anyhow::bail!(
            "--registry-key (SCHEMA_REGISTRY_KEY) needs --registry-cert (SCHEMA_REGISTRY_CERT)"
        ),
    }
    Ok(builder.build()?)
}

/// Runs one async command on a small runtime: the CLI is otherwise synchronous.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// The schema type to register a format as.
pub fn schema_type(format: Format) -> SchemaType {
    match format {
        Format::Avro => SchemaType::Avro,
        Format::Protobuf => SchemaType::Protobuf,
    }
}

/// The registration body of a version or import, given the registered versions of its imports.
pub fn request(
    text: &str,
    format: Format,
    imports: &[String],
    version_of: impl Fn(&str) -> Option<i32>,
) -> Option<RegisterSchemaRequest> {
    let references = imports
        .iter()
        .map(|name| {
            Some(SchemaReference {
                name: name.clone(),
                // Confluent's default reference subject strategy: the import path.
                subject: name.clone(),
                version: version_of(name)?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(RegisterSchemaRequest {
        schema: text.to_string(),
        schema_type: Some(schema_type(format)),
        references,
        ..Default::default()
    })
}

/// Imports in an order where each comes after the imports it needs.
pub fn dependency_order(imports: &BTreeMap<String, ImportFile>) -> Vec<&ImportFile> {
    fn visit<'a>(
        name: &str,
        imports: &'a BTreeMap<String, ImportFile>,
        seen: &mut std::collections::BTreeSet<String>,
        out: &mut Vec<&'a ImportFile>,
    ) {
        if !seen.insert(name.to_string()) {
            return;
        }
        if let Some(file) = imports.get(name) {
            for dep in &file.imports {
                visit(dep, imports, seen, out);
            }
            out.push(file);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for name in imports.keys() {
        visit(name, imports, &mut seen, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(name: &str, imports: &[&str]) -> (String, ImportFile) {
        (
            name.to_string(),
            ImportFile {
                name: name.to_string(),
                text: String::new(),
                imports: imports.iter().map(|s| s.to_string()).collect(),
            },
        )
    }

    #[test]
    fn imports_come_after_what_they_import() {
        let imports: BTreeMap<_, _> = [
            import("a/line_item.proto", &["z/money.proto"]),
            import("z/money.proto", &[]),
        ]
        .into_iter()
        .collect();
        let order: Vec<&str> = dependency_order(&imports)
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(order, ["z/money.proto", "a/line_item.proto"]);
    }

    #[test]
    fn references_name_the_import_path_as_subject() {
        let r = request(
            "syntax = \"proto3\";",
            Format::Protobuf,
            &["a/b.proto".into()],
            |_| Some(3),
        )
        .unwrap();
        assert_eq!(
            r.references,
            vec![SchemaReference {
                name: "a/b.proto".into(),
                subject: "a/b.proto".into(),
                version: 3
            }]
        );
        assert!(request("x", Format::Protobuf, &["a/b.proto".into()], |_| None).is_none());
    }
}
