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
    let span = u32::from(high - low);
    if span < 1000 {
        let l = TcpListener::bind("127.0.0.1:0").map_err(io("binding a free port"))?;
        return Ok(l.local_addr().map_err(io("reading the bound port"))?.port());
    }
    // Start at a random place so that concurrent test processes rarely walk the same ports.
    let _ = NEXT.compare_exchange(
        0,
        rand::rng().random_range(1..=span),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
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
    fn free_ports_lie_below_the_ephemeral_range_are_bindable_and_never_repeat() {
        let (low, high) = ports_for_listeners();
        // Each port is bound as soon as it is handed out, and held: other processes on the
        // machine (brokers, services of other tests) take ports from the same range, so a port
        // checked only after fifty more were picked may be theirs by then.
        let mut held = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..50 {
            let port = free_port().unwrap();
            assert!((low..high).contains(&port), "{port} outside {low}..{high}");
            held.push(TcpListener::bind(("127.0.0.1", port)).expect("the port is free"));
            ports.push(port);
        }
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }
}
