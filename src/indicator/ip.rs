//! IP tokens: addresses, CIDRs and ranges, IPv4 and IPv6, parsed to inclusive integer intervals.
//!
//! The IPv4 parser is hand-written over bytes because it is the hot path of every large feed
//! (10M-line inputs): `str::parse::<Ipv4Addr>` after UTF-8 validation and `String` lines costs
//! several times more. It is also stricter on purpose: an octet with a leading zero (`010.1.1.1`)
//! is refused, since some tools read it as octal. IPv6 goes through `std`'s parser, which accepts
//! every RFC 4291 text form (zero-padded groups included) and refuses zone ids.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::skip::Skip;

/// An inclusive range of addresses of one family; a CIDR is the aligned special case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpRange {
    /// IPv4 `start..=end`.
    V4 {
        /// First address.
        start: u32,
        /// Last address.
        end: u32,
    },
    /// IPv6 `start..=end`.
    V6 {
        /// First address.
        start: u128,
        /// Last address.
        end: u128,
    },
}

impl IpRange {
    /// Number of addresses minus one (so a /0 fits).
    pub fn span(&self) -> u128 {
        match *self {
            IpRange::V4 { start, end } => (end - start) as u128,
            IpRange::V6 { start, end } => end - start,
        }
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            IpRange::V4 { start, end } => match prefix_len_v4(start, end) {
                Some(32) => write!(f, "{}", Ipv4Addr::from(start)),
                Some(p) => write!(f, "{}/{}", Ipv4Addr::from(start), p),
                None => write!(f, "{}-{}", Ipv4Addr::from(start), Ipv4Addr::from(end)),
            },
            IpRange::V6 { start, end } => match prefix_len_v6(start, end) {
                Some(128) => write!(f, "{}", Ipv6Addr::from(start)),
                Some(p) => write!(f, "{}/{}", Ipv6Addr::from(start), p),
                None => write!(f, "{}-{}", Ipv6Addr::from(start), Ipv6Addr::from(end)),
            },
        }
    }
}

/// The prefix length when `start..=end` is exactly one CIDR block.
pub fn prefix_len_v4(start: u32, end: u32) -> Option<u8> {
    let size = (end as u64) - (start as u64) + 1;
    if size.is_power_of_two() && (start as u64).is_multiple_of(size) {
        Some((32 - size.trailing_zeros()) as u8)
    } else {
        None
    }
}

/// The prefix length when `start..=end` is exactly one CIDR block.
pub fn prefix_len_v6(start: u128, end: u128) -> Option<u8> {
    let span = end - start; // size - 1
    if span == u128::MAX {
        return (start == 0).then_some(0);
    }
    let size = span + 1;
    if size.is_power_of_two() && start.is_multiple_of(size) {
        Some((128 - size.trailing_zeros()) as u8)
    } else {
        None
    }
}

/// The network mask for a prefix length (0..=32).
pub fn mask_v4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

/// The network mask for a prefix length (0..=128).
pub fn mask_v6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

/// A parsed IP token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedIp {
    /// The addresses the token names.
    pub range: IpRange,
    /// True when the token was rewritten (host bits masked, IPv4-mapped IPv6 to IPv4).
    pub normalized: bool,
}

const LEADING_ZERO: Skip = Skip::invalid("IPv4 octet with a leading zero (ambiguous octal)");
const BAD_V4: Skip = Skip::invalid("malformed IPv4 address");
const BAD_V6: Skip = Skip::invalid("malformed IPv6 address");
const BAD_PREFIX: Skip = Skip::invalid("bad prefix length");
const BAD_RANGE: Skip = Skip::invalid("range start after end, or families differ");
const BAD_PORT: Skip = Skip::invalid("bad port");
const ZONE: Skip = Skip::invalid("IPv6 zone id (link-local scope) cannot be listed");

