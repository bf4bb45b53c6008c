//! URLs: parsed by the `url` crate (WHATWG URL standard, as browsers read them), then trimmed to
//! what a block entry needs.
//!
//! A token without `scheme://` gets `http://` first, so `evil.com:8080/x` is a host and port, not a
//! scheme. The host is normalized like a domain (or is an IP: the WHATWG IPv4 parser reads
//! `0x7f.1` as 127.0.0.1, exactly as a browser would, so it meets the IP floor). The default port,
//! the fragment, userinfo and an empty `?` are removed; path and query are kept as the crate
//! normalizes them (case kept, no HTML unescaping). Only `http` and `https` are kept.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::domain;
use super::ip::IpRange;
use super::skip::Skip;

/// A normalized http(s) URL, stored compactly: the serialization and a few offsets into it
/// (a `url::Url` is several times larger, and feeds hold millions of URLs). An IP host is read
/// back from the text when asked for ([`UrlValue::host`]) rather than kept beside it: 32 bytes a
/// URL instead of 80.
#[derive(Debug, Clone)]
pub struct UrlValue {
    text: Box<str>,
    /// End of the host (start is after `scheme://`).
    host_end: u32,
    /// Start of the path (after the port, if any).
    path_start: u32,
    port: Option<u16>,
}

impl PartialEq for UrlValue {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for UrlValue {}
impl std::hash::Hash for UrlValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}
impl PartialOrd for UrlValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for UrlValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

/// The host of a URL, for guards and allowlists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlHost<'a> {
    /// A domain name (lowercase A-labels, no trailing dot).
    Domain(&'a str),
    /// An IP literal; IPv4-mapped IPv6 is given as IPv4.
    Ip(IpRange),
}

impl UrlValue {
    fn from_url(url: &Url) -> Self {
        let text = url.as_str();
        let host_start = url.scheme().len() + 3;
        let host_end = host_start + url.host_str().map_or(0, str::len);
        let path_start = text[host_end..]
            .find('/')
            .map_or(text.len(), |i| i + host_end);
        UrlValue {
            text: text.into(),
            host_end: host_end as u32,
            path_start: path_start as u32,
            port: url.port(),
        }
    }

    fn host_start(&self) -> usize {
        if self.text.starts_with("https") {
            8
        } else {
            7
        }
    }

    /// The whole normalized URL, e.g. `http://evil.com/Path?q=1`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.text[..self.host_start() - 3]
    }

    /// The host.
    pub fn host(&self) -> UrlHost<'_> {
        let h = self.host_str();
        match ip_literal(h) {
            Some(r) => UrlHost::Ip(r),
            None => UrlHost::Domain(h),
        }
    }

    /// The host as written in the URL (`evil.com`, `1.2.3.4`, `[2001:db8::1]`).
    pub fn host_str(&self) -> &str {
        &self.text[self.host_start()..self.host_end as usize]
    }

    /// The explicit non-default port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path and query, always starting with `/` for http(s).
    pub fn path(&self) -> &str {
        &self.text[self.path_start as usize..]
    }

    /// True when the URL names more than a site: a path other than `/`, or a query.
    pub fn has_real_path(&self) -> bool {
        self.path() != "/"
    }

    /// Everything after `scheme://`: `host[:port]/path[?query]`.
    pub fn without_scheme(&self) -> &str {
        &self.text[self.host_start()..]
    }

    /// `host/path[?query]`: no scheme, no port (the form PAN-OS, Cisco TID and ProxySG take).
    /// Borrowed unless there is a port to cut out.
    pub fn host_and_path(&self) -> std::borrow::Cow<'_, str> {
        if self.port.is_none() {
            std::borrow::Cow::Borrowed(self.without_scheme())
        } else {
            let (host, path) = (self.host_str(), self.path());
            let mut s = String::with_capacity(host.len() + path.len());
            s.push_str(host);
            s.push_str(path);
            std::borrow::Cow::Owned(s)
        }
    }

    /// The length of [`UrlValue::host_and_path`], without building it.
    pub fn host_and_path_len(&self) -> usize {
        self.host_str().len() + self.path().len()
    }
}

