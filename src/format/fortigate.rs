//! Fortinet FortiGate threat feeds (FortiOS 7.x: Security Fabric > External Connectors).
//!
//! # Format
//! ```text
//! 192.0.2.10                       (IP address feed: addresses, CIDRs, ranges, IPv4 and IPv6)
//! 198.51.100.0/24
//! *.example.net                    (Domain name feed: `*` wildcards)
//! http://example.org:8080/x        (FortiGuard category feed: scheme and port kept)
//! <64 hex digits>                  (Malware hash feed)
//! ```
//! No comment lines: FortiGate does not document them ([F10] documents `#` for FortiMail only).
//!
//! # Sources
//! - [F1] FortiGate 7.0.11 Administration Guide, Threat feeds (types; last list kept on failure)
//! - [F2] FortiGate 7.2.5 Administration Guide, Domain name threat feed (simple wildcards)
//! - [F3] FortiGate 7.4.1 Administration Guide, FortiGuard category threat feed (URL examples)
//! - [F4] FortiGate 7.x IP address threat feed (address, range, subnet; IPv6 example)
//! - [F8] Fortinet community: External threat list resource entry limits (10 MB or 128K entries)

use std::borrow::Cow;

use crate::compile::{CompiledList, IpStyle};
use crate::indicator::{Kind, Skip, UrlValue, Value};

use super::{write_domain, FormatOptions};

/// [F8] per resource "10MB or 128K entries" before 7.4.4 (131,072); later releases have global
/// per-type limits that are higher on every model.
pub const DEFAULT_MAX_ENTRIES: Option<u64> = Some(131_072);
/// [F1] IP address, domain name, FortiGuard category (URLs) and malware hash feeds.
pub const KINDS: &[Kind] = &[Kind::Ip, Kind::Domain, Kind::Url, Kind::Hash];
/// [F1] the feed type is chosen per external resource.
pub const ONE_TYPE_PER_LIST: bool = true;
/// [F2] the domain feed's "simple wildcards" are explicit (`*.example.net`,
/// `mail.*.example.com`) beside a plain `example.com`, which is therefore the name alone; [F3]
/// URL entries are whole URLs. Only a `*.` wildcard reaches subdomains.
pub const PLAIN_NAME_COVERS_SUBDOMAINS: bool = false;

/// [F4] addresses, ranges and subnets, IPv4 and IPv6.
pub fn ip_style(o: &FormatOptions) -> IpStyle {
    if o.ranges {
        IpStyle::Range
    } else {
        IpStyle::Cidr
    }
}

/// Every normalized entry is writable.
pub fn admit(_v: &Value, _o: &FormatOptions) -> Result<(), Skip> {
    Ok(())
}

/// [F3] `https://example.com/url`, `http://example.com:8080/url`: scheme and port kept.
pub fn url_key(u: &UrlValue) -> Cow<'_, str> {
    Cow::Borrowed(u.as_str())
}

/// Writes the list; returns the entry count.
pub fn write(list: &CompiledList, _o: &FormatOptions, out: &mut Vec<u8>) -> u64 {
    let mut n = super::write_ips(list, out);
    // [F2] `*` wildcards as given.
    n += super::write_lines(&list.domains, out, |d, out| {
        write_domain(out, d);
        out.push(b'\n');
        1
    });
    n += super::write_lines(&list.urls, out, |u, out| {
        out.extend_from_slice(u.as_str().as_bytes());
        out.push(b'\n');
        1
    });
    // [F1] `<hex hash> [optional description]`, one per line.
    n += super::write_lines(&list.hashes, out, |h, out| {
        out.extend_from_slice(h.hex.as_bytes());
        out.push(b'\n');
        1
    });
    n
}
