//! What a collection holds: every rendered version of every object of one shared list, sorted
//! by `date_added`, with an index by object id and each version's first/last mark.

use std::collections::HashMap;

use bytes::Bytes;

use crate::format::stix::parse_timestamp;

/// One version of one object, rendered.
#[derive(Debug, Clone)]
pub struct Object {
    /// STIX id.
    pub id: String,
    /// Its `modified` (or `created`) as written: the version.
    pub version: String,
    /// The version as Unix microseconds.
    pub version_us: i64,
    /// When this version was added to the collection (TAXII `date_added`), microseconds.
    pub added: i64,
    /// The object's JSON.
    pub json: Bytes,
    pub(super) first: bool,
    pub(super) last: bool,
}

impl Object {
    /// A rendered version.
    pub fn new(id: String, version: String, added: i64, json: Bytes) -> Object {
        Object {
            version_us: parse_timestamp(&version).unwrap_or(0),
            id,
            version,
            added,
            json,
            first: false,
            last: false,
        }
    }

    pub(super) fn kind(&self) -> &str {
        self.id.split_once("--").map_or("", |(t, _)| t)
    }

    pub(super) fn key(&self) -> (i64, i64, &str) {
        (self.added, self.version_us, &self.id)
    }
}

/// One collection: a shared list's objects, every version, in `date_added` order.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The collection id (a UUID).
    pub id: String,
    /// The list's name (title and alias).
    pub title: String,
    pub(super) objects: Vec<Object>,
    pub(super) by_id: HashMap<String, Vec<usize>>,
}

impl Collection {
    /// A collection of these object versions (any order).
    pub fn new(id: String, title: String, mut objects: Vec<Object>) -> Collection {
        objects.sort_by(|a, b| a.key().cmp(&b.key()));
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, o) in objects.iter().enumerate() {
            by_id.entry(o.id.clone()).or_default().push(i);
        }
        for idx in by_id.values() {
            let version = |i: &&usize| (objects[**i].version_us, **i);
            let first = idx.iter().min_by_key(version).copied();
            let last = idx.iter().max_by_key(version).copied();
            if let (Some(f), Some(l)) = (first, last) {
                objects[f].first = true;
                objects[l].last = true;
            }
        }
        Collection {
            id,
            title,
            objects,
            by_id,
        }
    }

    /// Number of object versions.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}
