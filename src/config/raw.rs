//! `feeds.toml` exactly as written: serde structs that mirror the file, with
//! `deny_unknown_fields` everywhere and a doc comment on every field (these are the reference
//! docs). `validate/document.rs` reads the known keys of each table from these structs. Values that errors must point at are `Spanned`, so messages carry `file:line:column`.
//! Nothing here is checked beyond its TOML type; `validate/` builds the `Config` the program
//! runs on.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where edlforge keeps its state.
    #[serde(default)]
    pub store: RawStore,
    /// Defaults for every source and list.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// The sources to fetch (`[[source]]`).
    #[serde(default, rename = "source")]
    pub sources: Vec<RawSource>,
    /// The lists to build (`[[list]]`).
    #[serde(default, rename = "list")]
    pub lists: Vec<RawList>,
    /// How `edlforge serve` listens (`[server]`).
    #[serde(default)]
    pub server: RawServer,
}

/// `[server]`: used by `edlforge serve` only.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address(es) to listen on, `ip:port`: `"0.0.0.0:8443"` (the default) or
    /// `["0.0.0.0:8443", "[::]:8443"]`. `--listen` overrides.
    pub listen: Option<Spanned<toml::Value>>,
    /// `"auto"` (default): TLS with `tls_cert`/`tls_key` when set; else a local CA made once
    /// in `data_dir/tls/` (`ca.pem`, `CA:TRUE`, valid 20 years) signs the serving certificate
    /// (names: `tls_names`, the host name, `localhost` and the machine's addresses; valid 397
    /// days, renewed by the CA 30 days before it expires, without a restart). Firewalls import
    /// `ca.pem` once. `"off"`: plain HTTP (a warning is logged).
    pub tls: Option<Spanned<String>>,
    /// PEM certificate chain for HTTPS, relative to this file. Reloaded when it changes.
    /// `check` refuses a file that does not exist.
    pub tls_cert: Option<Spanned<String>>,
    /// PEM private key for `tls_cert`. Reloaded when it changes.
    pub tls_key: Option<Spanned<String>>,
    /// With `tls = "auto"` and no `tls_cert`: extra names (DNS names or IP addresses) of the
    /// serving certificate, the ones firewalls connect by. Default none (the host name,
    /// `localhost` and the machine's addresses are always in). Example:
    /// `tls_names = ["edl.example.net", "192.0.2.10"]`.
    #[serde(default)]
    pub tls_names: Vec<Spanned<String>>,
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` is believed for `clients` checks.
    /// Default none: the peer address is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Who may read `/`, `/status.json`, `/metrics` and the list names in `/readyz` (CIDRs,
    /// matched against the client address after `trusted_proxies`). Default loopback only,
    /// `["127.0.0.0/8", "::1/128"]`. To open to everyone: `["0.0.0.0/0", "::/0"]`; to a
    /// monitoring network: `["10.20.0.0/24"]`. An empty list is refused.
    pub admin_clients: Option<Spanned<Vec<Spanned<String>>>>,
    /// Most concurrent connections; more are closed at once. Default 1024.
    pub max_connections: Option<Spanned<i64>>,
    /// Most concurrent connections from one peer address; more are closed at once, so one
    /// address cannot fill `max_connections`. Counted by peer address at accept time (the
    /// only address known then). Connections from a `trusted_proxies` peer are not counted:
    /// a proxy carries many clients, and its own per-client limit applies behind it. Default
    /// 32. Example: `max_connections_per_client = 8`.
    pub max_connections_per_client: Option<Spanned<i64>>,
    /// Time a client has to send its request headers (and the TLS handshake); also how long an
    /// idle keep-alive connection (HTTP/1) or an HTTP/2 connection with no open stream stays
    /// open (HTTP/2 ends with GOAWAY). Default `"10s"`.
    pub header_timeout: Option<Spanned<String>>,
    /// The producer named in shared data: the STIX `identity` every indicator of a
    /// `vendor = "stix"` list is `created_by_ref`, e.g. `"Example Corp CERT"`. Required when a
    /// list has `vendor = "stix"`; no default.
    pub organization: Option<Spanned<String>>,
}

/// One basic-auth user of a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    /// Who polls (shown in metrics and on the status page), e.g. `"fw-hq"`.
    pub name: Spanned<String>,
    /// Must be exactly `${env:NAME}` or `${file:/path}`, resolving to a non-empty value.
    pub password: Spanned<String>,
}

/// One bearer token of a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// Who polls (shown in metrics and on the status page), e.g. `"fw-dc2"`.
    pub name: Spanned<String>,
    /// Must be exactly `${env:NAME}` or `${file:/path}`, resolving to a non-empty value.
    pub token: Spanned<String>,
}

/// `[store]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// Directory for the indicator store and compiled lists, relative to the config file.
    /// Default `"./data"`. `edlforge serve --data-dir DIR` and `compile --data-dir DIR`
    /// override it (so replicas on one machine can share one feeds.toml). With
    /// `backend = "postgres"` it stays this replica's local cache.
    pub data_dir: Option<Spanned<String>>,
    /// Where the store lives: `"embedded"` (the default: files under `data_dir`, one process)
    /// or `"postgres"` (a PostgreSQL database shared by several replicas, given by `url`).
    /// Example: `backend = "postgres"`. `serve` then contends for leadership: the leader
    /// fetches, compiles and publishes, the other replicas serve what it published (see the
    /// README, "Several replicas on PostgreSQL"); `compile` and `plan` keep using the files
    /// under `data_dir`.
    pub backend: Option<Spanned<String>>,
    /// With `backend = "postgres"` (required then, refused otherwise): the database, as a
    /// libpq URL, `postgresql://user:password@host:5432/dbname?sslmode=verify-full`. It can
    /// carry a password, so it must be a secret reference. No default. Example:
    /// `url = "${env:EDLFORGE_DATABASE_URL}"`.
    pub url: Option<Spanned<String>>,
}

