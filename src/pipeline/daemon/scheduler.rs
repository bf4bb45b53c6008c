//! The scheduler of `edlforge serve`: events, the cycle (fetch, compile, save) on a blocking
//! thread, applying its result and the status board.

use crate::indicator::unix_now as now;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::compile::Guard;
use crate::config::watch::{self, Changed, Watch};
use crate::config::{Config, Role, Transport};
use crate::format::Format;
use crate::serve::status::{Failure, ListView, Reload, SourceView};
use crate::serve::tls::Certs;
use crate::serve::{Rules, State};
use crate::source::http::{redact_url, Fetcher};
use crate::store::{SourceState, Store};

use crate::pipeline::publish::Held;
use crate::pipeline::{list_format, FetchMode, FileReads, KeptSets, PipelineError, SourceStatus};

use super::cycle::{published, run_cycle, to_publish, Cycle};
use super::{load_config, DaemonError};

/// What wakes the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    File(Changed),
    Hangup,
    /// This replica became leader (PostgreSQL backend): run a cycle now.
    Lead,
}

pub(super) struct Scheduler {
    pub(super) path: PathBuf,
    /// `--data-dir`, applied to every reloaded config.
    pub(super) data_dir: Option<PathBuf>,
    pub(super) config: Arc<Config>,
    pub(super) guard: Arc<Guard>,
    pub(super) fetcher: Arc<Fetcher>,
    pub(super) state: Arc<State>,
    pub(super) certs: Option<Arc<Certs>>,
    pub(super) watch: Option<(Watch, Vec<(PathBuf, Changed)>)>,
    /// The held-back lists last logged (one log line when this changes, not one per cycle).
    pub(super) held_logged: String,
    /// With `[store] backend = "postgres"`: cycles run only while this replica leads, and
    /// their lists are published to the database (`replica.rs`).
    pub(super) replica: Option<Arc<super::replica::Replica>>,
    /// The `path` sources this process parsed, so one read again unchanged is not parsed again
    /// (`pipeline/unchanged.rs`).
    pub(super) files: Arc<FileReads>,
    /// The records of the last cycle, so the next loads only snapshots written since
    /// (`pipeline/unchanged.rs`).
    pub(super) kept: Arc<KeptSets>,
}

impl Scheduler {
    fn watched(&self) -> Vec<(PathBuf, Changed)> {
        let mut v = vec![(self.path.clone(), Changed::Config)];
        for s in &self.config.sources {
            if let Transport::File { path } = &s.transport {
                v.push((path.clone(), Changed::SourceFile));
            }
        }
        if let Some(c) = &self.certs {
            let (a, b) = c.paths();
            v.push((a.to_path_buf(), Changed::Tls));
            v.push((b.to_path_buf(), Changed::Tls));
        }
        v
    }

