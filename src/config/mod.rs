//! `feeds.toml`: what security staff write ([`raw`]), and the checked [`Config`] the program runs
//! on ([`validate`]), plus the vocabulary later stages match on (vendor ids).
//!
//! Only [`Config::load`] makes a `Config`, so none is ever unchecked. Checks that need a later
//! stage's knowledge (which types a vendor takes) run in `pipeline::check`, and `edlforge check`
//! reports both together.

pub mod raw;
pub mod secret;
pub mod validate;
pub mod watch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::indicator::{Kind, Tlp};

/// A place in `feeds.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// Where in it.
    pub location: Location,
    /// The key, e.g. `list.pa-urls.vendor`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.location.line,
            self.location.column,
            self.key,
            self.message
        )
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// One or more problems in the file.
    #[error("{} in {}:\n{}", if .0.len() == 1 { "1 error".to_string() } else { format!("{} errors", .0.len()) }, .0[0].file.display(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Store directory (with PostgreSQL: this replica's local cache).
    pub data_dir: PathBuf,
    /// `[store] backend`: where the store lives.
    pub backend: Backend,
    /// A Public Suffix List file to use instead of the built-in one.
    pub public_suffix_list: Option<PathBuf>,
    /// Concurrent fetches per host.
    pub per_host: usize,
    /// Sources, in file order.
    pub sources: Vec<Source>,
    /// Lists, in file order.
    pub lists: Vec<List>,
    /// `[server]`.
    pub server: Server,
    /// Problems that only `serve` refuses (a list that may publish TLP:AMBER or above with
    /// `auth = "none"`): `compile` writes files, which carry no access control of their own.
    /// `check` reports them as errors for `serve`.
    pub serve_errors: Vec<ConfigError>,
    /// `file` sources whose `path` cannot be read now (missing, unreadable, a directory):
    /// `check` refuses them; `compile` and `serve` run and hold back the lists that wait for
    /// them (the file may appear later, and a reload must not fail while an editor saves).
    pub check_errors: Vec<ConfigError>,
}

/// `[store] backend`, checked.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Backend {
    /// Files under `data_dir`, one process (the default).
    #[default]
    Embedded,
    /// A PostgreSQL database shared by replicas.
    Postgres {
        /// The libpq URL, its secret references resolved: it may hold a password, so `Debug`
        /// does not print it.
        url: String,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Embedded => f.write_str("Embedded"),
            Backend::Postgres { .. } => f.write_str("Postgres { url: <redacted> }"),
        }
    }
}

/// How TLS is set up for `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// `tls = "auto"` without files: a local CA in `data_dir/tls/`, made on first start,
    /// signs a serving certificate it renews itself.
    SelfSigned,
    /// PEM files given in `[server]`.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// Plain HTTP.
    Off,
}

/// `[server]`, checked.
#[derive(Debug, Clone)]
pub struct Server {
    /// Listen addresses.
    pub listen: Vec<std::net::SocketAddr>,
    /// TLS.
    pub tls: Tls,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Who may read the status page, metrics and `/readyz` names (default loopback).
    pub admin_clients: Vec<ipnet::IpNet>,
    /// Connection cap.
    pub max_connections: usize,
    /// Connection cap per peer address (trusted proxies exempt).
    pub max_connections_per_client: usize,
    /// Extra names of the `tls = "auto"` serving certificate.
    pub tls_names: Vec<String>,
    /// Header (and TLS handshake) timeout.
    pub header_timeout: Duration,
    /// The producer named in shared (`stix`) lists.
    pub organization: Option<String>,
}

/// How clients authenticate to fetch a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone (subject to `clients`).
    None,
    /// HTTP basic, one of `users`.
    Basic,
    /// A bearer token, one of `tokens`.
    Token,
}

impl AuthMode {
    /// The config id.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Basic => "basic",
            AuthMode::Token => "token",
        }
    }
}

/// A named secret: a basic-auth user's password or a token. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Who it belongs to (metrics, status page).
    pub name: String,
    /// The password or token.
    pub secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Access rules of one list in `serve`.
#[derive(Debug, Clone)]
pub struct Access {
    /// Authentication.
    pub auth: AuthMode,
    /// Basic-auth users.
    pub users: Vec<Credential>,
    /// Bearer tokens.
    pub tokens: Vec<Credential>,
    /// Allowed peer networks (empty: any).
    pub clients: Vec<ipnet::IpNet>,
}

impl Config {
    /// Reads and checks a config file.
    ///
    /// # Errors
    /// [`LoadError::Read`] when unreadable; [`LoadError::Invalid`] with every problem found.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_text(&text, path)
    }

    /// Checks config text as if read from `path` (relative paths resolve against its folder).
    ///
    /// # Errors
    /// [`LoadError::Invalid`] with every problem found.
    pub fn from_text(text: &str, path: &Path) -> Result<Config, LoadError> {
        validate::load(text, path).map_err(LoadError::Invalid)
    }

    /// The source with this name.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// Block or allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Indicators to block.
    Block,
    /// Indicators never to block (allowlist).
    Allow,
}

