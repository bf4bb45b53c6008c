//! Raw `feeds.toml` → [`Config`]: defaults applied, secrets resolved, names cross-checked.
//! Every problem is collected (not just the first) with `file:line:column`, the key, and what is
//! allowed, so one `edlforge check` shows everything to fix.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawColumn, RawConfig, RawList, RawServer, RawSource};
use super::secret;
use super::{
    Access, AuthMode, Column, Config, ConfigError, Credential, Extract, Gates, HttpSettings, List,
    Location, Role, Server, Source, Syntax, TaxiiSettings, Tls, Transport, Vendor,
};
use crate::indicator::{Kind, Tlp};

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    base: PathBuf,
    errors: Vec<ConfigError>,
    /// Problems only `serve` refuses (see [`Config::serve_errors`]).
    serve_errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn loc(&self, span: std::ops::Range<usize>) -> Location {
        location(self.text, span.start)
    }

    fn err(&mut self, span: std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        let loc = self.loc(span);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            location: loc,
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn duration(&mut self, v: &Option<Spanned<String>>, key: &str, default: Duration) -> Duration {
        match v {
            None => default,
            Some(s) => {
                match humantime::parse_duration(s.get_ref()) {
                    Ok(d) => d,
                    Err(e) => {
                        self.err(
                        s.span(),
                        key,
                        format!("bad interval {:?} ({e}); write e.g. \"90s\", \"15m\", \"1h\", \"2d\"", s.get_ref()),
                    );
                        default
                    }
                }
            }
        }
    }

    fn tlp(&mut self, v: &Option<Spanned<String>>, key: &str, default: Tlp) -> Tlp {
        match v {
            None => default,
            Some(s) => Tlp::from_str(s.get_ref()).unwrap_or_else(|e| {
                self.err(s.span(), key, e);
                default
            }),
        }
    }

    fn percent(&mut self, v: &Option<Spanned<i64>>, key: &str, default: u8) -> u8 {
        match v {
            None => default,
            Some(s) if (0..=100).contains(s.get_ref()) => *s.get_ref() as u8,
            Some(s) => {
                self.err(s.span(), key, format!("{} is not in 0..=100", s.get_ref()));
                default
            }
        }
    }

    fn size(&mut self, v: &Option<Spanned<String>>, key: &str, default: u64) -> u64 {
        match v {
            None => default,
            Some(s) => parse_size(s.get_ref()).unwrap_or_else(|| {
                self.err(
                    s.span(),
                    key,
                    format!(
                        "bad size {:?}; write e.g. \"256MiB\", \"1GiB\", \"500KB\"",
                        s.get_ref()
                    ),
                );
                default
            }),
        }
    }

    fn secret(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        must_be_reference: bool,
    ) -> Option<String> {
        if must_be_reference && !secret::is_reference(v.get_ref()) {
            self.err(
                v.span(),
                key,
                "secrets never sit in feeds.toml in clear; write \"${env:NAME}\" or \"${file:/run/secrets/name}\"",
            );
            return None;
        }
        match secret::resolve(v.get_ref(), &self.base) {
            Ok(s) => Some(s),
            Err(e) => {
                self.err(v.span(), key, e.to_string());
                None
            }
        }
    }

    fn path(&self, s: &str) -> PathBuf {
        self.base.join(s)
    }

    /// CIDRs (or single addresses) for access rules.
    fn cidrs(&mut self, v: &[Spanned<String>], key: &str) -> Vec<ipnet::IpNet> {
        let mut out = Vec::new();
        for c in v {
            let t = c.get_ref().trim();
            let net = t
                .parse::<ipnet::IpNet>()
                .ok()
                .or_else(|| t.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from));
            match net {
                Some(n) => out.push(n.trunc()),
                None => self.err(
                    c.span(),
                    key,
                    format!("{t:?} is not an address or CIDR; write e.g. \"192.0.2.0/24\" or \"2001:db8::1\""),
                ),
            }
        }
        out
    }
}

