//! `/metrics` pages read by a real Prometheus text-format parser: the one in the Prometheus
//! project's Python client (PyPI `prometheus-client`, installed into `.oracles/venv` by
//! `.ci/install-oracles`; `$PROMETHEUS_PYTHON` names another Python that has it).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{Error, Result, io};

/// One metric family of a page: for a counter `name` is without `_total`, as the parser
/// reports it, and its samples carry the exposed name.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary` or `unknown`.
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

/// One sample line, its label values unescaped by the parser.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed page.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsPage {
    pub families: Vec<MetricFamily>,
}

impl MetricsPage {
    /// The family with samples named `sample_name` (`foo_total`, `foo_bucket` or `foo`).
    pub fn family_of(&self, sample_name: &str) -> Option<&MetricFamily> {
        self.families
            .iter()
            .find(|f| f.samples.iter().any(|s| s.name == sample_name))
    }

    /// The samples named `name` whose labels include all of `labels`.
    pub fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(move |s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
    }
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMETHEUS_PYTHON") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.oracles/venv/bin/python")
}

/// Parses `text` with `prometheus_client.parser.text_string_to_metric_families`; a text the
/// parser refuses is an [`Error::Metrics`] with the parser's message.
pub fn parse_prometheus_text(text: &str) -> Result<MetricsPage> {
    let python = python();
    if !python.exists() {
        return Err(Error::Metrics(format!(
            "{} is missing: run .ci/install-oracles to install PyPI prometheus-client",
            python.display()
        )));
    }
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(include_str!("parse_metrics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("running {}", python.display())))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(text.as_bytes())
        .map_err(io("writing the page to the parser"))?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(io("reading the parser's answer"))?;
    if !out.status.success() {
        return Err(Error::Metrics(format!(
            "the Prometheus parser refused the page:\n{}\n--- page ---\n{text}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Metrics(format!("the parser's JSON: {e}")))?;
    let str_of = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    let families = json
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| MetricFamily {
            name: str_of(f, "name"),
            kind: str_of(f, "type"),
            help: str_of(f, "help"),
            samples: f["samples"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| Sample {
                    name: str_of(s, "name"),
                    labels: s["labels"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect(),
                    value: str_of(s, "value").parse().unwrap_or(f64::NAN),
                })
                .collect(),
        })
        .collect();
    Ok(MetricsPage { families })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_label_values_come_back_as_written_and_bad_text_is_refused() {
        let page = parse_prometheus_text(concat!(
            "# HELP a_total A.\n# TYPE a_total counter\n",
            "a_total{l=\"q\\\"b\\\\n\\n\"} 2\n",
        ))
        .unwrap();
        let family = page.family_of("a_total").unwrap();
        assert_eq!(
            (family.name.as_str(), family.kind.as_str()),
            ("a", "counter")
        );
        let sample = page.samples("a_total", &[("l", "q\"b\\n\n")]).next();
        assert_eq!(sample.map(|s| s.value), Some(2.0));
        assert!(parse_prometheus_text("a{l=\"unterminated} 1\n").is_err());
    }
}