/// Where a source's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTP(S) GET.
    Http(Box<HttpSettings>),
    /// A local file.
    File {
        /// Absolute or config-relative path.
        path: PathBuf,
    },
    /// A TAXII 2.1 collection, polled incrementally.
    Taxii(Box<TaxiiSettings>),
}

/// Default for [`TaxiiSettings::page_size`].
pub const DEFAULT_TAXII_PAGE_SIZE: u32 = 1000;

/// A TAXII 2.1 source: where the collection is and how to poll it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiSettings {
    /// The API root or discovery URL and every HTTP setting (auth, TLS, proxy, timeout).
    pub http: HttpSettings,
    /// Collection id or title.
    pub collection: String,
    /// How far back the first poll reaches (`None`: the whole collection).
    pub initial_lookback: Option<Duration>,
    /// Objects per page (TAXII `limit`).
    pub page_size: u32,
}

/// HTTP settings of a source, secrets resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// The URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Basic auth.
    pub basic: Option<(String, String)>,
    /// Bearer token.
    pub bearer: Option<String>,
    /// mTLS certificate.
    pub client_cert: Option<PathBuf>,
    /// mTLS key.
    pub client_key: Option<PathBuf>,
    /// Extra CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Proxy URL.
    pub proxy: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Extra attempts.
    pub retries: u32,
    /// Largest body.
    pub max_body: u64,
    /// User-Agent.
    pub user_agent: String,
}

impl fmt::Debug for HttpSettings {
    // Secrets (URL query, headers, passwords, tokens) never reach logs through Debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("url", &self.url.split('?').next().unwrap_or(""))
            .field(
                "headers",
                &self.headers.iter().map(|(h, _)| h).collect::<Vec<_>>(),
            )
            .field("basic", &self.basic.as_ref().map(|(u, _)| u))
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The body syntax of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// One indicator per line.
    Text,
    /// Comma- (or otherwise) separated values.
    Csv,
    /// A JSON document.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// STIX 2.1: a bundle (`format = "stix"`) or TAXII envelopes (`kind = "taxii"`).
    Stix,
}

/// A CSV column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// By header name.
    Name(String),
    /// By 0-based index.
    Index(usize),
}

/// How indicators are picked out of a body.
#[derive(Debug, Clone)]
pub struct Extract {
    /// Body syntax.
    pub syntax: Syntax,
    /// Fixed type, or `None` for auto.
    pub kind: Option<Kind>,
    /// text: capture group 1 is the indicator.
    pub regex: Option<regex::Regex>,
    /// csv column.
    pub column: Option<Column>,
    /// csv delimiter.
    pub delimiter: u8,
    /// csv comment prefix.
    pub comment: Option<String>,
    /// csv header line.
    pub header: bool,
    /// csv header inside the last comment line.
    pub header_in_comment: bool,
    /// json: pointer to the items array.
    pub items: Option<String>,
    /// json/jsonl: value path.
    pub value: Option<String>,
    /// json/jsonl: confidence path.
    pub confidence_field: Option<String>,
    /// json/jsonl: expiry path.
    pub expires_field: Option<String>,
    /// json/jsonl: tags path.
    pub tags_field: Option<String>,
    /// json/jsonl: comment path.
    pub comment_field: Option<String>,
}

/// Publish gates of a source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gates {
    /// Most bad lines, as a share of data lines.
    pub max_invalid_ratio: f64,
    /// Whether an empty result is accepted.
    pub allow_empty: bool,
    /// Largest accepted shrink versus the last accepted fetch, as a share.
    pub max_shrink: f64,
}

/// A checked source.
#[derive(Debug, Clone)]
pub struct Source {
    /// Unique name.
    pub name: String,
    /// Where it is defined.
    pub location: Location,
    /// Where the bytes come from.
    pub transport: Transport,
    /// How to read them.
    pub extract: Extract,
    /// Fetch interval.
    pub refresh: Duration,
    /// Confidence for indicators without one.
    pub confidence: u8,
    /// TLP for indicators without one.
    pub tlp: Tlp,
    /// Tags for every indicator.
    pub tags: Vec<String>,
    /// How long unlisted indicators stay.
    pub keep_for: Duration,
    /// Block or allow.
    pub role: Role,
    /// Publish gates.
    pub gates: Gates,
}

impl Source {
    /// The HTTP settings of a network source (`http` or `taxii`); `None` for a file.
    pub fn http(&self) -> Option<&HttpSettings> {
        match &self.transport {
            Transport::Http(h) => Some(h),
            Transport::Taxii(t) => Some(&t.http),
            Transport::File { .. } => None,
        }
    }

