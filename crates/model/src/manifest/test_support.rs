//! What the manifest tests share: a schemas directory and a manifest head to add events to.

use super::*;
use crate::Diagnostic;

/// A schemas directory holding the given (empty) schema files.
pub(super) fn schemas(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }
    dir
}

pub(super) const FILES: &[&str] = &["a/v1.avsc", "a/v2.avsc", "p/v1/a.proto", "p/v2/a.proto"];

pub(super) const HEAD: &str = r#"[services.order]
[services.shipping]

[topics.orders]
key = "order_id"
"#;

pub(super) fn parse(body: &str) -> Result<Manifest, Vec<Diagnostic>> {
    let dir = schemas(FILES);
    let text = format!("{HEAD}{body}");
    Manifest::parse("contracts.toml", &text, dir.path())
}

/// The one error a manifest produces, as `line: message`.
pub(super) fn error(body: &str) -> (usize, String, String) {
    let errors = parse(body).expect_err("the manifest should be rejected");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    let line = e.location().expect("errors carry a location").line;
    (
        line,
        e.message().to_string(),
        e.help().unwrap_or_default().to_string(),
    )
}

/// Line of the first occurrence of `needle` in `HEAD` + `body`.
pub(super) fn line_of(body: &str, needle: &str) -> usize {
    let text = format!("{HEAD}{body}");
    let at = text.find(needle).expect("needle in text");
    text[..at].matches('\n').count() + 1
}

pub(super) const EVENT: &str = r#"
[[events]]
name = "shop.orders.OrderCreated"
format = "avro"
topic = "orders"
producers = ["order"]
versions = [
    { version = 1, file = "a/v1.avsc" },
    { version = 2, file = "a/v2.avsc" },
]
"#;
