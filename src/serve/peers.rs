//! Open connections per peer address, for `max_connections_per_client`.
//!
//! Counted at accept, where only the peer address is known. A trusted proxy is not counted:
//! it carries many clients over its connections (and may pool them), the client behind it is
//! only named per request by `X-Forwarded-For`, so capping the proxy's address would cap every
//! firewall behind it; such a proxy limits its own clients. Every other peer is counted by its
//! (normalised) address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per peer address.
#[derive(Debug, Default)]
pub struct Peers {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Peers {
    /// A slot for one more connection from `ip`, or `None` when it has `max` open already.
    pub fn take(&self, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            open: self.open.clone(),
            ip,
        })
    }

    /// Connections open from `ip`.
    #[cfg(test)]
    pub fn open(&self, ip: IpAddr) -> usize {
        self.open
            .lock()
            .map_or(0, |o| o.get(&ip).copied().unwrap_or(0))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Memory follows the open connections, not every address ever seen.
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_one_address_and_gives_slots_back() {
        let p = Peers::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let held: Vec<Slot> = (0..3).filter_map(|_| p.take(a, 3)).collect();
        assert_eq!(held.len(), 3);
        assert!(p.take(a, 3).is_none());
        assert!(p.take(b, 3).is_some());
        drop(held);
        assert_eq!(p.open(a), 0);
        assert!(p.take(a, 3).is_some());
    }
}
