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

/// Where the registry is, for commands that always talk to one.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// The schema registry's base URL (Confluent's REST API; credentials may be given as
    /// http://user:password@host:port)
    #[arg(
        long = "registry",
        env = "CONTRACTS_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081",
        value_name = "URL"
    )]
    pub url: String,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// How to trust and log in to the registry. Files are given as flags; secrets only come from
/// the environment or from files (never the command line, where other users could read them):
/// `CONTRACTS_REGISTRY_AUTH=USER:PASSWORD` or `CONTRACTS_REGISTRY_AUTH_FILE=path`, or
/// `CONTRACTS_REGISTRY_TOKEN=TOKEN` or `CONTRACTS_REGISTRY_TOKEN_FILE=path`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// PEM CA certificates to trust for the registry's HTTPS certificate (a private CA), besides
    /// the public ones. Credentials come from CONTRACTS_REGISTRY_AUTH (USER:PASSWORD) or
    /// CONTRACTS_REGISTRY_TOKEN (a bearer token), or the files their _FILE variants name
    #[arg(
        long = "registry-ca",
        env = "CONTRACTS_REGISTRY_CA",
        value_name = "FILE"
    )]
    pub registry_ca: Option<PathBuf>,
    /// PEM client certificate for registries that require one (mTLS; with --registry-key)
    #[arg(
        long = "registry-cert",
        env = "CONTRACTS_REGISTRY_CERT",
        value_name = "FILE",
        requires = "registry_key"
    )]
    pub registry_cert: Option<PathBuf>,
    /// PEM private key of --registry-cert
    #[arg(
        long = "registry-key",
        env = "CONTRACTS_REGISTRY_KEY",
        value_name = "FILE",
        requires = "registry_cert"
    )]
    pub registry_key: Option<PathBuf>,
}

/// A client for `url`, with the TLS files of `auth` and the credentials of the environment.
pub fn client(url: &str, auth: &AuthArgs) -> anyhow::Result<Client> {
    let mut builder = Client::builder(url)
        .credentials_from_env("CONTRACTS_REGISTRY_AUTH", "CONTRACTS_REGISTRY_TOKEN")?;
    if let Some(ca) = &auth.registry_ca {
        builder = builder.ca_file(ca);
    }
    if let (Some(cert), Some(key)) = (&auth.registry_cert, &auth.registry_key) {
        builder = builder.client_cert_files(cert, key);
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
