//! Share histories of `vendor = "stix"` lists in the database (`store::share_mirror`): the
//! leader sends what changed after each cycle ([`send`], before it publishes the lists, so a
//! follower that sees a new list version finds its history already there); a follower applies
//! every new version ([`follow`]) and serves the collection built from it; a new leader brings
//! its local histories up to the database before its first cycle ([`take_over`]), so it
//! continues the history instead of starting it anew.

use std::sync::Arc;

use super::sources_db::open;
use crate::config::{Config, Vendor};
use crate::serve::State;
use crate::store::mirror::MirrorError;
use crate::store::postgres::Fence;
use crate::store::share_mirror::ShareMirror;

/// The names of the lists whose history is shared (`vendor = "stix"`).
fn shared(config: &Config) -> Vec<String> {
    config
        .lists
        .iter()
        .filter(|l| l.vendor == Vendor::Stix)
        .map(|l| l.name.clone())
        .collect()
}

/// Sends the shared lists' histories that differ from the database's, fenced by `fence`.
///
/// # Errors
/// The database failed or refused the fence; the local store failed.
pub(super) async fn send(
    mirror: &ShareMirror,
    fence: Fence,
    config: &Config,
) -> Result<(), MirrorError> {
    let lists = shared(config);
    if lists.is_empty() {
        return Ok(());
    }
    let store = open(config.data_dir.clone()).await?;
    let sent = mirror.push(fence, &store, &lists).await?;
    if !sent.is_empty() {
        tracing::info!(lists = ?sent, generation = fence.generation(), "Share histories stored in the database.");
    }
    Ok(())
}

/// Brings the local histories up to the database's newer versions and serves the TAXII
/// collections of those that changed. Does nothing (no store lock) when every version is
/// known.
///
/// # Errors
/// The database or the local store failed.
pub(super) async fn follow(
    mirror: &ShareMirror,
    config: &Arc<Config>,
    state: &State,
) -> Result<(), MirrorError> {
    let lists = shared(config);
    if lists.is_empty() {
        return Ok(());
    }
    let unseen = mirror.unseen(&lists).await?;
    if unseen.is_empty() {
        return Ok(());
    }
    let mut store = open(config.data_dir.clone()).await?;
    let changed = mirror.pull(&mut store, &unseen).await?;
    // Every unseen list's collection is built again, not only those this pull changed: a
    // call cut short (timeout) after a save but before serving leaves them unseen, and the
    // next call serves them.
    let mut cols = Vec::new();
    for l in config.lists.iter().filter(|l| unseen.contains_key(&l.name)) {
        let h = store.load_share(&l.name)?;
        cols.push((
            l.name.clone(),
            Arc::new(crate::pipeline::share::collection(l, &h)),
        ));
    }
    let names: Vec<String> = config.lists.iter().map(|l| l.name.clone()).collect();
    state.publish_collections(cols, &names);
    mirror.saw_all(&unseen);
    if !changed.is_empty() {
        tracing::info!(lists = ?changed, "Share histories followed from the database: TAXII collections updated.");
    }
    Ok(())
}

/// [`follow`] before this replica acts as leader, every [`super::replica::RETRY`] while it
/// fails, at most five times (`sources_db::while_leading`) and only while the leadership lasts. If it never
/// succeeds the replica leads anyway; the database's histories stay safe (a history whose
/// database copy this replica has not seen is not overwritten).
pub(super) async fn take_over(
    mirror: &ShareMirror,
    config: &Arc<Config>,
    state: &State,
    roles: &mut tokio::sync::watch::Receiver<crate::store::postgres::Role>,
) {
    let gave_up = super::sources_db::while_leading(roles, "the local share histories", || {
        follow(mirror, config, state)
    })
    .await;
    if gave_up {
        tracing::error!("Leading from the local share histories: the database's could not be read; they are not overwritten.");
    }
}
