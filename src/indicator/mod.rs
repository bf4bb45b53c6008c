//! The vocabulary every stage shares: what an indicator is, its metadata, and how one raw line
//! becomes one. No I/O here.
//!
//! [`parse_line`] is the one entry point every source uses: it splits the line
//! ([`line::split`]), refangs the token, detects its kind (or checks it against a fixed kind) and
//! hands it to the normalizer for that kind.

/// A table of 256 bytes made at compile time: `byte_table!(|b| class)` gives `class` for every
/// byte `b` (the byte classes of the one-pass scanners).
macro_rules! byte_table {
    (|$b:ident| $class:expr) => {{
        let mut t = [0u8; 256];
        let mut c = 0;
        while c < 256 {
            let $b = c as u8;
            t[c] = $class;
            c += 1;
        }
        t
    }};
}

pub mod domain;
pub mod hash;
pub mod ip;
pub mod line;
pub mod skip;
pub mod time;
pub mod url;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

pub use self::domain::{Domain, DomainRef};
pub use self::hash::{Hash, HashKind};
pub use self::ip::IpRange;
pub use self::skip::{Report, Skip, SkipReason};
pub use self::url::UrlValue;

/// The kinds of indicator edlforge handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// IPv4 and IPv6 addresses, networks and ranges.
    Ip,
    /// Domain names, optionally with all subdomains (`*.`).
    Domain,
    /// http(s) URLs.
    Url,
    /// MD5, SHA-1, SHA-256 file hashes.
    Hash,
}

impl Kind {
    /// Every kind, in output order.
    pub const ALL: [Kind; 4] = [Kind::Ip, Kind::Domain, Kind::Url, Kind::Hash];

    /// The id used in config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Hash => "hash",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown indicator type {s:?}; expected ip, domain, url or hash")
            })
    }
}

/// Traffic Light Protocol marking (FIRST TLP 2.0; `white` is read as `clear`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Tlp {
    /// TLP:CLEAR — may be published freely.
    #[default]
    Clear,
    /// TLP:GREEN — community-wide.
    Green,
    /// TLP:AMBER — the recipient's organisation and its clients.
    Amber,
    /// TLP:AMBER+STRICT — the recipient's organisation only.
    AmberStrict,
    /// TLP:RED — named recipients only.
    Red,
}

impl Tlp {
    /// The id used in config: `clear`, `green`, `amber`, `amber+strict`, `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}

impl FromStr for Tlp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().trim_start_matches("tlp:") {
            "clear" | "white" => Ok(Tlp::Clear),
            "green" => Ok(Tlp::Green),
            "amber" => Ok(Tlp::Amber),
            "amber+strict" => Ok(Tlp::AmberStrict),
            "red" => Ok(Tlp::Red),
            _ => Err(format!(
                "unknown TLP {s:?}; expected clear, green, amber, amber+strict or red"
            )),
        }
    }
}

/// Confidence given to indicators whose source says nothing (the `[defaults] confidence`).
pub const DEFAULT_CONFIDENCE: u8 = 50;

/// What we know about an indicator besides its value. Times are Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Names of the sources that report it.
    pub sources: Vec<String>,
    /// 0–100; `None` means the source gave none.
    pub confidence: Option<u8>,
    /// When a source first reported it.
    pub first_seen: Option<i64>,
    /// When a source last reported it.
    pub last_seen: Option<i64>,
    /// When it stops being valid.
    pub expires: Option<i64>,
    /// Sharing restriction; `None` means the source default.
    pub tlp: Option<Tlp>,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// Free text (the rest of the line in text feeds).
    pub comment: Option<String>,
}

impl Meta {
    /// Capacity priority: confidence, then number of sources, then newest `last_seen`.
    /// Ties are broken by value by the caller.
    pub fn priority(&self) -> Priority {
        Priority {
            confidence: self.confidence.unwrap_or(DEFAULT_CONFIDENCE),
            sources: self.sources.len().min(u16::MAX as usize) as u16,
            last_seen: self.last_seen.unwrap_or(i64::MIN),
        }
    }
}

/// Ordering key for `max_entries`: higher keeps first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority {
    /// Confidence 0–100.
    pub confidence: u8,
    /// Distinct sources.
    pub sources: u16,
    /// Newest sighting.
    pub last_seen: i64,
}

