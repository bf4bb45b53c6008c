//! The scheduler of `edlforge serve`: events, the cycle (fetch, compile, save) on a blocking
//! thread, applying its result and the status board.

use crate::indicator::unix_now as now;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::compile::Guard;
use crate::config::watch::{self, Changed, Watch};
use crate::config::{Config, Role, Transport};
use crate::format::Format;
use crate::serve::status::{ListView, Reload, SourceView};
use crate::serve::tls::Certs;
use crate::serve::{Published, Rules, State};
use crate::source::http::{redact_url, Fetcher};
use crate::store::{Key, ListMeta, SourceState, Store};

use crate::pipeline::{
    list_format, load_sources, refresh_sources, save_list, FetchMode, ListOutcome, PipelineError,
    SourceOutcome, SourceStatus,
};

use super::{load_config, DaemonError};

/// What wakes the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    File(Changed),
    Hangup,
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
    /// Sources that have delivered data at least once (from the store's states).
    pub(super) ever_ok: HashSet<String>,
}

/// The result of one cycle, made on a blocking thread.
struct Cycle {
    sources: Vec<SourceOutcome>,
    lists: Vec<(ListOutcome, i64, f64, Arc<Published>)>,
    states: HashMap<String, SourceState>,
    by_type: HashMap<String, BTreeMap<String, u64>>,
    finished: i64,
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
        let mut need_cycle = true;
        let mut retry_at: Option<Instant> = None;
        loop {
            if need_cycle {
                need_cycle = false;
                if !self.cycle().await {
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
                need_cycle = true;
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
            if events
                .iter()
                .any(|e| !matches!(e, Event::File(Changed::Tls)))
            {
                need_cycle = true;
            }
        }
    }

    fn reload_tls(&self) {
        if let Some(c) = &self.certs {
            match c.reload() {
                Ok(fp) => {
                    tracing::info!(fingerprint = %fp, "TLS certificate reloaded.");
                    if let Ok(mut b) = self.state.board.lock() {
                        if !b.tls.starts_with("local CA") {
                            b.tls = format!("{} (SHA-256 {fp})", c.paths().0.display());
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "New TLS certificate refused; the current one stays in use.")
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
            let mut ever = HashSet::new();
            for s in &config.sources {
                if store
                    .state(&s.name)?
                    .is_some_and(|st| st.last_success.is_some())
                {
                    ever.insert(s.name.clone());
                }
            }
            Ok((out, ever))
        })
        .await;
        match r {
            Ok(Ok((lists, ever))) => {
                self.ever_ok = ever;
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
            }
            Ok(Err(e)) => {
                tracing::error!(error = %error_chain(&e), "Cannot read the stored lists; they are served after the first compile.")
            }
            Err(e) => tracing::error!(error = %e, "Reading the stored lists failed."),
        }
    }

    /// One fetch + compile + publish cycle. Returns false when it could not run.
    async fn cycle(&mut self) -> bool {
        let (config, guard, fetcher) = (
            self.config.clone(),
            self.guard.clone(),
            self.fetcher.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        let r =
            tokio::task::spawn_blocking(move || run_cycle(&config, &guard, fetcher, &handle)).await;
        let cycle = match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::error!(error = %error_chain(&e), "Cycle failed; serving the current lists, retrying in 30 s.");
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, "Cycle task failed; retrying in 30 s.");
                return false;
            }
        };
        self.apply(cycle);
        true
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
            if st.is_some_and(|st| st.last_success.is_some()) {
                self.ever_ok.insert(s.name.clone());
            }
            let by_type = c.by_type.get(&s.name).cloned().unwrap_or_default();
            let bt: Vec<(&str, u64)> = by_type.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            m.source_held(
                &s.name,
                s.refresh.as_secs_f64(),
                st.and_then(|st| st.last_success),
                &bt,
            );
        }
        // Lists: publish those that are good to serve.
        let mut publish = Vec::new();
        let names: Vec<String> = self.config.lists.iter().map(|l| l.name.clone()).collect();
        for (o, changed_at, took, p) in &c.lists {
            let Some(l) = self.config.lists.iter().find(|l| l.name == o.name) else {
                continue;
            };
            let dropped: Vec<(&str, u64)> = crate::indicator::SkipReason::ALL
                .iter()
                .map(|r| (r.as_str(), o.report.count(*r)))
                .filter(|(_, n)| *n > 0)
                .collect();
            let blocks: Vec<&String> = l
                .sources
                .iter()
                .filter(|s| self.config.source(s).is_some_and(|c| c.role == Role::Block))
                .collect();
            let never: Vec<&str> = blocks
                .iter()
                .filter(|s| !self.ever_ok.contains(**s))
                .map(|s| s.as_str())
                .collect();
            let failing: Vec<String> = blocks
                .iter()
                .filter(|s| {
                    c.states.get(**s).is_none_or(|st| {
                        st.last_success.is_none()
                            || (st.last_error.is_some() && st.last_attempt > st.last_success)
                    })
                })
                .map(|s| s.to_string())
                .collect();
            if o.rendered.entries == 0 && !never.is_empty() {
                let why = format!(
                    "compiled empty while {} never delivered data",
                    never.join(", ")
                );
                tracing::warn!(list = %o.name, reason = %why, "List not published; firewalls keep their copy.");
                if let Ok(mut b) = self.state.board.lock() {
                    if let Some(v) = b.lists.iter_mut().find(|v| v.name == o.name) {
                        v.withheld = Some(why);
                        v.failing_sources = failing;
                    }
                }
                continue;
            }
            m.reset_list_drops(&o.name);
            m.list_compiled(
                &o.name,
                o.rendered.entries,
                l.max_entries.or(list_format(l).default_max_entries()),
                *changed_at,
                c.finished,
                *took,
                &dropped,
            );
            if let Ok(mut b) = self.state.board.lock() {
                if let Some(v) = b.lists.iter_mut().find(|v| v.name == o.name) {
                    v.compiled_at = Some(c.finished);
                    v.dropped = dropped.iter().map(|(k, n)| (k.to_string(), *n)).collect();
                    v.withheld = None;
                    v.failing_sources = failing;
                }
            }
            publish.push((o.name.clone(), p.clone()));
        }
        self.state.publish(publish, &names);
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

/// A list's bytes ready to serve, with the validators the store keeps for it.
fn published(l: &crate::config::List, body: Vec<u8>, meta: &ListMeta) -> Published {
    let f = list_format(l);
    Published::new(
        body,
        &meta.etag,
        meta.changed_at,
        f.content_type(),
        meta.entries,
        f.md5_url(),
    )
}

/// Fetch the due sources, compile every list, save them: the blocking part of a cycle.
fn run_cycle(
    config: &Config,
    guard: &Guard,
    fetcher: Arc<Fetcher>,
    handle: &tokio::runtime::Handle,
) -> Result<Cycle, PipelineError> {
    let now = now();
    let mut store = Store::open(&config.data_dir, Duration::from_secs(60))?;
    let mut data = load_sources(config, &store)?;
    let sources = handle.block_on(refresh_sources(
        config,
        Some(&mut store),
        &mut data,
        fetcher,
        FetchMode::Due,
        now,
    ))?;
    let mut previous = HashMap::new();
    for l in &config.lists {
        if let Some((body, _)) = store.load_list(&l.name)? {
            previous.insert(l.name.clone(), body);
        }
    }
    let mut lists = Vec::new();
    for l in &config.lists {
        let t = Instant::now();
        let o = crate::pipeline::lists::compile_list(
            config,
            l,
            &data,
            previous.get(&l.name),
            guard,
            now,
        );
        let took = t.elapsed().as_secs_f64();
        // `changed_at` moves only when the content changed (the store's rule).
        let meta = save_list(&mut store, &o, now)?;
        let p = Arc::new(published(l, o.rendered.body.clone(), &meta));
        let changed_at = meta.changed_at;
        lists.push((o, changed_at, took, p));
    }
    let mut states = HashMap::new();
    let mut by_type: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    for s in &config.sources {
        if let Some(st) = store.state(&s.name)? {
            states.insert(s.name.clone(), st);
        }
        let mut t: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(set) = data.get(&s.name) {
            for (k, _) in set.iter() {
                let kind = match k {
                    Key::V4(..) | Key::V6(..) => "ip",
                    Key::Name(v) => v.kind().as_str(),
                };
                match t.get_mut(kind) {
                    Some(n) => *n += 1,
                    None => {
                        t.insert(kind.to_string(), 1);
                    }
                }
            }
        }
        by_type.insert(s.name.clone(), t);
    }
    Ok(Cycle {
        sources,
        lists,
        states,
        by_type,
        finished: crate::indicator::unix_now(),
    })
}