    /// (Re)starts the file watch when the set of files changed.
    fn rewatch(&mut self, tx: &tokio::sync::mpsc::UnboundedSender<Event>) {
        let want = self.watched();
        if self.watch.as_ref().is_some_and(|(_, w)| *w == want) {
            return;
        }
        match watch::watch(&want) {
            Ok((w, mut rx)) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(c) = rx.recv().await {
                        if tx.send(Event::File(c)).is_err() {
                            break;
                        }
                    }
                });
                self.watch = Some((w, want));
            }
            Err(e) => {
                tracing::error!(error = %e, cause = %std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default(), "Cannot watch files; edits apply on SIGHUP only.");
                self.watch = None;
            }
        }
    }

    pub(super) async fn run(mut self, mut rx: UnboundedReceiver<Event>) {
        // Watch events and signals arrive on one channel; the watcher forwards into it.
        let (fwd_tx, mut fwd_rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        self.rewatch(&fwd_tx);
        if self.certs.is_some() {
            // Start-up loaded the certificate (or did not start).
            self.state.metrics.tls_loaded();
        }
        // What the next cycle fetches: the due sources, or (an edit of a `file` source and
        // nothing else) the files only, so the edit is not held up by a slow network fetch
        // that happens to be due: it reaches the served list within the debounce and a compile.
        let mut need_cycle: Option<FetchMode> = Some(FetchMode::Due);
        let mut retry_at: Option<Instant> = None;
        loop {
            if let Some(mode) = need_cycle.take() {
                if !self.cycle(mode).await {
                    retry_at = Some(Instant::now() + Duration::from_secs(30));
                } else {
                    retry_at = None;
                }
            }
            let due = self.next_due(retry_at);
            let first = tokio::select! {
                e = rx.recv() => match e { Some(e) => Some(e), None => return },
                e = fwd_rx.recv() => e,
                () = tokio::time::sleep_until(due.into()) => None,
            };
            let Some(first) = first else {
                need_cycle = Some(FetchMode::Due);
                continue;
            };
            // Debounce: gather the burst of events one save makes.
            let mut events = vec![first];
            loop {
                tokio::select! {
                    Some(e) = rx.recv() => events.push(e),
                    Some(e) = fwd_rx.recv() => events.push(e),
                    () = tokio::time::sleep(Duration::from_millis(250)) => break,
                }
            }
            events.sort_by_key(|e| match e {
                Event::Hangup => 0,
                Event::File(c) => 1 + *c as u8,
                Event::Lead => u8::MAX,
            });
            events.dedup();
            let reload_config = events
                .iter()
                .any(|e| matches!(e, Event::Hangup | Event::File(Changed::Config)));
            let reload_tls = events
                .iter()
                .any(|e| matches!(e, Event::Hangup | Event::File(Changed::Tls)));
            if reload_tls {
                self.reload_tls();
            }
            if reload_config {
                self.reload_config();
                self.rewatch(&fwd_tx);
            }
            if reload_config || events.contains(&Event::Lead) {
                need_cycle = Some(FetchMode::Due);
            } else if events
                .iter()
                .any(|e| !matches!(e, Event::File(Changed::Tls)))
            {
                need_cycle = Some(FetchMode::Offline);
            }
        }
    }

    fn reload_tls(&self) {
        if let Some(c) = &self.certs {
            match c.reload() {
                Ok(fp) => {
                    tracing::info!(fingerprint = %fp, "TLS certificate reloaded.");
                    self.state.metrics.tls_loaded();
                    if let Ok(mut b) = self.state.board.lock() {
                        b.tls_error = None;
                        if !b.tls.starts_with("local CA") {
                            b.tls = format!("{} (SHA-256 {fp})", c.paths().0.display());
                        }
                    }
                }
                Err(e) => {
                    let message = error_chain(&e);
                    self.state.metrics.tls_refused(&message);
                    if let Ok(mut b) = self.state.board.lock() {
                        b.tls_error = Some(Failure {
                            at: now(),
                            reason: "tls".into(),
                            message,
                        });
                    }
                }
            }
        }
    }

    fn reload_config(&mut self) {
        let shown = self.path.display().to_string();
        let at = now();
        match load_config(&self.path, self.data_dir.as_deref())
            .and_then(|c| Ok((crate::pipeline::guard(&c)?, c)))
        {
            Ok((guard, c)) => {
                if c.server.listen != self.config.server.listen
                    || c.server.tls != self.config.server.tls
                {
                    tracing::warn!("[server] listen/tls changed; restart edlforge to apply them.");
                }
                self.state
                    .set_rules(Rules::from_config(&c, self.certs.is_some()));
                if c.per_host != self.config.per_host {
                    self.fetcher = Arc::new(Fetcher::new(c.per_host));
                }
                self.guard = Arc::new(guard);
                self.config = Arc::new(c);
                if let Some(r) = &self.replica {
                    r.set_config(self.config.clone());
                }
                self.state.metrics.config_loaded(&shown, at);
                if let Ok(mut b) = self.state.board.lock() {
                    b.reload = Reload {
                        ok: true,
                        loaded_at: Some(at),
                        ..Reload::default()
                    };
                }
                set_board_config(&self.state, &self.config);
                let names: Vec<String> = self.config.lists.iter().map(|l| l.name.clone()).collect();
                let published = self.state.published();
                for n in &names {
                    if !published.contains(n) {
                        self.state.metrics.list_unavailable(n);
                    }
                }
                self.state.publish(Vec::new(), &names);
                self.state.publish_collections(Vec::new(), &names);
                self.state.metrics.retain(
                    &self
                        .config
                        .sources
                        .iter()
                        .map(|s| s.name.clone())
                        .collect::<Vec<_>>(),
                    &names,
                );
            }
            Err(e) => {
                let errors: Vec<String> = match &e {
                    DaemonError::Invalid { errors, .. } => {
                        errors.iter().map(ToString::to_string).collect()
                    }
                    other => vec![error_chain(other)],
                };
                self.state
                    .metrics
                    .config_refused(&shown, &errors.join("; "));
                if let Ok(mut b) = self.state.board.lock() {
                    b.reload.ok = false;
                    b.reload.refused_at = Some(at);
                    b.reload.errors = errors;
                }
            }
        }
    }

    /// When the next source is due (at most an hour away; at least a second).
    fn next_due(&self, retry_at: Option<Instant>) -> Instant {
        let now_i = Instant::now();
        let now_s = now();
        let mut wait = Duration::from_secs(3600);
        if let Ok(b) = self.state.board.lock() {
            for s in &b.sources {
                if s.kind == "file" {
                    continue;
                }
                let due = crate::pipeline::next_fetch_at(
                    s.refresh_secs as i64,
                    s.last_attempt,
                    s.last_success,
                    s.last_error.is_some(),
                )
                .max(now_s);
                let w = Duration::from_secs(due.saturating_sub(now_s).max(1) as u64);
                wait = wait.min(w);
            }
        }
        let mut at = now_i + wait;
        if let Some(r) = retry_at {
            at = at.min(r);
        }
        at
    }

    /// Publishes the lists the store kept from the last run.
    pub(super) async fn publish_stored(&mut self) {
        let config = self.config.clone();
        let r = tokio::task::spawn_blocking(move || -> Result<_, PipelineError> {
            let store = Store::open(&config.data_dir, Duration::from_secs(60))?;
            let mut out = Vec::new();
            for l in &config.lists {
                if let Some((body, meta)) = store.load_list(&l.name)? {
                    let p = published(l, body, &meta);
                    out.push((l.name.clone(), Arc::new(p), meta));
                }
            }
            Ok(out)
        })
        .await;
        match r {
            Ok(Ok(lists)) => {
                let names: Vec<String> = self.config.lists.iter().map(|l| l.name.clone()).collect();
                for (n, p, meta) in &lists {
                    self.state
                        .metrics
                        .list_loaded(n, p.entries, meta.changed_at, meta.compiled_at);
                    if let Ok(mut b) = self.state.board.lock() {
                        if let Some(v) = b.lists.iter_mut().find(|v| &v.name == n) {
                            v.compiled_at = Some(meta.compiled_at);
                        }
                    }
                }
                let n = lists.len();
                self.state
                    .publish(lists.into_iter().map(|(n, p, _)| (n, p)).collect(), &names);
                if n > 0 {
                    tracing::info!(lists = n, "Serving the lists kept from the last run.");
                }
                let config = self.config.clone();
                let cols = tokio::task::spawn_blocking(move || {
                    let store = Store::open(&config.data_dir, Duration::from_secs(60))?;
                    crate::pipeline::share::stored(&config, &store)
                })
                .await;
                match cols {
                    Ok(Ok(cols)) => self.state.publish_collections(cols, &names),
                    Ok(Err(e)) => {
                        tracing::error!(error = %error_chain(&e), "Cannot read the stored share histories; TAXII collections are served after the first compile.")
                    }
                    Err(_) => {}
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %error_chain(&e), "Cannot read the stored lists; they are served after the first compile.")
            }
            Err(e) => tracing::error!(error = %e, "Reading the stored lists failed."),
        }
    }

    /// One fetch + compile + publish cycle. Returns false when it could not run.
    async fn cycle(&mut self, mode: FetchMode) -> bool {
        // A follower serves what the leader publishes: it neither fetches nor compiles.
        let fence = match &self.replica {
            Some(r) => match r.leads() {
                Some(f) => Some(f),
                None => return true,
            },
            None => None,
        };
        let (config, guard, fetcher, files, kept) = (
            self.config.clone(),
            self.guard.clone(),
            self.fetcher.clone(),
            self.files.clone(),
            self.kept.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        let r = tokio::task::spawn_blocking(move || {
            run_cycle(&config, &guard, fetcher, (&files, &kept), mode, &handle)
        })
        .await;
        let cycle = match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                self.cycle_failed(cycle_failure_reason(&e), error_chain(&e));
                return false;
            }
            Err(e) => {
                self.cycle_failed("internal", e.to_string());
                return false;
            }
        };
        let to_db = match (&self.replica, fence) {
            (Some(_), Some(_)) => to_publish(&cycle),
            _ => Vec::new(),
        };
        self.apply(cycle);
        if let (Some(r), Some(f)) = (&self.replica, fence) {
            if let Err(message) = r.publish(f, &to_db, &self.state).await {
                // Served here but not by the followers: retried in 30 s (`run`).
                self.cycle_failed("database", message);
                return false;
            }
        }
        self.state.metrics.cycle_ok();
        if let Ok(mut b) = self.state.board.lock() {
            b.cycle_error = None;
        }
        true
    }

    /// A cycle could not run: counted, logged and shown on the status page until one runs.
    fn cycle_failed(&self, reason: &'static str, message: String) {
        self.state.metrics.cycle_failed(reason, &message);
        if let Ok(mut b) = self.state.board.lock() {
            b.cycle_error = Some(Failure {
                at: now(),
                reason: reason.into(),
                message,
            });
        }
    }

    fn apply(&mut self, c: Cycle) {
        let m = &self.state.metrics;
        // Sources.
        for (s, o) in self.config.sources.iter().zip(&c.sources) {
            let took = o.duration.as_secs_f64();
            if o.bytes > 0 {
                m.source_bytes(&s.name, o.bytes);
            }
            match &o.status {
                SourceStatus::Updated { .. } | SourceStatus::NotModified => {
                    m.source_ok(&s.name, c.finished, took);
                    if matches!(o.status, SourceStatus::Updated { .. }) {
                        m.reset_source_counts(&s.name);
                        let skipped: Vec<(&str, u64)> = crate::indicator::SkipReason::ALL
                            .iter()
                            .map(|r| (r.as_str(), o.report.count(*r)))
                            .filter(|(_, n)| *n > 0)
                            .collect();
                        m.source_skipped(&s.name, &skipped);
                    }
                }
                SourceStatus::Failed { reason, message } => {
                    m.source_failed(&s.name, reason, message, c.finished, took);
                }
                SourceStatus::Skipped => {}
            }
            let st = c.states.get(&s.name);
            let by_type = c.by_type.get(&s.name).cloned().unwrap_or_default();
            let bt: Vec<(&str, u64)> = by_type.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            m.source_held(
                &s.name,
                s.refresh.as_secs_f64(),
                st.and_then(|st| st.last_success),
                &bt,
            );
        }
        // Lists: publish those the publication rule lets through; mark the others.
        let mut publish = Vec::new();
        let mut held: Vec<(&str, &Held)> = Vec::new();
        let names: Vec<String> = self.config.lists.iter().map(|l| l.name.clone()).collect();
        for cl in &c.lists {
            let o = &cl.outcome;
            let Some(l) = self.config.lists.iter().find(|l| l.name == o.name) else {
                continue;
            };
            let dropped: Vec<(&str, u64)> = crate::indicator::SkipReason::ALL
                .iter()
                .map(|r| (r.as_str(), o.report.count(*r)))
                .filter(|(_, n)| *n > 0)
                .collect();
            let failing: Vec<String> = l
                .sources
                .iter()
                .filter(|s| self.config.source(s).is_some_and(|c| c.role == Role::Block))
                .filter(|s| {
                    c.states.get(*s).is_none_or(|st| {
                        st.last_success.is_none()
                            || (st.last_error.is_some() && st.last_attempt > st.last_success)
                    })
                })
                .cloned()
                .collect();
            let (changed_at, p) = match &cl.published {
                Ok((changed_at, p)) => (*changed_at, p),
                Err(h) => {
                    held.push((o.name.as_str(), h));
                    let next = self.next_attempt(h.sources(), &c.states);
                    if let Ok(mut b) = self.state.board.lock() {
                        if let Some(v) = b.lists.iter_mut().find(|v| v.name == o.name) {
                            v.withheld = Some(h.to_string());
                            v.withheld_reason = Some(h.id().to_string());
                            v.next_attempt = next;
                            v.failing_sources = failing;
                        }
                    }
                    if self.state.list(&o.name).is_none() {
                        m.list_unavailable(&o.name);
                    }
                    m.list_withheld(&o.name, Some(h.id()));
                    continue;
                }
            };
            m.reset_list_drops(&o.name);
            m.list_withheld(&o.name, None);
            m.list_compiled(
                &o.name,
                o.rendered.entries,
                l.max_entries.or(list_format(l).default_max_entries()),
                changed_at,
                c.finished,
                cl.took,
                &dropped,
            );
            if self
                .state
                .list(&o.name)
                .is_none_or(|old| old.etag != p.etag)
            {
                tracing::info!(list = %o.name, entries = p.entries, etag = %p.etag, "List published.");
            }
            if let Ok(mut b) = self.state.board.lock() {
                if let Some(v) = b.lists.iter_mut().find(|v| v.name == o.name) {
                    v.compiled_at = Some(c.finished);
                    v.dropped = dropped.iter().map(|(k, n)| (k.to_string(), *n)).collect();
                    v.withheld = None;
                    v.withheld_reason = None;
                    v.next_attempt = None;
                    v.failing_sources = failing;
                }
            }
            publish.push((o.name.clone(), p.clone()));
        }
        self.log_held(&held, &c.states);
        self.state.publish(publish, &names);
        self.state
            .publish_collections(c.collections.clone(), &names);
        // Board: sources.
        if let Ok(mut b) = self.state.board.lock() {
            b.last_cycle = Some(c.finished);
            for v in &mut b.sources {
                if let Some(st) = c.states.get(&v.name) {
                    v.last_attempt = st.last_attempt;
                    v.last_success = st.last_success;
                    v.last_error = st.last_error.clone();
                    v.last_error_reason = st.last_error_reason.clone();
                }
                if let Some(o) = c.sources.iter().find(|o| o.name == v.name) {
                    v.records = o.records;
                    if matches!(o.status, SourceStatus::Updated { .. }) {
                        v.skipped = crate::indicator::SkipReason::ALL
                            .iter()
                            .map(|r| (r.as_str().to_string(), o.report.count(*r)))
                            .filter(|(_, n)| *n > 0)
                            .collect();
                    }
                }
                if let Some(t) = c.by_type.get(&v.name) {
                    v.by_type = t.clone();
                }
            }
        }
    }
}