impl Default for Priority {
    fn default() -> Self {
        Meta::default().priority()
    }
}

/// A normalized indicator value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// Addresses.
    Ip(IpRange),
    /// A domain.
    Domain(Domain),
    /// A URL.
    Url(UrlValue),
    /// A file hash.
    Hash(Hash),
}

impl Value {
    /// Which kind it is.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Ip(_) => Kind::Ip,
            Value::Domain(_) => Kind::Domain,
            Value::Url(_) => Kind::Url,
            Value::Hash(_) => Kind::Hash,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Ip(v) => v.fmt(f),
            Value::Domain(v) => v.fmt(f),
            Value::Url(v) => v.fmt(f),
            Value::Hash(v) => v.fmt(f),
        }
    }
}

/// An indicator with its metadata, as sources produce it and the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// The normalized value.
    pub value: Value,
    /// What we know about it.
    pub meta: Meta,
}

/// A successfully parsed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The value in normal form.
    pub value: Value,
    /// True when the text was rewritten to get there (refang, case, host bits, ...).
    pub normalized: bool,
}

/// What kind a token looks like, before it is parsed.
fn classify(t: &str) -> Kind {
    let b = t.as_bytes();
    // One pass settles most names: without any of `:/?#@` a token is no URL (a scheme needs
    // `:`) and no IPv6; starting with neither `[` nor a digit it is no IP; with a byte that is
    // not a hex digit it is no hash. The passes below took 10% of the CPU of the names that
    // miss the plain fast path (Unicode, `xn--`, defanged).
    let class = b.iter().fold(0u8, |f, &c| f | TOKEN_CLASS[c as usize]);
    if class & URLISH == 0
        && class & NOT_HEX != 0
        && !b.first().is_some_and(|&c| c == b'[' || c.is_ascii_digit())
    {
        return Kind::Domain;
    }
    classify_passes(t)
}

/// [`classify`] without its one-pass shortcut.
fn classify_passes(t: &str) -> Kind {
    let b = t.as_bytes();
    if url::has_scheme(t) {
        return Kind::Url;
    }
    if b.first() == Some(&b'[') {
        return Kind::Ip;
    }
    let colons = memchr::memchr_iter(b':', b).count();
    // IPv6: hex groups; a zone id (`%eth0`) is read as IPv6 so it is refused as such.
    let before_zone = b.split(|c| *c == b'%').next().unwrap_or(b);
    if colons >= 2
        && before_zone
            .iter()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.' | b'/' | b'-'))
    {
        return Kind::Ip;
    }
    // IPv4: digits and dots, with `/len`, `-end` or `:port`; `1.2.3.4/` or `1.2.3.4/x` is a URL.
    let prefix_ok = match memchr::memchr(b'/', b) {
        None => true,
        Some(i) => colons == 0 && i + 1 < b.len() && b[i + 1..].iter().all(u8::is_ascii_digit),
    };
    if b.first().is_some_and(u8::is_ascii_digit)
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'/' | b'-' | b':'))
        && prefix_ok
        && b.iter().filter(|c| **c == b'.').count() >= 3
    {
        return Kind::Ip;
    }
    if hash::looks_like(t) {
        return Kind::Hash;
    }
    if b.iter()
        .any(|c| matches!(c, b'/' | b':' | b'?' | b'#' | b'@'))
    {
        return Kind::Url;
    }
    Kind::Domain
}

/// [`TOKEN_CLASS`] bits: one of `:/?#@`; a byte that is not a hex digit.
const URLISH: u8 = 1;
const NOT_HEX: u8 = 2;

/// The class of every byte for [`classify`]'s one pass.
const TOKEN_CLASS: [u8; 256] = byte_table!(|b| if b.is_ascii_hexdigit() {
    0
} else if matches!(b, b':' | b'/' | b'?' | b'#' | b'@') {
    URLISH | NOT_HEX
} else {
    NOT_HEX
});

const NOT_UTF8: Skip = Skip::invalid("not valid UTF-8");