impl std::fmt::Display for UrlValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The address of a host as the WHATWG serializer writes an IP: `1.2.3.4` or `[v6]` (IPv4-mapped
/// IPv6 given as IPv4). A domain host never parses as one: a host whose last label is a number is
/// an IPv4 address for the WHATWG host parser, never a domain.
fn ip_literal(host: &str) -> Option<IpRange> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let a: Ipv6Addr = inner.parse().ok()?;
        return Some(match a.to_ipv4_mapped() {
            Some(v4) => {
                let a = u32::from(v4);
                IpRange::V4 { start: a, end: a }
            }
            None => {
                let a = u128::from(a);
                IpRange::V6 { start: a, end: a }
            }
        });
    }
    if !host.as_bytes().last().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let a = u32::from(host.parse::<Ipv4Addr>().ok()?);
    Some(IpRange::V4 { start: a, end: a })
}

/// True when the token starts with `scheme://` (not merely contains one, as a redirect URL in a
/// query does: `evil.com/r?u=http://x`).
///
/// One pass over the scheme: the first `://` of a token can only start a scheme when every byte
/// before it is a scheme byte, so the scan stops at the first byte that is not one.
pub fn has_scheme(token: &str) -> bool {
    let b = token.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    let end = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))
        .unwrap_or(b.len());
    b[end..].starts_with(b"://")
}

const UNPARSABLE: Skip = Skip::invalid("not a parsable URL");
const SCHEME: Skip = Skip::invalid("URL scheme is not http or https");
const NO_HOST: Skip = Skip::invalid("URL without a host");

/// Parses and normalizes a URL token. Returns the URL and whether the text changed.
pub fn parse(token: &str) -> Result<(UrlValue, bool), Skip> {
    match parse_plain(token) {
        Some(r) => Ok(r),
        None => parse_general(token),
    }
}

/// Byte classes of a plain path and query, for [`plain_path_query`]: bytes the WHATWG parser
/// keeps as they are under the path (query) percent-encode set, minus `\\` (read as `/`) and
/// anything unusual: letters, digits and `-._~!$&'()*+,;=:@/%` (in a query also `?`, but not
/// `'`, which is in the special-query percent-encode set). `.` and `%` in a path need a closer
/// look (dot segments); `?` ends a path, `#` a path or query.
const P_KEEP: u8 = 0;
const P_OTHER: u8 = 1;
const P_DOT: u8 = 2;
const P_PERCENT: u8 = 3;
const P_QUERY: u8 = 4;
const P_FRAGMENT: u8 = 5;
const PATH_CLASS: [u8; 256] = byte_classes(b"-_~!$&'()*+,;=:@/", true);
const QUERY_CLASS: [u8; 256] = byte_classes(b"-._~!$&()*+,;=:@/%?", false);

const fn byte_classes(keep: &[u8], path: bool) -> [u8; 256] {
    let mut t = [P_OTHER; 256];
    let mut c = 0;
    while c < 256 {
        if (c as u8).is_ascii_alphanumeric() {
            t[c] = P_KEEP;
        }
        c += 1;
    }
    let mut i = 0;
    while i < keep.len() {
        t[keep[i] as usize] = P_KEEP;
        i += 1;
    }
    if path {
        t[b'.' as usize] = P_DOT;
        t[b'%' as usize] = P_PERCENT;
        t[b'?' as usize] = P_QUERY;
    }
    t[b'#' as usize] = P_FRAGMENT;
    t
}

