//! URLs: parsed by the `url` crate (WHATWG URL standard, as browsers read them), then trimmed to
//! what a block entry needs.
//!
//! A token without `scheme://` gets `http://` first, so `evil.com:8080/x` is a host and port, not a
//! scheme. The host is normalized like a domain (or is an IP: the WHATWG IPv4 parser reads
//! `0x7f.1` as 127.0.0.1, exactly as a browser would, so it meets the IP floor). The default port,
//! the fragment, userinfo and an empty `?` are removed; path and query are kept as the crate
//! normalizes them (case kept, no HTML unescaping). Only `http` and `https` are kept.

use url::{Host, Url};

use super::domain;
use super::ip::IpRange;
use super::skip::Skip;

/// A normalized http(s) URL, stored compactly: the serialization and a few offsets into it
/// (a `url::Url` is several times larger, and feeds hold millions of URLs).
#[derive(Debug, Clone)]
pub struct UrlValue {
    text: Box<str>,
    /// End of the host (start is after `scheme://`).
    host_end: u32,
    /// Start of the path (after the port, if any).
    path_start: u32,
    port: Option<u16>,
    ip: Option<IpRange>,
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
        let ip = match url.host() {
            Some(Host::Ipv4(a)) => {
                let a = u32::from(a);
                Some(IpRange::V4 { start: a, end: a })
            }
            Some(Host::Ipv6(a)) => Some(match a.to_ipv4_mapped() {
                Some(v4) => {
                    let a = u32::from(v4);
                    IpRange::V4 { start: a, end: a }
                }
                None => {
                    let a = u128::from(a);
                    IpRange::V6 { start: a, end: a }
                }
            }),
            _ => None,
        };
        UrlValue {
            text: text.into(),
            host_end: host_end as u32,
            path_start: path_start as u32,
            port: url.port(),
            ip,
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
        match self.ip {
            Some(r) => UrlHost::Ip(r),
            None => UrlHost::Domain(self.host_str()),
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
            std::borrow::Cow::Owned(format!("{}{}", self.host_str(), self.path()))
        }
    }
}

impl std::fmt::Display for UrlValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// True when the token starts with `scheme://` (not merely contains one, as a redirect URL in a
/// query does: `evil.com/r?u=http://x`).
pub fn has_scheme(token: &str) -> bool {
    match token.find("://") {
        Some(i) if i > 0 => {
            let scheme = &token.as_bytes()[..i];
            scheme[0].is_ascii_alphabetic()
                && scheme
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        }
        _ => false,
    }
}

const UNPARSABLE: Skip = Skip::invalid("not a parsable URL");
const SCHEME: Skip = Skip::invalid("URL scheme is not http or https");
const NO_HOST: Skip = Skip::invalid("URL without a host");

/// Parses and normalizes a URL token. Returns the URL and whether the text changed.
pub fn parse(token: &str) -> Result<(UrlValue, bool), Skip> {
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
