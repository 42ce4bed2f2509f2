//! `contracts check --against <git-ref>` as a user runs it: a git repository holding a copy of
//! the shop's schemas/, committed on `main` (the released history), then changed in the work
//! tree or in later commits.

mod common;

use common::{copy_dir, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A git repository whose `main` holds the shop's schemas (without a registry snapshot).
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn with_the_shop() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo_root().join("schemas"), &dir.path().join("schemas"));
        let _ = std::fs::remove_dir_all(dir.path().join("schemas/.registry"));
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit("the released schemas");
        repo
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.dir.path())
            // The user's and the machine's git settings do not apply.
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).unwrap()
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path(file), text).unwrap();
    }

    /// Replaces `from` by `to` in a file; the text must be there.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let text = self.read(file);
        assert!(text.contains(from), "{file} does not contain {from:?}");
        self.write(file, &text.replacen(from, to, 1));
    }

    /// `contracts check` with `args`, from the top of the repository.
    fn check(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_contracts"))
            .arg("check")
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("CONTRACTS_ERROR_FORMAT")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("CONTRACTS_MANIFEST")
            .env_remove("SCHEMA_REGISTRY_URL")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap()
    }

    /// The 1-based line of the first line of `file` that contains `needle`.
    fn line_of(&self, file: &str, needle: &str) -> usize {
        self.read(file)
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{file} has no line with {needle:?}"))
            + 1
    }
}