/// The bounded reason id of a failed cycle (the `reason` of `edlforge_cycle_failures_total`).
fn cycle_failure_reason(e: &PipelineError) -> &'static str {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
        {
            return "disk_full";
        }
        cur = c.source();
    }
    match e {
        PipelineError::Store(_) => "store",
        PipelineError::Psl(_) => "psl",
        PipelineError::Write { .. } => "write",
    }
}

impl Scheduler {
    /// When the earliest of `sources` is next tried (Unix seconds), from their states; `None`
    /// when they are all `file` sources (read again when the file changes).
    fn next_attempt(
        &self,
        sources: &[String],
        states: &HashMap<String, SourceState>,
    ) -> Option<i64> {
        let now_s = now();
        sources
            .iter()
            .filter_map(|n| self.config.source(n))
            .filter(|s| !matches!(s.transport, Transport::File { .. }))
            .map(|s| {
                let st = states.get(&s.name);
                crate::pipeline::next_fetch_at(
                    s.refresh.as_secs() as i64,
                    st.and_then(|st| st.last_attempt),
                    st.and_then(|st| st.last_success),
                    st.is_some_and(|st| st.last_error.is_some()),
                )
                .max(now_s)
            })
            .min()
    }

    /// One log line when the set of held-back lists changes (not one line per list per cycle).
    fn log_held(&mut self, held: &[(&str, &Held)], states: &HashMap<String, SourceState>) {
        let lists: Vec<&str> = held.iter().map(|(n, _)| *n).collect();
        let mut sources: Vec<String> = held
            .iter()
            .flat_map(|(_, h)| h.sources().iter().cloned())
            .collect();
        sources.sort();
        sources.dedup();
        let key = format!("{} / {}", lists.join(", "), sources.join(", "));
        if key == self.held_logged {
            return;
        }
        self.held_logged = key;
        if held.is_empty() {
            tracing::info!("Every list is published.");
            return;
        }
        let next = self
            .next_attempt(&sources, states)
            .map_or_else(|| "when their files change".to_string(), stamp);
        if held
            .iter()
            .all(|(_, h)| matches!(h, Held::NotDeliveredHere(_)))
        {
            tracing::warn!(
                lists = %lists.join(", "),
                sources = %sources.join(", "),
                next_attempt = %next,
                "Lists not replaced: these sources have not delivered data on this replica since it leads; the last published versions stay served."
            );
            return;
        }
        tracing::warn!(
            lists = %lists.join(", "),
            sources = %sources.join(", "),
            next_attempt = %next,
            "Lists withheld (503): never published, compiled empty, and these sources have never delivered data."
        );
    }
}

