//! `serve` on `[store] backend = "postgres"`: one of several replicas sharing one database.
//!
//! - **Start.** The server starts and serves the lists of its local cache (`data_dir`) before
//!   the database is asked anything; [`run`] then connects and migrates (trying again every
//!   [`RETRY`] while the database cannot be reached), contends for leadership
//!   ([`crate::store::postgres::Contender`]) and follows publishes
//!   ([`crate::store::postgres::Follower`]).
//! - **Leader.** Only the leader runs the scheduler's cycles (fetch, compile, save to the local
//!   cache); each list whose ETag differs from the newest one in the database is then published
//!   through the fenced publish ([`Replica::publish`]). Becoming leader wakes the scheduler for
//!   a cycle at once. A leader that loses its session stops at the next cycle boundary, and its
//!   writes are refused by the fence from the moment another replica leads.
//! - **Follower.** Never writes lists or state to the database (only its own row of the
//!   replicas table, see **Probe**): every newer version it follows is saved in its
//!   local cache (so a restart serves it while the database is unreachable) and swapped into the
//!   served lists, with the leader's bytes, ETag and Last-Modified; a `vendor = "stix"` list's
//!   share history too, so its TAXII collection answers the leader's objects (`shares_db.rs`).
//! - **Database down.** Lists keep being served from memory and the cache; `/healthz` and
//!   `/readyz` are untouched; the leader's heartbeat fails and it steps down, so nobody fetches;
//!   `edlforge_database_up` and the status page's `database` say so, probed every [`PROBE`].
//! - **Probe.** Every [`PROBE`] the replica writes its row of `edlforge_replicas` (role, the
//!   hashes of its feeds.toml and `lists/` files: `fingerprint.rs`) and reads the leader's:
//!   `edlforge_database_latency_seconds` (the read's round trip) and
//!   `edlforge_config_matches_leader` (logged once per change) come from it. These rows are a
//!   follower's only writes.
//! - **Versions.** Each list's database version served here, when the leader published it and
//!   when this replica swapped it in: `edlforge_list_version{list}` and friends, and `database`
//!   of each list in status.json, so replicas can be compared.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::fingerprint;

use tokio::sync::mpsc::WeakUnboundedSender;
use tokio::sync::watch;

use crate::config::Config;
use crate::serve::status::{Database, ListSeen, ReplicaSeen, ReplicaView, Role as BoardRole};
use crate::serve::{Published, State};
use crate::store::mirror::{Mirror, MirrorError};
use crate::store::postgres::{CheckIn, Fence, ListVersion, PgError, PgStore, Publish, Role};
use crate::store::share_mirror::ShareMirror;
use crate::store::{ListMeta, Store};

use super::cycle::published_with_gzip;
use super::scheduler::Event;

/// Pause between attempts to reach the database at start.
pub(super) const RETRY: Duration = Duration::from_secs(2);
/// How often the database is probed for `edlforge_database_up`.
pub(super) const PROBE: Duration = Duration::from_secs(2);
/// How often the `lists/` files are hashed again (they are read whole: not every probe).
const FILES_EVERY: Duration = Duration::from_secs(10);

/// What the scheduler and the replica task share.
pub(super) struct Replica {
    role_tx: watch::Sender<Role>,
    store: OnceLock<PgStore>,
    /// The sources' copy in the database (`sources_db.rs`).
    mirror: OnceLock<Mirror>,
    /// The shared lists' histories in the database (`shares_db.rs`).
    shares: OnceLock<ShareMirror>,
    /// The config in force (the scheduler replaces it on reload): which lists exist and how
    /// they are served.
    config: Mutex<Arc<Config>>,
    /// The ETag of each list's newest version in the database, as far as this replica knows
    /// (published by it, or followed): a leader publishes only what differs.
    in_db: Mutex<HashMap<String, String>>,
    /// Who this replica is (`edlforge_leader.holder`, its row of `edlforge_replicas`).
    holder: String,
    /// The hash of feeds.toml as loaded (`fingerprint.rs`), set at start and on reload.
    config_hash: Mutex<String>,
}

/// A list of a cycle, as the leader publishes it.
pub(super) struct ToPublish {
    pub(super) name: String,
    pub(super) list: Arc<Published>,
    pub(super) meta: ListMeta,
    pub(super) drops: BTreeMap<String, u64>,
}

