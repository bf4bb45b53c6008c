//! Raw `feeds.toml` → [`Config`]: defaults applied, secrets resolved, names cross-checked.
//! Every problem is collected (not just the first) with `file:line:column`, the key, and what is
//! allowed, so one `edlforge check` shows everything to fix.
//!
//! Split by role: `document.rs` (syntax, unknown keys with the closest known one, each table
//! deserialized on its own), `server.rs` (`[server]`, per-list access), `source.rs`
//! (`[[source]]`), `list.rs` (`[lists.*]`); this file holds the shared context and the
//! top-level pass.

mod document;
mod list;
mod server;
mod source;
mod store;
#[cfg(test)]
mod tests;

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

use list::list;
use server::server;
use source::{check_allow_ref, source, SourceDefaults};
use store::backend;

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    base: PathBuf,
    errors: Vec<ConfigError>,
    /// Problems only `serve` refuses (see [`Config::serve_errors`]).
    serve_errors: Vec<ConfigError>,
    /// Sources with an error of their own: references to them raise no follow-on error.
    broken: document::Broken,
    /// Problems only `check` refuses (see [`Config::check_errors`]).
    check_errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn loc(&self, span: std::ops::Range<usize>) -> Location {
        location(self.text, span.start)
    }

    /// Refuses a second `what` called `name`, naming the line of the first.
    fn unique(
        &mut self,
        seen: &mut HashMap<String, Location>,
        span: std::ops::Range<usize>,
        key: &str,
        what: &str,
        name: &str,
    ) {
        let loc = self.loc(span.clone());
        if let Some(first) = seen.insert(name.to_string(), loc) {
            self.err(
                span,
                key,
                format!(
                    "duplicate {what} name {name:?} (first defined at line {})",
                    first.line
                ),
            );
        }
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

    /// A value that may hold secret references; `must_be_reference`: the whole value is a
    /// secret ([`Secret::Whole`]).
    fn secret(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        must_be_reference: bool,
    ) -> Option<String> {
        let kind = if must_be_reference {
            Secret::Whole
        } else {
            Secret::Plain
        };
        self.secret_as(v, key, kind)
    }

    /// Resolves a value's references after checking that its secret-bearing parts (as `kind`
    /// says) are each wholly one reference that resolves to something.
    fn secret_as(&mut self, v: &Spanned<String>, key: &str, kind: Secret) -> Option<String> {
        let s = v.get_ref();
        let parts: Vec<&str> = match kind {
            Secret::Plain => Vec::new(),
            Secret::Whole => vec![s.as_str()],
            Secret::Header => vec![secret::header_secret_part(s)],
            Secret::Url => {
                let found = secret::url_secret_parts(s).unwrap_or_default();
                let mut ok = true;
                for (what, part) in &found {
                    if let Some(msg) = clear_secret(part) {
                        self.err(v.span(), key, format!("the {what} is a secret: {msg}"));
                        ok = false;
                    } else if let Err(e) = secret::resolve_whole(part, &self.base) {
                        self.err(v.span(), key, format!("the {what}: {e}"));
                        ok = false;
                    }
                }
                if !ok {
                    return None;
                }
                Vec::new()
            }
        };
        for part in parts {
            if let Some(msg) = clear_secret(part) {
                self.err(v.span(), key, msg);
                return None;
            }
            if let Err(e) = secret::resolve_whole(part, &self.base) {
                self.err(v.span(), key, e.to_string());
                return None;
            }
        }
        match secret::resolve(s, &self.base) {
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

/// Which parts of a value are secret (see [`secret`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    /// May hold references; nothing in it must be one (a user name).
    Plain,
    /// The whole value is a secret (a password, a token).
    Whole,
    /// A credential header: the value after an authorization scheme (`Bearer `) is the secret.
    Header,
    /// A URL: its userinfo and secret-looking query parameters are secrets.
    Url,
}

/// Why a secret-bearing value is refused, when it is not wholly one reference.
fn clear_secret(part: &str) -> Option<String> {
    const HOW: &str = "write \"${env:NAME}\" or \"${file:/run/secrets/name}\"";
    if secret::whole_reference(part).is_some() {
        None
    } else if secret::is_reference(part) {
        Some(format!(
            "part of this secret is in clear around its reference; a secret is wholly one reference: {HOW}"
        ))
    } else {
        Some(format!("secrets never sit in feeds.toml in clear; {HOW}"))
    }
}

fn context<'a>(file: &'a Path, text: &'a str) -> Ctx<'a> {
    let base = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    Ctx {
        file,
        text,
        base,
        errors: Vec::new(),
        serve_errors: Vec::new(),
        broken: document::Broken::default(),
        check_errors: Vec::new(),
    }
}

/// Reads config text as if from `file` and builds the [`Config`], or returns every error of
/// the file in file order: syntax, unknown keys (with the closest known key), wrong types and
/// every check of [`validate`], each table read on its own so one mistake hides no other, and
/// no error that only follows from another (a list naming a source that has its own error).
pub fn load(text: &str, file: &Path) -> Result<Config, Vec<ConfigError>> {
    let mut cx = context(file, text);
    match document::read(&mut cx, text) {
        Some((raw, broken)) => {
            cx.broken = broken;
            build(cx, raw)
        }
        None => Err(cx.errors),
    }
}

/// Builds the [`Config`] or every error found.
pub fn validate(raw: RawConfig, file: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
    build(context(file, text), raw)
}

fn build(mut cx: Ctx<'_>, raw: RawConfig) -> Result<Config, Vec<ConfigError>> {
    let file = cx.file;
    let d = &raw.defaults;
    let data_dir = cx.path(
        raw.store
            .data_dir
            .as_ref()
            .map_or("./data", |s| s.get_ref()),
    );
    let backend = backend(&mut cx, &raw.store);
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
        .and_then(|p| cx.secret_as(p, "defaults.proxy", Secret::Url));
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
        cx.unique(&mut seen, rs.name.span(), "source.name", "source", &name);
        match source(&mut cx, rs, &defaults) {
            Some(s) => sources.push(s),
            None => cx.broken.add(&name, &rs.tags),
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
        cx.unique(&mut seen_lists, rl.name.span(), "list.name", "list", &name);
        if let Some(l) = list(&mut cx, rl, &sources, &role_of, &default_allow) {
            lists.push(l);
        }
    }
    // Shared lists name their producer (`format/stix.rs`): `[server] organization`.
    for l in &mut lists {
        let Some(rl) = raw.lists.iter().find(|r| *r.name.get_ref() == l.name) else {
            continue;
        };
        if l.vendor != Vendor::Stix {
            continue;
        }
        match &server.organization {
            Some(o) if !o.trim().is_empty() => l.organization = o.clone(),
            _ => cx.err(
                rl.vendor.span(),
                &format!("list.{}.vendor", l.name),
                "vendor \"stix\" needs [server] organization, the producer named in the shared data (e.g. organization = \"Example Corp CERT\")",
            ),
        }
    }
    if cx.errors.is_empty() {
        Ok(Config {
            serve_errors: cx.serve_errors,
            check_errors: cx.check_errors,
            server,
            path: file.to_path_buf(),
            data_dir,
            backend,
            public_suffix_list: psl,
            per_host,
            sources,
            lists,
        })
    } else {
        // File order: what to fix reads top to bottom.
        cx.errors
            .sort_by_key(|e| (e.location.line, e.location.column));
        Err(cx.errors)
    }
}
