//! Leadership: one replica fetches, compiles and publishes; the others serve what it publishes.
//!
//! The leader is whoever holds the session advisory lock [`LEADER_LOCK`]
//! (`pg_try_advisory_lock`), on a connection of its own. The lock lives exactly as long as that
//! session: `kill -9` of the leader closes its socket and the server ends the session at once;
//! a vanished machine is found by the server's TCP keepalives set for the session (first probe
//! after 5 s of silence, three probes 2 s apart: gone within 11 s).
//!
//! On taking the lock the new leader raises `edlforge_leader.generation` by one and keeps the
//! result: its **fence**. Every write ([`super::PgStore::publish`],
//! [`super::PgStore::set_state`]) locks that row `FOR SHARE` and compares, in the same
//! transaction: a write from an old leader is refused with [`PgError::Fenced`] even if it comes
//! late (a paused process, a slow network), and a takeover (which updates the row) waits for
//! a write in flight to finish, so the two never interleave.
//!
//! # The lease: takeover after a network cut
//! Keepalives are not enough: a proxy, a NAT or a connection pooler between a leader and the
//! database answers the server's keepalives itself and holds a half-open session for as long
//! as it likes, so the lock of a leader cut off behind it would never be freed. So the leader
//! also holds a **lease**: with the lock it writes `edlforge_lease` (its generation, the
//! server pid of its session, `renewed_at = now()`), and its heartbeat renews it every
//! [`HEARTBEAT`]. A contender that cannot take the lock checks the lease: when `renewed_at`
//! is older than [`LEASE`] by the **database's** clock (`now()`, never a replica's, so clock
//! skew between replicas does not matter) and the lock is still held by the session the lease
//! names, it ends that session with `pg_terminate_backend(pid)`, which frees the lock, and
//! takes it with a new fence as soon as the server has let it go. `pg_terminate_backend` on a session of the
//! same role needs no extra privilege (a member of that role, or of `pg_signal_backend`, may;
//! only a superuser may end a superuser's session).
//!
//! The old leader cannot renew through the cut either: a heartbeat that fails, gets no answer
//! within [`HEARTBEAT_TIMEOUT`], or finds another generation ends the leadership
//! ([`Leadership::lost`] resolves, [`Leadership::is_held`] turns false, and the session is
//! closed, which frees the lock if the server still had it) and the caller stops fetching at
//! once. Timeline after a cut at t = 0 (last renewal at most 2 s before): the old leader has
//! stepped down by 2 + 5 = 7 s; the lease is stale by 10 s; a contender (every
//! [`CONTEND_EVERY`]) ends the stale session by 11 s and takes the lock on the same attempt,
//! as soon as the server has released it: under the 15 s budget. The old leader stopped
//! before the new one starts; the fence covers anything late.
//!
//! A leader of an older edlforge writes no lease: with no lease row naming the lock's holder,
//! nothing is ended (a rolling upgrade never ends a leader it cannot judge).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connect::{session_keepalives, Target};
use super::{PgError, LEADER_LOCK};

/// How often the leader checks that its session (and so its lock) is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A check unanswered this long ends the leadership.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);
/// A lease not renewed for this long (by the database's clock) may be broken by a contender:
/// more than [`HEARTBEAT`] + [`HEARTBEAT_TIMEOUT`], so its holder has stepped down by then.
pub const LEASE: Duration = Duration::from_secs(10);

/// A leader's fencing generation: what every write of that leader carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fence(pub(super) i64);

impl Fence {
    /// The generation number (shown on the status page and in logs).
    pub fn generation(self) -> i64 {
        self.0
    }
}

/// Held leadership. Dropping it (or [`Leadership::resign`]) closes the session, which releases
/// the lock for the next contender.
#[derive(Debug)]
pub struct Leadership {
    fence: Fence,
    pid: i32,
    held: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
    _client: Arc<tokio_postgres::Client>,
}