impl Replica {
    pub(super) fn new(config: Arc<Config>) -> Arc<Replica> {
        let (role_tx, _) = watch::channel(Role::Follower);
        let hash = fingerprint::config_file_hash(&config.path);
        Arc::new(Replica {
            role_tx,
            store: OnceLock::new(),
            mirror: OnceLock::new(),
            shares: OnceLock::new(),
            config: Mutex::new(config),
            in_db: Mutex::new(HashMap::new()),
            holder: holder(),
            config_hash: Mutex::new(hash),
        })
    }

    /// The fence while this replica leads; `None` while it follows.
    pub(super) fn leads(&self) -> Option<Fence> {
        match *self.role_tx.borrow() {
            Role::Leader(f) => Some(f),
            Role::Follower => None,
        }
    }

    /// The scheduler loaded a new config.
    pub(super) fn set_config(&self, config: Arc<Config>) {
        let hash = fingerprint::config_file_hash(&config.path);
        if let Ok(mut h) = self.config_hash.lock() {
            *h = hash;
        }
        if let Ok(mut c) = self.config.lock() {
            *c = config;
        }
    }

    /// The sources' copy in the database, once connected.
    pub(super) fn mirror(&self) -> Option<&Mirror> {
        self.mirror.get()
    }

    pub(super) fn config(&self) -> Option<Arc<Config>> {
        self.config.lock().ok().map(|c| c.clone())
    }

    /// Publishes, under `fence`, every list whose ETag differs from the database's newest.
    /// A refused fence is logged (another replica leads now: nothing to retry).
    ///
    /// # Errors
    /// The database failed: the message, for the caller's cycle failure; its retry publishes
    /// what is still missing.
    /// Gives up (as refused) when this replica stops leading meanwhile: a write stuck on a
    /// cut connection must not hold the cycle for ever.
    pub(super) async fn publish(
        &self,
        fence: Fence,
        lists: &[ToPublish],
        state: &State,
    ) -> Result<(), String> {
        let Some(store) = self.store.get() else {
            return Ok(());
        };
        // The sources first: a list in the database never rests on data a new leader lacks.
        if let (Some(m), Some(c)) = (self.mirror.get(), self.config()) {
            let sent = super::sources_db::send(m, fence, c.data_dir.clone()).await;
            if !stored("Sources", "the sources", sent)? {
                return Ok(());
            }
        }
        // The share histories too: a follower that sees a list's new version finds its
        // TAXII objects already there.
        if let (Some(m), Some(c)) = (self.shares.get(), self.config()) {
            let sent = super::shares_db::send(m, fence, &c).await;
            if !stored("Share histories", "the share histories", sent)? {
                return Ok(());
            }
        }
        let mut role = self.role_tx.subscribe();
        for l in lists {
            let same = self
                .in_db
                .lock()
                .ok()
                .and_then(|m| m.get(&l.name).cloned())
                .is_some_and(|e| e == l.meta.etag);
            if same {
                continue;
            }
            let p = Publish {
                name: &l.name,
                body: &l.list.body,
                gzip: Some(&l.list.gzip),
                meta: &l.meta,
                drops: &l.drops,
            };
            let published = tokio::select! {
                r = store.publish(fence, p) => r,
                _ = role.wait_for(|r| *r != Role::Leader(fence)) => {
                    tracing::warn!(list = %l.name, generation = fence.generation(), "Not published: this replica stopped leading during the write (the fence refuses it if it arrives late).");
                    return Ok(());
                }
            };
            match published {
                Ok(version) => {
                    tracing::info!(list = %l.name, version, etag = %l.meta.etag, generation = fence.generation(), "List published to the database.");
                    if let Ok(mut m) = self.in_db.lock() {
                        m.insert(l.name.clone(), l.meta.etag.clone());
                    }
                    let now = crate::indicator::unix_now();
                    seen(
                        state,
                        &l.name,
                        ListSeen {
                            version,
                            generation: fence.generation(),
                            published_at: now,
                            applied_at: now,
                        },
                    );
                }
                Err(e @ PgError::Fenced { .. }) => {
                    tracing::warn!(list = %l.name, error = %e, "Not published: another replica leads now.");
                    return Ok(());
                }
                Err(e) => {
                    let cause = std::error::Error::source(&e)
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    return Err(format!("{e}{cause}"));
                }
            }
        }
        Ok(())
    }
}

/// Who this replica is, for people (`edlforge_leader.holder`): host and process id.
fn holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}:{}", std::process::id())
}

