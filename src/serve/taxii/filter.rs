//! The filters of a request [T §3.4] (`added_after`, `limit`, `next`, `match[...]`), checked,
//! and the page they select from a collection, in `date_added` order.

use super::{Collection, Object, MAX_PAGE};
use crate::format::stix::parse_timestamp;
use crate::serve::auth;

/// A `match[version]` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionSel {
    Last,
    First,
    All,
    At(i64),
}

/// The query of a request, checked.
#[derive(Debug, Clone)]
pub(super) struct Filters {
    added_after: Option<i64>,
    limit: usize,
    next: Option<(i64, i64, String)>,
    ids: Option<Vec<String>>,
    types: Option<Vec<String>>,
    versions: Vec<VersionSel>,
    spec_versions: Option<Vec<String>>,
}

pub(super) fn parse_filters(query: Option<&str>) -> Result<Filters, String> {
    let mut f = Filters {
        added_after: None,
        limit: MAX_PAGE,
        next: None,
        ids: None,
        types: None,
        versions: vec![VersionSel::Last],
        spec_versions: None,
    };
    let list = |v: &str| -> Vec<String> { v.split(',').map(|s| s.trim().to_string()).collect() };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (auth::percent_decode(k), auth::percent_decode(v));
        match k.as_str() {
            "added_after" => {
                f.added_after = Some(parse_timestamp(&v).ok_or_else(|| {
                    format!("added_after {v:?} is not a timestamp like 2026-01-01T00:00:00.000000Z")
                })?)
            }
            "limit" => {
                let n: usize = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("limit {v:?} is not a positive integer"))?;
                f.limit = n.min(MAX_PAGE);
            }
            "next" => {
                let bad = || format!("next {v:?} is not a value this server gave");
                let mut it = v.splitn(3, '.');
                let added = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                let version = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                let id = it.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
                f.next = Some((added, version, id.to_string()));
            }
            "match[id]" => f.ids = Some(list(&v)),
            "match[type]" => f.types = Some(list(&v)),
            "match[spec_version]" => f.spec_versions = Some(list(&v)),
            "match[version]" => {
                f.versions = list(&v)
                    .iter()
                    .map(|s| match s.as_str() {
                        "last" => Ok(VersionSel::Last),
                        "first" => Ok(VersionSel::First),
                        "all" => Ok(VersionSel::All),
                        t => parse_timestamp(t).map(VersionSel::At).ok_or_else(|| {
                            format!("match[version] {t:?} is not last, first, all or a timestamp")
                        }),
                    })
                    .collect::<Result<_, _>>()?;
            }
            // Other parameters are not filters of this server; ignored as TAXII allows.
            _ => {}
        }
    }
    Ok(f)
}

/// One page of a selection.
pub(super) struct Page<'a> {
    pub(super) objects: Vec<&'a Object>,
    pub(super) more: bool,
}

impl Page<'_> {
    pub(super) fn next(&self) -> Option<String> {
        let o = self.objects.last()?;
        self.more
            .then(|| format!("{}.{}.{}", o.added, o.version_us, o.id))
    }
}

