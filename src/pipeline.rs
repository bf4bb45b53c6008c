//! Wiring of every stage: fetch the due sources → publish gates → store; store → select →
//! compile → format → files. The only library module (with `cli`) that knows every stage.
//!
//! A fetch that fails anything (transport, decoding, parsing, a gate) changes nothing in the
//! store but the source's state (last attempt, error), so the source keeps its last good set.
//! Lists are written atomically (temp file + fsync + rename) and also saved in the store, so a
//! restart can serve them before any fetch.
//!
//! # Memory and speed (10M-line feeds)
//! - Sources are held as [`RecordSet`]s (sorted, one record per value, metadata interned as
//!   stamps): 12 bytes per IPv4 record, loaded from the store without parsing text.
//! - A fetch is parsed straight into a [`FreshSet`] through a [`Sink`] (large text bodies on two
//!   threads), never a `Vec` of parsed indicators; the body is dropped before the merge.
//!   [`merge_set`] sorts it once and walks it beside the old set, which gives the new set and
//!   the added/removed counts together (no hash set of values).
//! - A list decides selection (expired, TLP, confidence) once per stamp of each source, not per
//!   record, and walks its sources' sets merged in value order: every copy of a value meets its
//!   others without hashing, and a value reported by one source with a known stamp reuses its
//!   interned metadata id, so the compiler sees uniform metadata and keeps 8 bytes per IPv4
//!   entry.
//! - List diffs hash nothing on a first compile or an unchanged list.

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
use crate::source::parse::{self, parse_feed_into, FeedFormat, ParseSpec, ParsedIndicator, Sink};
use crate::store::{
    merge_set, FreshMeta, FreshSet, Key, ListMeta, RecordSet, SourceState, StampId, Store,
    StoreError,
};

/// `EDLFORGE_TIMING` set: print the time of each phase to stderr (for benchmarks).
fn timing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("EDLFORGE_TIMING").is_some())
}

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
    /// Lines new since the last compile, in list order.
    pub added: Lines,
    /// Lines gone since the last compile, in the last list's order.
    pub removed: Lines,
    /// Strong content hash (hex).
    pub etag: String,
    /// Output file name (`name.txt`, `name.csv`).
    pub file_name: String,
}

/// Lines of text in one buffer: what a list diff gives. A first compile of a 10M-entry list adds
/// every line, and one `String` per line would cost a million allocations per million lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    text: String,
    /// End of each line in `text`.
    ends: Vec<usize>,
}

impl Lines {
    /// Lines held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Line `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// Every line, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.ends.len()).map(|i| self.get(i).unwrap_or(""))
    }

    /// Every line as its own `String`.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }

    fn push(&mut self, line: &[u8]) {
        match std::str::from_utf8(line) {
            Ok(t) => self.text.push_str(t),
            Err(_) => self.text.push_str(&String::from_utf8_lossy(line)),
        }
        self.ends.push(self.text.len());
    }
}