impl Leadership {
    /// Tries once to become leader, as `holder` (a name for people: host and pid). `None` when
    /// another replica leads.
    ///
    /// # Errors
    /// [`PgError::Connect`] or [`PgError::Query`] when the database cannot be asked.
    pub(super) async fn try_acquire(
        target: &Target,
        holder: &str,
    ) -> Result<Option<Leadership>, PgError> {
        let (client, conn) = target.dedicated("edlforge-leader").await?;
        let (tx, held) = watch::channel(true);
        let tx = Arc::new(tx);
        let conn_tx = tx.clone();
        let conn_task = tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "The leader's database session ended.");
            }
            conn_tx.send_replace(false);
        });
        let client = Arc::new(client);
        let result = acquire_on(&client, holder).await;
        let (fence, pid) = match result {
            Ok(Some(v)) => v,
            Ok(None) => {
                conn_task.abort();
                return Ok(None);
            }
            Err(e) => {
                conn_task.abort();
                return Err(e);
            }
        };
        tracing::info!(generation = fence.0, holder = %holder, "This replica leads.");
        let hb_client = client.clone();
        let conn_abort = conn_task.abort_handle();
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                // Renews the lease and reads the generation in one round trip.
                let probe = tokio::time::timeout(
                    HEARTBEAT_TIMEOUT,
                    hb_client.query_opt(
                        "UPDATE edlforge_lease SET renewed_at = now() \
                         WHERE generation = $1 AND pid = pg_backend_pid() \
                         RETURNING (SELECT generation FROM edlforge_leader)",
                        &[&fence.0],
                    ),
                )
                .await;
                let why = match probe {
                    Ok(Ok(Some(row))) => {
                        let g: i64 = row.get(0);
                        if g == fence.0 {
                            continue;
                        }
                        format!("generation {g} is in the database")
                    }
                    Ok(Ok(None)) => "the lease belongs to another session".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {HEARTBEAT_TIMEOUT:?}"),
                };
                tracing::error!(generation = fence.0, why = %why, "Leadership lost; this replica stops fetching and publishing.");
                tx.send_replace(false);
                // Close the session: if it still lives, its lock goes with it, so another
                // replica can lead without waiting for the server's keepalives.
                conn_abort.abort();
                break;
            }
        });
        Ok(Some(Leadership {
            fence,
            pid,
            held,
            tasks: vec![conn_task, heartbeat],
            _client: client,
        }))
    }

    /// The fence every write of this leader carries.
    pub fn fence(&self) -> Fence {
        self.fence
    }

    /// The server process id of the session holding the lock (`pg_stat_activity.pid`).
    pub fn backend_pid(&self) -> i32 {
        self.pid
    }

    /// False from the moment the session is known lost.
    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// Resolves when the leadership is lost (at once if it already is).
    pub async fn lost(&self) {
        let mut rx = self.held.clone();
        let _ = rx.wait_for(|held| !*held).await;
    }

    /// Gives the leadership up: the session closes and the lock is free.
    pub fn resign(self) {}
}

