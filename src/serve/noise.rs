//! Which refusals get a log line: the first of each kind per client address per interval; the
//! rest are counted (every one is in `/metrics`) and summed up in one line per address and kind
//! when the interval ends ([`Noise::flush`], called by the server every [`INTERVAL`]).
//!
//! One client refused a thousand times a second writes at most two lines per kind a minute, and
//! a flood from many addresses at most [`MAX_TRACKED`] lines plus one summary for the rest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// How often suppressed lines are summed up.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Addresses logged one by one per interval; further addresses share one summary.
const MAX_TRACKED: usize = 1024;

/// A kind of refusal that logs a WARN line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A connection closed at accept (`max_connections` or `max_connections_per_client`).
    ConnectionRefused,
    /// A request refused by `clients` or `admin_clients`.
    AccessRefused,
    /// Wrong credentials (or credentials for a name that is not a list).
    AuthFailed,
    /// Credentials not checked: the address used up its failed-login budget.
    AuthThrottled,
}

impl Event {
    /// The id used in log lines and as the `event` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::ConnectionRefused => "connection_refused",
            Event::AccessRefused => "access_refused",
            Event::AuthFailed => "auth_failed",
            Event::AuthThrottled => "auth_throttled",
        }
    }
}

/// Per interval: how many lines of each kind each address had suppressed.
#[derive(Debug, Default)]
pub struct Noise {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    by_addr: HashMap<(IpAddr, Event), u64>,
    /// Events from addresses past [`MAX_TRACKED`]: (addresses' events, count).
    overflow: HashMap<Event, u64>,
}

/// One line of a summary: `addr` (`None`: addresses past the tracked number), kind, lines not
/// written.
pub type Summary = (Option<IpAddr>, Event, u64);

impl Noise {
    /// Whether this event gets its own log line (the first of its address and kind in the
    /// interval); otherwise it is counted for the summary.
    pub fn first(&self, ip: IpAddr, ev: Event) -> bool {
        let mut s = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = s.by_addr.get_mut(&(ip, ev)) {
            *n += 1;
            return false;
        }
        if s.by_addr.len() >= MAX_TRACKED {
            *s.overflow.entry(ev).or_insert(0) += 1;
            return false;
        }
        s.by_addr.insert((ip, ev), 0);
        true
    }

    /// Ends the interval: the suppressed counts (non-zero only), sorted, and a fresh start.
    pub fn flush(&self) -> Vec<Summary> {
        let mut s = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = std::mem::take(&mut *s);
        drop(s);
        let mut out: Vec<Summary> = seen
            .by_addr
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|((ip, ev), n)| (Some(ip), ev, n))
            .chain(seen.overflow.into_iter().map(|(ev, n)| (None, ev, n)))
            .collect();
        out.sort_by_key(|(ip, ev, _)| (*ip, ev.as_str()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_address_and_kind_then_a_summary() {
        let n = Noise::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(n.first(a, Event::AuthFailed));
        for _ in 0..999 {
            assert!(!n.first(a, Event::AuthFailed));
        }
        assert!(n.first(a, Event::ConnectionRefused));
        assert!(n.first(b, Event::AuthFailed));
        assert_eq!(n.flush(), vec![(Some(a), Event::AuthFailed, 999)]);
        // A new interval: the first line is written again.
        assert!(n.first(a, Event::AuthFailed));
        assert!(n.flush().is_empty());
    }

    #[test]
    fn many_addresses_share_one_summary() {
        let n = Noise::default();
        let mut logged = 0;
        for i in 0..5000u32 {
            let ip = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            logged += usize::from(n.first(ip, Event::AccessRefused));
        }
        assert_eq!(logged, MAX_TRACKED);
        assert_eq!(
            n.flush(),
            vec![(None, Event::AccessRefused, 5000 - MAX_TRACKED as u64)]
        );
    }
}
