//! Reading files as they were at a git ref, for `contracts check --against`. This runs the `git`
//! command, as a user would: its errors (an unknown ref, a shallow clone) are git's own, and it
//! reads any repository git can.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// A git repository, found from a directory inside it.
pub struct Repo {
    /// A directory inside the work tree: where git runs.
    dir: PathBuf,
    /// That directory relative to the top of the work tree, with `/` and a final `/` (or empty).
    prefix: String,
}

/// One file of a tree: its path from the top of the repository and its blob's id.
pub struct Blob {
    pub path: String,
    oid: String,
}

impl Repo {
    /// The repository `dir` is in.
    pub fn discover(dir: &Path) -> anyhow::Result<Repo> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = git(dir, &["rev-parse", "--show-prefix"]).with_context(|| {
            format!(
                "--against compares with a git ref, but {} is not in a git repository",
                dir.display()
            )
        })?;
        Ok(Repo {
            dir: dir.to_path_buf(),
            prefix: prefix.trim_end_matches('\n').to_string(),
        })
    }

    /// `path` (relative to the directory the repository was found from) from the top of the
    /// repository, as git names it in trees.
    pub fn path_in_repo(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The commit `reference` names (a branch, tag, `HEAD~1`, `origin/main`, a commit id).
    pub fn resolve(&self, reference: &str) -> anyhow::Result<String> {
        let spec = format!("{reference}^{{commit}}");
        match git(
            &self.dir,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        ) {
            Ok(id) => Ok(id.trim().to_string()),
            Err(_) => bail!(
                "\"{reference}\" is not a commit in this repository; name a branch, tag or commit \
                 (in a shallow clone fetch it first: in GitHub Actions, `actions/checkout` with \
                 `fetch-depth: 0`)"
            ),
        }
    }

    /// Every file of the commit's tree that `keep` accepts (by path from the top).
    pub fn files(&self, commit: &str, keep: impl Fn(&str) -> bool) -> anyhow::Result<Vec<Blob>> {
        let listing = git(
            &self.dir,
            &[
                "ls-tree",
                "-r",
                "-z",
                "--full-tree",
                "--end-of-options",
                commit,
            ],
        )?;
        let mut blobs = Vec::new();
        for entry in listing.split('\0').filter(|e| !e.is_empty()) {
            // "<mode> <type> <oid>\t<path>"; symlinks and submodules are not schema files.
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut fields = meta.split(' ');
            let (mode, kind, oid) = (fields.next(), fields.next(), fields.next());
            if kind == Some("blob") && mode != Some("120000") && keep(path) {
                blobs.push(Blob {
                    path: path.to_string(),
                    oid: oid.unwrap_or_default().to_string(),
                });
            }
        }
        Ok(blobs)
    }

    /// Writes the blobs under `root`, each at its path from the top of the repository.
    pub fn write_blobs(&self, blobs: &[Blob], root: &Path) -> anyhow::Result<()> {
        if blobs.is_empty() {
            return Ok(());
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run git")?;
        let request: String = blobs.iter().map(|b| format!("{}\n", b.oid)).collect();
        let mut stdin = child.stdin.take().context("git's stdin")?;
        // Written from another thread: git answers while it reads, and both pipes are bounded.
        let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
        let mut out = Vec::new();
        child
            .stdout
            .take()
            .context("git's stdout")?
            .read_to_end(&mut out)?;
        let status = child.wait()?;
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("writing to git failed"))??;
        if !status.success() {
            bail!("git cat-file failed ({status})");
        }
        // Answers come in request order: "<oid> blob <size>\n<content>\n".
        let mut rest = &out[..];
        for blob in blobs {
            let header_end = rest
                .iter()
                .position(|&b| b == b'\n')
                .context("git cat-file answered less than asked")?;
            let header = std::str::from_utf8(&rest[..header_end])?;
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("unexpected git cat-file header \"{header}\""))?;
            let body = rest
                .get(header_end + 1..header_end + 1 + size)
                .context("git cat-file answered less than asked")?;
            let target = root.join(&blob.path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&target, body)
                .with_context(|| format!("cannot write {}", target.display()))?;
            rest = rest.get(header_end + 2 + size..).unwrap_or_default();
        }
        Ok(())
    }
}

/// Runs git in `dir` and returns its standard output; its standard error is the error.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("cannot run git (--against reads the schemas at the ref with it)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}
