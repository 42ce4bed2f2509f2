//! The data-driven compatibility cases in `compat-tests/`: every case's last version is checked
//! against the earlier ones at the case's level, and the findings must equal the expected ones
//! (rule, path, direction, version compared), in order. Where a case also states where a finding
//! points (`file`, `line`, `column`) or its `message`, those must match too.

use std::path::{Path, PathBuf};

use contracts_compat::{Level, Version, check};
use contracts_model::avro::Validation;
use contracts_model::{Schema, SchemaOnDisk};
use serde::Deserialize;

mod common;
use common::{case_dirs, corpus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    level: String,
    entry: Option<String>,
    #[serde(default)]
    expect: Vec<Expected>,
    /// Known divergences of reference checkers; the differential tests act on them.
    #[serde(default, rename = "oracles")]
    _oracles: toml::Table,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone)]
#[serde(deny_unknown_fields)]
struct Expected {
    rule: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    old_version: Option<String>,
    /// The file of the finding's location, inside the version folder; the case's `entry` when a
    /// `line` is given without it.
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    line: Option<usize>,
    #[serde(default)]
    column: Option<usize>,
    /// The finding's whole message.
    #[serde(default)]
    message: Option<String>,
}

/// The case's versions `v1`, `v2`, … (files or directories), oldest first.
fn versions(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(u32, String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next()?.to_string();
            let n: u32 = stem.strip_prefix('v')?.parse().ok()?;
            Some((n, stem, e.path()))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, label, path)| (label, path))
        .collect()
}

/// The findings of checking the case, in the shape of its expectations.
fn run(dir: &Path, case: &Case) -> Result<Vec<Expected>, String> {
    let level: Level = case.level.parse()?;
    let versions = versions(dir);
    let Some(((candidate_label, candidate_path), history)) = versions.split_last() else {
        return Err("no versions (v1.avsc, v2/, ...) in the case".into());
    };
    let load = |path: &PathBuf, validation| {
        let source = SchemaOnDisk {
            path: path.clone(),
            entry: case.entry.clone(),
        };
        Schema::load(&source, None, validation)
    };
    let mut schemas = Vec::new();
    for (label, path) in history {
        let schema =
            load(path, Validation::Lenient).map_err(|d| format!("{label} does not parse: {d}"))?;
        schemas.push((label.clone(), schema));
    }
    let candidate = match load(candidate_path, Validation::Strict) {
        Ok(schema) => schema,
        Err(_) => {
            return Ok(vec![Expected {
                rule: "INVALID_SCHEMA".into(),
                path: None,
                direction: None,
                old_version: None,
                file: None,
                line: None,
                column: None,
                message: None,
            }]);
        }
    };
    let history: Vec<Version<'_>> = schemas
        .iter()
        .map(|(label, schema)| Version { label, schema })
        .collect();
    // a location names the file inside its version folder
    let in_version = |file: &Path| {
        versions
            .iter()
            .find_map(|(_, v)| file.strip_prefix(v).ok())
            .unwrap_or(file)
            .display()
            .to_string()
    };
    let findings = check(
        level,
        &history,
        Version {
            label: candidate_label,
            schema: &candidate,
        },
    );
    Ok(findings
        .into_iter()
        .map(|f| Expected {
            rule: f.rule.id().to_string(),
            path: Some(f.path),
            direction: Some(f.direction.as_str().to_string()),
            old_version: Some(f.old_version),
            file: f.location.as_ref().map(|l| in_version(&l.file)),
            line: f.location.as_ref().map(|l| l.line),
            column: f.location.as_ref().map(|l| l.column),
            message: Some(f.message),
        })
        .collect())
}

/// An expectation that states nothing accepts anything.
fn same<T: PartialEq>(expected: &Option<T>, actual: &Option<T>) -> bool {
    expected.is_none() || expected == actual
}

/// Compares only what the expectation states (an INVALID_SCHEMA expectation has no path).
fn matches(case: &Case, actual: &[Expected]) -> bool {
    case.expect.len() == actual.len()
        && case.expect.iter().zip(actual).all(|(e, a)| {
            let file = e.file.clone().or_else(|| e.line.and(case.entry.clone()));
            e.rule == a.rule
                && same(&e.path, &a.path)
                && same(&e.direction, &a.direction)
                && same(&e.old_version, &a.old_version)
                && same(&file, &a.file)
                && same(&e.line, &a.line)
                && same(&e.column, &a.column)
                && same(&e.message, &a.message)
        })
}

/// A Protobuf finding always points into a file and says how to fix it.
fn unlocated(actual: &[Expected]) -> Vec<&Expected> {
    actual
        .iter()
        .filter(|a| a.path.as_deref().is_some_and(|p| p.starts_with("#/")))
        .filter(|a| a.line.is_none() || !a.message.as_deref().is_some_and(|m| m.ends_with('.')))
        .collect()
}

#[test]
fn every_compatibility_case_gives_the_expected_findings() {
    let dirs = case_dirs(&corpus());
    assert!(
        dirs.len() >= 150,
        "only {} cases found under compat-tests/",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir
            .strip_prefix(corpus())
            .unwrap_or(dir)
            .display()
            .to_string();
        let text = std::fs::read_to_string(dir.join("case.toml")).unwrap();
        let case: Case = match toml::from_str(&text) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: case.toml: {e}"));
                continue;
            }
        };
        match run(dir, &case) {
            Ok(actual) if !unlocated(&actual).is_empty() => failures.push(format!(
                "{name}: findings without a location or a finished message: {:?}",
                unlocated(&actual)
            )),
            Ok(actual) if matches(&case, &actual) => {}
            Ok(actual) => failures.push(format!(
                "{name}: {}\n    expected: {:?}\n    actual:   {:?}",
                case.description, case.expect, actual
            )),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