/// Now, in Unix seconds: the clock every timestamp of the vocabulary (first/last seen,
/// expiry, compile and poll times) is read from.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses one token (already split from its line). `want = None` detects the kind; with a
/// fixed kind, a token of another kind is a `wrong_type` skip.
pub fn parse_token(token: &[u8], want: Option<Kind>) -> Result<Parsed, Skip> {
    // Fast path: dotted-quad tokens, the bulk of IP feeds, parsed in one pass. When it fails,
    // the general path below decides what the token is (it may be `1.2.3.example.com`).
    if matches!(want, None | Some(Kind::Ip)) && token.first().is_some_and(u8::is_ascii_digit) {
        if let Ok(p) = ip::parse_v4_token(token) {
            return Ok(Parsed {
                value: Value::Ip(p.range),
                normalized: p.normalized,
            });
        }
    }
    // Fast path: plain ASCII names, the bulk of domain feeds, without the general path's
    // UTF-8 check, refang and classification passes (same result; see `plain_domain`).
    if matches!(want, None | Some(Kind::Domain)) {
        if let Some(p) = plain_domain(token) {
            return Ok(p);
        }
    }
    // Fast path: plain http(s) URLs, the bulk of URL feeds, without the general path's refang
    // and classification passes (same result; see `plain_url`).
    if matches!(want, None | Some(Kind::Url)) {
        if let Some(p) = plain_url(token) {
            return Ok(p);
        }
    }
    parse_token_general(token, want)
}

/// A token that is certainly a URL for [`classify`], needs no refanging and takes
/// [`url::parse`]'s fast path. `None` sends it to the general path, which also makes every error.
fn plain_url(token: &[u8]) -> Option<Parsed> {
    // refang is the identity: no `hxxp` start, no bracket that may open a `[.]`
    if token
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"hxxp"))
        || memchr::memchr3(b'[', b'(', b'{', token).is_some()
    {
        return None;
    }
    let t = std::str::from_utf8(token).ok()?;
    if !url::has_scheme(t) && (!classified_as_url(t) || no_scheme_url(t).is_err()) {
        return None;
    }
    let (u, normalized) = url::parse_plain(t)?;
    Some(Parsed {
        value: Value::Url(u),
        normalized,
    })
}

/// `classify(t) == Kind::Url` for a token without `scheme://`, in one pass when it starts with a
/// letter that is not a hex digit: such a token is no IP (IPv6 is hex digits, IPv4 starts with a
/// digit) and no hash (hex), so it is a URL exactly when it holds one of `/:?#@`.
fn classified_as_url(t: &str) -> bool {
    match t.as_bytes().first() {
        Some(b'g'..=b'z' | b'G'..=b'Z') => t
            .bytes()
            .any(|c| matches!(c, b'/' | b':' | b'?' | b'#' | b'@')),
        _ => classify(t) == Kind::Url,
    }
}

/// Refuses the two things a URL without `scheme://` must not be read as.
fn no_scheme_url(t: &str) -> Result<(), Skip> {
    // `user@gmail.com` would parse as the URL `http://gmail.com/` (userinfo removed) and block
    // all of gmail.com; `C:\x\y.exe` as `http://c/x/y.exe`.
    let b = t.as_bytes();
    if let Some(at) = memchr::memchr(b'@', b) {
        if memchr::memchr(b'/', &b[..at]).is_none() {
            return Err(Skip::invalid("an e-mail address, not a URL"));
        }
    }
    if memchr::memchr(b'\\', b).is_some() {
        return Err(Skip::invalid("a backslash: a file path, not a URL"));
    }
    Ok(())
}

/// A token that is certainly a domain for [`classify`] and needs no refanging: `[*.]name` of
/// ASCII letters, digits, `.`, `-` and `_` with at least one letter or `_` (so no IPv4 shape),
/// not hash-shaped, not starting with `hxxp`. `None` sends it to the general path, which also
/// makes every error (so error details stay those of the general path).
fn plain_domain(token: &[u8]) -> Option<Parsed> {
    let mut name = String::new();
    let (wildcard, normalized) = plain_domain_into(token, &mut name)?;
    Some(Parsed {
        value: Value::Domain(Domain { name, wildcard }),
        normalized,
    })
}

