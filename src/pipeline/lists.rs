//! Lists: selection per stamp, the corroboration walk, compile and render; file names,
//! content hashes, diffs, atomic writes and saving in the store.

use std::collections::HashMap;

type FastSet<T> = foldhash::HashSet<T>;
type FastMap<K, V> = foldhash::HashMap<K, V>;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::compile::{AllowSet, Compiler, Guard, ListPolicy};
use crate::config::{Config, List, Role, Vendor};
use crate::indicator::{Kind, Meta, Report, Skip, SkipReason, Tlp, Value};
use crate::store::{Key, ListMeta, StampId, Store};

use super::{list_format, timing, ListOutcome, PipelineError, SourceData};

/// Lines of text in one buffer: what a list diff gives. A first compile of a 10M-entry list adds
/// every line, and one `String` per line would cost a million allocations per million lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    text: String,
    /// End of each line in `text`.
    ends: Vec<usize>,
}

impl Lines {
    /// Lines held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Line `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// Every line, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.ends.len()).map(|i| self.get(i).unwrap_or(""))
    }

    /// Every line as its own `String`.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }

    fn push(&mut self, line: &[u8]) {
        match std::str::from_utf8(line) {
            Ok(t) => self.text.push_str(t),
            Err(_) => self.text.push_str(&String::from_utf8_lossy(line)),
        }
        self.ends.push(self.text.len());
    }
}

impl<'a> FromIterator<&'a [u8]> for Lines {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> Self {
        let mut lines = Lines::default();
        for l in iter {
            lines.push(l);
        }
        lines
    }
}

/// What a list does with the records of one source that share a stamp: selection depends only
/// on the stamp and the source's config, so it is decided once per stamp, not per record.
#[derive(Clone)]
enum Pick<'a> {
    Skip(Skip),
    Take {
        confidence: u8,
        tlp: Tlp,
        last_seen: i64,
        comment: Option<&'a str>,
    },
}

/// A record's value as a list groups it: `subdomains = true` makes every domain a wildcard, so
/// `a.example` and `*.a.example` are one value (they are adjacent in a sorted set).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey<'a> {
    V4(u32, u32),
    V6(u128, u128),
    Name(std::borrow::Cow<'a, Value>),
}

impl<'a> GroupKey<'a> {
    fn new(k: Key<'a>, subdomains: bool) -> Self {
        match k {
            Key::V4(s, e) => GroupKey::V4(s, e),
            Key::V6(s, e) => GroupKey::V6(s, e),
            Key::Name(Value::Domain(d)) if subdomains && !d.wildcard => {
                let mut d = d.clone();
                d.wildcard = true;
                GroupKey::Name(std::borrow::Cow::Owned(Value::Domain(d)))
            }
            Key::Name(v) => GroupKey::Name(std::borrow::Cow::Borrowed(v)),
        }
    }

    fn into_value(self) -> Value {
        match self {
            GroupKey::V4(start, end) => Value::Ip(crate::indicator::IpRange::V4 { start, end }),
            GroupKey::V6(start, end) => Value::Ip(crate::indicator::IpRange::V6 { start, end }),
            GroupKey::Name(v) => v.into_owned(),
        }
    }
}

/// One block source of a list, walked in value order.
struct Walked<'a, I: Iterator<Item = (Key<'a>, StampId)>> {
    name: &'a str,
    picks: Vec<Pick<'a>>,
    /// Meta id of a value reported by this source alone, per stamp (the common case).
    alone: Vec<Option<crate::compile::MetaId>>,
    records: std::iter::Peekable<I>,
}

/// The interned metadata of an output value: list source indices, confidence, last seen, TLP,
/// comment.
type MetaKey = (Vec<u16>, u8, i64, Tlp, Option<String>);

