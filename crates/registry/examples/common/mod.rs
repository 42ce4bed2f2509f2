//! What the registry's load examples share: the binary they start, a free port, and the
//! process's memory from `/proc`.

use std::path::PathBuf;

pub const MEDIA: &str = "application/vnd.schemaregistry.v1+json";

/// `REGISTRY` (environment), or the `contracts-registry` next to the running example's directory
/// (the same build profile).
pub fn registry_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("REGISTRY") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("the example's path");
    exe.parent()
        .and_then(|examples| examples.parent())
        .expect("target/<profile>/examples")
        .join("contracts-registry")
}

/// `VmRSS` or `VmHWM` of `pid`, in KiB.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