/// [`plain_domain`] writing the name into `name` (emptied first): `(wildcard, normalized)`.
fn plain_domain_into(token: &[u8], name: &mut String) -> Option<(bool, bool)> {
    let (rest, wildcard) = match token.strip_prefix(b"*.") {
        Some(r) => (r, true),
        None => (token, false),
    };
    if token
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"hxxp"))
        || (matches!(token.len(), 32 | 40 | 64) && token.iter().all(u8::is_ascii_hexdigit))
    {
        return None;
    }
    // one pass: the character set, the lowercase copy and the label rules
    let p = domain::plain_name_into(rest, name)?;
    p.letter.then_some((wildcard, p.changed))
}

/// [`parse_token`] of a token that its plain-name fast path takes, with the name written into
/// `name` (emptied first) instead of a new string: `Some((wildcard, normalized))` exactly when
/// `parse_token(token, want)` gives the domain `name` that way. `None`: ask [`parse_token`].
/// For a reader that keeps names in a buffer of its own (`convert` into the compiler's names).
pub fn parse_plain_domain(
    token: &[u8],
    want: Option<Kind>,
    name: &mut String,
) -> Option<(bool, bool)> {
    // the order of `parse_token`: a token starting with a digit is tried as an IPv4 first
    let ip_first =
        matches!(want, None | Some(Kind::Ip)) && token.first().is_some_and(u8::is_ascii_digit);
    if ip_first || !matches!(want, None | Some(Kind::Domain)) {
        return None;
    }
    plain_domain_into(token, name)
}

/// [`parse_token`] without its fast paths: every token can take this path.
fn parse_token_general(token: &[u8], want: Option<Kind>) -> Result<Parsed, Skip> {
    let s = std::str::from_utf8(token).map_err(|_| NOT_UTF8)?;
    let refanged = line::refang(s);
    let was_refanged = matches!(&refanged, Cow::Owned(o) if o != s);
    let t: &str = &refanged;
    let kind = classify(t);
    // Parse first: a token that is no valid indicator at all is `invalid`, whatever was asked
    // for; only a valid one of another kind is `wrong_type`.
    let (value, normalized) = match kind {
        Kind::Ip => {
            let p = if t.contains(':') && !is_v4_with_port(t) {
                ip::parse_v6_token(t)?
            } else {
                ip::parse_v4_token(t.as_bytes())?
            };
            (Value::Ip(p.range), p.normalized)
        }
        Kind::Domain => {
            let (d, c) = domain::parse(t)?;
            (Value::Domain(d), c)
        }
        Kind::Url => {
            if !url::has_scheme(t) {
                no_scheme_url(t)?;
            }
            let (u, c) = url::parse(t)?;
            (Value::Url(u), c)
        }
        Kind::Hash => {
            let (h, c) = hash::parse(t)?;
            (Value::Hash(h), c)
        }
    };
    if let Some(w) = want {
        if w != kind {
            return Err(Skip::new(
                SkipReason::WrongType,
                match kind {
                    Kind::Ip => "an IP where another type was asked for",
                    Kind::Domain => "a domain where another type was asked for",
                    Kind::Url => "a URL where another type was asked for",
                    Kind::Hash => "a hash where another type was asked for",
                },
            ));
        }
    }
    Ok(Parsed {
        value,
        normalized: normalized || was_refanged,
    })
}

fn is_v4_with_port(t: &str) -> bool {
    memchr::memchr_iter(b':', t.as_bytes()).count() == 1 && !t.starts_with('[')
}

/// A parsed line: the token's value and the rest of the line as comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    /// The indicator.
    pub parsed: Parsed,
    /// The rest of the line (may be empty).
    pub comment: &'a [u8],
    /// The raw token, for reports.
    pub token: &'a [u8],
}