/// Selects a page. `versions: false` ignores `match[version]` (the versions endpoint).
pub(super) fn select<'a>(
    c: &'a Collection,
    f: &Filters,
    id: Option<&str>,
    versions: bool,
) -> Page<'a> {
    let keep = |o: &Object| {
        id.is_none_or(|i| o.id == i)
            && f.ids.as_ref().is_none_or(|v| v.contains(&o.id))
            && f.types
                .as_ref()
                .is_none_or(|v| v.iter().any(|t| t == o.kind()))
            && f.spec_versions
                .as_ref()
                .is_none_or(|v| v.iter().any(|s| s == "2.1"))
            && f.added_after.is_none_or(|t| o.added > t)
            && (!versions
                || f.versions.iter().any(|s| match s {
                    VersionSel::Last => o.last,
                    VersionSel::First => o.first,
                    VersionSel::All => true,
                    VersionSel::At(t) => o.version_us == *t,
                }))
    };
    let mut out = Vec::new();
    let mut more = false;
    let mut visit = |o: &'a Object| -> bool {
        if !keep(o) {
            return true;
        }
        if out.len() == f.limit {
            more = true;
            return false;
        }
        out.push(o);
        true
    };
    match id {
        // One object: its few versions, through the index.
        Some(i) => {
            for &k in c.by_id.get(i).map(Vec::as_slice).unwrap_or(&[]) {
                let o = &c.objects[k];
                if f.next
                    .as_ref()
                    .is_some_and(|(a, v, n)| o.key() <= (*a, *v, n.as_str()))
                {
                    continue;
                }
                if !visit(o) {
                    break;
                }
            }
        }
        None => {
            let start = match &f.next {
                Some((a, v, n)) => c
                    .objects
                    .partition_point(|o| o.key() <= (*a, *v, n.as_str())),
                None => match f.added_after {
                    Some(t) => c.objects.partition_point(|o| o.added <= t),
                    None => 0,
                },
            };
            for o in &c.objects[start..] {
                if !visit(o) {
                    break;
                }
            }
        }
    }
    Page { objects: out, more }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::stix::timestamp;
    use bytes::Bytes;

    fn obj(id: &str, version_us: i64, added: i64) -> Object {
        Object::new(
            id.to_string(),
            timestamp(version_us),
            added,
            Bytes::from(format!("{{\"id\":\"{id}\"}}")),
        )
    }

    fn coll() -> Collection {
        Collection::new(
            "c".into(),
            "l".into(),
            vec![
                obj("indicator--b", 10, 10),
                obj("indicator--a", 10, 10),
                obj("identity--x", 1, 10),
                obj("indicator--a", 20, 20),
                obj("indicator--c", 30, 30),
            ],
        )
    }

    fn ids(p: &Page<'_>) -> Vec<(String, i64)> {
        p.objects
            .iter()
            .map(|o| (o.id.clone(), o.version_us))
            .collect()
    }

    #[test]
    fn default_is_last_version_in_date_added_order() {
        let c = coll();
        let f = parse_filters(None).unwrap();
        let p = select(&c, &f, None, true);
        assert_eq!(
            ids(&p),
            [
                ("identity--x".to_string(), 1),
                ("indicator--b".to_string(), 10),
                ("indicator--a".to_string(), 20),
                ("indicator--c".to_string(), 30)
            ]
        );
        assert!(!p.more);
    }

    #[test]
    fn paging_visits_everything_once() {
        let c = coll();
        let mut f = parse_filters(Some("limit=1&match%5Bversion%5D=all")).unwrap();
        let mut seen = Vec::new();
        loop {
            let p = select(&c, &f, None, true);
            seen.extend(ids(&p));
            match p.next() {
                Some(n) => {
                    f = parse_filters(Some(&format!("limit=1&match[version]=all&next={n}")))
                        .unwrap()
                }
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn filters() {
        let c = coll();
        let sel = |q: &str| ids(&select(&c, &parse_filters(Some(q)).unwrap(), None, true));
        let t = timestamp(10);
        assert_eq!(
            sel(&format!("added_after={t}")),
            [
                ("indicator--a".to_string(), 20),
                ("indicator--c".to_string(), 30)
            ]
        );
        assert_eq!(
            sel("match[type]=identity"),
            [("identity--x".to_string(), 1)]
        );
        assert_eq!(
            sel("match[id]=indicator--a&match[version]=first"),
            [("indicator--a".to_string(), 10)]
        );
        assert_eq!(
            sel(&format!(
                "match[id]=indicator--a&match[version]={}",
                timestamp(20)
            )),
            [("indicator--a".to_string(), 20)]
        );
        assert_eq!(sel("match[spec_version]=2.0"), []);
        let after_all = timestamp(30);
        assert_eq!(sel(&format!("added_after={after_all}")), []);
    }

    #[test]
    fn bad_filters_are_refused() {
        for q in [
            "limit=0",
            "limit=x",
            "added_after=yesterday",
            "match[version]=newest",
            "next=garbage",
        ] {
            assert!(parse_filters(Some(q)).is_err(), "{q}");
        }
    }
}
