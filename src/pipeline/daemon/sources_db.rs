//! The leader's sources in the database (`store::mirror`): a replica that becomes leader
//! first brings its local store up to the database's copy of every source ([`catch_up`]), so
//! its first cycle sends the old leader's validators and TAXII cursor and leaves alone the
//! sources that are not due; after each cycle the leader sends what changed ([`send`]) before
//! it publishes the lists.

use std::path::PathBuf;
use std::time::Duration;

use crate::store::mirror::{Mirror, MirrorError, Pulled, Pushed};
use crate::store::postgres::Fence;
use crate::store::Store;

/// How long to wait for the local store's lock (a cycle or a follower's save holds it).
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The local store under `data_dir`, opened off the async threads (here and in shares_db.rs).
pub(super) async fn open(data_dir: PathBuf) -> Result<Store, MirrorError> {
    tokio::task::spawn_blocking(move || Store::open(&data_dir, LOCK_WAIT))
        .await
        .map_err(|e| {
            MirrorError::Store(crate::store::StoreError::Io {
                path: PathBuf::new(),
                action: crate::store::IoAction::Open,
                source: std::io::Error::other(e.to_string()),
            })
        })?
        .map_err(MirrorError::Store)
}

/// Brings the local store under `data_dir` up to the database (see [`Mirror::pull`]).
///
/// # Errors
/// The database or the local store failed.
pub(super) async fn catch_up(mirror: &Mirror, data_dir: PathBuf) -> Result<Pulled, MirrorError> {
    let mut store = open(data_dir).await?;
    let pulled = mirror.pull(&mut store).await?;
    if !(pulled.copied.is_empty() && pulled.removed.is_empty() && pulled.ahead.is_empty()) {
        tracing::info!(
            copied = ?pulled.copied,
            removed = ?pulled.removed,
            ahead = ?pulled.ahead,
            bytes = pulled.bytes,
            "Local sources brought up to the database: continuing where the last leader stopped."
        );
    }
    Ok(pulled)
}

/// Sends the sources of `data_dir` that differ from the database's, fenced by `fence` (see
/// [`Mirror::push`]).
///
/// # Errors
/// The database failed or refused the fence; the local store failed.
pub(super) async fn send(
    mirror: &Mirror,
    fence: Fence,
    data_dir: PathBuf,
) -> Result<Pushed, MirrorError> {
    let store = open(data_dir).await?;
    let pushed = mirror.push(fence, &store).await?;
    if !pushed.sent.is_empty() {
        tracing::info!(sources = ?pushed.sent, bytes = pushed.bytes, generation = fence.generation(), "Sources stored in the database.");
    }
    Ok(pushed)
}

/// Attempts [`catch_up`] before this replica acts as leader, every [`super::replica::RETRY`]
/// while it fails, at most [`TAKE_OVER_TRIES`] times and only while the leadership lasts
/// (`roles` unchanged). If it never succeeds the replica leads anyway, from its local store:
/// better a cycle that refetches than no leader at all; the database's copies stay safe (a
/// source whose copy this replica has not seen is not overwritten, `store::mirror`).
pub(super) async fn take_over(
    replica: &super::replica::Replica,
    roles: &mut tokio::sync::watch::Receiver<crate::store::postgres::Role>,
) {
    let (Some(mirror), Some(config)) = (replica.mirror(), replica.config()) else {
        return;
    };
    let gave_up = while_leading(roles, "the local sources", || {
        catch_up(mirror, config.data_dir.clone())
    })
    .await;
    if gave_up {
        tracing::error!("Leading from the local sources: the database's could not be read; sources may be fetched again.");
    }
}

/// Runs `step` until it succeeds, every [`super::replica::RETRY`], at most
/// [`TAKE_OVER_TRIES`] times and only while the role stays the same: bringing the local
/// copies (`what`) up to the database before leading (here and in shares_db.rs). Returns
/// `true` when every attempt failed while the role lasted (the caller leads from its local
/// copies); each failure is logged with its cause.
pub(super) async fn while_leading<T, F, Fut>(
    roles: &mut tokio::sync::watch::Receiver<crate::store::postgres::Role>,
    what: &str,
    mut step: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, MirrorError>>,
{
    for attempt in 1..=TAKE_OVER_TRIES {
        match step().await {
            Ok(_) => return false,
            Err(e) => {
                let cause = std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::error!(attempt, error = %e, cause = %cause, "Cannot bring {what} up to the database.");
            }
        }
        if roles.has_changed().unwrap_or(true) {
            return false;
        }
        tokio::time::sleep(super::replica::RETRY).await;
    }
    true
}

/// Attempts of [`take_over`].
const TAKE_OVER_TRIES: u32 = 5;
