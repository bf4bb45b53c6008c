//! Sophos Firewall (SFOS v21) third-party threat feeds (Active threat response).
//!
//! # Format
//! ```text
//! 203.0.113.7
//! 198.51.100.23
//! ```
//! One indicator per line, nothing else: no comments, no wildcards, no CIDRs.
//!
//! # Sources
//! - [S1] SFOS 21.0 help, Third-party threat feeds > Requirements: "One Indicator of Compromise
//!   (IoC) per line … Don't add any comments or other information"; the indicator type is chosen
//!   per feed
//! - [S2] SFOS 21.0 help, Third-party threat feeds: blocks "IPv4 addresses, domains, and URLs"

use std::borrow::Cow;

use crate::compile::{CompiledList, IpStyle};
use crate::indicator::{Kind, Skip, UrlValue, Value};

use super::{is_v6, span, unsupported, FormatOptions};

/// vendor: no documented limit.
pub const DEFAULT_MAX_ENTRIES: Option<u64> = None;
/// [S2] IPv4 addresses, domains, URLs.
pub const KINDS: &[Kind] = &[Kind::Ip, Kind::Domain, Kind::Url];
/// [S1] one indicator type per feed.
pub const ONE_TYPE_PER_LIST: bool = true;
/// vendor: undocumented whether a domain or site URL matches subdomains ([S2] takes no
/// wildcards, so `*.x.com` is written `x.com`); we take the reading that blocks more, so the floor
/// holds plain names to the wildcard rule.
pub const PLAIN_NAME_COVERS_SUBDOMAINS: bool = true;
/// Largest network expanded to single addresses: a /24 (256 lines).
pub const MAX_EXPANSION: u128 = 255;

/// [S2] single IPv4 addresses only: networks are written address by address.
pub fn ip_style(_o: &FormatOptions) -> IpStyle {
    IpStyle::Hosts
}

/// [S2] IPv4 only; networks up to /24 are expanded, wider ones cannot be listed.
pub fn admit(v: &Value, _o: &FormatOptions) -> Result<(), Skip> {
    if is_v6(v) {
        return Err(unsupported("Sophos threat feeds take IPv4 addresses only"));
    }
    if span(v) > MAX_EXPANSION {
        return Err(unsupported(
            "Sophos takes single addresses; networks wider than /24 are not expanded",
        ));
    }
    Ok(())
}

/// [S1] URL without scheme (`host[:port]/path`).
pub fn url_key(u: &UrlValue) -> Cow<'_, str> {
    Cow::Borrowed(u.without_scheme())
}

/// Writes the list; returns the entry count.
pub fn write(list: &CompiledList, _o: &FormatOptions, out: &mut Vec<u8>) -> u64 {
    let mut n = super::write_ips(list, out);
    // [S2] no wildcard domains: `*.x.com` is written `x.com`.
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
    n
}