/// Parses a dotted-quad IPv4 address strictly: four decimal octets 0..=255, no leading zeros.
pub fn parse_v4(s: &[u8]) -> Result<u32, Skip> {
    let (a, used) = parse_v4_prefix(s)?;
    if used != s.len() {
        return Err(BAD_V4);
    }
    Ok(a)
}

/// Parses a dotted quad at the start of `s`; returns it and the bytes used.
fn parse_v4_prefix(s: &[u8]) -> Result<(u32, usize), Skip> {
    let mut addr: u32 = 0;
    let mut i = 0;
    for part in 0..4 {
        if part > 0 {
            if s.get(i) != Some(&b'.') {
                return Err(BAD_V4);
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while i < s.len() && s[i].is_ascii_digit() && i - start < 4 {
            v = v * 10 + (s[i] - b'0') as u32;
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 3 || v > 255 {
            return Err(BAD_V4);
        }
        if n > 1 && s[start] == b'0' {
            return Err(LEADING_ZERO);
        }
        addr = (addr << 8) | v;
    }
    Ok((addr, i))
}

fn parse_prefix(s: &[u8], max: u8) -> Result<u8, Skip> {
    if s.is_empty() || s.len() > 3 || !s.iter().all(u8::is_ascii_digit) {
        return Err(BAD_PREFIX);
    }
    if s.len() > 1 && s[0] == b'0' {
        return Err(BAD_PREFIX);
    }
    let v = s.iter().fold(0u32, |a, b| a * 10 + (b - b'0') as u32);
    if v > max as u32 {
        return Err(BAD_PREFIX);
    }
    Ok(v as u8)
}

fn check_port(s: &[u8]) -> Result<(), Skip> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return Err(BAD_PORT);
    }
    let v = s.iter().fold(0u32, |a, b| a * 10 + (b - b'0') as u32);
    if v > 65535 {
        return Err(BAD_PORT);
    }
    Ok(())
}

/// Parses an IPv4 token: `a.b.c.d`, `a.b.c.d/len`, `a.b.c.d-e.f.g.h` or `a.b.c.d:port`,
/// in one pass over the bytes.
pub fn parse_v4_token(s: &[u8]) -> Result<ParsedIp, Skip> {
    let (addr, used) = parse_v4_prefix(s)?;
    let rest = &s[used..];
    let host = |a| IpRange::V4 { start: a, end: a };
    match rest.first() {
        None => Ok(ParsedIp {
            range: host(addr),
            normalized: false,
        }),
        Some(b'/') => {
            let len = parse_prefix(&rest[1..], 32)?;
            let start = addr & mask_v4(len);
            let end = start | !mask_v4(len);
            Ok(ParsedIp {
                range: IpRange::V4 { start, end },
                normalized: start != addr,
            })
        }
        Some(b'-') => {
            let end = parse_v4(&rest[1..])?;
            if addr > end {
                return Err(BAD_RANGE);
            }
            Ok(ParsedIp {
                range: IpRange::V4 { start: addr, end },
                normalized: false,
            })
        }
        Some(b':') => {
            check_port(&rest[1..])?;
            Ok(ParsedIp {
                range: host(addr),
                normalized: true,
            })
        }
        Some(_) => Err(BAD_V4),
    }
}

fn parse_v6_addr(s: &str) -> Result<u128, Skip> {
    if s.contains('%') {
        return Err(ZONE);
    }
    s.parse::<Ipv6Addr>().map(u128::from).map_err(|_| BAD_V6)
}

const MAPPED_PREFIX: u128 = 0xffff_0000_0000;

fn is_mapped(a: u128) -> bool {
    a >> 32 == MAPPED_PREFIX >> 32
}

/// Turns an IPv6 range inside `::ffff:0:0/96` into the IPv4 range it maps.
fn unmap(start: u128, end: u128) -> Option<IpRange> {
    if is_mapped(start) && is_mapped(end) {
        Some(IpRange::V4 {
            start: start as u32,
            end: end as u32,
        })
    } else {
        None
    }
}

/// Parses an IPv6 token: address, `addr/len`, `start-end`, `[addr]` or `[addr]:port`.
/// IPv4-mapped addresses (`::ffff:a.b.c.d`) become IPv4.
pub fn parse_v6_token(s: &str) -> Result<ParsedIp, Skip> {
    let (range, normalized) = if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']').ok_or(BAD_V6)?;
        let after = &rest[close + 1..];
        if let Some(port) = after.strip_prefix(':') {
            check_port(port.as_bytes())?;
        } else if !after.is_empty() {
            return Err(BAD_V6);
        }
        let a = parse_v6_addr(&rest[..close])?;
        ((a, a), true)
    } else if let Some((addr, len)) = s.split_once('/') {
        let a = parse_v6_addr(addr)?;
        let len = parse_prefix(len.as_bytes(), 128)?;
        let start = a & mask_v6(len);
        ((start, start | !mask_v6(len)), start != a)
    } else if let Some((a, b)) = s.split_once('-') {
        let start = parse_v6_addr(a)?;
        let end = parse_v6_addr(b)?;
        if start > end {
            return Err(BAD_RANGE);
        }
        ((start, end), false)
    } else {
        let a = parse_v6_addr(s)?;
        ((a, a), false)
    };
    let (start, end) = range;
    if let Some(v4) = unmap(start, end) {
        return Ok(ParsedIp {
            range: v4,
            normalized: true,
        });
    }
    Ok(ParsedIp {
        range: IpRange::V6 { start, end },
        normalized,
    })
}