/// Splits what follows the host and port into a plain path and query (the fragment is dropped),
/// or `None` when the WHATWG parser would rewrite them: a byte of neither class, a path not
/// starting with `/`, a `.` or `..` segment, or a `%2e` that may spell one. One pass.
fn plain_path_query(after: &str) -> Option<(&str, Option<&str>)> {
    let b = after.as_bytes();
    if b.first()
        .is_some_and(|&c| c != b'/' && c != b'?' && c != b'#')
    {
        return None;
    }
    let mut path_end = b.len();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match PATH_CLASS[usize::from(c)] {
            P_KEEP => {}
            P_DOT => {
                // a `.` or `..` segment: the WHATWG parser resolves it
                if b[i - 1] == b'/' {
                    let seg = &b[i..];
                    let end = seg
                        .iter()
                        .position(|c| matches!(c, b'/' | b'?' | b'#'))
                        .unwrap_or(seg.len());
                    if matches!(&seg[..end], b"." | b"..") {
                        return None;
                    }
                }
            }
            P_PERCENT => {
                if b.get(i + 1) == Some(&b'2') && b.get(i + 2).is_some_and(|e| e | 0x20 == b'e') {
                    return None;
                }
            }
            P_QUERY | P_FRAGMENT => {
                path_end = i;
                break;
            }
            _ => return None,
        }
        i += 1;
    }
    let path = &after[..path_end];
    if b.get(path_end) != Some(&b'?') {
        return Some((path, None));
    }
    let q = &b[path_end + 1..];
    let mut query_end = q.len();
    for (j, &c) in q.iter().enumerate() {
        match QUERY_CLASS[usize::from(c)] {
            P_KEEP => {}
            P_FRAGMENT => {
                query_end = j;
                break;
            }
            _ => return None,
        }
    }
    Some((path, Some(&after[path_end + 1..path_end + 1 + query_end])))
}

/// Userinfo bytes the fast path drops without a closer look: letters, digits and
/// `-._~!$&'()*+,;=:%` (no `@`, and none of `/?#\` that end the authority).
const PLAIN_USERINFO: [bool; 256] = byte_table(b"-._~!$&'()*+,;=:%");

