//! Share history: what a `vendor = "stix"` list has published, as versions, so its TAXII 2.1
//! collection can answer `added_after` polls with exactly what changed.
//!
//! One [`History`] per shared list, kept in `lists/<name>.share` (the store's checksummed
//! container, JSON payload). [`History::update`] takes what the list publishes now:
//! - an entry not published before gets an object with one version;
//! - an entry whose confidence or TLP changed gets a new version;
//! - an entry that left the list gets a new version with `revoked: true`, kept for the list's
//!   `share_retention`, then forgotten;
//! - an entry that comes back after being revoked gets a *new object* (its `generation` is one
//!   higher, so its STIX id differs): STIX 2.1 section 3.6 says a revoked object must never be
//!   un-revoked, so a consumer that honours that would otherwise never block it again.
//!
//! Every version's `added` is when it was published (microseconds, strictly increasing across
//! updates of one history), which is both its TAXII `date_added` and its STIX `modified`.
//! The store never builds STIX: ids and JSON are `format/stix.rs`'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::indicator::Tlp;

/// One entry a shared list publishes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Identity of the value inside the list (`ipv4-addr:10.0.0.0/8`): the id is derived from it.
    pub key: String,
    /// The STIX pattern.
    pub pattern: String,
    /// Confidence 0–100.
    pub confidence: u8,
    /// The TLP it is marked with.
    pub tlp: Tlp,
}

/// One version of a shared object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// When it was published, Unix microseconds (TAXII `date_added`, STIX `modified`).
    pub added: i64,
    /// Whether this version withdraws the object.
    pub revoked: bool,
    /// Confidence 0–100.
    pub confidence: u8,
    /// TLP marking.
    #[serde(with = "tlp_id")]
    pub tlp: Tlp,
}

/// One shared object: a value of the list, in one generation, with its versions (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    /// The value's key ([`Item::key`]).
    pub key: String,
    /// The STIX pattern.
    pub pattern: String,
    /// 0 the first time the value is shared; one more each time it returns after a revocation.
    pub generation: u32,
    /// Versions, oldest first; never empty.
    pub versions: Vec<Version>,
}

impl Object {
    /// When the object was first published (its STIX `created` and `valid_from`).
    pub fn created(&self) -> i64 {
        self.versions.first().map_or(0, |v| v.added)
    }

    /// The newest version.
    pub fn last(&self) -> Option<&Version> {
        self.versions.last()
    }
}

/// What one [`History::update`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Objects created (new values and returning ones).
    pub added: u64,
    /// New versions of live objects (confidence or TLP changed).
    pub changed: u64,
    /// Objects revoked.
    pub revoked: u64,
    /// Revoked objects forgotten after the retention.
    pub expired: u64,
}

impl Changes {
    /// Whether anything changed.
    pub fn any(&self) -> bool {
        *self != Changes::default()
    }
}

/// The versions a shared list has published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The newest `added` of any version (so the next update is later still).
    pub last: i64,
    /// When the list was first shared (the producer identity's `date_added`); 0 before.
    #[serde(default)]
    pub started: i64,
    /// Objects, live and revoked; a value appears at most once per generation.
    pub objects: Vec<Object>,
}

impl History {
    /// Records what the list publishes now. `now` and `retention` are microseconds.
    ///
    /// Items with the same key count once (the first). Returns what changed; nothing changes when
    /// the list is the same as last time, so an `added_after` poll then returns nothing.
    pub fn update(&mut self, items: &[Item], now: i64, retention: i64) -> Changes {
        let stamp = now.max(self.last.saturating_add(1));
        let mut ch = Changes::default();
        // The newest object of each key (the live one, or the last revoked generation).
        let mut newest: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, o) in self.objects.iter().enumerate() {
            let e = newest.entry(o.key.as_str()).or_insert(i);
            if self.objects[*e].generation < o.generation {
                *e = i;
            }
        }
        let newest: BTreeMap<String, usize> = newest
            .into_iter()
            .map(|(k, i)| (k.to_string(), i))
            .collect();
        let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
        let mut fresh = Vec::new();
        for it in items {
            if seen.insert(it.key.as_str(), ()).is_some() {
                continue;
            }
            let version = Version {
                added: stamp,
                revoked: false,
                confidence: it.confidence,
                tlp: it.tlp,
            };
            match newest.get(&it.key).map(|&i| &mut self.objects[i]) {
                Some(o) if o.last().is_some_and(|v| !v.revoked) => {
                    let same = o
                        .last()
                        .is_some_and(|v| v.confidence == it.confidence && v.tlp == it.tlp);
                    if !same {
                        o.versions.push(version);
                        ch.changed += 1;
                    }
                }
                prev => {
                    let generation = prev.map_or(0, |o| o.generation.saturating_add(1));
                    fresh.push(Object {
                        key: it.key.clone(),
                        pattern: it.pattern.clone(),
                        generation,
                        versions: vec![version],
                    });
                    ch.added += 1;
                }
            }
        }
        for o in &mut self.objects {
            let Some(&last) = o.last() else { continue };
            if !last.revoked && !seen.contains_key(o.key.as_str()) {
                o.versions.push(Version {
                    added: stamp,
                    revoked: true,
                    ..last
                });
                ch.revoked += 1;
            }
        }
        self.objects.extend(fresh);
        let before = self.objects.len();
        let cutoff = now.saturating_sub(retention);
        self.objects
            .retain(|o| o.last().is_some_and(|v| !v.revoked || v.added >= cutoff));
        ch.expired = (before - self.objects.len()) as u64;
        if ch.any() {
            self.last = stamp;
            if self.started == 0 {
                self.started = stamp;
            }
        }
        self.objects
            .sort_by(|a, b| a.key.cmp(&b.key).then(a.generation.cmp(&b.generation)));
        ch
    }

    /// Live objects (newest version not revoked).
    pub fn live(&self) -> impl Iterator<Item = &Object> + '_ {
        self.objects
            .iter()
            .filter(|o| o.last().is_some_and(|v| !v.revoked))
    }
}