fn server(cx: &mut Ctx<'_>, rs: &RawServer) -> Server {
    let mut listen = Vec::new();
    match &rs.listen {
        None => listen.push(std::net::SocketAddr::from(([0, 0, 0, 0], 8443))),
        Some(v) => {
            let span = v.span();
            let items: Vec<&toml::Value> = match v.get_ref() {
                toml::Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            if items.is_empty() {
                cx.err(span.clone(), "server.listen", "give at least one address");
            }
            for it in items {
                match it.as_str().map(|a| a.trim().parse::<std::net::SocketAddr>()) {
                    Some(Ok(a)) => listen.push(a),
                    _ => cx.err(
                        span.clone(),
                        "server.listen",
                        format!("{it} is not ip:port; write e.g. \"0.0.0.0:8443\" or [\"0.0.0.0:8443\", \"[::]:8443\"]"),
                    ),
                }
            }
        }
    }
    let cert = rs
        .tls_cert
        .as_ref()
        .map(|p| (cx.path(p.get_ref()), p.span()));
    let key = rs
        .tls_key
        .as_ref()
        .map(|p| (cx.path(p.get_ref()), p.span()));
    let mode = rs.tls.as_ref().map(|t| (t.get_ref().as_str(), t.span()));
    let tls = match (mode, cert, key) {
        (Some(("off", span)), c, k) => {
            if c.is_some() || k.is_some() {
                cx.err(
                    span,
                    "server.tls",
                    "tls = \"off\" with tls_cert/tls_key set; remove one or the other",
                );
            }
            Tls::Off
        }
        (None | Some(("auto", _)), Some((cert, _)), Some((key, _))) => Tls::Files { cert, key },
        (None | Some(("auto", _)), None, None) => Tls::SelfSigned,
        (None | Some(("auto", _)), Some((_, span)), None) => {
            cx.err(span, "server.tls_cert", "tls_cert needs tls_key too");
            Tls::Off
        }
        (None | Some(("auto", _)), None, Some((_, span))) => {
            cx.err(span, "server.tls_key", "tls_key needs tls_cert too");
            Tls::Off
        }
        (Some((other, span)), _, _) => {
            cx.err(
                span,
                "server.tls",
                format!("unknown tls mode {other:?}; expected \"auto\" or \"off\""),
            );
            Tls::Off
        }
    };
    let max_connections = match &rs.max_connections {
        None => 1024,
        Some(n) if (1..=1_000_000).contains(n.get_ref()) => *n.get_ref() as usize,
        Some(n) => {
            cx.err(n.span(), "server.max_connections", "must be in 1..=1000000");
            1024
        }
    };
    let header_timeout = cx.duration(
        &rs.header_timeout,
        "server.header_timeout",
        Duration::from_secs(10),
    );
    if header_timeout.is_zero() {
        if let Some(h) = &rs.header_timeout {
            cx.err(h.span(), "server.header_timeout", "must be more than 0s");
        }
    }
    Server {
        listen,
        tls,
        trusted_proxies: cx.cidrs(&rs.trusted_proxies, "server.trusted_proxies"),
        admin_clients: cx.cidrs(&rs.admin_clients, "server.admin_clients"),
        max_connections,
        header_timeout,
    }
}

fn access(cx: &mut Ctx<'_>, rl: &RawList, key: &dyn Fn(&str) -> String, max_tlp: Tlp) -> Access {
    let auth = match rl.auth.as_ref().map(|a| a.get_ref().as_str()) {
        None | Some("none") => AuthMode::None,
        Some("basic") => AuthMode::Basic,
        Some("token") => AuthMode::Token,
        Some(other) => {
            let span = rl.auth.as_ref().map_or(0..0, |a| a.span());
            cx.err(
                span,
                &key("auth"),
                format!("unknown auth {other:?}; expected none, basic or token"),
            );
            AuthMode::None
        }
    };
    let auth_span = rl.auth.as_ref().map_or(rl.name.span(), |a| a.span());
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut users = Vec::new();
    for u in &rl.users {
        let n = u.name.get_ref().trim().to_string();
        if n.is_empty() || n.contains(':') || n.chars().any(char::is_control) {
            cx.err(
                u.name.span(),
                &key("users.name"),
                "a user name is non-empty, without ':' or control characters",
            );
        } else if !names.insert(n.clone()) {
            cx.err(
                u.name.span(),
                &key("users.name"),
                format!("duplicate name {n:?}"),
            );
        }
        if let Some(secret) = cx.secret(&u.password, &key("users.password"), true) {
            users.push(Credential { name: n, secret });
        }
    }
    let mut tokens = Vec::new();
    for t in &rl.tokens {
        let n = t.name.get_ref().trim().to_string();
        if n.is_empty() || n.chars().any(char::is_control) {
            cx.err(
                t.name.span(),
                &key("tokens.name"),
                "a token name is non-empty",
            );
        } else if !names.insert(n.clone()) {
            cx.err(
                t.name.span(),
                &key("tokens.name"),
                format!("duplicate name {n:?}"),
            );
        }
        if let Some(secret) = cx.secret(&t.token, &key("tokens.token"), true) {
            if secret.len() < 16 {
                cx.err(
                    t.token.span(),
                    &key("tokens.token"),
                    "a token of fewer than 16 characters can be guessed; use e.g. `openssl rand -hex 32`",
                );
            }
            tokens.push(Credential { name: n, secret });
        }
    }
    match auth {
        AuthMode::Basic if rl.users.is_empty() => cx.err(
            auth_span.clone(),
            &key("users"),
            "auth = \"basic\" needs users = [{ name = \"fw-hq\", password = \"${env:FW_HQ}\" }]",
        ),
        AuthMode::Token if rl.tokens.is_empty() => cx.err(
            auth_span.clone(),
            &key("tokens"),
            "auth = \"token\" needs tokens = [{ name = \"fw-dc2\", token = \"${file:/run/secrets/dc2}\" }]",
        ),
        _ => {}
    }
    if auth != AuthMode::Basic && !rl.users.is_empty() {
        cx.err(
            auth_span.clone(),
            &key("users"),
            "users are for auth = \"basic\"; set auth = \"basic\" or remove them",
        );
    }
    if auth != AuthMode::Token && !rl.tokens.is_empty() {
        cx.err(
            auth_span.clone(),
            &key("tokens"),
            "tokens are for auth = \"token\"; set auth = \"token\" or remove them",
        );
    }
    // TLP 2.0: AMBER, AMBER+STRICT and RED are limited disclosure; such a list must never be
    // readable by anyone who can reach the server.
    if auth == AuthMode::None && max_tlp > Tlp::Green {
        let span = rl.max_tlp.as_ref().map_or(rl.name.span(), |t| t.span());
        let before = cx.errors.len();
        cx.err(
            span,
            &key("max_tlp"),
            format!(
                "a list that may publish TLP:{} needs auth = \"basic\" or \"token\" (auth is \"none\"); add auth or lower max_tlp to \"green\"",
                max_tlp.as_str().to_ascii_uppercase()
            ),
        );
        // Written files carry no access control of their own; the rule is the server's.
        let e = cx.errors.split_off(before);
        cx.serve_errors.extend(e);
    }
    Access {
        auth,
        users,
        tokens,
        clients: cx.cidrs(&rl.clients, &key("clients")),
    }
}

/// 1-based line and column of a byte offset.
pub fn location(text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Location { line, column }
}

/// `256MiB`, `1GiB`, `500KB`, `1048576`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

const NAME_RULE: &str = "use letters, digits, '-', '_' and '.' (not first), at most 100";

fn looks_secret(header: &str) -> bool {
    let h = header.to_ascii_lowercase();
    ["key", "token", "auth", "secret", "password", "cookie"]
        .iter()
        .any(|w| h.contains(w))
}

/// Builds the [`Config`] or every error found.
pub fn validate(raw: RawConfig, file: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
    let base = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cx = Ctx {
        file,
        text,
        base,
        errors: Vec::new(),
        serve_errors: Vec::new(),
    };
    let d = &raw.defaults;
    let data_dir = cx.path(
        raw.store
            .data_dir
            .as_ref()
            .map_or("./data", |s| s.get_ref()),
    );
    let refresh = cx.duration(&d.refresh, "defaults.refresh", Duration::from_secs(3600));
    let timeout = cx.duration(&d.timeout, "defaults.timeout", Duration::from_secs(60));
    let keep_for = cx.duration(&d.keep_for, "defaults.keep_for", Duration::ZERO);
    let confidence = cx.percent(&d.confidence, "defaults.confidence", 50);
    let tlp = cx.tlp(&d.tlp, "defaults.tlp", Tlp::Clear);
    let max_body = cx.size(&d.max_body, "defaults.max_body", 256 << 20);
    let per_host = match &d.per_host {
        None => 2,
        Some(s) if (1..=64).contains(s.get_ref()) => *s.get_ref() as usize,
        Some(s) => {
            cx.err(s.span(), "defaults.per_host", "must be in 1..=64");
            2
        }
    };
    let proxy = d
        .proxy
        .as_ref()
        .and_then(|p| cx.secret(p, "defaults.proxy", false));
    let user_agent = d
        .user_agent
        .clone()
        .unwrap_or_else(|| format!("edlforge/{}", env!("CARGO_PKG_VERSION")));
    let psl = d.public_suffix_list.as_ref().map(|p| cx.path(p.get_ref()));
    if let Some(p) = &psl {
        if !p.is_file() {
            let span = d.public_suffix_list.as_ref().map_or(0..0, |s| s.span());
            cx.err(
                span,
                "defaults.public_suffix_list",
                format!("{} is not a file", p.display()),
            );
        }
    }

    let server = server(&mut cx, &raw.server);
    let defaults = SourceDefaults {
        refresh,
        timeout,
        keep_for,
        confidence,
        tlp,
        max_body,
        retries: d.retries.unwrap_or(2),
        proxy,
        user_agent,
    };
    let mut sources = Vec::new();
    let mut seen: HashMap<String, Location> = HashMap::new();
    for rs in &raw.sources {
        let name = rs.name.get_ref().clone();
        if !valid_name(&name) {
            cx.err(
                rs.name.span(),
                "source.name",
                format!("bad source name {name:?}: {NAME_RULE}"),
            );
        }
        let loc = cx.loc(rs.name.span());
        if let Some(first) = seen.insert(name.clone(), loc) {
            cx.err(
                rs.name.span(),
                "source.name",
                format!(
                    "duplicate source name {name:?} (first defined at line {})",
                    first.line
                ),
            );
        }
        if let Some(s) = source(&mut cx, rs, &defaults) {
            sources.push(s);
        }
    }

    let role_of: HashMap<&str, Role> = sources.iter().map(|s| (s.name.as_str(), s.role)).collect();
    let default_allow: Vec<String> = d
        .allow
        .iter()
        .filter_map(|a| check_allow_ref(&mut cx, a, &role_of, "defaults.allow"))
        .collect();
    let mut lists = Vec::new();
    let mut seen_lists: HashMap<String, Location> = HashMap::new();
    for rl in &raw.lists {
        let name = rl.name.get_ref().clone();
        let loc = cx.loc(rl.name.span());
        if let Some(first) = seen_lists.insert(name.clone(), loc) {
            cx.err(
                rl.name.span(),
                "list.name",
                format!(
                    "duplicate list name {name:?} (first defined at line {})",
                    first.line
                ),
            );
        }
        if let Some(l) = list(&mut cx, rl, &sources, &role_of, &default_allow) {
            lists.push(l);
        }
    }
    if cx.errors.is_empty() {
        Ok(Config {
            serve_errors: cx.serve_errors,
            server,
            path: file.to_path_buf(),
            data_dir,
            public_suffix_list: psl,
            per_host,
            sources,
            lists,
        })
    } else {
        Err(cx.errors)
    }
}

struct SourceDefaults {
    refresh: Duration,
    timeout: Duration,
    keep_for: Duration,
    confidence: u8,
    tlp: Tlp,
    max_body: u64,
    retries: u32,
    proxy: Option<String>,
    user_agent: String,
}

fn check_allow_ref(
    cx: &mut Ctx<'_>,
    a: &Spanned<String>,
    role_of: &HashMap<&str, Role>,
    key: &str,
) -> Option<String> {
    match role_of.get(a.get_ref().as_str()) {
        Some(Role::Allow) => Some(a.get_ref().clone()),
        Some(Role::Block) => {
            cx.err(
                a.span(),
                key,
                format!("source {:?} has role \"block\"; only role = \"allow\" sources can be allowlists", a.get_ref()),
            );
            None
        }
        None => {
            cx.err(a.span(), key, format!("no source named {:?}", a.get_ref()));
            None
        }
    }
}

fn source(cx: &mut Ctx<'_>, rs: &RawSource, d: &SourceDefaults) -> Option<Source> {
    let before = cx.errors.len();
    let name = rs.name.get_ref().clone();
    let key = |k: &str| format!("source.{name}.{k}");
    let kind = match (&rs.kind, &rs.url, &rs.path) {
        (Some(k), _, _) => k.get_ref().clone(),
        (None, Some(_), None) => "http".into(),
        (None, None, Some(_)) => "file".into(),
        (None, Some(u), Some(_)) => {
            cx.err(
                u.span(),
                &key("url"),
                "set either url (kind = \"http\") or path (kind = \"file\"), not both",
            );
            return None;
        }
        (None, None, None) => {
            cx.err(
                rs.name.span(),
                &key("url"),
                "a source needs url = \"https://…\" or path = \"lists/….txt\"",
            );
            return None;
        }
    };
    let transport = match kind.as_str() {
        "http" | "taxii" => {
            let Some(u) = &rs.url else {
                let span = rs.kind.as_ref().map_or(rs.name.span(), |k| k.span());
                cx.err(
                    span,
                    &key("url"),
                    format!("kind = {kind:?} needs url = \"https://…\""),
                );
                return None;
            };
            let url = cx.secret(u, &key("url"), false)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                cx.err(
                    u.span(),
                    &key("url"),
                    "url must start with https:// (or http:// for internal mirrors)",
                );
            }
            let mut headers = Vec::new();
            for (h, v) in &rs.headers {
                if let Some(val) = cx.secret(v, &key(&format!("headers.{h}")), looks_secret(h)) {
                    headers.push((h.clone(), val));
                }
            }
            let basic = match (&rs.username, &rs.password) {
                (Some(u), Some(p)) => {
                    let u = cx.secret(u, &key("username"), false);
                    let p = cx.secret(p, &key("password"), true);
                    u.zip(p)
                }
                (Some(u), None) => {
                    cx.err(
                        u.span(),
                        &key("password"),
                        "username needs password = \"${env:NAME}\"",
                    );
                    None
                }
                (None, Some(p)) => {
                    cx.err(p.span(), &key("username"), "password needs username");
                    None
                }
                (None, None) => None,
            };
            let bearer = rs
                .bearer_token
                .as_ref()
                .and_then(|t| cx.secret(t, &key("bearer_token"), true));
            let file =
                |cx: &mut Ctx<'_>, v: &Option<Spanned<String>>, k: &str| -> Option<PathBuf> {
                    let v = v.as_ref()?;
                    let p = cx.path(v.get_ref());
                    if !p.is_file() {
                        cx.err(
                            v.span(),
                            &key(k),
                            format!("{} is not a readable file", p.display()),
                        );
                    }
                    Some(p)
                };
            let client_cert = file(cx, &rs.client_cert, "client_cert");
            let client_key = file(cx, &rs.client_key, "client_key");
            if client_cert.is_some() != client_key.is_some() {
                cx.err(
                    rs.name.span(),
                    &key("client_cert"),
                    "client_cert and client_key go together",
                );
            }
            let ca_file = file(cx, &rs.ca_file, "ca_file");
            let proxy = match &rs.proxy {
                Some(p) => cx.secret(p, &key("proxy"), false),
                None => d.proxy.clone(),
            };
            let http = HttpSettings {
                url,
                headers,
                basic,
                bearer,
                client_cert,
                client_key,
                ca_file,
                proxy,
                timeout: cx.duration(&rs.timeout, &key("timeout"), d.timeout),
                retries: rs.retries.unwrap_or(d.retries),
                max_body: cx.size(&rs.max_body, &key("max_body"), d.max_body),
                user_agent: rs
                    .user_agent
                    .clone()
                    .unwrap_or_else(|| d.user_agent.clone()),
            };
            if kind == "taxii" {
                taxii_settings(cx, rs, http, &key)
            } else {
                Transport::Http(Box::new(http))
            }
        }
        "file" => {
            let Some(p) = &rs.path else {
                cx.err(
                    rs.name.span(),
                    &key("path"),
                    "kind = \"file\" needs path = \"lists/….txt\"",
                );
                return None;
            };
            Transport::File {
                path: cx.path(p.get_ref()),
            }
        }
        other => {
            let span = rs.kind.as_ref().map_or(rs.name.span(), |k| k.span());
            cx.err(
                span,
                &key("kind"),
                format!("unknown kind {other:?}; expected http, file or taxii"),
            );
            return None;
        }
    };
    if kind != "taxii" {
        taxii_only(cx, rs, &key);
    }
    let mut extract = extract(cx, rs, &key)?;
    if kind == "taxii" {
        if let Some(f) = rs.format.as_ref().filter(|f| f.get_ref() != "stix") {
            cx.err(
                f.span(),
                &key("format"),
                "a TAXII source always reads STIX 2.1; remove format (or write format = \"stix\")",
            );
        }
        extract.syntax = Syntax::Stix;
    }
    let role = match rs.role.as_ref().map(|r| r.get_ref().as_str()) {
        None | Some("block") => Role::Block,
        Some("allow") => Role::Allow,
        Some(other) => {
            let span = rs.role.as_ref().map_or(0..0, |r| r.span());
            cx.err(
                span,
                &key("role"),
                format!("unknown role {other:?}; expected block or allow"),
            );
            Role::Block
        }
    };
    let ratio = |cx: &mut Ctx<'_>, v: &Option<Spanned<f64>>, k: &str, default: f64| match v {
        None => default,
        Some(x) if (0.0..=1.0).contains(x.get_ref()) => *x.get_ref(),
        Some(x) => {
            cx.err(
                x.span(),
                &key(k),
                format!("{} is not a share in 0.0..=1.0", x.get_ref()),
            );
            default
        }
    };
    let gates = Gates {
        max_invalid_ratio: ratio(cx, &rs.max_invalid_ratio, "max_invalid_ratio", 0.5),
        allow_empty: rs.allow_empty.unwrap_or(false),
        // A hand-kept file shrinks because someone deleted entries on purpose: no shrink gate
        // unless asked for (the empty gate still catches a truncated file).
        max_shrink: ratio(
            cx,
            &rs.max_shrink,
            "max_shrink",
            if matches!(transport, Transport::File { .. }) {
                1.0
            } else {
                0.5
            },
        ),
    };
    let s = Source {
        name: name.clone(),
        location: cx.loc(rs.name.span()),
        transport,
        extract,
        refresh: cx.duration(&rs.refresh, &key("refresh"), d.refresh),
        confidence: cx.percent(&rs.confidence, &key("confidence"), d.confidence),
        tlp: cx.tlp(&rs.tlp, &key("tlp"), d.tlp),
        tags: rs.tags.clone(),
        keep_for: cx.duration(&rs.keep_for, &key("keep_for"), d.keep_for),
        role,
        gates,
    };
    (cx.errors.len() == before).then_some(s)
}