    /// Whether it is fetched over plain `http://` (data can be altered in transit).
    pub fn is_plain_http(&self) -> bool {
        self.http().is_some_and(|h| h.url.starts_with("http://"))
    }
}

/// A checked list.
#[derive(Debug, Clone)]
pub struct List {
    /// Unique name.
    pub name: String,
    /// Where it is defined.
    pub location: Location,
    /// Output format.
    pub vendor: Vendor,
    /// Where the vendor is set.
    pub vendor_location: Location,
    /// Types it takes (empty: the vendor's).
    pub kinds: Vec<Kind>,
    /// Block sources, resolved names, sorted.
    pub sources: Vec<String>,
    /// Allow sources, resolved names, sorted.
    pub allow: Vec<String>,
    /// Lowest confidence published.
    pub min_confidence: u8,
    /// Least number of distinct sources.
    pub min_sources: usize,
    /// Highest TLP published.
    pub max_tlp: Tlp,
    /// Most lines (None: the vendor default).
    pub max_entries: Option<u64>,
    /// Ranges where the vendor allows.
    pub ranges: bool,
    /// ProxySG category.
    pub category: String,
    /// Treat every domain as `*.name`.
    pub subdomains: bool,
    /// Who may fetch it from `serve`.
    pub access: Access,
    /// `stix` lists: the producer (`[server] organization`).
    pub organization: String,
    /// `stix` lists: how long a revoked entry stays in the TAXII collection.
    pub share_retention: Duration,
}

/// A list output format, by vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// Palo Alto Networks PAN-OS external dynamic list.
    Panos,
    /// Fortinet FortiGate threat feed.
    Fortigate,
    /// Check Point IoC feed, CSV in Check Point format.
    Checkpoint,
    /// Check Point Network Feed object, flat list.
    CheckpointFeed,
    /// Sophos Firewall third-party threat feed.
    Sophos,
    /// Cisco Secure Firewall Threat Intelligence Director flat file.
    CiscoTid,
    /// Cisco Secure Firewall Security Intelligence feed.
    CiscoSi,
    /// Broadcom (Symantec) ProxySG / Edge SWG local category.
    Proxysg,
    /// One normalized value per line.
    Plain,
    /// A STIX 2.1 bundle, also served as a TAXII 2.1 collection (`format/stix.rs`).
    Stix,
}

impl Vendor {
    /// Every vendor, in help order.
    pub const ALL: [Vendor; 10] = [
        Vendor::Panos,
        Vendor::Fortigate,
        Vendor::Checkpoint,
        Vendor::CheckpointFeed,
        Vendor::Sophos,
        Vendor::CiscoTid,
        Vendor::CiscoSi,
        Vendor::Proxysg,
        Vendor::Plain,
        Vendor::Stix,
    ];

    /// The id used in config and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Vendor::Panos => "panos",
            Vendor::Fortigate => "fortigate",
            Vendor::Checkpoint => "checkpoint",
            Vendor::CheckpointFeed => "checkpoint-feed",
            Vendor::Sophos => "sophos",
            Vendor::CiscoTid => "cisco-tid",
            Vendor::CiscoSi => "cisco-si",
            Vendor::Proxysg => "proxysg",
            Vendor::Plain => "plain",
            Vendor::Stix => "stix",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// An unknown vendor id, with the closest known one when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vendor {given:?}; expected one of: {}{}", Vendor::ALL.map(|v| v.id()).join(", "), hint.map(|h| format!(" (did you mean {h:?}?)")).unwrap_or_default())]
pub struct UnknownVendor {
    /// What was given.
    pub given: String,
    /// The closest id.
    pub hint: Option<&'static str>,
}

impl FromStr for Vendor {
    type Err = UnknownVendor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if let Some(v) = Vendor::ALL.into_iter().find(|v| v.id() == lower) {
            return Ok(v);
        }
        let alias = match lower.as_str() {
            "paloalto" | "palo-alto" | "pan-os" | "pan" => Some("panos"),
            "fortinet" | "fortios" => Some("fortigate"),
            "check-point" | "cp" => Some("checkpoint"),
            "cisco" | "fmc" => Some("cisco-si"),
            "bluecoat" | "symantec" | "broadcom" => Some("proxysg"),
            "text" | "txt" => Some("plain"),
            _ => Vendor::ALL
                .into_iter()
                .map(|v| v.id())
                .find(|id| id.starts_with(&lower) || lower.starts_with(id)),
        };
        Err(UnknownVendor {
            given: s.to_string(),
            hint: alias,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for v in Vendor::ALL {
            assert_eq!(v.id().parse::<Vendor>(), Ok(v));
        }
    }

    #[test]
    fn unknown_vendor_hints() {
        let e = "paloalto".parse::<Vendor>().unwrap_err();
        assert_eq!(e.hint, Some("panos"));
        assert!(e.to_string().contains("did you mean \"panos\""), "{e}");
    }
}