/// Compiles every list from `data`. Lists are independent; one that fails does not stop the
/// others (none can fail today: compile and render are infallible).
pub fn compile_lists(
    config: &Config,
    data: &SourceData,
    previous: &HashMap<String, Vec<u8>>,
    guard: &Guard,
    now: i64,
) -> Vec<ListOutcome> {
    config
        .lists
        .iter()
        .map(|l| compile_list(config, l, data, previous.get(&l.name), guard, now))
        .collect()
}

pub(super) fn compile_list(
    config: &Config,
    l: &List,
    data: &SourceData,
    previous: Option<&Vec<u8>>,
    guard: &Guard,
    now: i64,
) -> ListOutcome {
    let format = list_format(l);
    let kinds: Vec<Kind> = if l.kinds.is_empty() {
        format.kinds().to_vec()
    } else {
        l.kinds.clone()
    };
    let policy = ListPolicy {
        name: l.name.clone(),
        kinds,
        max_entries: l.max_entries.or(format.default_max_entries()),
    };
    let allow = AllowSet::new(l.allow.iter().filter_map(|a| data.get(a)).flat_map(|set| {
        set.iter()
            .filter(|&(_, id)| set.stamp(id).expires.is_none_or(|e| e > now))
            .map(|(k, _)| k.to_value())
    }));
    let mut report = Report::default();
    let keep_comments = l.vendor == Vendor::Checkpoint;
    let t0 = Instant::now();
    let mut compiler = Compiler::new(policy, guard, &format);
    let mut interned: FastMap<MetaKey, crate::compile::MetaId> = FastMap::default();
    let mut intern = |compiler: &mut Compiler<'_>, key: MetaKey| match interned.get(&key) {
        Some(id) => *id,
        None => {
            let meta = Meta {
                sources: key
                    .0
                    .iter()
                    .map(|&i| l.sources[i as usize].clone())
                    .collect(),
                confidence: Some(key.1),
                last_seen: Some(key.2),
                tlp: Some(key.3),
                comment: key.4.clone(),
                ..Meta::default()
            };
            let id = compiler.add_meta(meta);
            interned.insert(key, id);
            id
        }
    };
    // Selection per stamp, then corroboration per value: the list's sources are sorted sets, so
    // one merged walk in value order meets every copy of a value together, with no hashing.
    let mut walked = Vec::new();
    for (si, src) in l.sources.iter().enumerate() {
        let (Some(cfg), Some(set)) = (config.source(src), data.get(src)) else {
            continue;
        };
        if cfg.role != Role::Block || si > u16::MAX as usize {
            continue;
        }
        let picks: Vec<Pick<'_>> = set
            .stamps()
            .iter()
            .map(|st| {
                let tlp = st.tlp.unwrap_or(cfg.tlp);
                let confidence = st.confidence.unwrap_or(cfg.confidence);
                if st.expires.is_some_and(|e| e <= now) {
                    Pick::Skip(Skip::new(SkipReason::Expired, "past its expiry"))
                } else if tlp > l.max_tlp {
                    Pick::Skip(Skip::new(SkipReason::Tlp, "TLP above the list's max_tlp"))
                } else if confidence < l.min_confidence {
                    Pick::Skip(Skip::new(
                        SkipReason::BelowMinConfidence,
                        "confidence below the list's min_confidence",
                    ))
                } else {
                    Pick::Take {
                        confidence,
                        tlp,
                        last_seen: st.last_seen,
                        comment: st.comment.as_deref().filter(|_| keep_comments),
                    }
                }
            })
            .collect();
        walked.push((
            si as u16,
            Walked {
                name: src.as_str(),
                alone: vec![None; picks.len()],
                picks,
                records: set.iter().peekable(),
            },
        ));
    }
    let subdomains = l.subdomains;
    // One source and no subdomain folding (the big lists): every record is its own value.
    if let ([(si, w)], false) = (&mut walked[..], subdomains) {
        for (k, id) in w.records.by_ref() {
            match &w.picks[id as usize] {
                Pick::Skip(skip) => {
                    let src = w.name;
                    report.skip_with(
                        *skip,
                        1,
                        || Some(format!("source {src}")),
                        || k.to_value().to_string(),
                    );
                }
                Pick::Take { .. } if l.min_sources > 1 => report.skip_with(
                    Skip::new(
                        SkipReason::MinSources,
                        "reported by fewer sources than min_sources",
                    ),
                    1,
                    || Some("1 source(s)".to_string()),
                    || k.to_value().to_string(),
                ),
                Pick::Take {
                    confidence,
                    tlp,
                    last_seen,
                    comment,
                } => {
                    let meta = match w.alone[id as usize] {
                        Some(m) => m,
                        None => {
                            let key = (
                                vec![*si],
                                *confidence,
                                *last_seen,
                                *tlp,
                                comment.map(str::to_owned),
                            );
                            let m = intern(&mut compiler, key);
                            w.alone[id as usize] = Some(m);
                            m
                        }
                    };
                    compiler.push(k.to_value(), meta, || None);
                }
            }
        }
    }
    // Several sources (or subdomains): merge their walks by value.
    let mut group: Vec<(u16, usize, StampId)> = Vec::new();
    let mut sources: Vec<u16> = Vec::new();
    loop {
        // The smallest value at the head of any source (one source: its head).
        let mut min: Option<GroupKey<'_>> = None;
        for (_, w) in &mut walked {
            if let Some(&(k, _)) = w.records.peek() {
                let g = GroupKey::new(k, subdomains);
                if min.as_ref().is_none_or(|m| g < *m) {
                    min = Some(g);
                }
            }
        }
        let Some(value) = min else {
            break;
        };
        // Every record of that value, in source order; selection skips counted per record.
        group.clear();
        for (wi, (si, w)) in walked.iter_mut().enumerate() {
            while let Some((k, id)) = w
                .records
                .next_if(|&(k, _)| GroupKey::new(k, subdomains) == value)
            {
                match &w.picks[id as usize] {
                    Pick::Skip(skip) => {
                        let src = w.name;
                        report.skip_with(
                            *skip,
                            1,
                            || Some(format!("source {src}")),
                            || k.to_value().to_string(),
                        )
                    }
                    Pick::Take { .. } => group.push((*si, wi, id)),
                }
            }
        }
        if group.is_empty() {
            continue;
        }
        sources.clear();
        sources.extend(group.iter().map(|g| g.0));
        sources.dedup();
        if sources.len() < l.min_sources {
            let n = sources.len();
            report.skip_with(
                Skip::new(
                    SkipReason::MinSources,
                    "reported by fewer sources than min_sources",
                ),
                1,
                || Some(format!("{n} source(s)")),
                || value.clone().into_value().to_string(),
            );
            continue;
        }
        let id = if let [(_, wi, sid)] = group[..] {
            let w = &mut walked[wi].1;
            match w.alone[sid as usize] {
                Some(id) => id,
                None => {
                    let Pick::Take {
                        confidence,
                        tlp,
                        last_seen,
                        comment,
                    } = &w.picks[sid as usize]
                    else {
                        continue;
                    };
                    let key = (
                        sources.clone(),
                        *confidence,
                        *last_seen,
                        *tlp,
                        comment.map(str::to_owned),
                    );
                    let id = intern(&mut compiler, key);
                    w.alone[sid as usize] = Some(id);
                    id
                }
            }
        } else {
            let (mut confidence, mut last_seen, mut tlp) = (0u8, i64::MIN, Tlp::Red);
            let mut comment: Option<&str> = None;
            for &(_, wi, sid) in &group {
                if let Pick::Take {
                    confidence: c,
                    tlp: t,
                    last_seen: ls,
                    comment: cm,
                } = &walked[wi].1.picks[sid as usize]
                {
                    confidence = confidence.max(*c);
                    last_seen = last_seen.max(*ls);
                    tlp = tlp.min(*t);
                    if comment.is_none() {
                        comment = *cm;
                    }
                }
            }
            intern(
                &mut compiler,
                (
                    sources.clone(),
                    confidence,
                    last_seen,
                    tlp,
                    comment.map(str::to_owned),
                ),
            )
        };
        compiler.push(value.into_value(), id, || None);
    }
    drop(walked);
    let t1 = Instant::now();
    let list = compiler.finish(&allow);
    report.merge(&list.report);
    let t2 = Instant::now();
    let rendered = format.render(&list);
    let shared = match l.vendor {
        Vendor::Stix => crate::format::stix::items(&list, l.max_tlp),
        _ => Vec::new(),
    };
    drop(list);
    let t3 = Instant::now();
    let body = &rendered.body;
    let diff = || diff_lines(previous.map(Vec::as_slice), body);
    // Big lists: the hash on a second core while the diff runs.
    let ((added, removed), etag) = if body.len() >= 1 << 20 {
        std::thread::scope(|s| {
            let hash = s.spawn(|| content_hash(body));
            let d = diff();
            (d, hash.join().unwrap_or_else(|_| content_hash(body)))
        })
    } else {
        (diff(), content_hash(body))
    };
    if timing() {
        eprintln!(
            "timing: list {}: select {:.3}s, compile {:.3}s, render {:.3}s, diff+hash {:.3}s",
            l.name,
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            t3.elapsed().as_secs_f64()
        );
    }
    ListOutcome {
        name: l.name.clone(),
        vendor: l.vendor,
        file_name: file_name(l),
        rendered,
        report,
        added,
        removed,
        etag,
        shared,
    }
}