/// The TAXII part of a `kind = "taxii"` source: collection, first-poll lookback, page size.
fn taxii_settings(
    cx: &mut Ctx<'_>,
    rs: &RawSource,
    http: HttpSettings,
    key: &dyn Fn(&str) -> String,
) -> Transport {
    let collection = match &rs.collection {
        Some(c) if !c.get_ref().trim().is_empty() => c.get_ref().trim().to_string(),
        Some(c) => {
            cx.err(
                c.span(),
                &key("collection"),
                "collection is empty; write the collection's id or title",
            );
            String::new()
        }
        None => {
            cx.err(
                rs.name.span(),
                &key("collection"),
                "kind = \"taxii\" needs collection = \"<collection id or title>\"",
            );
            String::new()
        }
    };
    let initial_lookback = rs.initial_lookback.as_ref().map(|_| {
        cx.duration(
            &rs.initial_lookback,
            &key("initial_lookback"),
            Duration::ZERO,
        )
    });
    let page_size = match &rs.page_size {
        None => crate::config::DEFAULT_TAXII_PAGE_SIZE,
        Some(n) if (1..=1_000_000).contains(n.get_ref()) => *n.get_ref() as u32,
        Some(n) => {
            cx.err(
                n.span(),
                &key("page_size"),
                format!("page_size {} is not in 1..=1000000", n.get_ref()),
            );
            crate::config::DEFAULT_TAXII_PAGE_SIZE
        }
    };
    Transport::Taxii(Box::new(TaxiiSettings {
        http,
        collection,
        initial_lookback,
        page_size,
    }))
}