mod tlp_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::indicator::Tlp;

    pub fn serialize<S: Serializer>(t: &Tlp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tlp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const DAY: i64 = 86_400_000_000;

    pub(crate) fn item(key: &str, confidence: u8) -> Item {
        Item {
            key: key.into(),
            pattern: format!("[x:value = '{key}']"),
            confidence,
            tlp: Tlp::Green,
        }
    }

    #[test]
    fn same_list_twice_adds_no_version() {
        let mut h = History::default();
        let c = h.update(&[item("a", 50), item("b", 50)], 1_000, DAY);
        assert_eq!(c.added, 2);
        let before = h.clone();
        let c = h.update(&[item("b", 50), item("a", 50)], 2_000, DAY);
        assert!(!c.any());
        assert_eq!(h, before);
    }

    #[test]
    fn leaving_revokes_and_returning_is_a_new_generation() {
        let mut h = History::default();
        h.update(&[item("a", 50), item("b", 50)], 1_000, DAY);
        let c = h.update(&[item("a", 50)], 2_000, DAY);
        assert_eq!(c.revoked, 1);
        let b = h.objects.iter().find(|o| o.key == "b").unwrap();
        assert_eq!(b.versions.len(), 2);
        assert!(b.versions[1].revoked);
        assert_eq!(b.versions[1].added, 2_000);
        let c = h.update(&[item("a", 50), item("b", 50)], 3_000, DAY);
        assert_eq!(c.added, 1);
        let gens: Vec<(u32, bool)> = h
            .objects
            .iter()
            .filter(|o| o.key == "b")
            .map(|o| (o.generation, o.last().unwrap().revoked))
            .collect();
        assert_eq!(gens, [(0, true), (1, false)]);
        assert_eq!(h.live().count(), 2);
    }

    #[test]
    fn changed_confidence_is_a_new_version() {
        let mut h = History::default();
        h.update(&[item("a", 50)], 1_000, DAY);
        let c = h.update(&[item("a", 80)], 2_000, DAY);
        assert_eq!(c.changed, 1);
        assert_eq!(h.objects[0].versions.len(), 2);
        assert_eq!(h.objects[0].created(), 1_000);
    }

    #[test]
    fn revoked_objects_are_forgotten_after_the_retention() {
        let mut h = History::default();
        h.update(&[item("a", 50)], 0, DAY);
        h.update(&[], 10, DAY);
        assert_eq!(h.objects.len(), 1);
        let c = h.update(&[], 10 + DAY - 1, DAY);
        assert_eq!((c.expired, h.objects.len()), (0, 1));
        let c = h.update(&[], 11 + DAY, DAY);
        assert_eq!((c.expired, h.objects.len()), (1, 0));
    }

    #[test]
    fn stamps_increase_even_when_the_clock_does_not() {
        let mut h = History::default();
        h.update(&[item("a", 50)], 5_000, DAY);
        h.update(&[item("b", 50)], 4_000, DAY);
        let a = h.objects.iter().find(|o| o.key == "a").unwrap();
        let b = h.objects.iter().find(|o| o.key == "b").unwrap();
        assert_eq!(a.versions[1].added, 5_001);
        assert_eq!(b.versions[0].added, 5_001);
    }
}