/// `[defaults]`: values every source or list uses unless it sets its own.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// How often a source is fetched, humantime (`"15m"`, `"1h"`). Default `"1h"`.
    pub refresh: Option<Spanned<String>>,
    /// Whole-request timeout. Default `"60s"`.
    pub timeout: Option<Spanned<String>>,
    /// Extra attempts on connection errors, timeouts, 5xx and 429. Default 2.
    pub retries: Option<u32>,
    /// How long an indicator a full-snapshot source stopped listing stays, after it was last
    /// seen. Default `"0s"` (gone at once). Example: `"48h"` for blocklist.de.
    pub keep_for: Option<Spanned<String>>,
    /// Confidence (0–100) for indicators whose data carries none. Default 50.
    pub confidence: Option<Spanned<i64>>,
    /// TLP of indicators whose data carries none: clear, green, amber, amber+strict, red.
    /// Default `"clear"`.
    pub tlp: Option<Spanned<String>>,
    /// HTTP User-Agent. Default `"edlforge/<version>"`.
    pub user_agent: Option<String>,
    /// Outbound proxy URL for every source (may be `${env:NAME}`); default: the usual
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` variables.
    pub proxy: Option<Spanned<String>>,
    /// Largest body accepted, e.g. `"256MiB"` (the default). A larger body fails the fetch.
    pub max_body: Option<Spanned<String>>,
    /// At most this many concurrent fetches per host. Default 2.
    pub per_host: Option<Spanned<i64>>,
    /// Allow-role sources subtracted from every list: your own networks and domains.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// A newer `public_suffix_list.dat` to use instead of the built-in snapshot. It replaces the
    /// built-in list for every public-suffix rule of the safety floor: names that are suffixes,
    /// and wildcards (or, on vendors that match subdomains, plain names) with a rule at or below
    /// them. Example: `public_suffix_list = "psl/public_suffix_list.dat"`.
    pub public_suffix_list: Option<Spanned<String>>,
}

/// A column by header name or 0-based index.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawColumn {
    /// Header name.
    Name(String),
    /// 0-based index.
    Index(i64),
}

/// `[[source]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Unique name, used in lists (`sources = [...]`), reports and metrics. Letters, digits,
    /// `-`, `_`, `.`.
    pub name: Spanned<String>,
    /// `http` (default when `url` is set), `file` (default when `path` is set) or `taxii`
    /// (a TAXII 2.1 collection polled incrementally; needs `url` and `collection`).
    pub kind: Option<Spanned<String>>,
    /// URL of an `http` source (may contain `${env:NAME}` for keys in query strings: the
    /// userinfo password and secret-looking query parameters such as `apikey`, `key`, `token`
    /// must each be exactly one reference, e.g. `?apikey=${env:FEED_KEY}`). For
    /// `kind = "taxii"`: the API root (`https://taxii.example/api1/`) or the server's discovery
    /// URL (`https://taxii.example/taxii2/`, whose default API root, else the first one, is
    /// used). `http://` is accepted with a warning (test servers such as medallion).
    pub url: Option<Spanned<String>>,
    /// Path of a `file` source, relative to the config file (`lists/block.txt`).
    pub path: Option<Spanned<String>>,
    /// `text` (default), `csv`, `json`, `jsonl`, or `stix` (a STIX 2.1 bundle,
    /// `{"type": "bundle", "objects": [...]}`, read as a full snapshot). TAXII sources always
    /// read STIX and need no `format`.
    pub format: Option<Spanned<String>>,
    /// Indicator type: `auto` (default), `ip`, `domain`, `url`, `hash`.
    #[serde(rename = "type")]
    pub kind_filter: Option<Spanned<String>>,
    /// text: a regex with one capture group that picks the indicator out of each line.
    pub regex: Option<Spanned<String>>,
    /// csv: the column holding the indicator, by header name or 0-based index.
    pub column: Option<Spanned<RawColumn>>,
    /// csv: field delimiter, one character. Default `","`.
    pub delimiter: Option<Spanned<String>>,
    /// csv: prefix of comment lines. Default `"#"`.
    pub comment: Option<String>,
    /// csv: the first data line is a header. Default true.
    pub header: Option<bool>,
    /// csv: the header is the last comment line (abuse.ch URLhaus, ThreatFox). Default false.
    pub header_in_comment: Option<bool>,
    /// json: JSON pointer to the array of items (`"/results"`); default the document itself.
    pub items: Option<String>,
    /// json/jsonl: path of the indicator in each item (`"ip_address"`, `"a.b"`, `"/a/b"`).
    pub value: Option<Spanned<String>>,
    /// json/jsonl: path of a 0–100 confidence in each item.
    pub confidence_field: Option<String>,
    /// json/jsonl: path of an expiry (RFC 3339 or Unix seconds) in each item.
    pub expires_field: Option<String>,
    /// json/jsonl: path of tags (array or comma-separated string) in each item.
    pub tags_field: Option<String>,
    /// json/jsonl: path of a comment in each item.
    pub comment_field: Option<String>,
    /// How often to fetch (humantime). Default `[defaults] refresh`.
    pub refresh: Option<Spanned<String>>,
    /// Confidence for indicators whose data carries none (a value in the data wins).
    pub confidence: Option<Spanned<i64>>,
    /// TLP of this source's indicators.
    pub tlp: Option<Spanned<String>>,
    /// Tags given to every indicator of this source; lists select by `tag:<name>`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// See `[defaults] keep_for`.
    pub keep_for: Option<Spanned<String>>,
    /// `block` (default) or `allow` (an allowlist source).
    pub role: Option<Spanned<String>>,
    /// Extra request headers, e.g. `{ "X-API-Key" = "${env:FEED_KEY}" }`. A header whose
    /// name says credential (`*Key*`, `*Token*`, `*Auth*`, `*Credential*`, `*Secret*`,
    /// `Cookie`) must be exactly one reference, after an optional scheme
    /// (`Authorization = "Bearer ${env:TOKEN}"`), and may not resolve to an empty value.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// HTTP basic auth user (may be a secret reference).
    pub username: Option<Spanned<String>>,
    /// HTTP basic auth password: must be exactly `${env:NAME}` or `${file:/path}` (nothing
    /// around it), resolving to a non-empty value.
    pub password: Option<Spanned<String>>,
    /// Bearer token: must be exactly `${env:NAME}` or `${file:/path}`, resolving to a
    /// non-empty value.
    pub bearer_token: Option<Spanned<String>>,
    /// PEM client certificate (chain) for mTLS.
    pub client_cert: Option<Spanned<String>>,
    /// PEM private key for mTLS.
    pub client_key: Option<Spanned<String>>,
    /// Extra PEM CA bundle to trust for this source (added to the system roots).
    pub ca_file: Option<Spanned<String>>,
    /// Proxy for this source (overrides `[defaults] proxy`). A password in it must be exactly
    /// one reference: `http://user:${env:PROXY_PW}@proxy:3128`.
    pub proxy: Option<Spanned<String>>,
    /// See `[defaults] timeout`.
    pub timeout: Option<Spanned<String>>,
    /// See `[defaults] retries`.
    pub retries: Option<u32>,
    /// See `[defaults] max_body`.
    pub max_body: Option<Spanned<String>>,
    /// See `[defaults] user_agent`.
    pub user_agent: Option<String>,
    /// Gate: refuse a fetch with more than this share of bad lines. Default 0.5. Bad lines are
    /// `invalid` ones; with a declared `type`, also lines of another type (`wrong_type`).
    /// Comments and blank lines never count.
    pub max_invalid_ratio: Option<Spanned<f64>>,
    /// Gate: accept an empty result. Default false (an empty fetch keeps the last good set).
    pub allow_empty: Option<bool>,
    /// Gate: refuse a fetch that shrinks the set by more than this share. Default 0.5 for
    /// network sources; 1.0 (off) for `file` sources, which shrink when someone edits them.
    pub max_shrink: Option<Spanned<f64>>,
    /// TAXII (required): the collection to poll, by id
    /// (`"91a7b528-80eb-42ed-a74d-c6fbd5a26116"`) or title (`"High Value Indicator Collection"`).
    ///
    /// Each poll asks for the objects added since the last successful one (`added_after`, from
    /// the server's `X-TAXII-Date-Added-Last`, kept in the store) and is a delta: new or updated
    /// indicators are added, nothing is removed because a poll did not repeat it (so
    /// `allow_empty` and `max_shrink` do not apply). Indicators are kept by STIX id and leave
    /// through `revoked`, `valid_until`, or `keep_for` (for TAXII: dropped when not re-sent for
    /// this long; `"0s"`, the default, keeps them until revoked or expired); a value leaves when
    /// no live indicator asserts it any more. Auth keys as for `http`
    /// sources: `headers`, `username`/`password`, `bearer_token`, `client_cert`/`client_key`,
    /// `ca_file`.
    pub collection: Option<Spanned<String>>,
    /// TAXII: how far back the first poll (no stored position yet) reaches, humantime
    /// (`"30d"`). Default: the whole collection.
    pub initial_lookback: Option<Spanned<String>>,
    /// TAXII: objects asked for per page (the `limit` parameter; servers may send fewer).
    /// Default 1000.
    pub page_size: Option<Spanned<i64>>,
}