impl Drop for Leadership {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// On the dedicated session: session keepalives, then the lock, then a new generation.
async fn acquire_on(
    client: &tokio_postgres::Client,
    holder: &str,
) -> Result<Option<(Fence, i32)>, PgError> {
    session_keepalives(client).await?;
    let row = client
        .query_one(
            "SELECT pg_try_advisory_lock($1), pg_backend_pid()",
            &[&LEADER_LOCK],
        )
        .await
        .map_err(PgError::query("asking for the leader lock"))?;
    let got: bool = row.get(0);
    let pid: i32 = row.get(1);
    if !got {
        if !break_stale_lease(client).await? {
            return Ok(None);
        }
        // The ended session frees the lock once its backend has exited: ask again for a
        // moment rather than wait for the next round.
        let mut got = false;
        for _ in 0..BROKEN_LEASE_RETRIES {
            tokio::time::sleep(BROKEN_LEASE_PAUSE).await;
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                .await
                .map_err(PgError::query("asking for the leader lock"))?;
            got = row.get(0);
            if got {
                break;
            }
        }
        if !got {
            return Ok(None);
        }
    }
    // The new generation and the lease in one statement: never one without the other.
    let row = client
        .query_one(
            "WITH g AS (UPDATE edlforge_leader SET generation = generation + 1, holder = $1, \
             since = now() RETURNING generation) \
             INSERT INTO edlforge_lease (id, generation, pid, renewed_at) \
             SELECT true, generation, pg_backend_pid(), now() FROM g \
             ON CONFLICT (id) DO UPDATE SET generation = EXCLUDED.generation, \
             pid = EXCLUDED.pid, renewed_at = EXCLUDED.renewed_at RETURNING generation",
            &[&holder],
        )
        .await
        .map_err(PgError::query("raising the leader generation"))?;
    // The generation above was committed durably (a generation lost in a crash could be
    // handed out twice). Lease renewals need not be: after a crash every session is gone
    // anyway. Without the flush a heartbeat does not wait on a slow disk.
    client
        .batch_execute("SET synchronous_commit = off")
        .await
        .map_err(PgError::query(
            "setting synchronous_commit for lease renewals",
        ))?;
    Ok(Some((Fence(row.get(0)), pid)))
}

/// After ending a stale leader's session: ask for the lock this many times...
const BROKEN_LEASE_RETRIES: u32 = 20;
/// ...this far apart.
const BROKEN_LEASE_PAUSE: Duration = Duration::from_millis(100);

/// Ends the session holding the leader lock when its lease is older than [`LEASE`] by the
/// database's clock, and only when that session is the one the lease names (a leader that
/// took over a moment ago holds the lock under a pid the stale lease does not name, and is
/// left alone). The lock is free once the server has ended the session, a moment later.
/// True when a session was ended.
///
/// # Errors
/// [`PgError::Query`], e.g. when this role may not end the holder's session (see the module
/// doc: same role, or `pg_signal_backend`).
async fn break_stale_lease(client: &tokio_postgres::Client) -> Result<bool, PgError> {
    // pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits),
    // objsubid 1, in the database it was taken in.
    let rows = client
        .query(
            "SELECT s.pid, s.generation, extract(epoch FROM now() - s.renewed_at)::float8, \
             pg_terminate_backend(s.pid) \
             FROM edlforge_lease s JOIN pg_locks l ON l.pid = s.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
             AND l.classid::bigint = $1 AND l.objid::bigint = $2 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND s.renewed_at < now() - make_interval(secs => $3)",
            &[
                &(LEADER_LOCK >> 32),
                &(LEADER_LOCK & 0xffff_ffff),
                &LEASE.as_secs_f64(),
            ],
        )
        .await
        .map_err(PgError::query(
            "ending the session of a leader whose lease expired (pg_terminate_backend needs the same role as the leader's, or pg_signal_backend)",
        ))?;
    let mut any = false;
    for r in rows {
        let (pid, generation, age, ended): (i32, i64, f64, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        tracing::warn!(pid, generation, lease_age_secs = age, ended, "The leader's lease expired (no renewal: a network cut or a stalled leader); its database session was ended so that another replica can lead.");
        any |= ended;
    }
    Ok(any)
}

/// Checks `fence` inside a write transaction: locks the generation row (`FOR SHARE`: a
/// takeover waits for this transaction) and refuses a stale fence.
pub(super) async fn check_fence(
    tx: &tokio_postgres::Transaction<'_>,
    fence: Fence,
) -> Result<(), PgError> {
    let row = tx
        .query_one("SELECT generation FROM edlforge_leader FOR SHARE", &[])
        .await
        .map_err(PgError::query("checking the leader generation"))?;
    let current: i64 = row.get(0);
    if current == fence.0 {
        Ok(())
    } else {
        Err(PgError::Fenced {
            mine: fence.0,
            current,
        })
    }
}

/// What a replica is, as [`Contender`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serves what the leader publishes (also while the database cannot be reached).
    Follower,
    /// Fetches, compiles and publishes, every write carrying this fence.
    Leader(Fence),
}

/// How long a follower waits between attempts to take the leader lock (added to the takeover
/// time at most once).
pub const CONTEND_EVERY: Duration = Duration::from_secs(1);

/// Contends for leadership for as long as it lives: tries the lock every [`CONTEND_EVERY`],
/// holds it while its session lives, and goes back to following when it is lost. The daemon
/// watches [`Contender::watch`] to start and stop fetching. Dropping it gives up leadership.
#[derive(Debug)]
pub struct Contender {
    rx: watch::Receiver<Role>,
    task: JoinHandle<()>,
}

impl Contender {
    /// Starts contending as `holder` (host and pid, for people).
    pub(super) fn start(store: super::PgStore, holder: String) -> Contender {
        let (tx, rx) = watch::channel(Role::Follower);
        let task = tokio::spawn(async move {
            let mut failing = false;
            loop {
                match store.try_lead(&holder).await {
                    Ok(Some(lead)) => {
                        failing = false;
                        tx.send_replace(Role::Leader(lead.fence()));
                        lead.lost().await;
                        tx.send_replace(Role::Follower);
                    }
                    Ok(None) => failing = false,
                    Err(e) => {
                        // Once per outage, not once per attempt.
                        if !failing {
                            tracing::warn!(error = %e, cause = %std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default(), "Cannot contend for leadership; following, and trying again.");
                        }
                        failing = true;
                    }
                }
                tokio::time::sleep(CONTEND_EVERY).await;
            }
        });
        Contender { rx, task }
    }

    /// The role now.
    pub fn role(&self) -> Role {
        *self.rx.borrow()
    }

    /// A receiver that sees every change of role.
    pub fn watch(&self) -> watch::Receiver<Role> {
        self.rx.clone()
    }
}

impl Drop for Contender {
    fn drop(&mut self) {
        self.task.abort();
    }
}
