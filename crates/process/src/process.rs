//! One child process, and the children of one run.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Error, Result, io};

/// How many lines of its log an [`Error::Exited`] shows.
const TAIL_LINES: usize = 15;

/// How long a process dropped while running gets to stop after SIGTERM.
const GRACE_ON_DROP: Duration = Duration::from_secs(8);

/// A child process with its output in a log file, in its own process group, stopped on drop.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    /// Stops the child when this process dies without dropping it.
    watchdog: Option<Child>,
}

impl Process {
    /// Starts `command` as `name`, its stdout and stderr appended to `log` (so a restart keeps
    /// the earlier run's output), stdin closed.
    pub fn spawn(name: impl Into<String>, mut command: Command, log: &Path) -> Result<Process> {
        let name = name.into();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io(format!("opening {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("opening {}", log.display())))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(io(format!(
                "starting {name} ({})",
                command.get_program().to_string_lossy()
            )))?;
        // Without a watchdog the process still works; it just outlives an owner killed hard.
        let watchdog = watchdog(child.id()).ok();
        Ok(Process {
            name,
            child,
            log: log.to_path_buf(),
            watchdog,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything in its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status, once it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// [`Error::Exited`], with the end of its log, when it is no longer running.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.exit_status() {
            None => Ok(()),
            Some(status) => Err(Error::Exited {
                name: self.name.clone(),
                status,
                log: self.log.clone(),
                tail: tail(&self.log_text(), TAIL_LINES),
            }),
        }
    }

    /// SIGKILL to its process group: no shutdown code runs, as in a crash.
    pub fn kill9(&mut self) {
        if self.exit_status().is_none() {
            self.signal_group("-KILL");
        }
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL when it has not exited within `grace`. Its exit status when it
    /// stopped by itself (or had already exited), `None` when it had to be killed.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exit_status() {
            return Some(status);
        }
        self.signal_group("-TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
        None
    }

    fn signal_group(&self, signal: &str) {
        // The child leads its own group, so its group id is its pid.
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(GRACE_ON_DROP);
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// A shell loop that stops `child`'s process group (SIGTERM, then SIGKILL after 5 s) once this
/// process is gone, and ends by itself when the child does. In its own process group, so the
/// Ctrl-C that kills this process does not kill it too.
fn watchdog(child: u32) -> std::io::Result<Child> {
    let script = r#"owner=$1; child=$2
while kill -0 "$owner" 2>/dev/null; do
  kill -0 "$child" 2>/dev/null || exit 0
  sleep 0.5
done
kill -TERM -- "-$child" 2>/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || exit 0; sleep 0.5; done
kill -KILL -- "-$child" 2>/dev/null"#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(std::process::id().to_string())
        .arg(child.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The child processes of one run, each under a name; any one that dies is reported by name.
/// Stopped newest first, so what depends on another process goes before it.
#[derive(Debug, Default)]
pub struct Supervisor {
    running: Mutex<Vec<Process>>,
}

impl Supervisor {
    /// Starts `command` as `name` with its output appended to `log` (see [`Process::spawn`]).
    pub fn spawn(&self, name: impl Into<String>, command: Command, log: &Path) -> Result<()> {
        let process = Process::spawn(name, command, log)?;
        self.lock().push(process);
        Ok(())
    }

    /// [`Error::Exited`] for the first process that is no longer running.
    pub fn check_all(&self) -> Result<()> {
        self.lock().iter_mut().try_for_each(Process::check_alive)
    }

    /// Resolves when one of the processes has exited, with which one and the end of its log;
    /// never while they all run.
    pub async fn exited(&self) -> Error {
        loop {
            if let Err(e) = self.check_all() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops every process, newest first, each with `grace` between SIGTERM and SIGKILL. The
    /// names of those that had to be killed.
    pub fn stop_all(&self, grace: Duration) -> Vec<String> {
        let mut killed = Vec::new();
        while let Some(mut process) = self.lock().pop() {
            if process.stop(grace).is_none() {
                killed.push(process.name.clone());
            }
        }
        killed
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Process>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[tokio::test]
    async fn a_child_that_dies_is_named_with_the_last_lines_of_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let supervisor = Supervisor::default();
        supervisor
            .spawn("sleeper", sh("sleep 30"), &dir.path().join("sleeper.log"))
            .unwrap();
        let log = dir.path().join("broker.log");
        supervisor
            .spawn(
                "broker",
                sh("for i in $(seq 1 40); do echo line $i; done; echo 'bind: address in use' >&2; exit 3"),
                &log,
            )
            .unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), supervisor.exited())
            .await
            .expect("the exit is noticed");
        let Error::Exited {
            name, status, tail, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(name, "broker");
        assert_eq!(status.code(), Some(3));
        assert_eq!(tail.lines().count(), TAIL_LINES, "{tail}");
        assert!(tail.ends_with("line 40\nbind: address in use"), "{tail}");
        assert!(!tail.contains("line 26\n"), "only the last lines: {tail}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "broker exited (exit status: 3); the end of {}:\n",
                log.display()
            )),
            "{message}"
        );
        assert!(message.contains("bind: address in use"), "{message}");
        assert!(supervisor.stop_all(Duration::from_secs(5)).is_empty());
        assert!(supervisor.is_empty());
    }

    #[test]
    fn stop_terminates_gracefully_and_kills_what_ignores_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let mut polite =
            Process::spawn("polite", sh("exec sleep 30"), &dir.path().join("p.log")).unwrap();
        assert!(polite.check_alive().is_ok());
        let status = polite
            .stop(Duration::from_secs(5))
            .expect("stopped by SIGTERM");
        assert!(!status.success());

        let mut stubborn = Process::spawn(
            "stubborn",
            sh("trap '' TERM; echo ready; while true; do sleep 0.1; done"),
            &dir.path().join("s.log"),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !stubborn.log_text().contains("ready") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(stubborn.stop(Duration::from_millis(300)), None);
        assert!(stubborn.check_alive().is_err());
    }

    #[test]
    fn a_restart_appends_to_the_same_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        for run in ["first", "second"] {
            let mut p = Process::spawn("svc", sh(&format!("echo {run}")), &log).unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while p.exit_status().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "first\nsecond\n");
    }
}