/// `name.csv` for Check Point's IoC CSV, `name.txt` otherwise.
pub fn file_name(l: &List) -> String {
    match l.vendor {
        Vendor::Checkpoint => format!("{}.csv", l.name),
        Vendor::Stix => format!("{}.json", l.name),
        _ => format!("{}.txt", l.name),
    }
}

/// Strong content hash for ETags: SHA-256, first 128 bits in hex.
pub fn content_hash(body: &[u8]) -> String {
    hex128(&Sha256::digest(body))
}

/// The first 128 bits of a digest in hex (content hashes, file validators).
pub(super) fn hex128(digest: &[u8]) -> String {
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn entry_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', body)
        .chain(std::iter::once(body.len()))
        .map(move |end| {
            let line = body.get(start..end).unwrap_or_default();
            start = end + 1;
            line
        })
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with(b"#")
                && *l != b"end"
                && !l.starts_with(b"define category ")
        })
}

fn line_set(body: &[u8]) -> FastSet<&[u8]> {
    let mut set = FastSet::default();
    set.reserve(memchr::memchr_iter(b'\n', body).count() + 1);
    set.extend(entry_lines(body));
    set
}

/// Entry lines (not headers) new in `new` and gone from `old`, each in its list's order. A
/// first compile and an unchanged list, the common cases on big lists, hash nothing.
///
/// A recompile usually changes a few lines of a long list (`serve` after one feed was edited),
/// so the bytes both bodies share at their start and at their end, cut at line boundaries, are
/// set aside: only the differing middles are hashed into sets, and the shared lines are then
/// walked once to drop the candidates they hold (a line of one middle may also sit in the
/// shared part). The result is the set difference of all the lines, as before: for 1M names
/// with one added, 0.23 s became a few ms.
fn diff_lines(old: Option<&[u8]>, new: &[u8]) -> (Lines, Lines) {
    let Some(old) = old else {
        return (entry_lines(new).collect(), Lines::default());
    };
    if old == new {
        return (Lines::default(), Lines::default());
    }
    // The shared start, cut after its last newline: whole lines, the same in both.
    let same = common_prefix(old, new);
    let start = memchr::memrchr(b'\n', &old[..same]).map_or(0, |i| i + 1);
    // The shared end, from just after a newline inside it (so the line before it is whole in
    // both), never reaching into the shared start.
    let same = common_suffix(&old[start..], &new[start..]);
    let tail = &old[old.len() - same..];
    let end = memchr::memchr(b'\n', tail).map_or(0, |i| same - i - 1);
    let (old_mid, new_mid) = (&old[start..old.len() - end], &new[start..new.len() - end]);
    let (old_set, new_set) = (line_set(old_mid), line_set(new_mid));
    let mut added: FastSet<&[u8]> = entry_lines(new_mid)
        .filter(|l| !old_set.contains(l))
        .collect();
    let mut removed: FastSet<&[u8]> = entry_lines(old_mid)
        .filter(|l| !new_set.contains(l))
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        for l in entry_lines(&old[..start]).chain(entry_lines(&old[old.len() - end..])) {
            added.remove(l);
            removed.remove(l);
        }
    }
    (
        entry_lines(new_mid).filter(|l| added.contains(l)).collect(),
        entry_lines(old_mid)
            .filter(|l| removed.contains(l))
            .collect(),
    )
}