/// Parses one raw line. `Ok(None)` for blank and comment lines.
///
/// # Errors
/// A [`Skip`] (`invalid` or `wrong_type`) when the line holds no usable indicator.
pub fn parse_line(line_bytes: &[u8], want: Option<Kind>) -> Result<Option<ParsedLine<'_>>, Skip> {
    match line::split(line_bytes) {
        line::Line::Blank => Ok(None),
        line::Line::Token { token, comment } => {
            let parsed = parse_token(token, want)?;
            Ok(Some(ParsedLine {
                parsed,
                comment,
                token,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // The one-pass shortcut of `classify` answers what its passes answer.
        #[test]
        fn classify_shortcut_is_the_passes(t in proptest::prop_oneof![
            "[0-9a-fA-Fxz.:/?#@%\\[\\]\\-_é]{0,70}",
            "[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}",
            "[0-9]{1,3}(\\.[0-9]{1,3}){3}(/[0-9]{1,2}|-[0-9.]{7}|:[0-9]{2})?",
            "[a-zA-Z][a-zA-Z0-9+.-]{0,6}://[a-z.é]{0,20}",
        ]) {
            proptest::prop_assert_eq!(classify(&t), classify_passes(&t), "{}", t);
        }

        // A name written into a buffer by `parse_plain_domain` is what `parse_token` gives, for
        // every type asked for, on tokens that are names (upper case, trailing dots, wildcards,
        // digits first), addresses, hashes, URLs and odd ones; and the buffer's old text never
        // shows through.
        #[test]
        fn plain_domain_into_a_buffer_is_parse_token(
            t in proptest::prop_oneof![
                "(\\*\\.)?[a-zA-Z0-9_-]{1,8}(\\.[a-zA-Z0-9_-]{1,8}){0,3}\\.{0,2}",
                "[0-9]{1,3}(\\.[0-9]{1,3}){3}",
                "[0-9a-fA-F]{32}|[0-9a-fA-F]{64}",
                "(hxxp|https?://)?[a-z.\\[\\]é-]{0,20}",
                "[ -~]{0,30}",
            ],
            want in proptest::sample::select(vec![None, Some(Kind::Ip), Some(Kind::Domain), Some(Kind::Url), Some(Kind::Hash)]),
            old in "[a-z]{0,300}",
        ) {
            let mut name = old;
            if let Some((wildcard, normalized)) = parse_plain_domain(t.as_bytes(), want, &mut name) {
                let want_p = Parsed { value: Value::Domain(Domain { name, wildcard }), normalized };
                proptest::prop_assert_eq!(parse_token(t.as_bytes(), want), Ok(want_p), "{}", t);
            }
        }
    }

    #[test]
    fn plain_domain_into_a_buffer_takes_plain_names_alone() {
        let mut name = String::from("old.text");
        assert_eq!(
            parse_plain_domain(b"*.Evil.COM.", Some(Kind::Domain), &mut name),
            Some((true, true))
        );
        assert_eq!(name, "evil.com");
        assert_eq!(
            parse_plain_domain(b"evil.com", None, &mut name),
            Some((false, false))
        );
        for (t, want) in [
            ("1evil.com", None), // an IPv4 is tried first
            ("evil.com", Some(Kind::Ip)),
            ("evil.com", Some(Kind::Url)),
            ("bücher.de", Some(Kind::Domain)),
            ("evil[.]com", Some(Kind::Domain)),
            ("xn--bcher-kva.de", Some(Kind::Domain)),
        ] {
            assert_eq!(
                parse_plain_domain(t.as_bytes(), want, &mut name),
                None,
                "{t}"
            );
        }
    }

    fn kind_of(s: &str) -> Result<Kind, SkipReason> {
        parse_token(s.as_bytes(), None)
            .map(|p| p.value.kind())
            .map_err(|e| e.reason)
    }
    macro_rules! kind {
        ($name:ident, $in:expr, $k:expr) => {
            #[test]
            fn $name() {
                assert_eq!(kind_of($in), Ok($k));
            }
        };
    }
    macro_rules! invalid {
        ($name:ident, $in:expr) => {
            #[test]
            fn $name() {
                assert_eq!(kind_of($in), Err(SkipReason::Invalid));
            }
        };
    }

    kind!(auto_v4, "1.2.3.4", Kind::Ip);
    kind!(auto_v4_port, "1.2.3.4:80", Kind::Ip);
    kind!(auto_v4_range, "1.2.3.4-1.2.3.9", Kind::Ip);
    kind!(auto_v6, "2001:db8::1", Kind::Ip);
    kind!(auto_v6_bracket, "[2001:db8::1]:80", Kind::Ip);
    kind!(auto_v6_mapped, "::ffff:1.2.3.4", Kind::Ip);
    kind!(auto_domain, "evil.com", Kind::Domain);
    kind!(auto_wildcard, "*.evil.com", Kind::Domain);
    kind!(auto_numeric_start_domain, "1.2.3.example.com", Kind::Domain);
    kind!(auto_url, "http://evil.com/x", Kind::Url);
    kind!(auto_url_noscheme, "evil.com/x", Kind::Url);
    kind!(auto_url_hostport, "evil.com:8080", Kind::Url);
    kind!(auto_url_ip_path, "1.2.3.4/admin", Kind::Url);
    kind!(auto_url_ip_port_path, "1.2.3.4:8080/x", Kind::Url);
    kind!(auto_url_ip_slash, "199.6.61.222/", Kind::Url);
    kind!(auto_defanged_url, "hxxp://evil[.]com/x", Kind::Url);
    kind!(auto_defanged_domain, "evil[.]com", Kind::Domain);
    kind!(auto_md5, "d41d8cd98f00b204e9800998ecf8427e", Kind::Hash);
    kind!(auto_sha256_upper, &"AB".repeat(32), Kind::Hash);
    invalid!(leading_zero, "010.1.1.1");
    invalid!(numeric_tld, "1.2.3.999");
    invalid!(zone, "fe80::1%eth0");
    invalid!(garbage, "<html>");
    invalid!(ftp, "ftp://evil.com/");
    // An e-mail address must never become `http://gmail.com/` (found by review of OTX feeds).
    invalid!(email_is_not_a_url, "someone@gmail.com");
    invalid!(windows_path_is_not_a_url, "C:\\Windows\\x.exe");
    kind!(
        userinfo_with_scheme_is_a_url,
        "http://user@evil.com/x",
        Kind::Url
    );
    kind!(at_in_path_is_a_url, "evil.com/u/@someone", Kind::Url);

    // Found by the parse_line fuzz target: a bracket that is not defanging is not a rewrite.
    #[test]
    fn bracket_without_defang_is_not_normalized() {
        let p = parse_token(b"http://5.6.7.8/(6", None).unwrap();
        assert!(!p.normalized);
    }

    /// The URL fast path is taken for plain URLs (else the differential test compares nothing)
    /// and steps aside for everything the general path must decide.
    #[test]
    fn plain_url_fast_path() {
        for t in [
            "https://evil.com/x",
            "HTTP://Evil.com:8080/a?b#c",
            "evil.com/x",
            "evil.com:8080",
            "1.2.3.4/admin",
            "1.2.3.4:8080/x",
            "https://u:p@1.2.3.4/",
            "evil.com/u/@someone",
            "https://evil.com/#\u{e9}",
        ] {
            assert!(plain_url(t.as_bytes()).is_some(), "{t}");
        }
        for t in [
            "1.2.3.4:80",
            "1.2.3.4/24",
            "abc.de/a:b:c",
            "someone@gmail.com",
            "u@evil.com/x",
            "evil.com?a@b",
            "evil.com/a\\b",
            "evil.com/x#a\\b",
            "hxxp://evil.com/",
            "hxxpevil.com/x",
            "HXXPevil.com/x",
            "evil[.]com/x",
            "http://evil.com/(.)",
            "http://evil.com/x#{.}",
            "ftp://evil.com/",
        ] {
            assert!(plain_url(t.as_bytes()).is_none(), "{t}");
        }
        // a fragment is kept out of the value but must still be UTF-8
        let bad = b"http://evil.com/x#\xff";
        assert!(plain_url(bad).is_none());
        assert_eq!(
            parse_token(bad, Some(Kind::Url)),
            parse_token_general(bad, Some(Kind::Url))
        );
    }

    /// The domain fast path is taken for plain names (else the differential test compares
    /// nothing) and steps aside for everything the general path must decide.
    #[test]
    fn plain_domain_fast_path() {
        for t in [
            "evil.com",
            "*.Evil.COM",
            "evil.com.",
            "_dmarc.a-1.co.uk",
            "1.2.3.com",
        ] {
            assert!(plain_domain(t.as_bytes()).is_some(), "{t}");
        }
        for t in [
            "1.2.3.4",
            "1-2.3",
            "xn--bcher-kva.de",
            "bücher.de",
            "evil[.]com",
            "hxxpevil.com",
            "evil.com..",
            "ev*il.com",
            "d41d8cd98f00b204e9800998ecf8427e",
        ] {
            assert!(plain_domain(t.as_bytes()).is_none(), "{t}");
        }
    }

    #[test]
    fn wrong_type_with_fixed_kind() {
        let e = parse_token(b"evil.com", Some(Kind::Ip)).unwrap_err();
        assert_eq!(e.reason, SkipReason::WrongType);
        let e = parse_token(b"1.2.3.4", Some(Kind::Domain)).unwrap_err();
        assert_eq!(e.reason, SkipReason::WrongType);
    }

    #[test]
    fn invalid_wins_over_wrong_type() {
        let e = parse_token(b"1.2.3.999", Some(Kind::Domain)).unwrap_err();
        assert_eq!(e.reason, SkipReason::Invalid);
        let e = parse_token(b"fe80::1%eth0", Some(Kind::Url)).unwrap_err();
        assert_eq!(e.reason, SkipReason::Invalid);
    }

    #[test]
    fn non_utf8_is_invalid() {
        assert_eq!(
            parse_token(b"ev\xffil.com", None).unwrap_err().reason,
            SkipReason::Invalid
        );
    }

    #[test]
    fn parse_line_keeps_comment() {
        let l = parse_line(b"1.2.3.4 ; SBL1\r\n", None).unwrap().unwrap();
        assert_eq!(l.comment, b"; SBL1");
        assert_eq!(parse_line(b"# x", None), Ok(None));
    }

    #[test]
    fn tlp_names() {
        assert_eq!("TLP:AMBER+STRICT".parse::<Tlp>(), Ok(Tlp::AmberStrict));
        assert_eq!("white".parse::<Tlp>(), Ok(Tlp::Clear));
        assert!(Tlp::Red > Tlp::Green);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Plausible tokens of every kind, mangled a little.
        fn token() -> impl Strategy<Value = String> {
            prop_oneof![
                "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,2})?",
                "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}-[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
                "[0-9a-fA-F:]{2,30}(/[0-9]{1,3})?",
                "(\\*\\.)?[a-zA-Z0-9_-]{1,12}(\\.[a-zA-Z0-9-]{1,12}){0,3}\\.?",
                "[a-zäöü]{1,8}\\.(de|com|xn--p1ai|рф)",
                "(hxxps?|https?|ftp)://[a-z0-9.\\[\\]]{1,20}(:[0-9]{1,5})?(/[ -~]{0,20})?",
                "[a-z0-9.]{1,20}(/[a-zA-Z0-9?=&%]{0,20})",
                "[0-9a-fA-F]{32}|[0-9a-f]{40}|[0-9A-F]{64}",
            ]
        }

        /// Name-like tokens with odd characters, IDN, punycode, percent-escapes, IPv4 and hash
        /// shapes and defanging: the inputs where the fast paths must step aside.
        fn name_token() -> impl Strategy<Value = String> {
            prop_oneof![
                "(\\*\\.)?[a-zA-Z0-9_.-]{1,20}\\.{0,2}",
                "(\\*\\.)?[a-zA-Z0-9]{1,8}(\\.[a-zA-Z0-9_-]{1,8}){1,3}",
                "[0-9.-]{1,16}[a-z]?",
                "[0-9a-fA-F]{30,34}|[0-9a-f]{40}|[0-9A-F]{64}",
                "(hxxp|HXXP|hxx)[a-z.]{0,12}",
                "[a-z]{1,6}(\\[\\.\\]|\\(\\.\\)|\\[dot\\])[a-z]{2,4}",
                "(xn--|XN--)[a-z0-9-]{0,10}\\.(com|xn--p1ai)",
                "[a-zäöüß日本Ü]{1,8}\\.(de|com|рф)",
                "[a-z%*@!~:/?#]{1,12}\\.com",
                "\\*[a-z.*]{0,8}",
                "[a-z0-9-]{62,66}\\.com",
            ]
        }

        /// URL-shaped tokens with and without a scheme, and the shapes the URL fast path must
        /// leave to the general path: e-mail and backslash shapes, IPv4 and IPv6 look-alikes,
        /// defanging, brackets, userinfo, non-ASCII.
        fn url_token() -> impl Strategy<Value = String> {
            (
                "(|http://|HTTPS://|hxxp://|hXXps://|ftp://|http:/)",
                "([a-z:%]{0,4}@)?",
                prop_oneof![
                    "[a-zA-Z0-9_-]{1,6}(\\.[a-zA-Z]{2,4}){1,2}\\.?",
                    "(0x7f|010|256|[0-9]{1,3})(\\.[0-9]{1,3}){0,4}",
                    "[a-f0-9]{1,4}(\\.[a-f]{2}|:[a-f0-9]{0,4}){0,2}",
                    "[a-z]{1,4}(\\[\\.\\]|\\(\\.\\)|\\{\\.\\}|\\[dot\\])[a-z]{2,3}",
                    "(hxxp|HXXP|hXxP|xn--|bü)[a-z]{0,4}\\.[a-z]{2}",
                    "[0-9a-f]{32}",
                ],
                "(:[0-9]{0,6})?",
                prop_oneof![
                    3 => "(/[a-zA-Z0-9:@\\\\(){}\\[\\]._%é -]{0,10})?",
                    1 => "/[a-z]{0,3}(\\(\\.\\)|\\[\\.\\]|\\{\\.\\}|\\[dot\\]|\\[:\\]|\\(x\\))[a-z]{0,3}",
                ],
                "(\\?[a-z0-9=&@:/\\\\]{0,8})?",
                "(#[a-z@\\\\({\\[é]{0,4})?",
            )
                .prop_map(|(s, u, h, p, path, q, f)| format!("{s}{u}{h}{p}{path}{q}{f}"))
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            // The fast paths give exactly what the general path gives, value, flag and skip
            // alike, for every kind asked.
            #[test]
            fn fast_paths_match_general_path(
                t in prop_oneof![
                    2 => name_token(),
                    2 => token(),
                    5 => url_token(),
                    // defanged schemes and hosts that only start like one
                    1 => "(hxxp|HXXP|hXxP)s?(://)?[a-z]{1,3}\\.[a-z]{2}(/[a-z]{0,3}|:[0-9]{1,2}|\\?a)",
                ]
            ) {
                for want in [None, Some(Kind::Domain), Some(Kind::Url), Some(Kind::Ip)] {
                    prop_assert_eq!(
                        parse_token(t.as_bytes(), want),
                        parse_token_general(t.as_bytes(), want),
                        "{:?} as {:?}", t, want
                    );
                }
            }

            // The one-pass URL test agrees with the classifier on tokens without a scheme.
            #[test]
            fn url_shortcut_matches_classify(
                t in "[g-zG-Za-fA-F0-9\\[]?[a-zA-Z0-9:./%@?#\\[\\]-]{0,40}"
            ) {
                if !url::has_scheme(&t) {
                    prop_assert_eq!(classified_as_url(&t), classify(&t) == Kind::Url, "{:?}", t);
                }
            }

            // Parsing arbitrary bytes never panics.
            #[test]
            fn arbitrary_bytes_never_panic(line in prop::collection::vec(any::<u8>(), 0..200)) {
                for want in [None, Some(Kind::Ip), Some(Kind::Domain), Some(Kind::Url), Some(Kind::Hash)] {
                    let _ = parse_line(&line, want);
                }
            }

            // Arbitrary strings (valid UTF-8, any code point) never panic either.
            #[test]
            fn arbitrary_strings_never_panic(line in "\\PC{0,80}") {
                let _ = parse_line(line.as_bytes(), None);
            }

            // Normalizing twice is normalizing once: the written form of a parsed value parses
            // back to the same value and is then not rewritten again.
            #[test]
            fn normalization_is_idempotent(t in token()) {
                if let Ok(p) = parse_token(t.as_bytes(), None) {
                    let text = p.value.to_string();
                    let again = parse_token(text.as_bytes(), None);
                    prop_assert!(again.is_ok(), "{t:?} -> {text:?} -> {again:?}");
                    let again = again.unwrap();
                    prop_assert_eq!(&again.value, &p.value, "{:?} -> {:?}", t, text);
                    prop_assert!(!again.normalized, "{:?} -> {:?} was rewritten again", t, text);
                }
            }
        }
    }
}
