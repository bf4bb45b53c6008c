//! Fetching: the due sources, the publish gates, the TAXII delta glue and the snapshots
//! waiting to be written.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Column, Config, Source, Syntax, Transport};
use crate::indicator::{Report, SkipReason};
use crate::source::decode::decode_body;
use crate::source::http::{Fetcher, HttpOutcome, HttpRequest};
use crate::source::parse::{self, parse_feed_into, FeedFormat, ParseSpec, ParsedIndicator, Sink};
use crate::store::{
    merge_set, seen_again, DeltaOutcome, FreshMeta, FreshSet, IndicatorIndex, RecordSet,
    SourceState, Store,
};

use super::unchanged::{self, FileReads};
use super::{timing, FetchMode, PipelineError, SourceData, SourceOutcome, SourceStatus};

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

/// The request for a network source's settings (without conditional headers).
fn http_request(source: &str, h: &crate::config::HttpSettings) -> HttpRequest {
    let mut req = HttpRequest::new(source.to_string(), h.url.clone());
    req.headers = h.headers.clone();
    req.basic_auth = h.basic.clone();
    req.bearer_token = h.bearer.clone();
    req.client_cert = h.client_cert.clone();
    req.client_key = h.client_key.clone();
    req.ca_file = h.ca_file.clone();
    req.proxy = h.proxy.clone();
    req.timeout = h.timeout;
    req.retries = h.retries;
    req.max_body = h.max_body;
    req.user_agent = h.user_agent.clone();
    req
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
            let mut req = http_request(&s.name, h);
            req.etag = etag;
            req.last_modified = last_modified;
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
/// store when `store` is given). Returns one outcome per source, in config order. With `files`
/// (a long-running process), a `path` source read again with the bytes and settings of its last
/// accepted read is not parsed again ([`FileReads`], `unchanged.rs`).
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
    files: Option<&FileReads>,
) -> Result<Vec<SourceOutcome>, PipelineError> {
    let mut store = store;
    let fetches = fetch_sources(config, store.as_deref(), fetcher, mode, now).await?;
    let (out, pending) = accept_fetches(config, fetches, store.as_deref_mut(), data, now, files)?;
    if let Some(st) = store {
        pending.write(st, data)?;
    }
    Ok(out)
}