/// Records the database version of a list served here (metrics and status.json).
fn seen(state: &State, list: &str, v: ListSeen) {
    state
        .metrics
        .list_version(list, v.version, v.published_at, v.applied_at);
    if let Ok(mut b) = state.board.lock() {
        if let Some(view) = b.lists.iter_mut().find(|x| x.name == list) {
            view.database = Some(v);
        }
    }
}

fn set_database(state: &State, up: bool, target: &str, latency: Option<Duration>) {
    state.metrics.database_up(up);
    state.metrics.database_latency(latency);
    if let Ok(mut b) = state.board.lock() {
        if let Some(d) = b.database.as_mut() {
            d.latency_seconds = latency.map(|l| l.as_secs_f64());
        }
        let changed = b.database.as_ref().is_none_or(|d| d.up != up);
        if changed {
            if up {
                tracing::info!(database = %target, "Database up.");
            } else {
                tracing::warn!(database = %target, "Database unreachable: serving the lists held; fetching paused.");
            }
            b.database = Some(Database {
                up,
                target: target.to_string(),
                since: crate::indicator::unix_now(),
                latency_seconds: latency.map(|l| l.as_secs_f64()),
            });
        }
    }
}

fn set_role(state: &State, role: Role) {
    let leader = matches!(role, Role::Leader(_));
    state.metrics.role(leader);
    if let Ok(mut b) = state.board.lock() {
        b.role = if leader {
            BoardRole::Leader
        } else {
            BoardRole::Follower
        };
    }
}