/// Writes an IPv4 address in dotted-quad form without going through `fmt`: the four octets
/// from a table into a 16-byte stack buffer, which is appended whole (a fixed-size copy the
/// compiler inlines) and then cut back to the address's length.
pub fn write_v4(out: &mut Vec<u8>, a: u32) {
    let mut buf = [0u8; 16];
    let mut n = 0;
    for (i, o) in a.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        let (digits, len) = OCTETS[o as usize];
        buf[n..n + 3].copy_from_slice(&digits);
        n += len as usize;
    }
    let keep = out.len() + n;
    out.extend_from_slice(&buf);
    out.truncate(keep);
}

/// Decimal text of every octet value (left-aligned in 3 bytes) and its length.
static OCTETS: [([u8; 3], u8); 256] = octet_table();

const fn octet_table() -> [([u8; 3], u8); 256] {
    let mut t = [([0u8; 3], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let o = i as u8;
        t[i] = if o >= 100 {
            ([b'0' + o / 100, b'0' + (o / 10) % 10, b'0' + o % 10], 3)
        } else if o >= 10 {
            ([b'0' + o / 10, b'0' + o % 10, 0], 2)
        } else {
            ([b'0' + o, 0, 0], 1)
        };
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Result<(String, bool), Skip> {
        parse_v4_token(s.as_bytes()).map(|p| (p.range.to_string(), p.normalized))
    }
    fn v6(s: &str) -> Result<(String, bool), Skip> {
        parse_v6_token(s).map(|p| (p.range.to_string(), p.normalized))
    }
    macro_rules! ok4 {
        ($name:ident, $in:expr, $out:expr, $norm:expr) => {
            #[test]
            fn $name() {
                assert_eq!(v4($in), Ok(($out.to_string(), $norm)));
            }
        };
    }
    macro_rules! bad4 {
        ($name:ident, $in:expr) => {
            #[test]
            fn $name() {
                assert!(v4($in).is_err(), "{:?}", v4($in));
            }
        };
    }
    macro_rules! ok6 {
        ($name:ident, $in:expr, $out:expr) => {
            #[test]
            fn $name() {
                assert_eq!(v6($in).map(|x| x.0), Ok($out.to_string()));
            }
        };
    }
    macro_rules! bad6 {
        ($name:ident, $in:expr) => {
            #[test]
            fn $name() {
                assert!(v6($in).is_err(), "{:?}", v6($in));
            }
        };
    }

    ok4!(host, "1.2.3.4", "1.2.3.4", false);
    ok4!(zero, "0.0.0.0", "0.0.0.0", false);
    ok4!(cidr, "10.0.0.0/8", "10.0.0.0/8", false);
    ok4!(cidr_host_bits_masked, "10.1.2.3/8", "10.0.0.0/8", true);
    ok4!(cidr32_is_host, "1.2.3.4/32", "1.2.3.4", false);
    ok4!(range, "1.2.3.4-1.2.3.10", "1.2.3.4-1.2.3.10", false);
    ok4!(
        range_aligned_is_cidr,
        "1.2.3.0-1.2.3.255",
        "1.2.3.0/24",
        false
    );
    ok4!(port, "1.2.3.4:8080", "1.2.3.4", true);
    bad4!(leading_zero, "010.1.1.1");
    bad4!(octet_too_big, "1.2.3.256");
    bad4!(three_parts, "1.2.3");
    bad4!(five_parts, "1.2.3.4.5");
    bad4!(prefix_33, "1.2.3.4/33");
    bad4!(prefix_empty, "1.2.3.4/");
    bad4!(prefix_leading_zero, "1.2.3.4/08");
    bad4!(range_reversed, "1.2.3.9-1.2.3.4");
    bad4!(port_too_big, "1.2.3.4:70000");
    bad4!(empty_octet, "1..3.4");

    ok6!(v6_host, "2001:db8::1", "2001:db8::1");
    ok6!(v6_zero_padded, "2001:0418:0000::1", "2001:418::1");
    ok6!(
        v6_expanded,
        "2001:0418:8006:0000:0000:0000:0000:0001",
        "2001:418:8006::1"
    );
    ok6!(v6_upper, "2001:DB8::A", "2001:db8::a");
    ok6!(v6_cidr_masked, "2001:db8::1/32", "2001:db8::/32");
    ok6!(v6_bracket_port, "[2001:db8::1]:443", "2001:db8::1");
    ok6!(v6_bracket, "[2001:db8::1]", "2001:db8::1");
    ok6!(
        v6_range,
        "2001:db8::1-2001:db8::3",
        "2001:db8::1-2001:db8::3"
    );
    ok6!(mapped_to_v4, "::ffff:1.2.3.4", "1.2.3.4");
    ok6!(mapped_cidr_to_v4, "::ffff:1.2.3.0/120", "1.2.3.0/24");
    bad6!(zone, "fe80::1%eth0");
    bad6!(v6_prefix_129, "2001:db8::/129");
    bad6!(v6_garbage, "2001:db8:::1");
    bad6!(v6_bracket_junk, "[2001:db8::1]x");

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len_v4(0, u32::MAX), Some(0));
        assert_eq!(prefix_len_v4(5, 5), Some(32));
        assert_eq!(prefix_len_v4(4, 5), Some(31));
        assert_eq!(prefix_len_v4(5, 6), None);
        assert_eq!(prefix_len_v6(0, u128::MAX), Some(0));
        assert_eq!(prefix_len_v6(1, u128::MAX), None);
        assert_eq!(prefix_len_v6(7, 7), Some(128));
    }

    #[test]
    fn writes_v4() {
        for a in [0u32, 1, 0x0a000001, 0xffffffff, 0x01020304, 0x640a0b63] {
            let mut out = Vec::new();
            write_v4(&mut out, a);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                Ipv4Addr::from(a).to_string()
            );
        }
    }

    proptest::proptest! {
        // The table writer appends exactly `Ipv4Addr`'s text after what is already there.
        #[test]
        fn write_v4_is_display(a: u32, before in "[a-z./]{0,20}") {
            let mut out = before.clone().into_bytes();
            write_v4(&mut out, a);
            proptest::prop_assert_eq!(out, format!("{before}{}", Ipv4Addr::from(a)).into_bytes());
        }
    }
}
