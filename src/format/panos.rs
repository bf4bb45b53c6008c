//! Palo Alto Networks PAN-OS external dynamic lists (PAN-OS 9.0–11.x, Prisma Access, Panorama).
//!
//! # Format
//! ```text
//! 192.0.2.10            (IP list: addresses, CIDRs, ranges a-b; IPv4 and IPv6)
//! 198.51.100.0/24
//! example.com           (Domain list: *.x.com is written as x.com and *.x.com)
//! *.example.com
//! example.org/payload/  (URL list: no scheme, no port, lowercase host)
//! ```
//! No comment lines: PAN-OS documents only trailing comments on IP lines, and an undocumented
//! line is at best logged as an invalid entry.
//!
//! # Sources
//! - [P1] Formatting Guidelines for an External Dynamic List (IP), docs.paloaltonetworks.com
//! - [P2] PAN-OS 10.2 Admin Guide, Domain List
//! - [P3] PAN-OS 8.1 Admin Guide, Block and Allow Lists (URL entries)
//! - [P4] PAN-OS 7.1 wildcard guidelines for URL category exception lists
//! - [P7] PAN-OS 10.0 Custom URL Categories (implicit trailing `*` without an ending `/`)
//! - [P8] PAN-OS 9.1 Configure the Firewall to Access an External Dynamic List
//! - [P10] PAN-OS 7.1 Web Interface Help, External Dynamic Lists (capacity)
//! - [P16] CVE-2021-3048 (malformed URL entries hang devsrvr and block commits)
//! - [X1] Cortex XSOAR EDL.py (`*.domain.com` does not match `domain.com` on PAN-OS)

use std::borrow::Cow;

use crate::compile::{CompiledList, IpStyle};
use crate::indicator::{DomainRef, Kind, Skip, UrlValue, Value};

use super::{unsupported, write_domain, FormatOptions};

/// [P10] 50,000 IP entries on most platforms (150,000 on PA-5000/7000); the domain and URL
/// limits also start at 50,000 per platform. The lowest documented figure is the safe default.
pub const DEFAULT_MAX_ENTRIES: Option<u64> = Some(50_000);
/// [P9] IP, Domain and URL lists (hashes are not an EDL type).
pub const KINDS: &[Kind] = &[Kind::Ip, Kind::Domain, Kind::Url];
/// [P1] "An external dynamic list of one type … must include entries of that type only".
pub const ONE_TYPE_PER_LIST: bool = true;
/// [P2] a Domain-list entry `example.com` is that name: subdomains take `*.example.com` (the
/// doc's example lists `*.company.com` for `tools.company.com`; [X1] `*.x.com` does not match
/// `x.com` either). [P5][P6] a URL entry `x.com/` matches the host and its paths, not its
/// subdomains. So only a wildcard (written as two lines, `x.com` and `*.x.com`) reaches
/// subdomains. Caveat: the per-list option "automatically expand to include subdomains"
/// [P8][P13] is set on the firewall, where edlforge cannot see it (README, safety floor).
pub const PLAIN_NAME_COVERS_SUBDOMAINS: bool = false;
/// [P3] URL entries are at most 255 characters.
pub const MAX_URL_LEN: usize = 255;

/// [P1] IPv4 and IPv6 addresses, CIDRs and ranges all count as one entry each.
pub fn ip_style(o: &FormatOptions) -> IpStyle {
    if o.ranges {
        IpStyle::Range
    } else {
        IpStyle::Cidr
    }
}

/// Entry-level rules.
pub fn admit(v: &Value, _o: &FormatOptions) -> Result<(), Skip> {
    if let Value::Url(u) = v {
        // The entry is `url_key(u)`, host then path: both are checked without building it, in
        // one scan of `host[:port]/path` (the port's digits hold neither `*` nor `^`).
        // [P4] `*` and `^` are wildcards in URL entries and must stand alone as a token; a mixed
        // token breaks commits (CVE-2021-3048 class [P16]). A literal one cannot be written.
        if memchr::memchr2(b'*', b'^', u.without_scheme().as_bytes()).is_some() {
            return Err(unsupported("PAN-OS reads '*' and '^' in URLs as wildcards"));
        }
        // [P3] ≤ 255 characters.
        if u.host_and_path_len() > MAX_URL_LEN {
            return Err(unsupported("PAN-OS URL entries are at most 255 characters"));
        }
    }
    Ok(())
}

/// [X1][P2] `*.x.com` does not match `x.com`, so a wildcard entry is two lines.
pub fn domain_lines(d: DomainRef<'_>) -> usize {
    if d.wildcard {
        2
    } else {
        1
    }
}

/// [P3][P8] no `http://`/`https://` (commit errors otherwise); port dropped (XSOAR treats any
/// `host:port` as invalid [X1]); host already lowercase. The path always starts with `/`, so an
/// empty path is written `evil.com/`: [P7] PAN-OS ≤ 10.1 reads a bare `evil.com` as a prefix that
/// also matches `evil.com.example.net`.
pub fn url_key(u: &UrlValue) -> Cow<'_, str> {
    u.host_and_path()
}

/// Writes the list; returns the entry count.
pub fn write(list: &CompiledList, _o: &FormatOptions, out: &mut Vec<u8>) -> u64 {
    write_with(list, out, &mut |_| {})
}

/// The longest line [`write_with`] makes between two calls of its `spill`, for
/// [`Format::write_to`](super::Format::write_to).
pub(super) const HEADROOM: usize = 4096;

pub(super) fn write_with(
    list: &CompiledList,
    out: &mut Vec<u8>,
    spill: &mut impl FnMut(&mut Vec<u8>),
) -> u64 {
    let mut n = super::write_ips_with(list, out, spill);
    n += super::write_lines_with(&list.domains, out, spill, |d, out| {
        if d.wildcard {
            out.extend_from_slice(d.name.as_bytes());
            out.push(b'\n');
        }
        write_domain(out, d);
        out.push(b'\n');
        domain_lines(d.view()) as u64
    });
    n += super::write_lines_with(&list.urls, out, spill, |u, out| {
        out.extend_from_slice(url_key(u).as_bytes());
        out.push(b'\n');
        1
    });
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [P3][P4] `admit` judges the entry PAN-OS is given, `url_key` (no scheme, no port), without
    /// building it: same verdict as the rule applied to the written text.
    #[test]
    fn admit_judges_the_written_entry() {
        let fill = "a".repeat(MAX_URL_LEN - "evil.com/".len());
        for (t, want) in [
            ("http://evil.com/x*y".to_string(), false),
            ("http://evil.com/x^y".to_string(), false),
            ("https://evil.com/?q=*".to_string(), false),
            ("http://evil.com/ok".to_string(), true),
            // 255 characters once the port is left out, 261 with it
            (format!("http://evil.com:8080/{fill}"), true),
            (format!("http://evil.com/{fill}"), true),
            (format!("http://evil.com/{fill}a"), false),
            (format!("https://user@evil.com:8443/{fill}?"), true),
        ] {
            let (u, _) = crate::indicator::url::parse(&t).expect("a URL");
            let key = url_key(&u);
            let by_text = !key.contains('*') && !key.contains('^') && key.len() <= MAX_URL_LEN;
            let got = admit(&Value::Url(u.clone()), &FormatOptions::default()).is_ok();
            assert_eq!((got, by_text), (want, want), "{t}");
        }
    }
}