/// Unix seconds as RFC 3339 (UTC, seconds).
fn stamp(t: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64))
        .to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The status board's static part from a config (keeps runtime facts of unchanged names).
pub(super) fn set_board_config(state: &State, c: &Config) {
    let Ok(mut b) = state.board.lock() else {
        return;
    };
    let old_s: HashMap<String, SourceView> =
        b.sources.drain(..).map(|s| (s.name.clone(), s)).collect();
    let old_l: HashMap<String, ListView> = b.lists.drain(..).map(|l| (l.name.clone(), l)).collect();
    for s in &c.sources {
        let mut v = old_s.get(&s.name).cloned().unwrap_or_default();
        v.name = s.name.clone();
        (v.kind, v.location) = match &s.transport {
            Transport::Http(h) => ("http".to_string(), redact_url(&h.url)),
            Transport::Taxii(t) => (
                "taxii".to_string(),
                format!("{} collection {}", redact_url(&t.http.url), t.collection),
            ),
            Transport::File { path } => ("file".to_string(), path.display().to_string()),
        };
        v.role = match s.role {
            Role::Block => "block".into(),
            Role::Allow => "allow".into(),
        };
        v.refresh_secs = s.refresh.as_secs();
        b.sources.push(v);
    }
    for l in &c.lists {
        let mut v = old_l.get(&l.name).cloned().unwrap_or_default();
        let f: Format = list_format(l);
        v.name = l.name.clone();
        v.vendor = l.vendor.id().to_string();
        v.auth = l.access.auth.as_str().to_string();
        v.path = format!("/lists/{}", l.name);
        v.max_entries = l.max_entries.or(f.default_max_entries());
        b.lists.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_its_own_cycle_failure_reason() {
        // See: issue 12 item 12 ("No space left on device").
        let full = PipelineError::Write {
            path: "data/lists/pa.txt".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        };
        assert_eq!(cycle_failure_reason(&full), "disk_full");
        let other = PipelineError::Write {
            path: "data/lists/pa.txt".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(cycle_failure_reason(&other), "write");
        // The usual place: a store snapshot write, the OS error two levels down.
        let store = PipelineError::Store(crate::store::StoreError::Io {
            path: "data/sources/feodo.snap".into(),
            action: crate::store::IoAction::Write,
            source: std::io::Error::from_raw_os_error(28),
        });
        assert_eq!(cycle_failure_reason(&store), "disk_full");
        assert!(
            error_chain(&store).contains("No space left on device"),
            "{}",
            error_chain(&store)
        );
    }
}