const fn byte_table(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// A label [`domain::normalize_name`] keeps as it is (after lowercasing) and the WHATWG host
/// parser does too: 1–63 bytes, no `-` at either end, not `xn--` (IDNA decides those).
fn plain_label(l: &[u8]) -> bool {
    !l.is_empty()
        && l.len() <= domain::MAX_LABEL
        && l[0] != b'-'
        && l[l.len() - 1] != b'-'
        && !(l.len() >= 4 && l[..4].eq_ignore_ascii_case(b"xn--"))
}

/// An IPv4 part the WHATWG IPv4 parser reads as decimal and writes back as it is: `0`, or
/// 1–3 digits without a leading zero up to 255 (`010` is octal, `256` overflows into the next
/// part: both are rewritten, so they take the general path).
fn canonical_octet(p: &[u8]) -> bool {
    // three digits without a leading zero compare as numbers do
    p.iter().all(u8::is_ascii_digit)
        && match p.len() {
            1 => true,
            2 => p[0] != b'0',
            3 => p[0] != b'0' && p <= b"255".as_slice(),
            _ => false,
        }
}

/// Host byte classes for [`plain_host`]: one table look-up and one test per byte.
const H_NAME: u8 = 1;
const H_UPPER: u8 = 2;
const H_DIGIT: u8 = 4;
const H_DOT: u8 = 8;
const H_END: u8 = 16;
const H_OTHER: u8 = 32;
const HOST_CLASS: [u8; 256] = byte_table!(|b| match b {
    b'a'..=b'z' | b'_' | b'-' => H_NAME,
    b'A'..=b'Z' => H_UPPER,
    b'0'..=b'9' => H_DIGIT,
    b'.' => H_DOT,
    b'/' | b'?' | b'#' | b':' => H_END,
    _ => H_OTHER,
});

/// The host at the start of `r` when it is plain: ASCII letters, digits, `.`, `-` and `_` up to
/// `/`, `?`, `#`, `:` or the end, either a name whose labels pass [`plain_label`] (within 253
/// bytes, no trailing dot, last label not starting with a digit, so never an IPv4 for the WHATWG
/// host parser), or a canonical dotted quad (`1.2.3.4`, kept as it is). Returns the host's
/// length and whether it has an uppercase letter. One pass over the bytes: the labels are
/// checked here rather than by [`domain::normalize_plain`] on a copy.
fn plain_host(r: &[u8]) -> Option<(usize, bool)> {
    let mut seen = 0;
    let mut label = 0;
    let mut dots = 0;
    let mut end = r.len();
    for (i, &c) in r.iter().enumerate() {
        let k = HOST_CLASS[usize::from(c)];
        if k & (H_DOT | H_END | H_OTHER) == 0 {
            seen |= k;
            continue;
        }
        if k == H_DOT {
            if !plain_label(&r[label..i]) {
                return None;
            }
            label = i + 1;
            dots += 1;
        } else if k == H_END {
            end = i;
            break;
        } else {
            return None;
        }
    }
    let last = &r[label..end];
    // an empty last label is a trailing dot (or an empty host)
    if !plain_label(last) {
        return None;
    }
    if seen & (H_NAME | H_UPPER) == 0 {
        let quad = dots == 3 && r[..end].split(|c| *c == b'.').all(canonical_octet);
        return quad.then_some((end, false));
    }
    if last[0].is_ascii_digit() || end > domain::MAX_NAME {
        return None;
    }
    Some((end, seen & H_UPPER != 0))
}

/// Any other host of letters (non-ASCII too), digits, `.`, `-` and `_` up to `/`, `?`, `#`, `:`
/// or the end: Unicode and `xn--` names, a trailing dot. Returns its length and its name as
/// [`domain::normalize_name`] writes it, UTS-46 mapped once (the general path maps it twice: in
/// the `url` crate's host parser, then in `normalize_name`). `None` for any error, and for a
/// name whose last label starts with a digit (which the WHATWG host parser may read as IPv4).
fn idn_host(h: &str) -> Option<(usize, String)> {
    let b = h.as_bytes();
    let end = b
        .iter()
        .position(|&c| c < 0x80 && HOST_CLASS[usize::from(c)] & (H_END | H_OTHER) != 0)
        .unwrap_or(b.len());
    if end < b.len() && HOST_CLASS[usize::from(b[end])] != H_END {
        return None;
    }
    // label by label where it can (`domain::labelwise_name`), else the whole name
    let name = domain::normalize_name(&h[..end]).ok()?.0;
    let last = name.rsplit('.').next()?;
    if last.bytes().next().is_none_or(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((end, name))
}

/// The fast path of [`parse`] for the common shape
/// `[http[s]://][userinfo@]host[:port][/path][?query][#frag]` with a [`plain_host`] (ASCII name
/// or canonical dotted quad) or an [`idn_host`], plain userinfo (dropped), a canonical port, and
/// a path and query of bytes the WHATWG parser keeps as they are, without dot segments
/// ([`plain_path_query`]). For those, the `url` crate's result is known: scheme and host
/// lowercased (a name UTS-46 mapped), userinfo, default port, fragment and empty query dropped,
/// empty path written `/`. `None` (any other shape, or any error) sends the token to
/// [`parse_general`], which stays the reference: the two are compared by differential property
/// tests. One pass over the bytes and one allocation, of exactly the kept length (the `url`
/// crate makes several passes, and the general path IDNA-maps every name twice).
pub(super) fn parse_plain(token: &str) -> Option<(UrlValue, bool)> {
    let b = token.as_bytes();
    let (scheme, default_port, rest) = if b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://") {
        ("https", 443, &token[8..])
    } else if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://") {
        ("http", 80, &token[7..])
    } else if has_scheme(token) {
        return None;
    } else {
        ("http", 80, token)
    };
    let r = rest.as_bytes();
    // The WHATWG parser reads everything before the last `@` of the authority as userinfo; a
    // plain one is the only `@` there (the host scan refuses another).
    let host_at = match memchr::memchr(b'@', r) {
        None => 0,
        Some(a) => match r[..a].iter().find(|c| !PLAIN_USERINFO[usize::from(**c)]) {
            None => a + 1,
            Some(b'/' | b'?' | b'#') => 0,
            Some(_) => return None,
        },
    };
    let (host_len, upper, idn) = match plain_host(&r[host_at..]) {
        Some((len, upper)) => (len, upper, None),
        None => {
            let (len, name) = idn_host(&rest[host_at..])?;
            (len, false, Some(name))
        }
    };
    let host = idn.as_deref().unwrap_or(&rest[host_at..host_at + host_len]);
    let mut at = host_at + host_len;
    let mut port = None;
    let mut port_text = "";
    if r.get(at) == Some(&b':') {
        let digits = r[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let text = &rest[at + 1..at + 1 + digits];
        if digits == 0 || digits > 5 || (digits > 1 && text.starts_with('0')) {
            return None;
        }
        let p: u32 = text.parse().ok()?;
        if p > u32::from(u16::MAX) {
            return None;
        }
        if p != default_port {
            port = Some(p as u16);
            port_text = text;
        }
        at += 1 + digits;
    }
    let (path, query) = plain_path_query(&rest[at..])?;
    let query = query.filter(|q| !q.is_empty());
    // exact capacity: the text is kept for the life of the list
    let len = scheme.len()
        + 3
        + host.len()
        + if port.is_some() {
            port_text.len() + 1
        } else {
            0
        }
        + path.len().max(1)
        + query.map_or(0, |q| q.len() + 1);
    let mut text = String::with_capacity(len);
    text.push_str(scheme);
    text.push_str("://");
    let host_start = text.len();
    text.push_str(host);
    if upper {
        text[host_start..].make_ascii_lowercase();
    }
    let host_end = text.len();
    if port.is_some() {
        text.push(':');
        text.push_str(port_text);
    }
    let path_start = text.len();
    text.push_str(if path.is_empty() { "/" } else { path });
    if let Some(q) = query {
        text.push('?');
        text.push_str(q);
    }
    debug_assert_eq!(text.len(), len);
    let changed = text != token;
    Some((
        UrlValue {
            text: text.into_boxed_str(),
            host_end: host_end as u32,
            path_start: path_start as u32,
            port,
        },
        changed,
    ))
}

/// [`parse`] through the `url` crate: every token can take this path.
fn parse_general(token: &str) -> Result<(UrlValue, bool), Skip> {
    let owned;
    let text = if has_scheme(token) {
        token
    } else {
        owned = format!("http://{token}");
        &owned
    };
    let mut url = Url::parse(text).map_err(|_| UNPARSABLE)?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(SCHEME);
    }
    let host = match url.host() {
        Some(Host::Domain(d)) => Some(d.to_string()),
        Some(_) => None,
        None => return Err(NO_HOST),
    };
    if let Some(host) = host {
        let (name, changed) = domain::normalize_name(&host)?;
        if changed {
            url.set_host(Some(&name)).map_err(|_| UNPARSABLE)?;
        }
    }
    url.set_fragment(None);
    if !url.username().is_empty() {
        url.set_username("").map_err(|_| UNPARSABLE)?;
    }
    if url.password().is_some() {
        url.set_password(None).map_err(|_| UNPARSABLE)?;
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let changed = url.as_str() != token;
    Ok((UrlValue::from_url(&url), changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! ok {
        ($name:ident, $in:expr, $out:expr) => {
            #[test]
            fn $name() {
                assert_eq!(
                    parse($in).map(|u| u.0.as_str().to_string()),
                    Ok($out.to_string())
                );
            }
        };
    }
    macro_rules! bad {
        ($name:ident, $in:expr) => {
            #[test]
            fn $name() {
                assert!(parse($in).is_err(), "{:?}", parse($in));
            }
        };
    }

    ok!(adds_scheme, "evil.com/x", "http://evil.com/x");
    ok!(
        scheme_only_at_start,
        "evil.com/r?u=http://x.com/",
        "http://evil.com/r?u=http://x.com/"
    );
    ok!(
        host_port_not_scheme,
        "evil.com:8080/x",
        "http://evil.com:8080/x"
    );
    ok!(
        default_port_removed,
        "https://evil.com:443/x",
        "https://evil.com/x"
    );
    ok!(
        fragment_removed,
        "http://evil.com/x#frag",
        "http://evil.com/x"
    );
    ok!(
        userinfo_removed,
        "http://user:pw@evil.com/x",
        "http://evil.com/x"
    );
    ok!(
        empty_query_removed,
        "http://evil.com/x?",
        "http://evil.com/x"
    );
    ok!(
        query_kept,
        "http://evil.com/x?a=1&amp;b=2",
        "http://evil.com/x?a=1&amp;b=2"
    );
    ok!(
        path_case_kept,
        "HTTP://EVIL.com/Login.PHP",
        "http://evil.com/Login.PHP"
    );
    ok!(empty_path, "http://evil.com", "http://evil.com/");
    ok!(idn_host, "http://bücher.de/x", "http://xn--bcher-kva.de/x");
    ok!(trailing_dot_host, "http://evil.com./x", "http://evil.com/x");
    ok!(hex_ip_host, "http://0x7f.1/x", "http://127.0.0.1/x");
    ok!(
        v6_host,
        "http://[2001:db8::1]:8080/",
        "http://[2001:db8::1]:8080/"
    );
    ok!(
        space_encoded,
        "http://evil.com/a%20b",
        "http://evil.com/a%20b"
    );
    bad!(ftp, "ftp://evil.com/x");
    bad!(javascript, "javascript://alert(1)");
    bad!(bad_host_chars, "http://ev*il.com/x");
    bad!(bad_port, "http://evil.com:99999/");
    bad!(empty_host, "http:///");

    /// The fast path must be taken for the common shapes, or the differential test below would
    /// compare nothing.
    #[test]
    fn plain_shapes_take_the_fast_path() {
        for t in [
            "https://evil.com/a/b?x=1&y=%20z",
            "HTTP://Evil.COM:8080/Login.PHP#top",
            "evil.com/x",
            "sub_1.evil-host.co.uk",
            "https://evil.com:443/",
            "http://evil.com/?",
            "http://1.2.3.4/",
            "https://0.10.255.199:8080/x?y#z",
            "http://u@evil.com/",
            "https://user:pass@Evil.com/x",
            "https://u:p@1.2.3.4/a@b",
            "http://evil.com/a@b:c",
            "http://bücher.de/",
            "http://xn--bcher-kva.de/",
            "http://a.XN--p1ai/",
            "https://Пример.рф:8443/x",
            "http://evil.com./x",
        ] {
            assert!(parse_plain(t).is_some(), "{t}");
        }
        for t in [
            "http://evil.com/a/../b",
            "http://evil.com/%2E%2e/b",
            "http://evil.com:080/",
            "http://evil.com/a b",
            "http://evil.com/?q='x'",
            // IPv4 hosts the WHATWG parser rewrites or refuses
            "http://0x7f.1/",
            "http://010.0.0.1/",
            "http://1.2.03.4/",
            "http://1.2.3.0x4/",
            "http://256.1.1.1/",
            "http://1.2.3/",
            "http://1.2.3.4.5/",
            "http://1.2.3.4./",
            "http://1..2.3/",
            "http://evil.3com/",
            // names the WHATWG host parser may read as IPv4, or that UTS-46 maps to a
            // character a host must not hold
            "http://a.0x1f/",
            "http://bü.1/",
            "http://a.１/",
            "http://ev\u{ff0f}il.com/",
            "http://xn--zz-.com/",
            "http://evil.com../",
            // userinfo with an `@`, a bracket or a space in it, or an empty host after it
            "http://a@b@evil.com/",
            "http://u[x]@evil.com/",
            "http://u x@evil.com/",
            "http://u@/x",
            "http://u\\x@evil.com/",
        ] {
            assert!(parse_plain(t).is_none(), "{t}");
        }
    }

    /// The label-by-label name is made for the usual IDN hosts (else the differential test
    /// compares nothing) and steps aside where labels cannot be judged alone.
    #[test]
    fn labelwise_names() {
        for (h, want) in [
            (
                "mail.vpn.日本語.Evil.com",
                "mail.vpn.xn--wgv71a119e.evil.com",
            ),
            ("Пример.рф", "xn--e1afmkfd.xn--p1ai"),
            ("XN--P1AI.xn--bcher-kva.de", "xn--p1ai.xn--bcher-kva.de"),
            ("img.münchen.net", "img.xn--mnchen-3ya.net"),
        ] {
            assert_eq!(domain::labelwise_name(h).as_deref(), Some(want), "{h}");
            // and again, from the labels remembered
            assert_eq!(domain::labelwise_name(h).as_deref(), Some(want), "{h}");
        }
        for h in [
            // a Bidi domain name: the Bidi rule judges every label together
            "1a.אב.com",
            "a.مثال.com",
            "a.xn--mgbh0fb.com",
            // labels UTS-46 maps to a dot, or to two labels
            "a\u{3002}b.com",
            "a\u{2488}b.com",
            "bü..com",
            "bü.com.",
            "xn--zz-.com",
        ] {
            assert_eq!(domain::labelwise_name(h), None, "{h}");
        }
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn host() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => "[a-zA-Z0-9_]{1,4}([a-zA-Z0-9_-]{0,4}[a-z0-9])?(\\.[a-zA-Z0-9_]{1,8}){0,3}\\.[a-zA-Z]{2,5}",
                1 => "[a-zA-Z0-9_-]{1,10}(\\.[a-zA-Z0-9_-]{1,10}){0,3}\\.[a-zA-Z]{2,5}\\.?",
                1 => "[a-z0-9.-]{0,12}",
                2 => "(xn--[a-z0-9-]{1,8}|[a-zäöüß日本]{1,6})\\.(de|com|xn--p1ai|рф)",
                // Unicode letters, case, fullwidth forms UTS-46 maps to ASCII (`．`, `／`,
                // `＠`, `：`, digits), dots that are not `.`, joiners, punycode of any shape
                2 => "([a-zA-ZäÖüßÉ日本ПрмеΣσς0-9_.-]|\u{ff0e}|\u{3002}|\u{ff0f}|\u{ff20}|\u{ff1a}|\u{ff11}|\u{200d}|\u{ad}|xn--|XN--){1,10}\\.?([a-zрф]{2,3}|[0-9]{1,2}|0x[0-9a-f]{1,2}|\u{ff11})?\\.?",
                1 => "[0-9]{1,3}(\\.[0-9a-fx]{1,4}){0,3}",
                // dotted quads, canonical or not: octal, hex, overflow, short, long, trailing dot
                2 => "(0x7f|0X1|010|00|0|256|300|[0-9]{1,3})(\\.(0x[0-9a-fA-F]{0,2}|0[0-9]{1,2}|[0-9]{1,4}|)){0,4}\\.?",
                3 => "((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]|0[0-9]{1,2}|25[6-9]|[3-9][0-9]{2}|0[xX][0-9a-f]{0,2})\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]|0[0-9]{1,2}|25[6-9]|[3-9][0-9]{2}|0[xX][0-9a-f]{0,2})\\.?",
                1 => "[a-z]{1,8}\\.[0-9][a-z0-9]{0,3}",
                1 => "\\[[0-9a-f:]{2,12}\\]",
                1 => "[a-z%*@!$&'()+,;=~]{1,10}\\.com",
                3 => idn_name(),
            ]
        }

        /// Names of ASCII, Unicode, `xn--` and right-to-left labels (Hebrew, Arabic, Arabic-Indic
        /// digits, which make a Bidi domain name), combining marks and joiners, and characters
        /// UTS-46 maps to a dot or to more than one character: where a label cannot be judged
        /// alone ([`domain::labelwise_name`]).
        fn idn_name() -> impl Strategy<Value = String> {
            prop::collection::vec(domain::tests::idn_label(), 1..5).prop_map(|l| l.join("."))
        }

        /// URL-ish tokens with odd characters, IDN, percent-escapes and dot segments; most of
        /// them plain enough for the fast path, so the comparison below is not vacuous.
        fn token() -> impl Strategy<Value = String> {
            (
                prop_oneof![
                    4 => "(|http://|https://|HTTPS://|hTTp://)",
                    1 => "(ftp://|http:/|//|http:///|https:)",
                ],
                prop_oneof![
                    6 => Just(String::new()),
                    2 => "[a-zA-Z0-9._~!$&'()*+,;=:%-]{0,8}@",
                    1 => "[a-z0-9:@/?#\\\\\\[\\] é%-]{0,8}@",
                ],
                host(),
                prop_oneof![
                    6 => Just(String::new()),
                    1 => "(:|:0|:80|:443|:080|:8080|:65535|:65536|:99999|:1x)",
                ],
                prop_oneof![
                    4 => "(/[a-zA-Z0-9._~%!$&'()*+,;=:@/-]{0,16})?",
                    1 => "(/[a-zA-Z0-9._~%!$&'()*+,;=:@/ \\\\\"<>^`{|}é-]{0,16})?",
                    1 => "(/(\\.|\\.\\.|%2e|%2E|\\.%2e|a)){1,4}/?",
                ],
                prop_oneof![
                    4 => "(\\?[a-zA-Z0-9._~%!$&()*+,;=:@/?-]{0,12})?",
                    1 => "(\\?[a-zA-Z0-9._~%!$&'()*+,;=:@/?\\\\\"<>^`{|}é-]{0,12})?",
                ],
                "(#[ -~é]{0,8})?",
            )
                .prop_map(|(s, u, h, p, path, q, f)| format!("{s}{u}{h}{p}{path}{q}{f}"))
        }

        /// Whenever the fast path answers for `t`, it answers exactly what the general path does.
        fn fast_agrees(t: &str) -> Result<(), TestCaseError> {
            if let Some(fast) = parse_plain(t) {
                let general = parse_general(t);
                prop_assert_eq!(
                    Ok(format!("{fast:?}")),
                    general.map(|g| format!("{g:?}")),
                    "{:?}",
                    t
                );
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

            // Whenever the fast path answers, it answers exactly what the `url` crate path does:
            // the same text, offsets, port, host kind and `changed` flag.
            #[test]
            fn fast_path_matches_general_path(t in token()) {
                fast_agrees(&t)?;
            }

            // The IP host read back from the text is the one the `url` crate parsed (and a
            // domain host is never read as an IP).
            #[test]
            fn ip_host_read_back_matches_the_url_crate(
                t in prop_oneof![
                    token(),
                    "(http://)?(\\[[0-9a-f:.]{2,20}\\]|[0-9x.]{1,16}|[a-z0-9]{1,4}\\.[a-z]{0,2}[0-9]{1,3})(:[0-9]{1,3})?/",
                ]
            ) {
                if let Ok((u, _)) = parse_general(&t) {
                    let url = Url::parse(u.as_str()).expect("a normalized URL parses");
                    let want = match url.host() {
                        Some(Host::Ipv4(a)) => UrlHost::Ip(IpRange::V4 {
                            start: u32::from(a),
                            end: u32::from(a),
                        }),
                        Some(Host::Ipv6(a)) => UrlHost::Ip(match a.to_ipv4_mapped() {
                            Some(v4) => IpRange::V4 { start: u32::from(v4), end: u32::from(v4) },
                            None => IpRange::V6 { start: u128::from(a), end: u128::from(a) },
                        }),
                        _ => UrlHost::Domain(u.host_str()),
                    };
                    prop_assert_eq!(u.host(), want, "{:?}", t);
                }
            }

            // Paths of arbitrary printable bytes, where the WHATWG encode sets matter most.
            #[test]
            fn fast_path_matches_on_any_path(path in "[!-~]{0,24}", q in "[!-~]{0,12}") {
                fast_agrees(&format!("https://Evil.example.com/{path}?{q}"))?;
            }
        }
    }

    #[test]
    fn parts() {
        let (u, _) = parse("https://Evil.com:8443/a/B?q=1#x").unwrap();
        assert_eq!(u.without_scheme(), "evil.com:8443/a/B?q=1");
        assert_eq!(u.host_and_path(), "evil.com/a/B?q=1");
        assert_eq!(u.host(), UrlHost::Domain("evil.com"));
        assert!(u.has_real_path());
        let (u, _) = parse("http://[::ffff:1.2.3.4]/").unwrap();
        assert_eq!(
            u.host(),
            UrlHost::Ip(IpRange::V4 {
                start: 0x01020304,
                end: 0x01020304
            })
        );
        assert!(!u.has_real_path());
    }
}