impl<'a> FromIterator<&'a [u8]> for Lines {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> Self {
        let mut lines = Lines::default();
        for l in iter {
            lines.push(l);
        }
        lines
    }
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

/// Source records held in memory for one run (the store's, updated by fetches), as compact
/// sorted [`RecordSet`]s: 12 bytes per IPv4 record.
pub type SourceData = HashMap<String, RecordSet>;

/// Loads the stored records of every configured source.
///
/// # Errors
/// The store cannot be read.
pub fn load_sources(config: &Config, store: &Store) -> Result<SourceData, PipelineError> {
    let mut data = HashMap::new();
    for s in &config.sources {
        data.insert(s.name.clone(), store.load(&s.name)?);
    }
    Ok(data)
}

/// A fetch's indicators go straight into a [`FreshSet`] as they are parsed.
impl Sink for FreshSet {
    fn indicator(&mut self, p: ParsedIndicator) {
        self.push(
            p.value,
            FreshMeta {
                expires: p.expires,
                confidence: p.confidence,
                tlp: p.tlp,
                // Records keep the tags their data gave; the source's own tags are config,
                // applied when lists select by `tag:` (no copy per record).
                tags: p.tags,
                comment: p.comment,
            },
        );
    }
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

#[derive(Debug)]
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
            let due = match mode {
                FetchMode::Offline => false,
                FetchMode::Force => true,
                FetchMode::Due => next_fetch(&s, state.as_ref()) <= now,
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

/// The longest wait before a failed fetch is tried again (a source's own `refresh` when
/// shorter). An hour keeps within what list publishers ask of automated clients (Spamhaus: at
/// most one download an hour) while a 12-hour source does not stay stale for 12 hours after one
/// failed attempt.
pub const RETRY_FAILED_AFTER: i64 = 3600;

/// When a network source is next due (Unix seconds; `i64::MIN` when it never was fetched):
/// `refresh` after the last attempt, or sooner after a failed one ([`RETRY_FAILED_AFTER`]).
pub fn next_fetch(s: &Source, state: Option<&SourceState>) -> i64 {
    match state {
        None => i64::MIN,
        Some(st) => next_fetch_at(
            s.refresh.as_secs() as i64,
            st.last_attempt,
            st.last_success,
            st.last_error.is_some(),
        ),
    }
}

/// [`next_fetch`] from the plain facts (for callers that keep them elsewhere).
pub fn next_fetch_at(
    refresh_secs: i64,
    last_attempt: Option<i64>,
    last_success: Option<i64>,
    has_error: bool,
) -> i64 {
    let Some(last) = last_attempt else {
        return i64::MIN;
    };
    let failed = has_error && last_success.is_none_or(|ok| ok < last);
    let wait = if failed {
        refresh_secs.min(RETRY_FAILED_AFTER)
    } else {
        refresh_secs
    };
    last.saturating_add(wait)
}

/// Fetches the sources `mode` selects, applies the publish gates and updates `data` (and the
/// store when `store` is given). Returns one outcome per source, in config order.
///
/// # Errors
/// Only store failures; a source failure is an outcome, not an error.
pub async fn refresh_sources(
    config: &Config,
    store: Option<&mut Store>,
    data: &mut SourceData,
    fetcher: Arc<Fetcher>,
    mode: FetchMode,
    now: i64,
) -> Result<Vec<SourceOutcome>, PipelineError> {
    match store {
        Some(st) => {
            let (out, pending) =
                refresh_sources_deferred(config, Some(&mut *st), data, fetcher, mode, now).await?;
            pending.write(st, data)?;
            Ok(out)
        }
        None => Ok(
            refresh_sources_deferred(config, None, data, fetcher, mode, now)
                .await?
                .0,
        ),
    }
}

/// Snapshots accepted by [`refresh_sources_deferred`] and not yet written: the records are in
/// the run's [`SourceData`], so they can be written while the lists compile from it.
#[derive(Debug, Default)]
#[must_use = "accepted snapshots are lost unless written"]
pub struct PendingWrites {
    /// Source name and the state accepted with its records.
    snapshots: Vec<(String, SourceState)>,
}

impl PendingWrites {
    /// Sources waiting to be written.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// Writes each accepted snapshot with its state ([`Store::replace_set`]), from `data`.
    ///
    /// # Errors
    /// The store failed; the snapshots written before stay written.
    pub fn write(self, store: &mut Store, data: &SourceData) -> Result<(), PipelineError> {
        for (name, state) in self.snapshots {
            let t = Instant::now();
            // Accepted sets are in `data` until the run ends; one missing there is kept as stored
            // rather than overwritten by nothing.
            let Some(records) = data.get(&name) else {
                tracing::error!(source = %name, "Accepted snapshot missing from the run's data; not written.");
                continue;
            };
            store.replace_set(&name, records, &state)?;
            if timing() {
                eprintln!(
                    "timing: source {name}: store {:.3}s",
                    t.elapsed().as_secs_f64()
                );
            }
        }
        Ok(())
    }
}

/// [`refresh_sources`] without writing the accepted snapshots: they are returned as
/// [`PendingWrites`] for the caller to write, for example on another thread while the lists
/// compile (the store write of a 10M-record source then costs no wall time). State-only
/// changes (a 304, a failed fetch or gate) are still written at once when `store` is given.
/// Write the pending snapshots before anything that must follow them durably (list files).
///
/// # Errors
/// Only store failures; a source failure is an outcome, not an error.
pub async fn refresh_sources_deferred(
    config: &Config,
    store: Option<&mut Store>,
    data: &mut SourceData,
    fetcher: Arc<Fetcher>,
    mode: FetchMode,
    now: i64,
) -> Result<(Vec<SourceOutcome>, PendingWrites), PipelineError> {
    let fetches = fetch_sources(config, store.as_deref(), fetcher, mode, now).await?;
    accept_fetches(config, fetches, store, data, now)
}

/// What [`fetch_sources`] got, for [`accept_fetches`]: each source's response (or why there is
/// none) and the state it was fetched with.
#[derive(Debug)]
pub struct Fetches {
    fetched: Vec<Option<(Fetched, Duration)>>,
    states: HashMap<String, Option<SourceState>>,
}

/// The network half of [`refresh_sources_deferred`]: fetches the sources `mode` selects (with
/// the conditional-GET state of `store`, when given) and touches neither the store nor the
/// records, so the caller can load the records (`load_sources`) meanwhile.
///
/// # Errors
/// Only store failures (reading states).
pub async fn fetch_sources(
    config: &Config,
    store: Option<&Store>,
    fetcher: Arc<Fetcher>,
    mode: FetchMode,
    now: i64,
) -> Result<Fetches, PipelineError> {
    let mut states: HashMap<String, Option<SourceState>> = HashMap::new();
    for s in &config.sources {
        let st = match store {
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
    Ok(Fetches { fetched, states })
}

/// The second half of [`refresh_sources_deferred`]: decodes, parses and gates what
/// [`fetch_sources`] got, merges accepted snapshots into `data` and returns them to be written;
/// state-only changes are written to `store` at once.
///
/// # Errors
/// Only store failures; a source failure is an outcome, not an error.
pub fn accept_fetches(
    config: &Config,
    fetches: Fetches,
    mut store: Option<&mut Store>,
    data: &mut SourceData,
    now: i64,
) -> Result<(Vec<SourceOutcome>, PendingWrites), PipelineError> {
    let Fetches { fetched, states } = fetches;
    let mut pending = PendingWrites::default();
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
                        // Written with the other accepted snapshots (after the lists compile
                        // in `compile`), with the state that goes with them.
                        pending.snapshots.push((s.name.clone(), state.clone()));
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
                let t_accept = Instant::now();
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
                        if timing() {
                            eprintln!(
                                "timing: source {}: fetch {:.3}s, parse+gates+merge {:.3}s",
                                s.name,
                                took.as_secs_f64(),
                                t_accept.elapsed().as_secs_f64(),
                            );
                        }
                        if store.is_some() {
                            pending.snapshots.push((s.name.clone(), state.clone()));
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
    Ok((out, pending))
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
) -> Result<(RecordSet, u64, u64), SourceStatus> {
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
    let t = Instant::now();
    let (parsed, parts) = match s.extract.syntax {
        // A static STIX bundle: converted whole (bundles are small next to text feeds).
        Syntax::Stix => {
            let feed = crate::source::taxii::stix::convert_bundle(&body, now)
                .map_err(|e| failed("parse", format!("source {name:?}: {url}: {e}")))?
                .into_feed();
            let mut set = FreshSet::default();
            let mut feed = feed;
            for p in std::mem::take(&mut feed.indicators) {
                set.indicator(p);
            }
            (feed, vec![set])
        }
        _ => parse_feed_into(name, &body, &parse_spec(s), FreshSet::default)
            .map_err(|e| failed("parse", e.to_string()))?,
    };
    drop(body);
    let parse_time = t.elapsed();
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
    let mut fresh = parts
        .into_iter()
        .reduce(|mut a, b| {
            a.append(b);
            a
        })
        .unwrap_or_default();
    fresh.dedup();
    if timing() {
        eprintln!(
            "timing: source {name}: parse {:.3}s, sort {:.3}s",
            parse_time.as_secs_f64(),
            (t.elapsed() - parse_time).as_secs_f64()
        );
    }
    let n = fresh.len() as u64;
    if n == 0 && !s.gates.allow_empty {
        return Err(failed(
            "empty",
            format!("source {name:?}: {url} gave no indicators; keeping the last good set (set allow_empty = true if empty is normal)"),
        ));
    }
    let empty = RecordSet::default();
    let old = data.get(name).unwrap_or(&empty);
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
    // One sorted walk over the old and the fresh records: the new set and both counts.
    let (records, counts) = merge_set(old, fresh, now, s.keep_for.as_secs() as i64);
    Ok((records, counts.added, counts.removed))
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
    let due = match mode {
        FetchMode::Offline => false,
        FetchMode::Force => true,
        FetchMode::Due => next_fetch(s, state.as_ref()) <= now,
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
) -> (RecordSet, u64, u64) {
    // TAXII collections are small next to bulk text feeds: the delta merge works on plain
    // records and the result goes back into a set.
    let old = data
        .remove(&s.name)
        .map(|set| set.to_records())
        .unwrap_or_default();
    let (records, counts) =
        crate::store::merge_delta(old, c.fresh, &c.withdrawn, now, s.keep_for.as_secs() as i64);
    (
        RecordSet::from_records(records),
        counts.added,
        counts.removed,
    )
}

/// What a list does with the records of one source that share a stamp: selection depends only
/// on the stamp and the source's config, so it is decided once per stamp, not per record.
#[derive(Clone)]
enum Pick<'a> {
    Skip(Skip),
    Take {
        confidence: u8,
        tlp: Tlp,
        last_seen: i64,
        comment: Option<&'a str>,
    },
}

/// A record's value as a list groups it: `subdomains = true` makes every domain a wildcard, so
/// `a.example` and `*.a.example` are one value (they are adjacent in a sorted set).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey<'a> {
    V4(u32, u32),
    V6(u128, u128),
    Name(std::borrow::Cow<'a, Value>),
}

impl<'a> GroupKey<'a> {
    fn new(k: Key<'a>, subdomains: bool) -> Self {
        match k {
            Key::V4(s, e) => GroupKey::V4(s, e),
            Key::V6(s, e) => GroupKey::V6(s, e),
            Key::Name(Value::Domain(d)) if subdomains && !d.wildcard => {
                let mut d = d.clone();
                d.wildcard = true;
                GroupKey::Name(std::borrow::Cow::Owned(Value::Domain(d)))
            }
            Key::Name(v) => GroupKey::Name(std::borrow::Cow::Borrowed(v)),
        }
    }

    fn into_value(self) -> Value {
        match self {
            GroupKey::V4(start, end) => Value::Ip(crate::indicator::IpRange::V4 { start, end }),
            GroupKey::V6(start, end) => Value::Ip(crate::indicator::IpRange::V6 { start, end }),
            GroupKey::Name(v) => v.into_owned(),
        }
    }
}

/// One block source of a list, walked in value order.
struct Walked<'a, I: Iterator<Item = (Key<'a>, StampId)>> {
    name: &'a str,
    picks: Vec<Pick<'a>>,
    /// Meta id of a value reported by this source alone, per stamp (the common case).
    alone: Vec<Option<crate::compile::MetaId>>,
    records: std::iter::Peekable<I>,
}

/// The interned metadata of an output value: list source indices, confidence, last seen, TLP,
/// comment.
type MetaKey = (Vec<u16>, u8, i64, Tlp, Option<String>);

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
    let allow = AllowSet::new(l.allow.iter().filter_map(|a| data.get(a)).flat_map(|set| {
        set.iter()
            .filter(|&(_, id)| set.stamp(id).expires.is_none_or(|e| e > now))
            .map(|(k, _)| k.to_value())
    }));
    let mut report = Report::default();
    let keep_comments = l.vendor == Vendor::Checkpoint;
    let t0 = Instant::now();
    let mut compiler = Compiler::new(policy, guard, &format);
    let mut interned: FastMap<MetaKey, crate::compile::MetaId> = FastMap::default();
    let mut intern = |compiler: &mut Compiler<'_>, key: MetaKey| match interned.get(&key) {
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
    // Selection per stamp, then corroboration per value: the list's sources are sorted sets, so
    // one merged walk in value order meets every copy of a value together, with no hashing.
    let mut walked = Vec::new();
    for (si, src) in l.sources.iter().enumerate() {
        let (Some(cfg), Some(set)) = (config.source(src), data.get(src)) else {
            continue;
        };
        if cfg.role != Role::Block || si > u16::MAX as usize {
            continue;
        }
        let picks: Vec<Pick<'_>> = set
            .stamps()
            .iter()
            .map(|st| {
                let tlp = st.tlp.unwrap_or(cfg.tlp);
                let confidence = st.confidence.unwrap_or(cfg.confidence);
                if st.expires.is_some_and(|e| e <= now) {
                    Pick::Skip(Skip::new(SkipReason::Expired, "past its expiry"))
                } else if tlp > l.max_tlp {
                    Pick::Skip(Skip::new(SkipReason::Tlp, "TLP above the list's max_tlp"))
                } else if confidence < l.min_confidence {
                    Pick::Skip(Skip::new(
                        SkipReason::BelowMinConfidence,
                        "confidence below the list's min_confidence",
                    ))
                } else {
                    Pick::Take {
                        confidence,
                        tlp,
                        last_seen: st.last_seen,
                        comment: st.comment.as_deref().filter(|_| keep_comments),
                    }
                }
            })
            .collect();
        walked.push((
            si as u16,
            Walked {
                name: src.as_str(),
                alone: vec![None; picks.len()],
                picks,
                records: set.iter().peekable(),
            },
        ));
    }
    let subdomains = l.subdomains;
    // One source and no subdomain folding (the big lists): every record is its own value.
    if let ([(si, w)], false) = (&mut walked[..], subdomains) {
        for (k, id) in w.records.by_ref() {
            match &w.picks[id as usize] {
                Pick::Skip(skip) => {
                    let src = w.name;
                    report.skip_with(
                        *skip,
                        1,
                        || Some(format!("source {src}")),
                        || k.to_value().to_string(),
                    );
                }
                Pick::Take { .. } if l.min_sources > 1 => report.skip_with(
                    Skip::new(
                        SkipReason::MinSources,
                        "reported by fewer sources than min_sources",
                    ),
                    1,
                    || Some("1 source(s)".to_string()),
                    || k.to_value().to_string(),
                ),
                Pick::Take {
                    confidence,
                    tlp,
                    last_seen,
                    comment,
                } => {
                    let meta = match w.alone[id as usize] {
                        Some(m) => m,
                        None => {
                            let key = (
                                vec![*si],
                                *confidence,
                                *last_seen,
                                *tlp,
                                comment.map(str::to_owned),
                            );
                            let m = intern(&mut compiler, key);
                            w.alone[id as usize] = Some(m);
                            m
                        }
                    };
                    compiler.push(k.to_value(), meta, || None);
                }
            }
        }
    }
    // Several sources (or subdomains): merge their walks by value.
    let mut group: Vec<(u16, usize, StampId)> = Vec::new();
    let mut sources: Vec<u16> = Vec::new();
    loop {
        // The smallest value at the head of any source (one source: its head).
        let mut min: Option<GroupKey<'_>> = None;
        for (_, w) in &mut walked {
            if let Some(&(k, _)) = w.records.peek() {
                let g = GroupKey::new(k, subdomains);
                if min.as_ref().is_none_or(|m| g < *m) {
                    min = Some(g);
                }
            }
        }
        let Some(value) = min else {
            break;
        };
        // Every record of that value, in source order; selection skips counted per record.
        group.clear();
        for (wi, (si, w)) in walked.iter_mut().enumerate() {
            while let Some((k, id)) = w
                .records
                .next_if(|&(k, _)| GroupKey::new(k, subdomains) == value)
            {
                match &w.picks[id as usize] {
                    Pick::Skip(skip) => {
                        let src = w.name;
                        report.skip_with(
                            *skip,
                            1,
                            || Some(format!("source {src}")),
                            || k.to_value().to_string(),
                        )
                    }
                    Pick::Take { .. } => group.push((*si, wi, id)),
                }
            }
        }
        if group.is_empty() {
            continue;
        }
        sources.clear();
        sources.extend(group.iter().map(|g| g.0));
        sources.dedup();
        if sources.len() < l.min_sources {
            let n = sources.len();
            report.skip_with(
                Skip::new(
                    SkipReason::MinSources,
                    "reported by fewer sources than min_sources",
                ),
                1,
                || Some(format!("{n} source(s)")),
                || value.clone().into_value().to_string(),
            );
            continue;
        }
        let id = if let [(_, wi, sid)] = group[..] {
            let w = &mut walked[wi].1;
            match w.alone[sid as usize] {
                Some(id) => id,
                None => {
                    let Pick::Take {
                        confidence,
                        tlp,
                        last_seen,
                        comment,
                    } = &w.picks[sid as usize]
                    else {
                        continue;
                    };
                    let key = (
                        sources.clone(),
                        *confidence,
                        *last_seen,
                        *tlp,
                        comment.map(str::to_owned),
                    );
                    let id = intern(&mut compiler, key);
                    w.alone[sid as usize] = Some(id);
                    id
                }
            }
        } else {
            let (mut confidence, mut last_seen, mut tlp) = (0u8, i64::MIN, Tlp::Red);
            let mut comment: Option<&str> = None;
            for &(_, wi, sid) in &group {
                if let Pick::Take {
                    confidence: c,
                    tlp: t,
                    last_seen: ls,
                    comment: cm,
                } = &walked[wi].1.picks[sid as usize]
                {
                    confidence = confidence.max(*c);
                    last_seen = last_seen.max(*ls);
                    tlp = tlp.min(*t);
                    if comment.is_none() {
                        comment = *cm;
                    }
                }
            }
            intern(
                &mut compiler,
                (
                    sources.clone(),
                    confidence,
                    last_seen,
                    tlp,
                    comment.map(str::to_owned),
                ),
            )
        };
        compiler.push(value.into_value(), id, || None);
    }
    drop(walked);
    let t1 = Instant::now();
    let list = compiler.finish(&allow);
    report.merge(&list.report);
    let t2 = Instant::now();
    let rendered = format.render(&list);
    drop(list);
    let t3 = Instant::now();
    let body = &rendered.body;
    let diff = || diff_lines(previous.map(Vec::as_slice), body);
    // Big lists: the hash on a second core while the diff runs.
    let ((added, removed), etag) = if body.len() >= 1 << 20 {
        std::thread::scope(|s| {
            let hash = s.spawn(|| content_hash(body));
            let d = diff();
            (d, hash.join().unwrap_or_else(|_| content_hash(body)))
        })
    } else {
        (diff(), content_hash(body))
    };
    if timing() {
        eprintln!(
            "timing: list {}: select {:.3}s, compile {:.3}s, render {:.3}s, diff+hash {:.3}s",
            l.name,
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            t3.elapsed().as_secs_f64()
        );
    }
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

fn entry_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', body)
        .chain(std::iter::once(body.len()))
        .map(move |end| {
            let line = body.get(start..end).unwrap_or_default();
            start = end + 1;
            line
        })
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with(b"#")
                && *l != b"end"
                && !l.starts_with(b"define category ")
        })
}

fn line_set(body: &[u8]) -> FastSet<&[u8]> {
    let mut set = FastSet::default();
    set.reserve(memchr::memchr_iter(b'\n', body).count() + 1);
    set.extend(entry_lines(body));
    set
}

/// Entry lines (not headers) new in `new` and gone from `old`, each in its list's order. A
/// first compile and an unchanged list, the common cases on big lists, hash nothing.
fn diff_lines(old: Option<&[u8]>, new: &[u8]) -> (Lines, Lines) {
    let Some(old) = old else {
        return (entry_lines(new).collect(), Lines::default());
    };
    if old == new {
        return (Lines::default(), Lines::default());
    }
    let (old_set, new_set) = (line_set(old), line_set(new));
    let added = entry_lines(new).filter(|l| !old_set.contains(l)).collect();
    let removed = entry_lines(old).filter(|l| !new_set.contains(l)).collect();
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
    fn failed_sources_are_retried_sooner() {
        // 12 h source: 12 h after a success, 1 h after a failure, at once when never tried.
        assert_eq!(next_fetch_at(43_200, Some(1000), Some(1000), false), 44_200);
        assert_eq!(next_fetch_at(43_200, Some(1000), Some(500), true), 4_600);
        assert_eq!(next_fetch_at(43_200, Some(1000), None, true), 4_600);
        // A short refresh stays short.
        assert_eq!(next_fetch_at(900, Some(1000), None, true), 1_900);
        // An old error with a newer success is not a failure.
        assert_eq!(next_fetch_at(43_200, Some(1000), Some(1000), true), 44_200);
        assert_eq!(next_fetch_at(60, None, None, false), i64::MIN);
    }

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
        assert_eq!(a.to_vec(), ["3.3.3.3"]);
        assert_eq!(r.to_vec(), ["1.1.1.1"]);
        let (a, r) = diff_lines(None, b"# h\n1.1.1.1\n\xff\n");
        assert_eq!(a.iter().collect::<Vec<_>>(), ["1.1.1.1", "\u{fffd}"]);
        assert_eq!(a.get(1), Some("\u{fffd}"));
        assert_eq!(a.get(2), None);
        assert!(r.is_empty());
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
        for r in data.get(&s.name).into_iter().flat_map(RecordSet::records) {
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
        for r in data.get(a).into_iter().flat_map(RecordSet::records) {
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
