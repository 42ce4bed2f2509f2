//! A PostgreSQL server of a test's own: `initdb` into a temporary directory, the server on a
//! free loopback port with trust authentication, stopped and deleted on drop (and by the
//! process watchdog when the test process dies without dropping it).
//!
//! The binaries are `$PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin` (Debian's
//! `postgresql` package; `.ci/install` installs it). PostgreSQL refuses to run as root: a test
//! running as root runs the server as `nobody`, which then owns the directory.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use contracts_process::Process;

use crate::{Error, Result, free_port, io, wait_until};

/// A running PostgreSQL server; see the [module docs](self).
#[derive(Debug)]
pub struct TestPostgres {
    process: Process,
    port: u16,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

/// How long `initdb` and the server's start may take on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl TestPostgres {
    /// Creates a cluster and starts its server.
    pub fn start() -> Result<TestPostgres> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("test-postgres-")
            .tempdir()
            .map_err(io("creating the PostgreSQL directory"))?;
        let owner = unprivileged_user()?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(io("handing the PostgreSQL directory to nobody"))?;
        }
        let data = dir.path().join("data");
        let log = dir.path().join("initdb.log");
        let mut initdb = as_owner(Command::new(bin.join("initdb")), owner);
        let out = std::fs::File::create(&log).map_err(io("creating initdb.log"))?;
        let status = initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(out.try_clone().map_err(io("initdb.log"))?)
            .stderr(out)
            .stdin(Stdio::null())
            .status()
            .map_err(io(format!("running {}", bin.join("initdb").display())))?;
        if !status.success() {
            return Err(Error::Io {
                what: format!(
                    "initdb failed ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
                source: std::io::Error::other("initdb"),
            });
        }
        let port = free_port()?;
        let mut server = as_owner(Command::new(bin.join("postgres")), owner);
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                // A test's data need not survive a power cut.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]);
        let log = dir.path().join("postgres.log");
        let mut process = Process::spawn("postgres", server, &log)?;
        wait_until(&mut process, "postgres", START_TIMEOUT, || {
            std::fs::read_to_string(&log)
                .is_ok_and(|l| l.contains("database system is ready to accept connections"))
        })?;
        Ok(TestPostgres {
            process,
            port,
            bin,
            _dir: dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (the user `postgres`, no password).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates the database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .output()
            .map_err(io("running createdb"))?;
        if !out.status.success() {
            return Err(Error::Io {
                what: format!(
                    "createdb {name}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                source: std::io::Error::other("createdb"),
            });
        }
        Ok(self.url(name))
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// Where PostgreSQL's programs are.
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(io(
            "finding PostgreSQL in /usr/lib/postgresql (install Debian's `postgresql` package, \
             or set PG_BIN to the directory holding initdb and postgres)",
        ))?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| Error::Io {
        what: "no /usr/lib/postgresql/<version>/bin/initdb: install Debian's `postgresql` \
               package, or set PG_BIN"
            .to_owned(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}

/// `nobody`'s uid and gid when this process runs as root (PostgreSQL will not), else `None`.
fn unprivileged_user() -> Result<Option<(u32, u32)>> {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .map_err(io("reading /proc/self"))?;
    if uid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(io("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"nobody") && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .map(Some)
        .ok_or_else(|| Error::Io {
            what: "running as root, PostgreSQL needs an unprivileged user, and /etc/passwd has \
                   no `nobody`"
                .to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
}

fn as_owner(mut command: Command, owner: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
        // HOME and the working directory must be readable by that user.
        command.current_dir("/").env("HOME", "/");
    }
    command
}
