//! Sharing: after a `vendor = "stix"` list is compiled, record what it publishes in its share
//! history (`store/share.rs`) and build the TAXII collection `edlforge serve` answers from
//! (`serve/taxii/`), rendering each object version with `format/stix.rs`.
//!
//! A list that compiles empty while its history still holds live objects leaves the history
//! as it is: an empty compile is far more often a source that failed than a community feed
//! that withdrew everything at once, and revoking every indicator would tell every recipient to
//! unblock them (the same reason `serve` withholds such a list from firewalls).

use std::sync::Arc;

use bytes::Bytes;

use crate::config::{Config, List, Vendor};
use crate::format::stix;
use crate::indicator::Tlp;
use crate::serve::taxii::{Collection, Object};
use crate::store::share::{History, Item};
use crate::store::{Store, StoreError};

use super::PipelineError;

/// Records what list `l` publishes now (`items`, at Unix seconds `now`) and returns its
/// collection; `None` for a list that is not shared.
///
/// # Errors
/// The store failed.
pub fn record(
    store: &mut Store,
    l: &List,
    items: &[Item],
    now: i64,
) -> Result<Option<Arc<Collection>>, PipelineError> {
    if l.vendor != Vendor::Stix {
        return Ok(None);
    }
    let mut history = load(store, &l.name)?;
    if items.is_empty() && history.live().next().is_some() {
        tracing::warn!(list = %l.name, "Shared list compiled empty; its TAXII collection keeps the last published objects.");
    } else {
        let retention = i64::try_from(l.share_retention.as_micros()).unwrap_or(i64::MAX);
        let changes = history.update(items, now.saturating_mul(1_000_000), retention);
        if changes.any() {
            store.save_share(&l.name, &history)?;
            tracing::info!(
                list = %l.name,
                added = changes.added,
                changed = changes.changed,
                revoked = changes.revoked,
                expired = changes.expired,
                "Shared list changed; new TAXII object versions published."
            );
        }
    }
    Ok(Some(Arc::new(collection(l, &history))))
}

/// The stored history of a list; a damaged one is logged and started afresh (ids are derived
/// from the list and the values, so the objects keep their ids; only old versions are lost),
/// rather than stopping every list's compile.
fn load(store: &Store, list: &str) -> Result<History, PipelineError> {
    match store.load_share(list) {
        Err(e @ StoreError::Damaged { .. }) => {
            tracing::warn!(list = %list, error = %e, "Damaged share history not used; the TAXII collection starts afresh.");
            Ok(History::default())
        }
        r => Ok(r?),
    }
}

/// The collections of the shared lists as the store keeps them (start-up).
///
/// # Errors
/// The store failed.
pub fn stored(
    config: &Config,
    store: &Store,
) -> Result<Vec<(String, Arc<Collection>)>, PipelineError> {
    let mut out = Vec::new();
    for l in config.lists.iter().filter(|l| l.vendor == Vendor::Stix) {
        let h = load(store, &l.name)?;
        out.push((l.name.clone(), Arc::new(collection(l, &h))));
    }
    Ok(out)
}

/// The TAXII collection of a shared list: its producer identity, the TLP marking definitions its
/// versions use, and every version of every object in its history.
pub fn collection(l: &List, h: &History) -> Collection {
    let org = &l.organization;
    let identity = stix::identity_id(org);
    // The identity was added when the list was first shared; a marking definition when a
    // version first used it (so an `added_after` poller receives it with that version).
    let since = h.started;
    let mut objects = Vec::with_capacity(h.objects.len() + 6);
    let mut b = Vec::new();
    stix::write_identity(&mut b, org);
    objects.push(Object::new(
        identity.clone(),
        stix::UNKNOWN_TIME.to_string(),
        since,
        Bytes::from(std::mem::take(&mut b)),
    ));
    let mut tlps: std::collections::BTreeMap<Tlp, i64> = std::collections::BTreeMap::new();
    for v in h.objects.iter().flat_map(|o| o.versions.iter()) {
        let e = tlps.entry(v.tlp).or_insert(v.added);
        *e = (*e).min(v.added);
    }
    for (t, added) in tlps {
        stix::write_marking(&mut b, t);
        objects.push(Object::new(
            stix::marking_id(t).to_string(),
            "2022-10-01T00:00:00.000Z".to_string(),
            added,
            Bytes::from(std::mem::take(&mut b)),
        ));
    }
    for o in &h.objects {
        let id = stix::indicator_id(&l.name, &o.key, o.generation);
        let created = stix::timestamp(o.created());
        let item = Item {
            key: o.key.clone(),
            pattern: o.pattern.clone(),
            confidence: 0,
            tlp: Tlp::Clear,
        };
        for v in &o.versions {
            let modified = stix::timestamp(v.added);
            stix::write_indicator(
                &mut b,
                &id,
                &identity,
                &item,
                v.confidence,
                v.tlp,
                stix::Stamps {
                    created: &created,
                    modified: &modified,
                    revoked: v.revoked,
                },
            );
            objects.push(Object::new(
                id.clone(),
                modified,
                v.added,
                Bytes::from(std::mem::take(&mut b)),
            ));
        }
    }
    Collection::new(stix::collection_id(&l.name), l.name.clone(), objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: &str) -> Item {
        Item {
            key: format!("ipv4-addr:value:{v}"),
            pattern: format!("[ipv4-addr:value = '{v}']"),
            confidence: 50,
            tlp: Tlp::Green,
        }
    }

    #[test]
    fn empty_compile_keeps_the_collection_and_a_smaller_one_revokes() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("feeds.toml");
        std::fs::write(
            &cfg,
            "[server]\norganization = \"Example CERT\"\n\n[[source]]\nname = \"s\"\npath = \"s.txt\"\n\n\
             [[list]]\nname = \"c\"\nvendor = \"stix\"\n",
        )
        .unwrap();
        let config = Config::load(&cfg).unwrap();
        let l = &config.lists[0];
        // A STIX bundle is written as NAME.json.
        assert_eq!(super::super::lists::file_name(l), "c.json");
        let mut store =
            Store::open(&dir.path().join("data"), std::time::Duration::from_secs(5)).unwrap();
        let c = record(&mut store, l, &[item("45.1.2.3"), item("45.1.2.4")], 100)
            .unwrap()
            .unwrap();
        // identity + TLP:GREEN + two indicators.
        assert_eq!(c.len(), 4);
        let before = store.load_share("c").unwrap();
        let c = record(&mut store, l, &[], 200).unwrap().unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(store.load_share("c").unwrap(), before);
        record(&mut store, l, &[item("45.1.2.3")], 300).unwrap();
        let h = store.load_share("c").unwrap();
        assert_eq!(h.live().count(), 1);
        assert_eq!(h.started, 100_000_000);
        let gone = h
            .objects
            .iter()
            .find(|o| o.key.ends_with("45.1.2.4"))
            .unwrap();
        assert_eq!(
            gone.last().map(|v| (v.revoked, v.added)),
            Some((true, 300_000_000))
        );
        // Stored collections at start-up are the same as the last recorded one.
        let stored = stored(&config, &store).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].1.len(), 5);
    }
}
