//! Leadership: one replica fetches, compiles and publishes; the others serve what it publishes.
//!
//! The leader is whoever holds the session advisory lock [`LEADER_LOCK`]
//! (`pg_try_advisory_lock`), on a connection of its own. The lock lives exactly as long as that
//! session: `kill -9` of the leader closes its socket and the server ends the session at once;
//! a vanished machine or a cut network is found by the server's TCP keepalives set for the
//! session (first probe after 5 s of silence, three probes 2 s apart: gone within 11 s), and the
//! lock is free for the next contender, under the 15 s takeover budget.
//!
//! On taking the lock the new leader raises `edlforge_leader.generation` by one and keeps the
//! result: its **fence**. Every write ([`super::PgStore::publish`],
//! [`super::PgStore::set_state`]) locks that row `FOR SHARE` and compares, in the same
//! transaction: a write from an old leader is refused with [`PgError::Fenced`] even if it comes
//! late (a paused process, a slow network), and a takeover (which updates the row) waits for
//! a write in flight to finish, so the two never interleave.
//!
//! The leader checks its own session every [`HEARTBEAT`]: a probe that fails, or gets no answer
//! within [`HEARTBEAT_TIMEOUT`], or finds another generation, ends the leadership
//! ([`Leadership::lost`] resolves, [`Leadership::is_held`] turns false, and the session is
//! closed, which frees the lock if the server still had it) and the caller stops fetching at
//! once. That takes at most 2 + 5 = 7 s after a cut, before the server frees the lock
//! (11 s), so the old leader has stopped before a new one starts; the fence covers the rest.

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
                let probe = tokio::time::timeout(
                    HEARTBEAT_TIMEOUT,
                    hb_client.query_one("SELECT generation FROM edlforge_leader", &[]),
                )
                .await;
                let why = match probe {
                    Ok(Ok(row)) => {
                        let g: i64 = row.get(0);
                        if g == fence.0 {
                            continue;
                        }
                        format!("generation {g} is in the database")
                    }
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
        return Ok(None);
    }
    let row = client
        .query_one(
            "UPDATE edlforge_leader SET generation = generation + 1, holder = $1, since = now() RETURNING generation",
            &[&holder],
        )
        .await
        .map_err(PgError::query("raising the leader generation"))?;
    Ok(Some((Fence(row.get(0)), pid)))
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