/// The replica's life on the database: connect, contend, follow, probe. Runs until the server
/// stops (the caller aborts it).
pub(super) async fn run(
    replica: Arc<Replica>,
    url: String,
    state: Arc<State>,
    events: WeakUnboundedSender<Event>,
) {
    set_role(&state, Role::Follower);
    let mut failing = false;
    let store = loop {
        match PgStore::connect(&url).await {
            Ok((s, m)) => {
                tracing::info!(database = %s.describe(), migrated = ?m, "Connected to the database.");
                break s;
            }
            Err(e) => {
                set_database(&state, false, "", None);
                if !failing {
                    tracing::error!(error = %e, cause = %std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default(), "Cannot reach the database; serving the local cache and trying again.");
                }
                failing = true;
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    let target = store.describe();
    set_database(&state, true, &target, None);
    let _ = replica.store.set(store.clone());
    let _ = replica.mirror.set(Mirror::new(store.clone()));
    let _ = replica.shares.set(ShareMirror::new(store.clone()));
    let contender = store.contend(replica.holder.clone());
    let mut roles = contender.watch();
    let mut follower = store.follow(BTreeMap::new());
    let mut probe = tokio::time::interval(PROBE);
    let mut files = Files::default();
    let mut matched: Option<bool> = None;
    loop {
        tokio::select! {
            changed = roles.changed() => {
                if changed.is_err() {
                    return;
                }
                let role = *roles.borrow_and_update();
                if let Role::Leader(_) = role {
                    // Before the first cycle: continue from the database's sources.
                    super::sources_db::take_over(&replica, &mut roles).await;
                    if let (Some(m), Some(c)) = (replica.shares.get(), replica.config()) {
                        super::shares_db::take_over(m, &c, &state, &mut roles).await;
                    }
                    if roles.has_changed().unwrap_or(true) {
                        continue;
                    }
                }
                replica.role_tx.send_replace(role);
                set_role(&state, role);
                if let Role::Leader(f) = role {
                    tracing::info!(generation = f.generation(), "Leading: fetching and compiling.");
                    if let Some(tx) = events.upgrade() {
                        let _ = tx.send(Event::Lead);
                    }
                }
            }
            v = follower.next() => {
                let Some(v) = v else { return };
                apply(&replica, &state, v).await;
            }
            _ = probe.tick() => {
                let files_hash = files.hash(&replica).await;
                if replica.leads().is_none() {
                    follow_shares(&replica, &state).await;
                }
                check_in(&replica, &store, &state, &target, &files_hash, &mut matched).await;
            }
        }
    }
}

/// The `lists/` files hash, computed again every [`FILES_EVERY`].
#[derive(Default)]
struct Files {
    hash: String,
    at: Option<tokio::time::Instant>,
    /// Digests of the files as last read: only changed files are read again.
    digests: fingerprint::FileDigests,
}

impl Files {
    async fn hash(&mut self, replica: &Replica) -> String {
        let due = self.at.is_none_or(|t| t.elapsed() >= FILES_EVERY);
        if due {
            if let Some(config) = replica.config() {
                let mut digests = std::mem::take(&mut self.digests);
                if let Ok((h, d)) = tokio::task::spawn_blocking(move || {
                    (fingerprint::files_hash(&config, &mut digests), digests)
                })
                .await
                {
                    self.hash = h;
                    self.digests = d;
                    self.at = Some(tokio::time::Instant::now());
                }
            }
        }
        self.hash.clone()
    }
}

/// One probe: this replica's row in, the leader's hashes and the latency out (see the module
/// doc); `matched` is what the last probe found, so a change is logged once.
async fn check_in(
    replica: &Replica,
    store: &PgStore,
    state: &State,
    target: &str,
    files_hash: &str,
    matched: &mut Option<bool>,
) {
    let config_hash = replica
        .config_hash
        .lock()
        .map(|h| h.clone())
        .unwrap_or_default();
    let leads = replica.leads().is_some();
    let me = CheckIn {
        holder: &replica.holder,
        leader: leads,
        config_hash: &config_hash,
        files_hash,
    };
    let probe = match tokio::time::timeout(PROBE * 2, store.check_in(me)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "Database probe failed.");
            set_database(state, false, target, None);
            return;
        }
        Err(_) => {
            set_database(state, false, target, None);
            return;
        }
    };
    set_database(state, true, target, Some(probe.latency));
    let rows = match tokio::time::timeout(PROBE * 2, store.replicas()).await {
        Ok(Ok(rows)) => rows,
        _ => Vec::new(),
    };
    let (leader_config, leader_files) = match &probe.leader_hashes {
        Some((c, f)) => (Some(c.clone()), Some(f.clone())),
        None => (None, None),
    };
    let matches = if leads {
        Some(true)
    } else {
        probe
            .leader_hashes
            .as_ref()
            .map(|(c, f)| *c == config_hash && f == files_hash)
    };
    if let Some(m) = matches {
        state.metrics.config_matches_leader(m);
        if *matched != Some(m) {
            if m {
                tracing::info!(leader = %probe.leader, config_hash = %config_hash, files_hash = %files_hash, "This replica's feeds.toml and lists/ files match the leader's.");
            } else {
                tracing::warn!(leader = %probe.leader, config_hash = %config_hash, leader_config_hash = %leader_config.as_deref().unwrap_or(""), files_hash = %files_hash, leader_files_hash = %leader_files.as_deref().unwrap_or(""), "This replica's feeds.toml or lists/ files differ from the leader's: it serves the leader's lists, but would compile other lists if it led. Mount the same files on every replica.");
            }
            *matched = Some(m);
        }
    }
    if let Ok(mut b) = state.board.lock() {
        b.replica = Some(ReplicaView {
            holder: replica.holder.clone(),
            config_hash: config_hash.clone(),
            files_hash: files_hash.to_string(),
            leader: probe.leader.clone(),
            leader_config_hash: leader_config,
            leader_files_hash: leader_files,
            matches_leader: matches,
            replicas: rows
                .into_iter()
                .map(|r| ReplicaSeen {
                    holder: r.holder,
                    role: r.role,
                    config_hash: r.config_hash,
                    files_hash: r.files_hash,
                    seen_secs_ago: r.seen_secs_ago,
                })
                .collect(),
        });
    }
}

/// A list version followed from the database: on a follower, saved in the local cache and
/// served; on the leader (its own publish coming back), only noted.
async fn apply(replica: &Replica, state: &State, v: ListVersion) {
    if let Ok(mut m) = replica.in_db.lock() {
        m.insert(v.name.clone(), v.meta.etag.clone());
    }
    let version = ListSeen {
        version: v.version,
        generation: v.generation,
        published_at: v.published_at,
        applied_at: crate::indicator::unix_now(),
    };
    if replica.leads().is_some() {
        // Its own publish (or one of a leader before it): the same bytes it serves when the
        // ETag matches.
        if state
            .list(&v.name)
            .is_some_and(|p| p.etag.trim_matches('"') == v.meta.etag)
        {
            seen(state, &v.name, version);
        }
        return;
    }
    let Some(config) = replica.config() else {
        return;
    };
    if config
        .lists
        .iter()
        .any(|l| l.name == v.name && l.vendor == crate::config::Vendor::Stix)
    {
        follow_shares(replica, state).await;
    }
    let Some(l) = config.lists.iter().find(|l| l.name == v.name) else {
        tracing::warn!(list = %v.name, "The leader published a list this replica's feeds.toml does not have; not served (do all replicas mount the same feeds.toml?).");
        return;
    };
    let current = state.list(&v.name);
    if current
        .as_ref()
        .is_some_and(|p| p.etag.trim_matches('"') == v.meta.etag)
    {
        // Same content (a new version of the same bytes): nothing to swap.
        seen(state, &v.name, version);
        return;
    }
    // Off the replica task: a large list's gzip check (or, when the leader stored no usable
    // copy, its compression) must not hold up role changes and probes.
    let (list, body, gzip, meta) = (l.clone(), v.body.clone(), v.gzip, v.meta.clone());
    let gzip = gzip.map_or(crate::serve::Gzip::Make, crate::serve::Gzip::Received);
    let p = match tokio::task::spawn_blocking(move || published_with_gzip(&list, body, gzip, &meta))
        .await
    {
        Ok(p) => Arc::new(p),
        Err(e) => {
            tracing::error!(list = %v.name, error = %e, "Preparing the followed list failed; the previous version stays served.");
            return;
        }
    };
    let dir = config.data_dir.clone();
    let (name, body, meta) = (v.name.clone(), v.body, v.meta.clone());
    let saved = tokio::task::spawn_blocking(move || -> Result<(), crate::store::StoreError> {
        let mut store = Store::open(&dir, Duration::from_secs(60))?;
        store.save_list(&name, &body, &meta)
    })
    .await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(list = %v.name, error = %e, "Cannot save the followed list in the local cache; serving it anyway.")
        }
        Err(e) => tracing::error!(list = %v.name, error = %e, "Saving the followed list failed."),
    }
    let names: Vec<String> = config.lists.iter().map(|l| l.name.clone()).collect();
    state.publish(vec![(v.name.clone(), p)], &names);
    state.metrics.list_loaded(
        &v.name,
        v.meta.entries,
        v.meta.changed_at,
        v.meta.compiled_at,
    );
    if let Ok(mut b) = state.board.lock() {
        if let Some(view) = b.lists.iter_mut().find(|x| x.name == v.name) {
            view.compiled_at = Some(v.meta.compiled_at);
            view.withheld = None;
            view.withheld_reason = None;
            view.next_attempt = None;
        }
    }
    seen(state, &v.name, version);
    tracing::info!(list = %v.name, version = v.version, etag = %v.meta.etag, generation = v.generation, "List followed from the leader.");
}

