//! Wiring of every stage: fetch the due sources → publish gates → store; store → select →
//! compile → format → files. The only library module (with `cli`) that knows every stage.
//!
//! A fetch that fails anything (transport, decoding, parsing, a gate) changes nothing in the
//! store but the source's state (last attempt, error), so the source keeps its last good set.
//! Lists are written atomically (temp file + fsync + rename) and also saved in the store, so a
//! restart can serve them before any fetch.

pub mod daemon;

use std::collections::{HashMap, HashSet};

type FastSet<T> = foldhash::HashSet<T>;
type FastMap<K, V> = foldhash::HashMap<K, V>;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::compile::psl::PublicSuffixes;
use crate::compile::{AllowSet, Compiler, Guard, ListPolicy};
use crate::config::{Column, Config, ConfigError, List, Role, Source, Syntax, Transport, Vendor};
use crate::format::{Format, FormatOptions, RenderedList};
use crate::indicator::{Kind, Meta, Report, Skip, SkipReason, Tlp, Value};
use crate::source::decode::decode_body;
use crate::source::http::{Fetcher, HttpOutcome, HttpRequest};
use crate::source::parse::{self, parse_feed, FeedFormat, ParseSpec};
use crate::store::{
    merge_snapshot, FreshIndicator, ListMeta, Record, SourceState, Store, StoreError,
};

/// Which sources to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMode {
    /// Those whose `refresh` interval has passed (file sources always).
    Due,
    /// None over the network (file sources are still read).
    Offline,
    /// All of them.
    Force,
}

/// What happened to one source in a run.
#[derive(Debug, Clone)]
pub struct SourceOutcome {
    /// Source name.
    pub name: String,
    /// Result.
    pub status: SourceStatus,
    /// Records held after the run.
    pub records: u64,
    /// Parse skips of this fetch.
    pub report: Report,
    /// Time spent.
    pub duration: Duration,
}

/// The result of one source's fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// A new set was accepted.
    Updated {
        /// Values new to the source.
        added: u64,
        /// Values gone from the source.
        removed: u64,
    },
    /// The server said 304 Not Modified.
    NotModified,
    /// Not due (or offline).
    Skipped,
    /// Fetch or gate failed; the last good set is kept.
    Failed {
        /// Bounded reason id (`timeout`, `http_status`, `empty`, `shrink`, ...).
        reason: String,
        /// For people.
        message: String,
    },
}

/// A compiled and rendered list.
#[derive(Debug, Clone)]
pub struct ListOutcome {
    /// List name.
    pub name: String,
    /// Vendor.
    pub vendor: Vendor,
    /// The bytes.
    pub rendered: RenderedList,
    /// Drops by reason.
    pub report: Report,
    /// Lines new since the last compile.
    pub added: Vec<String>,
    /// Lines gone since the last compile.
    pub removed: Vec<String>,
    /// Strong content hash (hex).
    pub etag: String,
    /// Output file name (`name.txt`, `name.csv`).
    pub file_name: String,
}

/// Errors that stop a run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Public Suffix List file is bad.
    #[error(transparent)]
    Psl(#[from] crate::compile::psl::PslError),
    /// Writing a list file failed.
    #[error("cannot write list file {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Checks that need the later stages: vendor/type compatibility and one-type vendors.
pub fn check(config: &Config) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for l in &config.lists {
        let format = list_format(l);
        let err = |message: String| ConfigError {
            file: config.path.clone(),
            location: l.vendor_location,
            key: format!("list.{}.types", l.name),
            message,
        };
        let takes = format
            .kinds()
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        for k in &l.kinds {
            if !format.kinds().contains(k) {
                errors.push(err(format!(
                    "vendor {} does not take type {k}; it takes: {takes}",
                    l.vendor
                )));
            }
        }
        let n = if l.kinds.is_empty() {
            format.kinds().len()
        } else {
            l.kinds.len()
        };
        if format.one_type_per_list() && n != 1 {
            errors.push(err(format!(
                "vendor {} lists hold one type only; set types = [\"…\"] to one of: {takes}",
                l.vendor
            )));
        }
        if l.ranges && !format.accepts_ranges() {
            errors.push(ConfigError {
                key: format!("list.{}.ranges", l.name),
                ..err(format!("vendor {} does not accept IP ranges", l.vendor))
            });
        }
    }
    errors
}

fn list_format(l: &List) -> Format {
    Format::new(
        l.vendor,
        FormatOptions {
            ranges: l.ranges,
            category: l.category.clone(),
        },
    )
}

/// The guard for a config (its Public Suffix List, or the built-in one).
///
/// # Errors
/// The configured PSL file cannot be read or parsed.
pub fn guard(config: &Config) -> Result<Guard, PipelineError> {
    Ok(match &config.public_suffix_list {
        Some(p) => Guard::new(Arc::new(PublicSuffixes::from_file(p)?)),
        None => Guard::default(),
    })
}