/// Refuses the TAXII keys on a source of another kind.
fn taxii_only(cx: &mut Ctx<'_>, rs: &RawSource, key: &dyn Fn(&str) -> String) {
    let spans = [
        ("collection", rs.collection.as_ref().map(|c| c.span())),
        (
            "initial_lookback",
            rs.initial_lookback.as_ref().map(|c| c.span()),
        ),
        ("page_size", rs.page_size.as_ref().map(|c| c.span())),
    ];
    for (k, span) in spans {
        if let Some(span) = span {
            cx.err(span, &key(k), format!("{k} is for kind = \"taxii\" only"));
        }
    }
}

fn extract(cx: &mut Ctx<'_>, rs: &RawSource, key: &dyn Fn(&str) -> String) -> Option<Extract> {
    let syntax = match rs.format.as_ref().map(|f| f.get_ref().as_str()) {
        None | Some("text") => Syntax::Text,
        Some("csv") => Syntax::Csv,
        Some("json") => Syntax::Json,
        Some("jsonl") => Syntax::Jsonl,
        Some("stix") => Syntax::Stix,
        Some(other) => {
            let span = rs.format.as_ref().map_or(0..0, |f| f.span());
            cx.err(
                span,
                &key("format"),
                format!("unknown format {other:?}; expected text, csv, json, jsonl or stix"),
            );
            return None;
        }
    };
    let kind = match rs.kind_filter.as_ref().map(|k| k.get_ref().as_str()) {
        None | Some("auto") => None,
        Some(k) => match Kind::from_str(k) {
            Ok(k) => Some(k),
            Err(e) => {
                let span = rs.kind_filter.as_ref().map_or(0..0, |k| k.span());
                cx.err(span, &key("type"), format!("{e} (or auto)"));
                None
            }
        },
    };
    let regex = match &rs.regex {
        None => None,
        Some(r) => match regex::Regex::new(r.get_ref()) {
            Ok(re) if re.captures_len() == 2 => Some(re),
            Ok(_) => {
                cx.err(
                    r.span(),
                    &key("regex"),
                    "the regex needs exactly one capture group: the indicator",
                );
                None
            }
            Err(e) => {
                cx.err(r.span(), &key("regex"), format!("bad regex: {e}"));
                None
            }
        },
    };
    if regex.is_some() && syntax != Syntax::Text {
        let span = rs.regex.as_ref().map_or(0..0, |r| r.span());
        cx.err(
            span,
            &key("regex"),
            "regex applies to format = \"text\" only",
        );
    }
    let column = match &rs.column {
        None => None,
        Some(c) => match c.get_ref() {
            RawColumn::Name(n) => Some(Column::Name(n.clone())),
            RawColumn::Index(i) if *i >= 0 => Some(Column::Index(*i as usize)),
            RawColumn::Index(i) => {
                cx.err(
                    c.span(),
                    &key("column"),
                    format!("column index {i} is negative (0 is the first)"),
                );
                None
            }
        },
    };
    if syntax == Syntax::Csv && column.is_none() && rs.column.is_none() {
        cx.err(
            rs.name.span(),
            &key("column"),
            "format = \"csv\" needs column = \"name\" or column = 0",
        );
    }
    let delimiter = match &rs.delimiter {
        None => b',',
        Some(d) if d.get_ref().len() == 1 => d.get_ref().as_bytes()[0],
        Some(d) if d.get_ref() == "\\t" => b'\t',
        Some(d) => {
            cx.err(
                d.span(),
                &key("delimiter"),
                "delimiter must be one ASCII character",
            );
            b','
        }
    };
    let json = matches!(syntax, Syntax::Json | Syntax::Jsonl);
    if json && rs.value.is_none() {
        cx.err(
            rs.name.span(),
            &key("value"),
            "format = \"json\"/\"jsonl\" needs value = \"field.path\"",
        );
    }
    Some(Extract {
        syntax,
        kind,
        regex,
        column,
        delimiter,
        comment: rs.comment.clone().or_else(|| Some("#".into())),
        header: rs.header.unwrap_or(true),
        header_in_comment: rs.header_in_comment.unwrap_or(false),
        items: rs.items.clone(),
        value: rs.value.as_ref().map(|v| v.get_ref().clone()),
        confidence_field: rs.confidence_field.clone(),
        expires_field: rs.expires_field.clone(),
        tags_field: rs.tags_field.clone(),
        comment_field: rs.comment_field.clone(),
    })
}

