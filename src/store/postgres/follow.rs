//! Following the leader's publishes: `LISTEN edlforge_lists` on a connection of its own, load
//! each newer version, and catch up by version number whenever the connection is (re)made.
//!
//! Order matters: `LISTEN` first, then the catch-up query, so a publish that commits in between
//! is seen by one or the other (possibly both: versions already known are skipped), never by
//! neither. A lost connection is remade with a growing pause (0.5 s to 5 s); every
//! [`RESYNC`] the follower also compares versions even when no notification came, a safety
//! net for a listening session that died without the client noticing yet.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;

use super::connect::session_keepalives;
use super::{ListVersion, PgError, PgStore, NOTIFY_CHANNEL};

/// How often versions are compared even without a notification.
pub const RESYNC: Duration = Duration::from_secs(30);
/// Bound on updates waiting for the consumer; a slow consumer slows the follower, nothing is
/// dropped.
const QUEUE: usize = 64;

/// A running follower: yields every list version newer than what it has already yielded (or
/// was told it had), in the order they are found.
#[derive(Debug)]
pub struct Follower {
    rx: mpsc::Receiver<ListVersion>,
    task: JoinHandle<()>,
    sessions: Arc<AtomicU64>,
}

impl Follower {
    /// Starts following; `known` holds the versions the caller already serves (from its local
    /// cache), which are not yielded again.
    pub(super) fn start(store: PgStore, known: BTreeMap<String, i64>) -> Follower {
        let (tx, rx) = mpsc::channel(QUEUE);
        let sessions = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(run(store, known, tx, sessions.clone()));
        Follower { rx, task, sessions }
    }

    /// The next newer list version; `None` only after the follower stopped.
    pub async fn next(&mut self) -> Option<ListVersion> {
        self.rx.recv().await
    }

    /// How many listening sessions were made so far (1 + reconnects).
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    store: PgStore,
    mut known: BTreeMap<String, i64>,
    tx: mpsc::Sender<ListVersion>,
    sessions: Arc<AtomicU64>,
) {
    let mut pause = Duration::from_millis(500);
    loop {
        let result = session(&store, &mut known, &tx, &sessions).await;
        if tx.is_closed() {
            return;
        }
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, cause = %std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default(), retry_in = ?pause, "Lost the database's list notifications; reconnecting, then catching up by version.");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// One listening session: until its connection fails (an error) or the consumer is gone.
async fn session(
    store: &PgStore,
    known: &mut BTreeMap<String, i64>,
    tx: &mpsc::Sender<ListVersion>,
    sessions: &AtomicU64,
) -> Result<(), PgError> {
    let (client, mut conn) = store.target.dedicated("edlforge-follower").await?;
    let (ntx, mut nrx) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if ntx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "Follower connection ended.");
                    return;
                }
                None => return,
            }
        }
    });
    // The driver ends with the connection; the channel then closes and the loop below sees it.
    struct AbortOnDrop(JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _driver = AbortOnDrop(driver);
    session_keepalives(&client).await?;
    client
        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
        .await
        .map_err(PgError::query("LISTEN for published lists"))?;
    sessions.fetch_add(1, Ordering::Relaxed);
    if !catch_up(store, known, tx).await? {
        return Ok(());
    }
    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    loop {
        tokio::select! {
            n = nrx.recv() => {
                let Some(payload) = n else {
                    return Err(PgError::Closed("listening"));
                };
                let newer = match payload.rsplit_once(':') {
                    Some((name, v)) => match v.parse::<i64>() {
                        Ok(v) => known.get(name).copied().unwrap_or(0) < v,
                        Err(_) => true,
                    },
                    None => true,
                };
                if newer && !catch_up(store, known, tx).await? {
                    return Ok(());
                }
            }
            _ = resync.tick() => {
                if !catch_up(store, known, tx).await? {
                    return Ok(());
                }
            }
            () = tx.closed() => return Ok(()),
        }
    }
}

/// Yields every list newer than `known`; false when the consumer is gone.
async fn catch_up(
    store: &PgStore,
    known: &mut BTreeMap<String, i64>,
    tx: &mpsc::Sender<ListVersion>,
) -> Result<bool, PgError> {
    for l in store.lists_newer(known).await? {
        known.insert(l.name.clone(), l.version);
        if tx.send(l).await.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}