/// Source records held in memory for one run (the store's, updated by fetches).
pub type SourceData = HashMap<String, Vec<Record>>;

/// Loads the stored records of every configured source.
///
/// # Errors
/// The store cannot be read.
pub fn load_sources(config: &Config, store: &Store) -> Result<SourceData, PipelineError> {
    let mut data = HashMap::new();
    for s in &config.sources {
        data.insert(s.name.clone(), store.records(&s.name)?);
    }
    Ok(data)
}

fn parse_spec(s: &Source) -> ParseSpec {
    let e = &s.extract;
    ParseSpec {
        format: match e.syntax {
            Syntax::Text => FeedFormat::Text,
            Syntax::Csv => FeedFormat::Csv,
            // STIX bodies are read by source::taxii::stix, never with this spec.
            Syntax::Json | Syntax::Stix => FeedFormat::Json,
            Syntax::Jsonl => FeedFormat::Jsonl,
        },
        kind: e.kind,
        regex: e.regex.clone(),
        column: e.column.as_ref().map(|c| match c {
            Column::Name(n) => parse::Column::Name(n.clone()),
            Column::Index(i) => parse::Column::Index(*i),
        }),
        delimiter: e.delimiter,
        comment: e.comment.clone(),
        header: e.header,
        header_in_comment: e.header_in_comment,
        items: e.items.clone(),
        value_path: e.value.clone(),
        confidence_path: e.confidence_field.clone(),
        expires_path: e.expires_field.clone(),
        tags_path: e.tags_field.clone(),
        comment_path: e.comment_field.clone(),
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let head: Vec<u8> = body
        .iter()
        .skip_while(|b| b.is_ascii_whitespace() || **b == 0xEF || **b == 0xBB || **b == 0xBF)
        .take(64)
        .map(u8::to_ascii_lowercase)
        .collect();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html") || head.starts_with(b"<head")
}

fn failed(reason: &str, message: String) -> SourceStatus {
    SourceStatus::Failed {
        reason: reason.to_string(),
        message,
    }
}

enum Fetched {
    Body(Vec<u8>, Option<String>, Option<String>, Option<String>),
    /// A TAXII poll: a delta, converted.
    Delta(Box<crate::source::taxii::Poll>),
    NotModified,
    Skipped,
    Error(String, String),
}

async fn fetch_one(
    fetcher: Arc<Fetcher>,
    s: Source,
    state: Option<SourceState>,
    mode: FetchMode,
    now: i64,
) -> Fetched {
    match &s.transport {
        Transport::File { path } => match tokio::fs::read(path).await {
            Ok(b) => Fetched::Body(b, None, None, None),
            Err(e) => Fetched::Error(
                "file".into(),
                format!("source {:?}: cannot read {}: {e}", s.name, path.display()),
            ),
        },
        Transport::Http(h) => {
            let due = match (&state, mode) {
                (_, FetchMode::Offline) => false,
                (_, FetchMode::Force) => true,
                (None, FetchMode::Due) => true,
                (Some(st), FetchMode::Due) => st
                    .last_attempt
                    .is_none_or(|t| t.saturating_add(s.refresh.as_secs() as i64) <= now),
            };
            if !due {
                return Fetched::Skipped;
            }
            // Conditional GET only against a set we still hold.
            let (etag, last_modified) = match &state {
                Some(st) if st.last_success.is_some() && st.accepted_count > 0 => {
                    (st.etag.clone(), st.last_modified.clone())
                }
                _ => (None, None),
            };
            let req = HttpRequest {
                source: s.name.clone(),
                url: h.url.clone(),
                headers: h.headers.clone(),
                basic_auth: h.basic.clone(),
                bearer_token: h.bearer.clone(),
                client_cert: h.client_cert.clone(),
                client_key: h.client_key.clone(),
                ca_file: h.ca_file.clone(),
                proxy: h.proxy.clone(),
                timeout: h.timeout,
                retries: h.retries,
                max_body: h.max_body,
                user_agent: h.user_agent.clone(),
                etag,
                last_modified,
            };
            match fetcher.fetch(&req).await {
                Ok(HttpOutcome::NotModified) => Fetched::NotModified,
                Ok(HttpOutcome::Body {
                    body,
                    etag,
                    last_modified,
                    content_type,
                }) => Fetched::Body(body, etag, last_modified, content_type),
                Err(e) => Fetched::Error(e.reason().into(), e.to_string()),
            }
        }
        Transport::Taxii(t) => fetch_taxii(&fetcher, &s, t, state, mode, now).await,
    }
}

/// Fetches the sources `mode` selects, applies the publish gates and updates `data` (and the
/// store when `store` is given). Returns one outcome per source, in config order.
///
/// # Errors
/// Only store failures; a source failure is an outcome, not an error.
pub async fn refresh_sources(
    config: &Config,
    mut store: Option<&mut Store>,
    data: &mut SourceData,
    fetcher: Arc<Fetcher>,
    mode: FetchMode,
    now: i64,
) -> Result<Vec<SourceOutcome>, PipelineError> {
    let mut states: HashMap<String, Option<SourceState>> = HashMap::new();
    for s in &config.sources {
        let st = match store.as_deref() {
            Some(st) => st.state(&s.name)?,
            None => None,
        };
        states.insert(s.name.clone(), st);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in config.sources.iter().enumerate() {
        let (f, s2, st) = (fetcher.clone(), s.clone(), states[&s.name].clone());
        tasks.spawn(async move {
            let t = Instant::now();
            (i, fetch_one(f, s2, st, mode, now).await, t.elapsed())
        });
    }
    let mut fetched: Vec<Option<(Fetched, Duration)>> =
        (0..config.sources.len()).map(|_| None).collect();
    while let Some(r) = tasks.join_next().await {
        if let Ok((i, f, d)) = r {
            fetched[i] = Some((f, d));
        }
    }
    let mut out = Vec::new();
    for (s, f) in config.sources.iter().zip(fetched) {
        let (f, took) = f.unwrap_or((
            Fetched::Error("internal".into(), "fetch task failed".into()),
            Duration::ZERO,
        ));
        let mut state = states[&s.name].clone().unwrap_or_default();
        let t = Instant::now();
        let mut report = Report::default();
        let status = match f {
            Fetched::Skipped => SourceStatus::Skipped,
            Fetched::NotModified => {
                state.last_attempt = Some(now);
                state.last_success = Some(now);
                state.last_error = None;
                state.last_error_reason = None;
                if let Some(st) = store.as_deref_mut() {
                    st.set_state(&s.name, &state)?;
                }
                SourceStatus::NotModified
            }
            Fetched::Error(reason, message) => SourceStatus::Failed { reason, message },
            Fetched::Delta(poll) => {
                let poll = *poll;
                report.merge(&poll.converted.report);
                let nothing_new = poll.converted.fresh.is_empty();
                let (records, added, removed) = accept_delta(s, poll.converted, data, now);
                state.last_attempt = Some(now);
                state.last_success = Some(now);
                state.last_error = None;
                state.last_error_reason = None;
                // Only a poll accepted whole moves the position.
                if poll.cursor.is_some() {
                    state.cursor = poll.cursor;
                }
                state.accepted_count = records.len() as u64;
                if let Some(st) = store.as_deref_mut() {
                    if nothing_new && removed == 0 {
                        // The records are unchanged: write the small state, not the snapshot.
                        st.set_state(&s.name, &state)?;
                    } else {
                        st.replace(&s.name, &records, &state)?;
                    }
                }
                data.insert(s.name.clone(), records);
                SourceStatus::Updated { added, removed }
            }
            Fetched::Body(body, etag, last_modified, content_type) => {
                let url = match &s.transport {
                    Transport::Http(h) => crate::source::http::redact_url(&h.url),
                    Transport::Taxii(t) => crate::source::http::redact_url(&t.http.url),
                    Transport::File { path } => path.display().to_string(),
                };
                let max = match &s.transport {
                    Transport::Http(h) => h.max_body,
                    Transport::Taxii(t) => t.http.max_body,
                    Transport::File { .. } => u64::MAX,
                };
                match accept(
                    s,
                    body,
                    content_type.as_deref(),
                    &url,
                    max,
                    data,
                    now,
                    &mut report,
                ) {
                    Ok((records, added, removed)) => {
                        state.last_attempt = Some(now);
                        state.last_success = Some(now);
                        state.last_error = None;
                        state.last_error_reason = None;
                        state.etag = etag;
                        state.last_modified = last_modified;
                        state.accepted_count = records.len() as u64;
                        if let Some(st) = store.as_deref_mut() {
                            st.replace(&s.name, &records, &state)?;
                        }
                        data.insert(s.name.clone(), records);
                        SourceStatus::Updated { added, removed }
                    }
                    Err(status) => status,
                }
            }
        };
        if let SourceStatus::Failed { reason, message } = &status {
            state.last_attempt = Some(now);
            state.last_error = Some(message.clone());
            state.last_error_reason = Some(reason.clone());
            if let Some(st) = store.as_deref_mut() {
                st.set_state(&s.name, &state)?;
            }
        }
        out.push(SourceOutcome {
            name: s.name.clone(),
            status,
            records: data.get(&s.name).map_or(0, |r| r.len() as u64),
            report,
            duration: took + t.elapsed(),
        });
    }
    Ok(out)
}

/// Decodes, parses and gates one body; on success returns the merged records and the counts
/// of values added and removed.
#[allow(clippy::too_many_arguments)]
fn accept(
    s: &Source,
    body: Vec<u8>,
    content_type: Option<&str>,
    url: &str,
    max: u64,
    data: &mut SourceData,
    now: i64,
    report: &mut Report,
) -> Result<(Vec<Record>, u64, u64), SourceStatus> {
    let name = &s.name;
    let body = decode_body(body, content_type, url, max)
        .map_err(|e| failed("decode", format!("source {name:?}: {e}")))?;
    if s.extract.syntax != Syntax::Json
        && (content_type.is_some_and(|c| c.to_ascii_lowercase().starts_with("text/html"))
            || looks_like_html(&body))
    {
        return Err(failed(
            "html",
            format!("source {name:?}: {url} returned an HTML page, not a list (an error or login page?); keeping the last good set"),
        ));
    }
    let parsed = match s.extract.syntax {
        Syntax::Stix => crate::source::taxii::stix::convert_bundle(&body, now)
            .map_err(|e| failed("parse", format!("source {name:?}: {url}: {e}")))?
            .into_feed(),
        _ => parse_feed(name, &body, &parse_spec(s)).map_err(|e| failed("parse", e.to_string()))?,
    };
    report.merge(&parsed.report);
    let bad = parsed.report.count(SkipReason::Invalid);
    if parsed.records_seen > 0
        && bad as f64 > s.gates.max_invalid_ratio * parsed.records_seen as f64
    {
        return Err(failed(
            "invalid_ratio",
            format!(
                "source {name:?}: {bad} of {} lines are not indicators (max_invalid_ratio {}); keeping the last good set",
                parsed.records_seen, s.gates.max_invalid_ratio
            ),
        ));
    }
    // Records keep the tags their data gave; the source's own tags are config, applied when
    // lists select by `tag:` (no copy per record).
    let fresh: Vec<FreshIndicator> = parsed
        .indicators
        .into_iter()
        .map(|p| FreshIndicator {
            value: p.value,
            expires: p.expires,
            confidence: p.confidence,
            tlp: p.tlp,
            tags: p.tags,
            comment: p.comment,
        })
        .collect();
    let distinct: FastSet<&Value> = fresh.iter().map(|f| &f.value).collect();
    let n = distinct.len() as u64;
    if n == 0 && !s.gates.allow_empty {
        return Err(failed(
            "empty",
            format!("source {name:?}: {url} gave no indicators; keeping the last good set (set allow_empty = true if empty is normal)"),
        ));
    }
    let old: &[Record] = data.get(name).map_or(&[], Vec::as_slice);
    let old_values: FastSet<&Value> = old.iter().map(|r| &r.value).collect();
    let prev = old.len() as u64;
    if prev > 0 && (n as f64) < prev as f64 * (1.0 - s.gates.max_shrink) {
        return Err(failed(
            "shrink",
            format!(
                "source {name:?}: {n} indicators, down from {prev} (more than max_shrink {}); keeping the last good set",
                s.gates.max_shrink
            ),
        ));
    }
    let added = distinct
        .iter()
        .filter(|v| !old_values.contains(**v))
        .count() as u64;
    let removed = old_values
        .iter()
        .filter(|v| !distinct.contains(**v))
        .count() as u64;
    drop(distinct);
    drop(old_values);
    // Taken out of `data` (not cloned); the caller puts the merged set back.
    let old = data.remove(name).unwrap_or_default();
    let records = merge_snapshot(old, fresh, now, s.keep_for.as_secs() as i64);
    Ok((records, added, removed))
}

/// Polls one TAXII source when it is due (the store's cursor as `added_after`).
async fn fetch_taxii(
    fetcher: &Fetcher,
    s: &Source,
    t: &crate::config::TaxiiSettings,
    state: Option<SourceState>,
    mode: FetchMode,
    now: i64,
) -> Fetched {
    let due = match (&state, mode) {
        (_, FetchMode::Offline) => false,
        (_, FetchMode::Force) | (None, FetchMode::Due) => true,
        (Some(st), FetchMode::Due) => st
            .last_attempt
            .is_none_or(|a| a.saturating_add(s.refresh.as_secs() as i64) <= now),
    };
    if !due {
        return Fetched::Skipped;
    }
    let h = &t.http;
    let mut http = HttpRequest::new(s.name.clone(), h.url.clone());
    http.headers = h.headers.clone();
    http.basic_auth = h.basic.clone();
    http.bearer_token = h.bearer.clone();
    http.client_cert = h.client_cert.clone();
    http.client_key = h.client_key.clone();
    http.ca_file = h.ca_file.clone();
    http.proxy = h.proxy.clone();
    http.timeout = h.timeout;
    http.retries = h.retries;
    http.max_body = h.max_body;
    http.user_agent = h.user_agent.clone();
    let req = crate::source::taxii::TaxiiRequest {
        http,
        collection: t.collection.clone(),
        page_size: t.page_size,
        initial_lookback: t.initial_lookback,
    };
    let cursor = state.as_ref().and_then(|st| st.cursor.as_deref());
    match crate::source::taxii::poll(fetcher, &req, cursor, now).await {
        Ok(p) => Fetched::Delta(Box::new(p)),
        Err(e) => Fetched::Error(e.reason().into(), e.to_string()),
    }
}

/// Applies a TAXII poll (a delta) to the source's records: no empty or shrink gate, since a
/// poll only says what is new; removal is by withdrawal (revoked, expired), `valid_until` and
/// `keep_for` ([`crate::store::merge_delta`]). Returns the records and the values added and
/// removed.
fn accept_delta(
    s: &Source,
    c: crate::source::taxii::stix::Converted,
    data: &mut SourceData,
    now: i64,
) -> (Vec<Record>, u64, u64) {
    let old = data.remove(&s.name).unwrap_or_default();
    let (records, counts) =
        crate::store::merge_delta(old, c.fresh, &c.withdrawn, now, s.keep_for.as_secs() as i64);
    (records, counts.added, counts.removed)
}

struct Agg {
    /// Indices into the list's sources, ascending, distinct.
    sources: Vec<u16>,
    confidence: u8,
    last_seen: i64,
    tlp: Tlp,
    comment: Option<String>,
}

/// Compiles every list from `data`. Lists are independent; one that fails does not stop the
/// others (none can fail today: compile and render are infallible).
pub fn compile_lists(
    config: &Config,
    data: &SourceData,
    previous: &HashMap<String, Vec<u8>>,
    guard: &Guard,
    now: i64,
) -> Vec<ListOutcome> {
    config
        .lists
        .iter()
        .map(|l| compile_list(config, l, data, previous.get(&l.name), guard, now))
        .collect()
}

fn compile_list(
    config: &Config,
    l: &List,
    data: &SourceData,
    previous: Option<&Vec<u8>>,
    guard: &Guard,
    now: i64,
) -> ListOutcome {
    let format = list_format(l);
    let kinds: Vec<Kind> = if l.kinds.is_empty() {
        format.kinds().to_vec()
    } else {
        l.kinds.clone()
    };
    let policy = ListPolicy {
        name: l.name.clone(),
        kinds,
        max_entries: l.max_entries.or(format.default_max_entries()),
    };
    let allow = AllowSet::new(
        l.allow
            .iter()
            .flat_map(|a| data.get(a).into_iter().flatten())
            .filter(|r| r.expires.is_none_or(|e| e > now))
            .map(|r| r.value.clone()),
    );
    let mut report = Report::default();
    // Per-record selection, then per-value corroboration across sources. Values are keyed in a
    // hash map (output order comes from the compiler, not from here); metadata is interned, so a
    // million records of one fetch share one `Meta`.
    let keep_comments = l.vendor == Vendor::Checkpoint;
    let mut agg: FastMap<Value, Agg> = FastMap::default();
    for (si, src) in l.sources.iter().enumerate() {
        let Some(cfg) = config.source(src) else {
            continue;
        };
        if cfg.role != Role::Block {
            continue;
        }
        let si = si.min(u16::MAX as usize) as u16;
        for r in data.get(src).into_iter().flatten() {
            let origin = || Some(format!("source {src}"));
            if r.expires.is_some_and(|e| e <= now) {
                report.skip_with(
                    Skip::new(SkipReason::Expired, "past its expiry"),
                    1,
                    origin,
                    || r.value.to_string(),
                );
                continue;
            }
            let tlp = r.tlp.unwrap_or(cfg.tlp);
            if tlp > l.max_tlp {
                report.skip_with(
                    Skip::new(SkipReason::Tlp, "TLP above the list's max_tlp"),
                    1,
                    origin,
                    || r.value.to_string(),
                );
                continue;
            }
            let confidence = r.confidence.unwrap_or(cfg.confidence);
            if confidence < l.min_confidence {
                report.skip_with(
                    Skip::new(
                        SkipReason::BelowMinConfidence,
                        "confidence below the list's min_confidence",
                    ),
                    1,
                    origin,
                    || r.value.to_string(),
                );
                continue;
            }
            let mut value = r.value.clone();
            if l.subdomains {
                if let Value::Domain(d) = &mut value {
                    d.wildcard = true;
                }
            }
            match agg.get_mut(&value) {
                Some(a) => {
                    if a.sources.last() != Some(&si) {
                        a.sources.push(si);
                    }
                    a.confidence = a.confidence.max(confidence);
                    a.last_seen = a.last_seen.max(r.last_seen);
                    a.tlp = a.tlp.min(tlp);
                    if keep_comments && a.comment.is_none() {
                        a.comment = r.comment.clone();
                    }
                }
                None => {
                    agg.insert(
                        value,
                        Agg {
                            sources: vec![si],
                            confidence,
                            last_seen: r.last_seen,
                            tlp,
                            comment: if keep_comments {
                                r.comment.clone()
                            } else {
                                None
                            },
                        },
                    );
                }
            }
        }
    }
    let mut compiler = Compiler::new(policy, guard, &format);
    type MetaKey = (Vec<u16>, u8, i64, Tlp, Option<String>);
    let mut interned: FastMap<MetaKey, crate::compile::MetaId> = FastMap::default();
    for (value, a) in agg {
        if a.sources.len() < l.min_sources {
            let n = a.sources.len();
            report.skip_with(
                Skip::new(
                    SkipReason::MinSources,
                    "reported by fewer sources than min_sources",
                ),
                1,
                || Some(format!("{n} source(s)")),
                || value.to_string(),
            );
            continue;
        }
        let key: MetaKey = (a.sources, a.confidence, a.last_seen, a.tlp, a.comment);
        let id = match interned.get(&key) {
            Some(id) => *id,
            None => {
                let meta = Meta {
                    sources: key
                        .0
                        .iter()
                        .map(|&i| l.sources[i as usize].clone())
                        .collect(),
                    confidence: Some(key.1),
                    last_seen: Some(key.2),
                    tlp: Some(key.3),
                    comment: key.4.clone(),
                    ..Meta::default()
                };
                let id = compiler.add_meta(meta);
                interned.insert(key, id);
                id
            }
        };
        compiler.push(value, id, || None);
    }
    let list = compiler.finish(&allow);
    report.merge(&list.report);
    let rendered = format.render(&list);
    let (added, removed) = diff_lines(previous.map(Vec::as_slice), &rendered.body);
    let etag = content_hash(&rendered.body);
    ListOutcome {
        name: l.name.clone(),
        vendor: l.vendor,
        file_name: file_name(l),
        rendered,
        report,
        added,
        removed,
        etag,
    }
}

/// `name.csv` for Check Point's IoC CSV, `name.txt` otherwise.
pub fn file_name(l: &List) -> String {
    match l.vendor {
        Vendor::Checkpoint => format!("{}.csv", l.name),
        _ => format!("{}.txt", l.name),
    }
}

/// Strong content hash for ETags: SHA-256, first 128 bits in hex.
pub fn content_hash(body: &[u8]) -> String {
    let d = Sha256::digest(body);
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn entry_lines(body: &[u8]) -> FastSet<&[u8]> {
    body.split(|b| *b == b'\n')
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with(b"#")
                && *l != b"end"
                && !l.starts_with(b"define category ")
        })
        .collect()
}

fn diff_lines(old: Option<&[u8]>, new: &[u8]) -> (Vec<String>, Vec<String>) {
    let new_set = entry_lines(new);
    let old_set = old.map(entry_lines).unwrap_or_default();
    let mut added: Vec<String> = new_set
        .iter()
        .filter(|l| !old_set.contains(*l))
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let mut removed: Vec<String> = old_set
        .iter()
        .filter(|l| !new_set.contains(*l))
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    added.sort();
    removed.sort();
    (added, removed)
}

/// Writes one list file atomically: temp file in the same folder, fsync, rename.
///
/// # Errors
/// [`PipelineError::Write`] naming the file.
pub fn write_atomic(dir: &Path, file_name: &str, body: &[u8]) -> Result<PathBuf, PipelineError> {
    let path = dir.join(file_name);
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let err = |source| PipelineError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(body).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(err)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// Saves a compiled list in the store, moving `changed_at` only when the content changed.
///
/// # Errors
/// The store failed.
pub fn save_list(store: &mut Store, o: &ListOutcome, now: i64) -> Result<(), PipelineError> {
    let prev = store.load_list(&o.name)?;
    let changed_at = match &prev {
        Some((_, m)) if m.etag == o.etag => m.changed_at,
        _ => now,
    };
    store.save_list(
        &o.name,
        &o.rendered.body,
        &ListMeta {
            entries: o.rendered.entries,
            compiled_at: now,
            changed_at,
            etag: o.etag.clone(),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_recognised() {
        assert!(looks_like_html(b"\n  <!DOCTYPE html><html>"));
        assert!(looks_like_html(b"<HTML><body>403</body>"));
        assert!(!looks_like_html(b"1.2.3.4\n"));
        assert!(!looks_like_html(b"# <html> in a comment\n"));
    }

    #[test]
    fn diffs_ignore_headers() {
        let (a, r) = diff_lines(
            Some(b"# x: 2 entries\n1.1.1.1\n2.2.2.2\n"),
            b"# x: 2 entries\n2.2.2.2\n3.3.3.3\n",
        );
        assert_eq!(a, ["3.3.3.3"]);
        assert_eq!(r, ["1.1.1.1"]);
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(content_hash(b""), "e3b0c44298fc1c149afbf4c8996fb924");
    }
}

/// One source's record of an explained value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sighting {
    /// Source name.
    pub source: String,
    /// The record's value (may be wider than the query: a CIDR holding the address).
    pub value: String,
    /// Unix seconds.
    pub first_seen: i64,
    /// Unix seconds.
    pub last_seen: i64,
    /// Unix seconds.
    pub expires: Option<i64>,
    /// Effective confidence (record, else the source's).
    pub confidence: u8,
    /// Effective TLP (record, else the source's).
    pub tlp: &'static str,
    /// Record comment.
    pub comment: Option<String>,
}

/// What one list does with an explained value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verdict {
    /// List name.
    pub list: String,
    /// Vendor id.
    pub vendor: &'static str,
    /// True when the list publishes it.
    pub published: bool,
    /// The output line(s) that carry it, when published.
    pub lines: Vec<String>,
    /// Reason id (same ids as `convert`'s counters) when not published.
    pub reason: Option<String>,
    /// The precise rule or the allowlist entry, for people.
    pub detail: Option<String>,
}

/// The answer to "why is this blocked / not blocked?".
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// The value as normalized.
    pub value: String,
    /// Who reports it.
    pub sightings: Vec<Sighting>,
    /// Every list's verdict.
    pub lists: Vec<Verdict>,
}

fn record_covers(record: &Value, query: &Value) -> bool {
    use crate::indicator::IpRange;
    match (record, query) {
        (Value::Ip(IpRange::V4 { start: a, end: b }), Value::Ip(IpRange::V4 { start, end })) => {
            a <= start && end <= b
        }
        (Value::Ip(IpRange::V6 { start: a, end: b }), Value::Ip(IpRange::V6 { start, end })) => {
            a <= start && end <= b
        }
        (Value::Domain(r), Value::Domain(q)) => {
            r.name == q.name && (r.wildcard || !q.wildcard)
                || (r.wildcard && q.name.ends_with(&format!(".{}", r.name)))
        }
        (a, b) => a == b,
    }
}

fn output_lines_for(body: &[u8], vendor: Vendor, query: &Value) -> Vec<String> {
    use crate::indicator::{parse_token, IpRange};
    let mut out = Vec::new();
    for line in body.split(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let field = match vendor {
            Vendor::Checkpoint => text.split(',').nth(1).unwrap_or("").to_string(),
            _ => text.to_string(),
        };
        if field.is_empty() || field.starts_with('#') {
            continue;
        }
        let Ok(p) = parse_token(field.as_bytes(), None) else {
            // URL lines without a scheme
            if let (Value::Url(u), true) = (query, !field.contains("://")) {
                if field == u.host_and_path() || field == u.without_scheme() {
                    out.push(text.to_string());
                }
            }
            continue;
        };
        let hit = match (&p.value, query) {
            (Value::Ip(IpRange::V4 { .. }), Value::Ip(IpRange::V4 { .. }))
            | (Value::Ip(IpRange::V6 { .. }), Value::Ip(IpRange::V6 { .. })) => {
                record_covers(&p.value, query)
            }
            (Value::Domain(_), Value::Domain(_)) => record_covers(&p.value, query),
            (Value::Url(a), Value::Url(b)) => a == b || a.host_and_path() == b.host_and_path(),
            (a, b) => a == b,
        };
        if hit {
            out.push(text.to_string());
        }
    }
    out
}

/// Explains one value against every list of the config.
pub fn explain(
    config: &Config,
    data: &SourceData,
    guard: &Guard,
    query: &Value,
    now: i64,
) -> Explanation {
    let mut sightings = Vec::new();
    for s in &config.sources {
        for r in data.get(&s.name).into_iter().flatten() {
            if record_covers(&r.value, query) {
                sightings.push(Sighting {
                    source: s.name.clone(),
                    value: r.value.to_string(),
                    first_seen: r.first_seen,
                    last_seen: r.last_seen,
                    expires: r.expires,
                    confidence: r.confidence.unwrap_or(s.confidence),
                    tlp: r.tlp.unwrap_or(s.tlp).as_str(),
                    comment: r.comment.clone(),
                });
            }
        }
    }
    let previous: HashMap<String, Vec<u8>> = HashMap::new();
    let mut lists = Vec::new();
    for l in &config.lists {
        let out = compile_list(config, l, data, previous.get(&l.name), guard, now);
        let lines = output_lines_for(&out.rendered.body, l.vendor, query);
        let (reason, detail) = if lines.is_empty() {
            why_not(l, data, guard, query, &sightings, now)
        } else {
            (None, None)
        };
        lists.push(Verdict {
            list: l.name.clone(),
            vendor: l.vendor.id(),
            published: !lines.is_empty(),
            lines,
            reason,
            detail,
        });
    }
    Explanation {
        value: query.to_string(),
        sightings,
        lists,
    }
}

fn why_not(
    l: &List,
    data: &SourceData,
    guard: &Guard,
    query: &Value,
    sightings: &[Sighting],
    now: i64,
) -> (Option<String>, Option<String>) {
    let some = |r: SkipReason, d: String| (Some(r.as_str().to_string()), Some(d));
    let format = list_format(l);
    let kinds = if l.kinds.is_empty() {
        format.kinds().to_vec()
    } else {
        l.kinds.clone()
    };
    if !kinds.contains(&query.kind()) {
        return some(
            SkipReason::WrongType,
            format!(
                "the list takes {}",
                kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    // The floor and the vendor, on the value itself.
    let floor = match query {
        Value::Ip(r) => guard.check_ip(r),
        Value::Domain(d) => guard.check_domain(d),
        Value::Url(u) => guard.check_url(u),
        Value::Hash(_) => Ok(()),
    };
    if let Err(s) = floor {
        return some(s.reason, format!("safety floor: {}", s.detail));
    }
    if let Value::Ip(r) = query {
        if crate::compile::guard::wholly_special(r) {
            return some(
                SkipReason::Guarded,
                "safety floor: special-purpose address space".into(),
            );
        }
    }
    use crate::compile::VendorRules as _;
    if let Err(s) = format.admit(query) {
        return some(s.reason, format!("{}: {}", l.vendor, s.detail));
    }
    // Allowlists: name the source and the entry.
    for a in &l.allow {
        for r in data.get(a).into_iter().flatten() {
            let allow = AllowSet::new([r.value.clone()]);
            let hit = match query {
                Value::Ip(ip) => allow.covers_ip(ip),
                Value::Domain(d) => allow.allows_name(&d.name),
                Value::Url(u) => allow.allows_url(u),
                Value::Hash(h) => allow.allows_hash(&h.hex),
            };
            if hit {
                return some(
                    SkipReason::Allowlisted,
                    format!("allowlisted by source {a} entry {}", r.value),
                );
            }
        }
    }
    let in_list: Vec<&Sighting> = sightings
        .iter()
        .filter(|s| l.sources.contains(&s.source))
        .collect();
    if in_list.is_empty() {
        return (
            Some("not_listed".into()),
            Some(format!(
                "none of the list's sources ({}) report it",
                l.sources.join(", ")
            )),
        );
    }
    let live: Vec<&&Sighting> = in_list
        .iter()
        .filter(|s| s.expires.is_none_or(|e| e > now))
        .collect();
    if live.is_empty() {
        return some(SkipReason::Expired, "every sighting has expired".into());
    }
    let max_tlp = l.max_tlp.as_str();
    let tlp_ok: Vec<&&&Sighting> = live
        .iter()
        .filter(|s| s.tlp.parse::<Tlp>().is_ok_and(|t| t <= l.max_tlp))
        .collect();
    if tlp_ok.is_empty() {
        return some(
            SkipReason::Tlp,
            format!("every sighting is marked above max_tlp {max_tlp}"),
        );
    }
    let conf_ok: Vec<&&&&Sighting> = tlp_ok
        .iter()
        .filter(|s| s.confidence >= l.min_confidence)
        .collect();
    if conf_ok.is_empty() {
        return some(
            SkipReason::BelowMinConfidence,
            format!(
                "best confidence {} < min_confidence {}",
                tlp_ok.iter().map(|s| s.confidence).max().unwrap_or(0),
                l.min_confidence
            ),
        );
    }
    let distinct: HashSet<&str> = conf_ok.iter().map(|s| s.source.as_str()).collect();
    if distinct.len() < l.min_sources {
        return some(
            SkipReason::MinSources,
            format!(
                "{} source(s) report it; the list needs {}",
                distinct.len(),
                l.min_sources
            ),
        );
    }
    if let Value::Domain(d) = query {
        return some(
            SkipReason::Covered,
            format!(
                "covered by a wildcard of {} or an ancestor in the same list, or over the limit",
                d.name
            ),
        );
    }
    some(
        SkipReason::OverLimit,
        "the list is at max_entries; higher-priority entries were kept".into(),
    )
}