fn list(
    cx: &mut Ctx<'_>,
    rl: &RawList,
    sources: &[Source],
    role_of: &HashMap<&str, Role>,
    default_allow: &[String],
) -> Option<List> {
    let before = cx.errors.len();
    let name = rl.name.get_ref().clone();
    let key = |k: &str| format!("list.{name}.{k}");
    if !valid_name(&name) {
        cx.err(
            rl.name.span(),
            "list.name",
            format!("bad list name {name:?}: {NAME_RULE}"),
        );
    }
    let vendor = match Vendor::from_str(rl.vendor.get_ref()) {
        Ok(v) => Some(v),
        Err(e) => {
            cx.err(rl.vendor.span(), &key("vendor"), e.to_string());
            None
        }
    };
    let mut kinds = Vec::new();
    for t in &rl.types {
        match Kind::from_str(t.get_ref()) {
            Ok(k) if !kinds.contains(&k) => kinds.push(k),
            Ok(_) => {}
            Err(e) => cx.err(t.span(), &key("types"), e),
        }
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    if rl.sources.is_empty() {
        names.extend(
            sources
                .iter()
                .filter(|s| s.role == Role::Block)
                .map(|s| s.name.clone()),
        );
    }
    for r in &rl.sources {
        let r_str = r.get_ref();
        if let Some(tag) = r_str.strip_prefix("tag:") {
            let tagged: Vec<&Source> = sources
                .iter()
                .filter(|s| s.role == Role::Block && s.tags.iter().any(|t| t == tag))
                .collect();
            if tagged.is_empty() {
                cx.err(
                    r.span(),
                    &key("sources"),
                    format!("no block source has tag {tag:?}"),
                );
            }
            names.extend(tagged.iter().map(|s| s.name.clone()));
        } else {
            match role_of.get(r_str.as_str()) {
                Some(Role::Block) => {
                    names.insert(r_str.clone());
                }
                Some(Role::Allow) => cx.err(
                    r.span(),
                    &key("sources"),
                    format!("{r_str:?} is an allow source; put it in allow = [...]"),
                ),
                None => cx.err(
                    r.span(),
                    &key("sources"),
                    format!("no source named {r_str:?}"),
                ),
            }
        }
    }
    let mut allow: BTreeSet<String> = default_allow.iter().cloned().collect();
    for a in &rl.allow {
        if let Some(n) = check_allow_ref(cx, a, role_of, &key("allow")) {
            allow.insert(n);
        }
    }
    let min_sources = match &rl.min_sources {
        None => 1,
        Some(n) if (1..=1000).contains(n.get_ref()) => *n.get_ref() as usize,
        Some(n) => {
            cx.err(n.span(), &key("min_sources"), "must be in 1..=1000");
            1
        }
    };
    let max_entries = match &rl.max_entries {
        None => None,
        Some(n) if *n.get_ref() >= 1 => Some(*n.get_ref() as u64),
        Some(n) => {
            cx.err(n.span(), &key("max_entries"), "must be at least 1");
            None
        }
    };
    let category = match &rl.category {
        Some(c) => {
            let ok = !c.get_ref().is_empty()
                && c.get_ref().len() <= 64
                && c.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !ok {
                cx.err(
                    c.span(),
                    &key("category"),
                    "use letters, digits, '_', '-' or '.' (at most 64)",
                );
            }
            c.get_ref().clone()
        }
        None => name.clone(),
    };
    let max_tlp = cx.tlp(&rl.max_tlp, &key("max_tlp"), Tlp::Green);
    let access = access(cx, rl, &key, max_tlp);
    let l = List {
        access,
        name: name.clone(),
        location: cx.loc(rl.name.span()),
        vendor: vendor?,
        vendor_location: cx.loc(rl.vendor.span()),
        kinds,
        sources: names.into_iter().collect(),
        allow: allow.into_iter().collect(),
        min_confidence: cx.percent(&rl.min_confidence, &key("min_confidence"), 0),
        min_sources,
        max_tlp,
        max_entries,
        ranges: rl.ranges.unwrap_or(false),
        category,
        subdomains: rl.subdomains.unwrap_or(false),
    };
    (cx.errors.len() == before).then_some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Some(256 << 20));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("500KB"), Some(500_000));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn locations() {
        let t = "a\nbc\nd";
        assert_eq!(location(t, 0), Location { line: 1, column: 1 });
        assert_eq!(location(t, 3), Location { line: 2, column: 2 });
        assert_eq!(location(t, 5), Location { line: 3, column: 1 });
    }
}