/// A follower brings its share histories up to the database (`shares_db.rs`), within
/// `2 × PROBE` (the replica task must not wait on a stuck database); a failure is logged and
/// tried again at the next probe.
async fn follow_shares(replica: &Replica, state: &State) {
    let (Some(m), Some(c)) = (replica.shares.get(), replica.config()) else {
        return;
    };
    match tokio::time::timeout(PROBE * 2, super::shares_db::follow(m, &c, state)).await {
        Ok(Ok(())) => {}
        // The database's own outage is reported by the probe (`edlforge_database_up`): not
        // once more every 2 s here.
        Ok(Err(
            e @ MirrorError::Pg(
                PgError::Query { .. }
                | PgError::Pool(_)
                | PgError::Connect { .. }
                | PgError::Closed(_)
                | PgError::Timeout { .. },
            ),
        )) => {
            tracing::debug!(error = %e, "Cannot follow the share histories; the TAXII collections served stay as they are.");
        }
        Ok(Err(e)) => {
            let cause = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default();
            tracing::warn!(error = %e, cause = %cause, "Cannot follow the share histories; the TAXII collections served stay as they are.");
        }
        Err(_) => {
            tracing::debug!(
                "Following the share histories timed out; tried again at the next probe."
            );
        }
    }
}

/// What storing `what` before the lists came to: `Ok(true)` stored; `Ok(false)` refused by the
/// fence (another replica leads now: the cycle publishes nothing more, and that is no failure);
/// `Err` the cycle's failure reason, with the cause. `Subject` starts the log line.
fn stored<T>(subject: &str, what: &str, sent: Result<T, MirrorError>) -> Result<bool, String> {
    match sent {
        Ok(_) => Ok(true),
        Err(MirrorError::Pg(e @ PgError::Fenced { .. })) => {
            tracing::warn!(error = %e, "{subject} not stored: another replica leads now.");
            Ok(false)
        }
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            Err(format!("storing {what} in the database: {e}{cause}"))
        }
    }
}
