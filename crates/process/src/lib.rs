//! Child processes for local runs and tests, supervised in one way: the shop's demo
//! (`shop-demo`), the test kit's broker and registries (`contracts-testkit`) and the end-to-end
//! harness's services (`shop-e2e`) all start their processes here.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate is
//! tooling beside the flow: it starts the services, the broker and the registry as processes for
//! local runs; nothing in a deployed service links it.
//!
//! A [`Process`] writes its output to a log file, runs in its own process group (so Ctrl-C in a
//! terminal reaches only its owner, which stops it in order), is stopped with SIGTERM and then
//! SIGKILL, and is stopped by a small watchdog when its owner dies without stopping it (a test
//! killed mid-run, a broker held in a `static`). A process that exits when it should not is
//! reported by name with the last lines of its log ([`Error::Exited`]); a [`Supervisor`] watches
//! several and says which one died.
//!
//! ```no_run
//! # async fn demo() -> Result<(), contracts_process::Error> {
//! use std::process::Command;
//! use std::time::Duration;
//!
//! let supervisor = contracts_process::Supervisor::default();
//! let port = contracts_process::free_port()?;
//! let mut broker = Command::new(contracts_process::tansu_binary()?);
//! broker.args(["broker", "--listener-url", &format!("tcp://127.0.0.1:{port}")]);
//! supervisor.spawn("broker", broker, "broker.log".as_ref())?;
//! // Fails with `broker exited (exit status: 1); the end of broker.log: ...` when it dies.
//! let died = supervisor.exited().await;
//! supervisor.stop_all(Duration::from_secs(15));
//! # Ok(()) }
//! ```

mod port;
mod process;
mod tansu;

use std::path::PathBuf;
use std::process::ExitStatus;

pub use port::free_port;
pub use process::{Process, Supervisor};
pub use tansu::{TANSU_INSTALL, index_record_headers, index_record_headers_blocking, tansu_binary};

/// What went wrong starting or watching a child process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "the Tansu broker binary was not found (looked at $TANSU_BIN, PATH and ~/.cargo/bin/tansu); install it with `{TANSU_INSTALL}`"
    )]
    TansuMissing,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The broker's SQLite database could not be opened or changed.
    #[error("the broker's database {}: {message}", db.display())]
    Storage { db: PathBuf, message: String },
    /// A child process ended while it should have been running.
    #[error("{name} exited ({status}); the end of {}:\n{tail}", log.display())]
    Exited {
        name: String,
        status: ExitStatus,
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