/// How many bytes `a` and `b` share at their start (compared a block at a time).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 4096;
    let n = a.len().min(b.len());
    let mut at = 0;
    while at + BLOCK <= n && a[at..at + BLOCK] == b[at..at + BLOCK] {
        at += BLOCK;
    }
    at + a[at..n]
        .iter()
        .zip(&b[at..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// How many bytes `a` and `b` share at their end (compared a block at a time).
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 4096;
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut same = 0;
    while same + BLOCK <= n && a[n - same - BLOCK..n - same] == b[n - same - BLOCK..n - same] {
        same += BLOCK;
    }
    same + a[..n - same]
        .iter()
        .rev()
        .zip(b[..n - same].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// Writes one list file atomically: temp file in the same folder, fsync, rename.
///
/// # Errors
/// [`PipelineError::Write`] naming the file.
pub fn write_atomic(dir: &Path, file_name: &str, body: &[u8]) -> Result<PathBuf, PipelineError> {
    let path = dir.join(file_name);
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let err = |source| PipelineError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(body).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(err)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// Saves a compiled list in the store, moving `changed_at` only when the content changed, and
/// returns what it stored (the server's `Last-Modified` is its `changed_at`).
///
/// # Errors
/// The store failed.
pub fn save_list(store: &mut Store, o: &ListOutcome, now: i64) -> Result<ListMeta, PipelineError> {
    // The header alone: the body is not needed to know whether the content changed.
    let changed_at = match store.list_meta(&o.name)? {
        Some(m) if m.etag == o.etag => m.changed_at,
        _ => now,
    };
    let meta = ListMeta {
        entries: o.rendered.entries,
        compiled_at: now,
        changed_at,
        etag: o.etag.clone(),
    };
    store.save_list(&o.name, &o.rendered.body, &meta)?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_ignore_headers() {
        let (a, r) = diff_lines(
            Some(b"# x: 2 entries\n1.1.1.1\n2.2.2.2\n"),
            b"# x: 2 entries\n2.2.2.2\n3.3.3.3\n",
        );
        assert_eq!(a.to_vec(), ["3.3.3.3"]);
        assert_eq!(r.to_vec(), ["1.1.1.1"]);
        let (a, r) = diff_lines(None, b"# h\n1.1.1.1\n\xff\n");
        assert_eq!(a.iter().collect::<Vec<_>>(), ["1.1.1.1", "\u{fffd}"]);
        assert_eq!(a.get(1), Some("\u{fffd}"));
        assert_eq!(a.get(2), None);
        assert!(r.is_empty());
    }

    /// The diff without the shared start and end set aside: every line of both hashed.
    fn diff_lines_whole(old: &[u8], new: &[u8]) -> (Lines, Lines) {
        let (old_set, new_set) = (line_set(old), line_set(new));
        (
            entry_lines(new).filter(|l| !old_set.contains(l)).collect(),
            entry_lines(old).filter(|l| !new_set.contains(l)).collect(),
        )
    }

    /// A list body from line numbers: few distinct lines (so lines repeat and move), headers,
    /// `end`, an empty line, and with or without the last newline.
    fn body(lines: &[u8], last_newline: bool) -> Vec<u8> {
        let mut b = Vec::new();
        for (i, &n) in lines.iter().enumerate() {
            if i > 0 {
                b.push(b'\n');
            }
            match n % 23 {
                0 => b.extend_from_slice(b"# header"),
                1 => b.extend_from_slice(b"end"),
                2 => {}
                3 => b.extend_from_slice(b"1.1.1"),
                _ => b.extend_from_slice(format!("1.1.1.{n}").as_bytes()),
            }
        }
        if last_newline {
            b.push(b'\n');
        }
        b
    }

    proptest::proptest! {
        /// Setting the shared start and end aside changes nothing: an edit of a few lines
        /// somewhere in a list (insert, delete, replace, a line that also sits in the shared
        /// part, one line a prefix of another), checked against hashing every line.
        #[test]
        fn diff_is_the_whole_set_difference(
            lines in proptest::collection::vec(0u8..60, 0..40),
            at in 0usize..40,
            cut in 0usize..4,
            insert in proptest::collection::vec(0u8..60, 0..4),
            old_newline: bool,
            new_newline: bool,
        ) {
            let at = at.min(lines.len());
            let cut = cut.min(lines.len() - at);
            let mut edited = lines.clone();
            edited.splice(at..at + cut, insert);
            let (old, new) = (body(&lines, old_newline), body(&edited, new_newline));
            proptest::prop_assert_eq!(diff_lines(Some(&old), &new), diff_lines_whole(&old, &new));
        }
    }

    proptest::proptest! {
        /// The block-at-a-time comparisons count what a byte-at-a-time one does, on bodies
        /// longer than a block with the difference anywhere.
        #[test]
        fn shared_start_and_end_are_counted_exactly(
            len in 0usize..20_000,
            at in 0usize..20_000,
            extra in 0usize..3,
        ) {
            let a: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut b = a.clone();
            b.extend(std::iter::repeat_n(7u8, extra));
            if let Some(x) = b.get_mut(at) {
                *x ^= 0x80;
            }
            let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            let suffix = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
            proptest::prop_assert_eq!(common_prefix(&a, &b), prefix);
            proptest::prop_assert_eq!(common_suffix(&a, &b), suffix);
        }
    }

    #[test]
    fn shared_bytes_are_cut_at_whole_lines() {
        // "1.1.1" is a prefix of "1.1.1.5"; "a" of "xa"; the shared end starts mid-line
        for (old, new, added, removed) in [
            (
                &b"1.1.1.1\n1.1.1\n"[..],
                &b"1.1.1.1\n1.1.1.5\n"[..],
                vec!["1.1.1.5"],
                vec!["1.1.1"],
            ),
            (b"a\n", b"xa\n", vec!["xa"], vec!["a"]),
            (b"b\na\nc\n", b"b\nxa\nc\nb\n", vec!["xa"], vec!["a"]),
            (b"a\nb", b"a\nb\nb", vec![], vec![]),
            (b"a\nb\n", b"b\na\n", vec![], vec![]),
        ] {
            let (a, r) = diff_lines(Some(old), new);
            assert_eq!(
                (a.to_vec(), r.to_vec()),
                (
                    added.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    removed.iter().map(|s| s.to_string()).collect::<Vec<_>>()
                ),
                "{old:?} -> {new:?}"
            );
        }
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(content_hash(b""), "e3b0c44298fc1c149afbf4c8996fb924");
    }
}
