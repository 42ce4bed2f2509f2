//! Ports for processes that bind them later.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::Rng;

use crate::{Error, Result, io};

/// A free TCP port on 127.0.0.1 for a process that binds it later, never the same one twice in
/// this process.
///
/// It comes from below the kernel's ephemeral range: a port the kernel picked for `bind(0)` is
/// also one it may give the next outgoing connection (to the broker, say) before the process it
/// was meant for binds it, which failed test runs with "Address already in use".
pub fn free_port() -> Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, high) = ports_for_listeners();
    free_port_in(&NEXT, low, high)
}

/// The next port of `low..high` after the cursor `next` that can be bound now.
fn free_port_in(next: &AtomicU32, low: u16, high: u16) -> Result<u16> {
    let span = u32::from(high - low);
    if span < 1000 {
        let l = TcpListener::bind("127.0.0.1:0").map_err(io("binding a free port"))?;
        return Ok(l.local_addr().map_err(io("reading the bound port"))?.port());
    }
    // Start at a random place so that concurrent test processes rarely walk the same ports.
    let _ = next.compare_exchange(
        0,
        rand::rng().random_range(1..=span),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let port = low + u16::try_from(n % span).expect("below the span");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Io {
        what: format!("finding a free port in {low}..{high}"),
        source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
    })
}

/// Ports from 10000 up to the start of the ephemeral range (Linux's
/// `ip_local_port_range`, 32768 by default).
fn ports_for_listeners() -> (u16, u16) {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    (10000, ephemeral_start.max(10000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_lie_below_the_ephemeral_range_and_never_repeat() {
        let (low, high) = ports_for_listeners();
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        for port in &ports {
            assert!((low..high).contains(port), "{port} outside {low}..{high}");
        }
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }

    #[test]
    fn a_port_something_listens_on_is_skipped() {
        // A port of the range that this test holds, and the cursor put just before it.
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let (low, high) = (port - 1, port.saturating_add(1000));
        let next = AtomicU32::new(1);
        let got = free_port_in(&next, low, high).unwrap();
        assert_ne!(got, port, "the held port was handed out");
        assert!((low..high).contains(&got), "{got} outside {low}..{high}");
        drop(held);
    }
}
