//! docs/configuration.md against the shipped binaries: every flag and environment variable that
//! a binary's `--help` (and each `contracts` subcommand's) shows is in the page's table for it,
//! and the table names nothing the binary does not show.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use shop_e2e::bin_dir;

/// The shipped binaries.
const BINARIES: [&str; 5] = [
    "order-service",
    "inventory-service",
    "notification-service",
    "contracts-registry",
    "contracts",
];

/// What one `--help` page shows.
#[derive(Debug, Default)]
struct Page {
    flags: BTreeSet<String>,
    /// `[env: NAME]` of the flags.
    env: BTreeSet<String>,
    text: String,
}

fn help(binary: &str, path: &[String]) -> String {
    let out = Command::new(bin_dir().join(binary))
        .args(path)
        .arg("--help")
        // `[env: NAME=value]` shows the value when set; keep pages the same everywhere.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(out.status.success(), "{binary} {path:?} --help");
    String::from_utf8(out.stdout).unwrap()
}

fn page(text: String) -> Page {
    let mut page = Page::default();
    let mut options = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            options = line == "Options:";
            continue;
        }
        let trimmed = line.trim_start();
        if options && trimmed.starts_with('-') && line.len() - trimmed.len() <= 6 {
            let head = trimmed.split("  ").next().unwrap_or_default();
            for token in head.split([',', ' ']) {
                let name = token.split(['<', '=', '[']).next().unwrap_or_default();
                if name.starts_with('-') && name.len() > 1 {
                    page.flags.insert(name.to_owned());
                }
            }
        }
    }
    // Wrapped help may break a `[env: ...]` across lines.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for aliases in flat.split("[aliases: ").skip(1) {
        for alias in aliases.split(']').next().unwrap_or_default().split(", ") {
            page.flags.insert(alias.trim().to_owned());
        }
    }
    for part in flat.split("[env: ").skip(1) {
        let name = part.split(['=', ']']).next().unwrap_or_default();
        page.env.insert(name.to_owned());
    }
    for always in ["-h", "--help", "-V", "--version"] {
        page.flags.remove(always);
    }
    page.text = text;
    page
}

/// The subcommands a page lists (`help` aside).
fn subcommands(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with("  ") {
                break;
            }
            if line.starts_with("   ") {
                continue; // a wrapped description
            }
            if let Some(name) = line.split_whitespace().next()
                && name != "help"
            {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Every help page of `binary`, by its command line (`contracts registry serve`).
/// A subcommand's page leaves out the flags its parent's page shows (global flags such as
/// `contracts admin --addr`): they are documented once, with the parent.
fn pages(binary: &str) -> BTreeMap<String, Page> {
    let mut all: BTreeMap<String, Page> = BTreeMap::new();
    // Each page's own flags and variables, before its parent's are left out.
    let mut full: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    let title = |path: &[String]| {
        std::iter::once(binary.to_owned())
            .chain(path.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let text = help(binary, &path);
        for sub in subcommands(&text) {
            let mut next = path.clone();
            next.push(sub);
            todo.push(next);
        }
        let mut this = page(text);
        full.insert(title(&path), (this.flags.clone(), this.env.clone()));
        if let Some((_, parent_path)) = path.split_last()
            && let Some((flags, env)) = full.get(&title(parent_path))
        {
            this.flags = this.flags.difference(flags).cloned().collect();
            this.env = this.env.difference(env).cloned().collect();
        }
        all.insert(title(&path), this);
    }
    all
}

/// What the page documents for one command line.
#[derive(Debug, Default)]
struct Table {
    flags: BTreeSet<String>,
    /// Variables of rows with a flag.
    env: BTreeSet<String>,
    /// Variables read without a flag (secrets, lists).
    env_only: BTreeSet<String>,
}

/// The tables of docs/configuration.md under headings such as "## `order-service`".
fn tables(doc: &str) -> BTreeMap<String, Table> {
    let mut all: BTreeMap<String, Table> = BTreeMap::new();
    let mut current: Option<String> = None;
    let code = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    for line in doc.lines() {
        if line.starts_with('#') {
            current = line
                .split('`')
                .nth(1)
                .filter(|_| line.trim_end().ends_with('`'))
                .map(str::to_owned);
            continue;
        }
        let Some(title) = &current else { continue };
        if !line.starts_with("| ") || line.starts_with("| Flag") {
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() < 3 {
            continue;
        }
        let flags = code(cells[0].trim_start_matches("| "));
        let env = code(cells[1]);
        let table = all.entry(title.clone()).or_default();
        if flags.is_empty() {
            table.env_only.extend(env);
        } else {
            table.flags.extend(flags);
            table.env.extend(env);
        }
    }
    all
}

#[test]
fn every_flag_and_environment_variable_of_every_binary_is_in_the_configuration_table() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let tables = tables(&doc);
    let mut problems = Vec::new();
    let mut documented = BTreeSet::new();
    for binary in BINARIES {
        for (title, page) in pages(binary) {
            let table = tables.get(&title);
            if page.flags.is_empty() && page.env.is_empty() && table.is_none() {
                continue;
            }
            documented.insert(title.clone());
            let Some(table) = table else {
                problems.push(format!("no table for `{title}`"));
                continue;
            };
            for flag in page.flags.difference(&table.flags) {
                problems.push(format!("`{title}`: {flag} is missing from the table"));
            }
            for flag in table.flags.difference(&page.flags) {
                problems.push(format!(
                    "`{title}`: the table lists {flag}, which --help does not show"
                ));
            }
            for var in page.env.difference(&table.env) {
                problems.push(format!("`{title}`: {var} is missing from the table"));
            }
            for var in table.env.difference(&page.env) {
                problems.push(format!(
                    "`{title}`: the table gives {var} a flag, but --help shows no [env: {var}]"
                ));
            }
            for var in &table.env_only {
                if !page
                    .text
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == var)
                {
                    problems.push(format!(
                        "`{title}`: {var} is in the table but --help never names it"
                    ));
                }
            }
        }
    }
    for title in tables.keys() {
        if !documented.contains(title) {
            problems.push(format!(
                "a table for `{title}`, which is no command with flags"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        doc_path.display(),
        problems.join("\n")
    );
}