/// `[[list]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawList {
    /// Unique name; the file is `<out>/<name>.txt` (`.csv` for Check Point's IoC CSV, `.json`
    /// for a STIX bundle).
    pub name: Spanned<String>,
    /// Output format: panos, fortigate, checkpoint, checkpoint-feed, sophos, cisco-tid,
    /// cisco-si, proxysg, plain, stix (a STIX 2.1 bundle, also served by `edlforge serve` as a
    /// read-only TAXII 2.1 collection under `/taxii2/`, with the list's `auth`, `users`,
    /// `tokens` and `clients`).
    pub vendor: Spanned<String>,
    /// Indicator types the list takes; default: the vendor's (one-type vendors need exactly one).
    #[serde(default)]
    pub types: Vec<Spanned<String>>,
    /// Block sources by name, or `tag:<tag>` for every source with that tag. Default: every
    /// block source.
    #[serde(default)]
    pub sources: Vec<Spanned<String>>,
    /// Allow-role sources for this list, added to `[defaults] allow`.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Drop indicators below this confidence. Default 0.
    pub min_confidence: Option<Spanned<i64>>,
    /// Corroboration: at least this many distinct sources must report an indicator. Default 1.
    pub min_sources: Option<Spanned<i64>>,
    /// Highest TLP published. Default `"green"`: AMBER/RED indicators never reach this list.
    pub max_tlp: Option<Spanned<String>>,
    /// Most output lines. Default: the vendor's documented limit.
    pub max_entries: Option<Spanned<i64>>,
    /// Write IP sets as ranges where the vendor allows. Default false.
    pub ranges: Option<bool>,
    /// ProxySG category name. Default: the list name.
    pub category: Option<Spanned<String>>,
    /// Domain lists: block every listed name with all its subdomains (as if written `*.name`).
    /// Default false.
    pub subdomains: Option<bool>,
    /// Who may fetch the list from `edlforge serve`: `"none"` (default: anyone who passes
    /// `clients`), `"basic"` (one of `users`) or `"token"` (one of `tokens`, as
    /// `Authorization: Bearer` or `?token=`). A list whose `max_tlp` is above green needs auth.
    pub auth: Option<Spanned<String>>,
    /// For `auth = "basic"`: `[{ name = "fw-hq", password = "${env:FW_HQ}" }]`.
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// For `auth = "token"`: `[{ name = "fw-dc2", token = "${file:/run/secrets/dc2}" }]`.
    #[serde(default)]
    pub tokens: Vec<RawToken>,
    /// Peer addresses (CIDRs) allowed to fetch the list. Default: any.
    #[serde(default)]
    pub clients: Vec<Spanned<String>>,
    /// `vendor = "stix"` only: how long an entry that left the list stays in its TAXII
    /// collection as a `revoked: true` version, so pollers learn it is withdrawn. Default
    /// `"30d"`; e.g. `"90d"`.
    pub share_retention: Option<Spanned<String>>,
}