/// The findings of a `--error-format json` run.
fn findings(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const ORDER_PAID_V1: &str = "schemas/shop/orders/order_paid/v1.avsc";
const ORDER_PAID_V2: &str = "schemas/shop/orders/order_paid/v2.avsc";
const MANIFEST: &str = "schemas/contracts.toml";
const ORDER_PAID_ENTRY: &str = "    { version = 1, file = \"shop/orders/order_paid/v1.avsc\" },\n";
const PAID_AT: &str = "    {\"name\": \"paid_at\"";

/// OrderPaid v2 = v1 plus `field` (a JSON field object), listed in the manifest.
fn add_order_paid_v2(repo: &Repo, field: &str) {
    let v1 = repo.read(ORDER_PAID_V1);
    assert!(v1.contains(PAID_AT));
    repo.write(
        ORDER_PAID_V2,
        &v1.replacen(PAID_AT, &format!("    {field},\n{PAID_AT}"), 1),
    );
    repo.edit(
        MANIFEST,
        ORDER_PAID_ENTRY,
        &format!(
            "{ORDER_PAID_ENTRY}    {{ version = 2, file = \"shop/orders/order_paid/v2.avsc\" }},\n"
        ),
    );
}

#[test]
fn the_shop_against_its_own_commit_and_a_compatible_new_version_exit_zero() {
    let repo = Repo::with_the_shop();
    let same = repo.check(&["--against", "main"]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("against main ("),
        "{}",
        text(&same)
    );

    // A new version with an optional field, and a released file only reformatted: the registry
    // would give the reformatted text the same id, so it is not an edit.
    add_order_paid_v2(
        &repo,
        "{\"name\": \"note\", \"type\": [\"null\", \"string\"], \"default\": null}",
    );
    let created = "schemas/shop/orders/order_created/v1.avsc";
    let compact: serde_json::Value = serde_json::from_str(&repo.read(created)).unwrap();
    repo.write(created, &compact.to_string());
    let clean = repo.check(&["--against", "main"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    assert!(
        String::from_utf8_lossy(&clean.stdout).contains("[v1] + v2"),
        "{}",
        text(&clean)
    );

    // Committed, the same change passes against the commit before it.
    repo.commit("OrderPaid v2");
    let committed = repo.check(&["--against", "HEAD~1"]);
    assert_eq!(committed.status.code(), Some(0), "{}", text(&committed));
}

#[test]
fn a_released_file_edited_in_place_is_a_finding_at_the_changed_line() {
    let repo = Repo::with_the_shop();
    // A compatible change, but made to the released v1 instead of a new version.
    repo.edit(
        ORDER_PAID_V1,
        PAID_AT,
        &format!(
            "    {{\"name\": \"note\", \"type\": [\"null\", \"string\"], \"default\": null}},\n{PAID_AT}"
        ),
    );
    let out = repo.check(&["--against", "main", "--error-format", "json"]);
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let found = findings(&out);
    assert_eq!(found.len(), 1, "{}", text(&out));
    let f = &found[0];
    assert_eq!(f["rule"], "RELEASED_VERSION_EDITED");
    assert_eq!(f["file"], ORDER_PAID_V1);
    assert_eq!(f["line"], repo.line_of(ORDER_PAID_V1, "\"note\""));
    assert_eq!(f["event"], "shop.orders.OrderPaid");
    assert_eq!(f["old_version"], "v1 at main");
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("git checkout main --"), "{message}");

    // The same as text and as GitHub annotations.
    let plain = repo.check(&["--against", "main"]);
    assert_eq!(plain.status.code(), Some(100));
    let line = repo.line_of(ORDER_PAID_V1, "\"note\"");
    assert!(
        String::from_utf8_lossy(&plain.stdout).contains(&format!(
            "{ORDER_PAID_V1}:{line}:1: RELEASED_VERSION_EDITED: "
        )),
        "{}",
        text(&plain)
    );
    let annotated = repo.check(&["--against", "main", "--error-format", "github-actions"]);
    assert_eq!(annotated.status.code(), Some(100));
    assert!(
        String::from_utf8_lossy(&annotated.stdout).contains(&format!(
            "::error file={ORDER_PAID_V1},line={line},col=1,title=RELEASED_VERSION_EDITED::"
        )),
        "{}",
        text(&annotated)
    );
}

#[test]
fn an_edited_protobuf_import_is_a_finding_in_the_imported_file_but_a_comment_is_not() {
    let repo = Repo::with_the_shop();
    let money = "schemas/shop/common/v1/money.proto";
    repo.edit(
        money,
        "// Whole units of the currency.",
        "// Whole units of the currency (a comment, not the contract).",
    );
    let comment = repo.check(&["--against", "main"]);
    assert_eq!(comment.status.code(), Some(0), "{}", text(&comment));

    repo.edit(
        money,
        "  int32 nanos = 3;\n",
        "  int32 nanos = 3;\n  string note = 4;\n",
    );
    let out = repo.check(&["--against", "main", "--error-format", "json"]);
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let found = findings(&out);
    assert!(!found.is_empty(), "{}", text(&out));
    for f in &found {
        assert_eq!(f["rule"], "RELEASED_VERSION_EDITED", "{f}");
        assert_eq!(f["file"], money, "{f}");
        assert_eq!(f["line"], repo.line_of(money, "string note = 4"), "{f}");
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains("imports shop/common/v1/money.proto"),
            "{message}"
        );
    }
}

#[test]
fn a_removed_version_is_a_finding_at_the_events_entry() {
    let repo = Repo::with_the_shop();
    let v3_entry = "    { version = 3, file = \"shop/orders/order_created/v3.avsc\" },\n";
    repo.edit(MANIFEST, v3_entry, "");
    std::fs::remove_file(repo.path("schemas/shop/orders/order_created/v3.avsc")).unwrap();
    let out = repo.check(&["--against", "main", "--error-format", "json"]);
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let found = findings(&out);
    assert_eq!(found.len(), 1, "{}", text(&out));
    let f = &found[0];
    assert_eq!(f["rule"], "RELEASED_VERSION_REMOVED");
    assert_eq!(f["file"], MANIFEST);
    // The `[[events]]` header of OrderCreated: the line before its name.
    assert_eq!(
        f["line"],
        repo.line_of(MANIFEST, "name = \"shop.orders.OrderCreated\"") - 1
    );
    assert_eq!(f["old_version"], "v3 at main");
}

#[test]
fn a_whole_event_removed_is_a_finding_per_released_version() {
    let repo = Repo::with_the_shop();
    let manifest = repo.read(MANIFEST);
    let start = manifest
        .find("[[events]]\nname = \"shop.orders.OrderShipped\"")
        .unwrap();
    let end = start + manifest[start..].find("]\n\n").unwrap() + 3;
    let mut edited = format!("{}{}", &manifest[..start], &manifest[end..]);
    // Its producer and consumers no longer name it anywhere else; the services stay.
    edited = edited.replace("\"shop.orders.OrderShipped\"", "\"shop.orders.OrderPaid\"");
    repo.write(MANIFEST, &edited);
    let out = repo.check(&["--against", "main", "--error-format", "json"]);
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let found = findings(&out);
    assert_eq!(found.len(), 1, "{}", text(&out));
    assert_eq!(found[0]["rule"], "RELEASED_VERSION_REMOVED");
    assert_eq!(found[0]["event"], "shop.orders.OrderShipped");
    assert_eq!(found[0]["file"], MANIFEST);
}

#[test]
fn a_breaking_new_version_is_a_finding_with_the_compatibility_rule() {
    let repo = Repo::with_the_shop();
    // A required field: v2 cannot read v1's data (BACKWARD, OrderPaid's level).
    add_order_paid_v2(&repo, "{\"name\": \"method\", \"type\": \"string\"}");
    let out = repo.check(&["--against", "main", "--error-format", "json"]);
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let found = findings(&out);
    assert_eq!(found.len(), 1, "{}", text(&out));
    let f = &found[0];
    assert_eq!(f["rule"], "READER_FIELD_MISSING_DEFAULT_VALUE");
    assert_eq!(f["level"], "BACKWARD");
    assert_eq!(f["file"], ORDER_PAID_V2);
    assert_eq!(f["line"], repo.line_of(ORDER_PAID_V2, "\"method\""));
    assert_eq!(f["old_version"], "v1 at main");
    assert_eq!(f["new_version"], "v2");

    // Released at main, the breaking version is history: a later commit that adds nothing has
    // nothing to report, as the registry would have refused v2 long before.
    repo.commit("OrderPaid v2");
    let after = repo.check(&["--against", "main"]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
}

#[test]
fn an_unknown_ref_or_a_directory_outside_git_exits_one_with_what_to_do() {
    let repo = Repo::with_the_shop();
    let out = repo.check(&["--against", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"no-such-branch\" is not a commit"),
        "{stderr}"
    );
    assert!(stderr.contains("fetch-depth: 0"), "{stderr}");

    std::fs::remove_dir_all(repo.path(".git")).unwrap();
    let out = repo.check(&["--against", "main"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not in a git repository"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_manifest_that_did_not_exist_at_the_ref_makes_every_version_new() {
    let repo = Repo::with_the_shop();
    // The contracts arrive in a later commit of a repository that had none.
    std::fs::rename(repo.path("schemas"), repo.path("later")).unwrap();
    repo.write("README.md", "a repository before its contracts\n");
    repo.commit("no contracts yet");
    repo.git(&["tag", "before"]);
    std::fs::rename(repo.path("later"), repo.path("schemas")).unwrap();
    let out = repo.check(&["--against", "before"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("new: v1 → v2 → v3"),
        "{}",
        text(&out)
    );
}

/// The CI template's pull-request step: its script, run with bash as the runner does, in a
/// shallow checkout of a pull request that edits a released file (no `origin/main` until the
/// step fetches it, as after `actions/checkout`).
#[test]
fn the_ci_templates_pull_request_step_fetches_the_base_branch_and_annotates_an_edit() {
    let workflow = repo_root().join(".github/workflows/contracts.yml");
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(workflow).unwrap()).unwrap();
    let step = doc["jobs"]["contracts"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("contracts check --against"))
        })
        .expect("the template has a --against step");
    assert_eq!(
        step["if"].as_str(),
        Some("github.event_name == 'pull_request'")
    );
    assert_eq!(
        step["env"]["BASE_REF"].as_str(),
        Some("${{ github.base_ref }}")
    );
    let script = step["run"].as_str().unwrap();

    let origin = Repo::with_the_shop();
    let checkout = Repo {
        dir: tempfile::tempdir().unwrap(),
    };
    let url = format!("file://{}", origin.dir.path().display());
    checkout.git(&["init", "-q", "-b", "pr"]);
    checkout.git(&["remote", "add", "origin", &url]);
    checkout.git(&["fetch", "-q", "--depth=1", "origin", "refs/heads/main"]);
    checkout.git(&["checkout", "-q", "FETCH_HEAD"]);
    let _ = Command::new("git")
        .args(["update-ref", "-d", "refs/remotes/origin/main"])
        .current_dir(checkout.dir.path())
        .output();
    checkout.edit(
        ORDER_PAID_V1,
        "\"doc\": \"The customer paid for an order.\"",
        "\"doc\": \"The customer paid.\"",
    );
    checkout.commit("edit a released schema");

    let bin = Path::new(env!("CARGO_BIN_EXE_contracts")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-e", "-c", script])
        .current_dir(checkout.dir.path())
        .env("PATH", path)
        .env("BASE_REF", "main")
        .env("GITHUB_ACTIONS", "true")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("CONTRACTS_ERROR_FORMAT")
        .env_remove("CONTRACTS_MANIFEST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let line = checkout.line_of(ORDER_PAID_V1, "\"doc\": \"The customer paid.\"");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "::error file={ORDER_PAID_V1},line={line},col=1,title=RELEASED_VERSION_EDITED::"
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn an_event_moved_to_another_subject_leaves_its_released_versions_behind() {
    let repo = Repo::with_the_shop();
    repo.edit(
        MANIFEST,
        "name = \"shop.orders.OrderPaid\"\n",
        "name = \"shop.orders.OrderPaid\"\nsubject_strategy = \"TopicRecordNameStrategy\"\n",
    );
    let out = repo.check(&["--against", "main", "--error-format", "json"]);
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let found = findings(&out);
    assert_eq!(found.len(), 1, "{}", text(&out));
    assert_eq!(found[0]["rule"], "RELEASED_VERSION_REMOVED");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("(subject \"shop.orders.OrderPaid\")")
            && message.contains("is now under subject \"orders-shop.orders.OrderPaid\""),
        "{message}"
    );
}

#[test]
fn a_registry_url_in_the_environment_does_not_stop_against() {
    let repo = Repo::with_the_shop();
    let out = Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(["check", "--against", "main"])
        .current_dir(repo.dir.path())
        .env("SCHEMA_REGISTRY_URL", "http://127.0.0.1:9")
        .env_remove("CONTRACTS_MANIFEST")
        .env_remove("CONTRACTS_ERROR_FORMAT")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
