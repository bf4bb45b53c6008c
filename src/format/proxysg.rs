//! Broadcom (Symantec) ProxySG / Edge SWG local category database.
//!
//! # Format
//! ```text
//! define category edlforge
//! bad.example.com
//! 203.0.113.7
//! bad.example.org/kit/
//! end
//! ```
//! Entries are `host[/path]` without scheme or port, lowercase host.
//!
//! # Sources
//! - [X1] Cortex XSOAR EDL.py "Symantec ProxySG" format: `define category X` … `end`, scheme and
//!   port stripped
//! - [M1] MineMeld feedredis.py `bluecoat` formatter (same blocks, lowercased)
//! - [B1] Broadcom KB 167310: local category entries match like the BCWF database (prefix:
//!   `www.test.com/path` matches everything after it)

use std::borrow::Cow;

use crate::compile::{CompiledList, IpStyle};
use crate::indicator::{Kind, Skip, UrlValue, Value};

use super::{is_v6, span, unsupported, FormatOptions};

/// vendor: undocumented.
pub const DEFAULT_MAX_ENTRIES: Option<u64> = None;
/// [X1] IPs, URLs, domains.
pub const KINDS: &[Kind] = &[Kind::Ip, Kind::Domain, Kind::Url];
/// [X1] one category block may mix hosts, addresses and URLs.
pub const ONE_TYPE_PER_LIST: bool = false;
/// [B1] local-category entries match like the BCWF database, so `x.com` (and the site URL
/// `x.com/`) stands for its subdomains too (the writer relies on it for `*.x.com`).
pub const PLAIN_NAME_COVERS_SUBDOMAINS: bool = true;
/// Largest IPv4 network expanded to single addresses: a /24.
pub const MAX_EXPANSION: u128 = 255;

/// Entries are hosts: one address per line.
pub fn ip_style(_o: &FormatOptions) -> IpStyle {
    IpStyle::Hosts
}

/// vendor: CIDR and IPv6 host forms are undocumented for local categories; we write IPv4
/// addresses only and expand networks up to /24.
pub fn admit(v: &Value, _o: &FormatOptions) -> Result<(), Skip> {
    if is_v6(v) {
        return Err(unsupported("ProxySG category entries: IPv6 undocumented"));
    }
    if span(v) > MAX_EXPANSION {
        return Err(unsupported(
            "ProxySG category entries are hosts; networks wider than /24 are not expanded",
        ));
    }
    Ok(())
}

/// [X1][M1] `host/path`: scheme and port stripped, host lowercase.
pub fn url_key(u: &UrlValue) -> Cow<'_, str> {
    u.host_and_path()
}

/// True for a category name the CLI and config accept: letters, digits, `_`, `-`, `.`.
pub fn valid_category(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Writes the category block; returns the entry count.
pub fn write(list: &CompiledList, o: &FormatOptions, out: &mut Vec<u8>) -> u64 {
    out.extend_from_slice(b"define category ");
    out.extend_from_slice(o.category.as_bytes());
    out.push(b'\n');
    let mut n = super::write_ips(list, out);
    // [B1] entries match what follows them, so `x.com` stands for `*.x.com` too.
    n += super::write_lines(&list.domains, out, |d, out| {
        out.extend_from_slice(d.name.as_bytes());
        out.push(b'\n');
        1
    });
    n += super::write_lines(&list.urls, out, |u, out| {
        out.extend_from_slice(url_key(u).as_bytes());
        out.push(b'\n');
        1
    });
    out.extend_from_slice(b"end\n");
    n
}