/// Snapshots accepted by [`refresh_sources_deferred`] and not yet written: the records are in
/// the run's [`SourceData`], so they can be written while the lists compile from it.
#[derive(Debug, Default)]
#[must_use = "accepted snapshots are lost unless written"]
pub struct PendingWrites {
    /// Source name, the state accepted with its records, and for a TAXII source its indicator
    /// index (written just before the snapshot: an index ahead of its snapshot is harmless,
    /// the next poll repeats the same versions; one behind would lose indicators).
    snapshots: Vec<(String, SourceState, Option<IndicatorIndex>)>,
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
        for (name, state, index) in self.snapshots {
            let t = Instant::now();
            // Accepted sets are in `data` until the run ends; one missing there is kept as stored
            // rather than overwritten by nothing.
            let Some(records) = data.get(&name) else {
                tracing::error!(source = %name, "Accepted snapshot missing from the run's data; not written.");
                continue;
            };
            if let Some(index) = &index {
                store.save_indicators(&name, index)?;
            }
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
    accept_fetches(config, fetches, store, data, now, None)
}

/// What [`fetch_sources`] got, for [`accept_fetches`]: each source's response (or why there is
/// none) and the state it was fetched with.
#[derive(Debug)]
pub struct Fetches {
    fetched: Vec<Option<(Fetched, Duration)>>,
    states: HashMap<String, Option<SourceState>>,
    /// Indicator indexes read ahead ([`Fetches::load_indexes`]), by source.
    indexes: HashMap<String, IndicatorIndex>,
}

impl Fetches {
    /// Reads the stored indicator indexes ([`load_indexes`]) for [`accept_fetches`] to apply the
    /// polls to: for a caller that does not hand `accept_fetches` the store (`plan`), so its
    /// answer is the one `compile` would give.
    ///
    /// # Errors
    /// The store failed.
    pub fn load_indexes(&mut self, config: &Config, store: &Store) -> Result<(), PipelineError> {
        self.indexes = load_indexes(config, store)?;
        Ok(())
    }
}

/// The stored indicator index of every TAXII source of `config`, by source name.
///
/// # Errors
/// The store failed.
pub fn load_indexes(
    config: &Config,
    store: &Store,
) -> Result<HashMap<String, IndicatorIndex>, PipelineError> {
    let mut out = HashMap::new();
    for s in &config.sources {
        if matches!(s.transport, Transport::Taxii(_)) {
            out.insert(s.name.clone(), store.load_indicators(&s.name)?);
        }
    }
    Ok(out)
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
    Ok(Fetches {
        fetched,
        states,
        indexes: HashMap::new(),
    })
}

/// The second half of [`refresh_sources_deferred`]: decodes, parses and gates what
/// [`fetch_sources`] got, merges accepted snapshots into `data` and returns them to be written;
/// state-only changes are written to `store` at once. With `files`, a `path` source read again
/// unchanged is not parsed again ([`refresh_sources`]).
///
/// # Errors
/// Only store failures; a source failure is an outcome, not an error.
pub fn accept_fetches(
    config: &Config,
    fetches: Fetches,
    mut store: Option<&mut Store>,
    data: &mut SourceData,
    now: i64,
    files: Option<&FileReads>,
) -> Result<(Vec<SourceOutcome>, PendingWrites), PipelineError> {
    let Fetches {
        fetched,
        states,
        mut indexes,
    } = fetches;
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
        let mut bytes = 0u64;
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
                let mut index = match (indexes.remove(&s.name), store.as_deref()) {
                    (Some(index), _) => index,
                    (None, Some(st)) => st.load_indicators(&s.name)?,
                    (None, None) => IndicatorIndex::default(),
                };
                let (records, outcome) = accept_delta(s, poll.converted, &mut index, data, now);
                let (added, removed) = (outcome.counts.added, outcome.counts.removed);
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
                    if !outcome.index_changed {
                        // The records are rebuilt from the index alone: both unchanged, write
                        // the small state, not the snapshot.
                        st.set_state(&s.name, &state)?;
                    } else {
                        // Written with the other accepted snapshots (after the lists compile
                        // in `compile`), the index first, with the state that goes with them.
                        pending
                            .snapshots
                            .push((s.name.clone(), state.clone(), Some(index)));
                    }
                }
                data.insert(s.name.clone(), records);
                SourceStatus::Updated { added, removed }
            }
            Fetched::Body(body, etag, last_modified, content_type) => {
                bytes = body.len() as u64;
                let t_accept = Instant::now();
                let validator = files.and_then(|_| unchanged::validator(s, &body));
                let again = match (files, &validator) {
                    (Some(f), Some(v)) => f.again(s, v, &state, data.get(&s.name)),
                    _ => None,
                };
                let old_len = data.get(&s.name).map_or(0, |r| r.len() as u64);
                let accepted = match again.and_then(|r| Some((r, data.remove(&s.name)?))) {
                    // The same bytes and settings as the last accepted read: its records seen
                    // again, its report and counts, no parse (`unchanged.rs`).
                    Some((read, old)) => {
                        report.merge(&read.report);
                        let added = read.values.saturating_sub(old.len() as u64);
                        Ok((seen_again(old, now), added, 0, "unchanged: seen again"))
                    }
                    None => {
                        let (url, max) = match (s.http(), &s.transport) {
                            (Some(h), _) => (crate::source::http::redact_url(&h.url), h.max_body),
                            (None, Transport::File { path }) => {
                                (path.display().to_string(), u64::MAX)
                            }
                            (None, _) => (s.name.clone(), u64::MAX),
                        };
                        accept(
                            s,
                            body,
                            content_type.as_deref(),
                            &url,
                            max,
                            data,
                            now,
                            &mut report,
                        )
                        .map(|(records, added, removed)| {
                            if let (Some(f), Some(v)) = (files, validator.clone()) {
                                // |fresh| = |old| - removed + added
                                let values = (old_len + added).saturating_sub(removed);
                                f.remember(&s.name, v, &report, values);
                            }
                            (records, added, removed, "parse+gates+merge")
                        })
                    }
                };
                match accepted {
                    Ok((records, added, removed, what)) => {
                        state.last_attempt = Some(now);
                        state.last_success = Some(now);
                        state.last_error = None;
                        state.last_error_reason = None;
                        state.etag = etag.or(validator);
                        state.last_modified = last_modified;
                        state.accepted_count = records.len() as u64;
                        if timing() {
                            eprintln!(
                                "timing: source {}: fetch {:.3}s, {what} {:.3}s",
                                s.name,
                                took.as_secs_f64(),
                                t_accept.elapsed().as_secs_f64(),
                            );
                        }
                        if store.is_some() {
                            pending
                                .snapshots
                                .push((s.name.clone(), state.clone(), None));
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
        if matches!(s.transport, Transport::Taxii(_))
            && !matches!(status, SourceStatus::Updated { .. })
        {
            activate_pending(
                s,
                &mut indexes,
                store.as_deref(),
                &mut pending,
                state.clone(),
                data,
                now,
            )?;
        }
        out.push(SourceOutcome {
            name: s.name.clone(),
            status,
            records: data.get(&s.name).map_or(0, |r| r.len() as u64),
            report,
            duration: took + t.elapsed(),
            bytes,
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
    let (bad, counted) = gate_counted(s, &parsed.report);
    if parsed.records_seen > 0
        && bad as f64 > s.gates.max_invalid_ratio * parsed.records_seen as f64
    {
        let what = match s.extract.kind {
            Some(k) => format!("cannot become {k} entries"),
            None => "are not indicators".to_string(),
        };
        return Err(failed(
            "invalid_ratio",
            format!(
                "source {name:?}: {bad} of {} lines {what} ({counted}; max_invalid_ratio {}); keeping the last good set",
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

/// The parse skips the invalid-ratio gate counts, and their tally for its message
/// (`invalid 10, wrong_type 50`). A source with a declared `type` counts every line that cannot
/// become an entry of that type: a line of another type is as foreign to it as garbage (a
/// provider that changed format, a plain-text error page). Without a declared type only
/// `invalid` counts. Comments and blank lines are never skips, so they never count.
fn gate_counted(s: &Source, report: &Report) -> (u64, String) {
    let reasons: &[SkipReason] = match s.extract.kind {
        Some(_) => &[SkipReason::Invalid, SkipReason::WrongType],
        None => &[SkipReason::Invalid],
    };
    let total = reasons.iter().map(|r| report.count(*r)).sum();
    let tally = reasons
        .iter()
        .map(|r| format!("{r} {}", report.count(*r)))
        .collect::<Vec<_>>()
        .join(", ");
    (total, tally)
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
    let http = http_request(&s.name, h);
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

/// Activates the pending indicators of a TAXII source that was not polled this run (not due,
/// offline, or failed) whose `valid_from` has come: an empty delta through its index adds their
/// values to the records, so the lists compiled from `data` list them now, without a poll
/// (the mirror of `valid_until`, which the compile applies without one). The index and the
/// records are queued in `pending` with `state`.
fn activate_pending(
    s: &Source,
    indexes: &mut HashMap<String, IndicatorIndex>,
    store: Option<&Store>,
    pending: &mut PendingWrites,
    mut state: SourceState,
    data: &mut SourceData,
    now: i64,
) -> Result<(), PipelineError> {
    let mut index = match (indexes.remove(&s.name), store) {
        (Some(index), _) if index.starts_due(now) => index,
        // Asked every run for every TAXII source not polled: a scan of the file first, the
        // index built only when an indicator is due.
        (None, Some(st)) if st.indicators_start_due(&s.name, now)? => {
            st.load_indicators(&s.name)?
        }
        _ => return Ok(()),
    };
    let (records, outcome) = accept_delta(s, Default::default(), &mut index, data, now);
    tracing::info!(
        source = %s.name,
        indicators = outcome.activated,
        added = outcome.counts.added,
        "STIX indicators whose valid_from has come are listed from now on."
    );
    state.accepted_count = records.len() as u64;
    if store.is_some() {
        pending.snapshots.push((s.name.clone(), state, Some(index)));
    }
    data.insert(s.name.clone(), records);
    Ok(())
}

/// Applies a TAXII poll (a delta) to the source's records through its indicator index: no
/// empty or shrink gate, since a poll only says what is new; an indicator leaves when revoked,
/// expired or past `keep_for`, and a value when no live indicator asserts it any more
/// ([`crate::store::apply_delta`]). Returns the records and what changed.
fn accept_delta(
    s: &Source,
    c: crate::source::taxii::stix::Converted,
    index: &mut IndicatorIndex,
    data: &mut SourceData,
    now: i64,
) -> (RecordSet, DeltaOutcome) {
    // TAXII collections are small next to bulk text feeds: the delta works on plain records
    // and the result goes back into a set.
    let old = data
        .remove(&s.name)
        .map(|set| set.to_records())
        .unwrap_or_default();
    let (records, outcome) = crate::store::apply_delta(
        index,
        old,
        c.versions,
        now,
        s.keep_for.as_secs() as i64,
        Some(s.tlp),
    );
    if outcome.stale > 0 {
        tracing::info!(
            source = %s.name,
            stale = outcome.stale,
            "Ignored indicator versions older than the ones already stored."
        );
    }
    (RecordSet::from_records(records), outcome)
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
}
