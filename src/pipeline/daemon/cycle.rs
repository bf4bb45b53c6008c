//! The blocking part of a `serve` cycle: load the kept or stored records, fetch and accept the
//! sources, compile every list while the accepted snapshots are written, save and prepare the
//! published lists (the gzip copy made while the list is saved). Split from `scheduler.rs`,
//! which runs cycles and applies their results.

use crate::indicator::unix_now as now;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::compile::Guard;
use crate::config::{Backend, Config};
use crate::serve::{Gzip, Published};
use crate::source::http::Fetcher;
use crate::store::{Key, ListMeta, SourceState, Store};

use crate::pipeline::publish::{self, Held};
use crate::pipeline::{
    accept_fetches, fetch_sources, list_format, save_list, FetchMode, FileReads, KeptSets,
    ListOutcome, PipelineError, SourceOutcome,
};

/// One list of a cycle: compiled, then published (saved in the store, with its bytes ready to
/// serve and its `changed_at`) or held back by the publication rule.
pub(super) struct CycleList {
    pub(super) outcome: ListOutcome,
    pub(super) took: f64,
    pub(super) published: Result<(i64, Arc<Published>), Held>,
    /// What the store saved for a published list.
    pub(super) meta: Option<ListMeta>,
}

/// The result of one cycle, made on a blocking thread.
pub(super) struct Cycle {
    pub(super) sources: Vec<SourceOutcome>,
    pub(super) lists: Vec<CycleList>,
    pub(super) states: HashMap<String, SourceState>,
    pub(super) by_type: HashMap<String, BTreeMap<String, u64>>,
    pub(super) finished: i64,
    /// TAXII collections of the shared lists (`pipeline/share.rs`).
    pub(super) collections: Vec<(String, Arc<crate::serve::taxii::Collection>)>,
}

/// The published lists of a cycle, as the leader publishes them to the database.
pub(super) fn to_publish(c: &Cycle) -> Vec<super::replica::ToPublish> {
    c.lists
        .iter()
        .filter_map(|cl| {
            let (Ok((_, p)), Some(meta)) = (&cl.published, &cl.meta) else {
                return None;
            };
            let drops = crate::indicator::SkipReason::ALL
                .iter()
                .map(|r| (r.as_str().to_string(), cl.outcome.report.count(*r)))
                .filter(|(_, n)| *n > 0)
                .collect();
            Some(super::replica::ToPublish {
                name: cl.outcome.name.clone(),
                list: p.clone(),
                meta: meta.clone(),
                drops,
            })
        })
        .collect()
}

/// A list's bytes ready to serve, with the validators the store keeps for it.
pub(super) fn published(l: &crate::config::List, body: Vec<u8>, meta: &ListMeta) -> Published {
    published_with_gzip(l, body, Gzip::Make, meta)
}

/// [`published`] with its gzip copy as `gzip` says (the leader's, or one made here already).
pub(super) fn published_with_gzip(
    l: &crate::config::List,
    body: Vec<u8>,
    gzip: Gzip,
    meta: &ListMeta,
) -> Published {
    let f = list_format(l);
    Published::with_gzip(
        body,
        gzip,
        &meta.etag,
        meta.changed_at,
        f.content_type(),
        meta.entries,
        f.md5_url(),
    )
}

/// Fetch the due sources, compile every list, save them: the blocking part of a cycle.
pub(super) fn run_cycle(
    config: &Config,
    guard: &Guard,
    fetcher: Arc<Fetcher>,
    (files, kept): (&FileReads, &KeptSets),
    mode: FetchMode,
    handle: &tokio::runtime::Handle,
) -> Result<Cycle, PipelineError> {
    let now = now();
    let mut store = Store::open(&config.data_dir, Duration::from_secs(60))?;
    let mut data = kept.load(config, &store)?;
    files.retain(
        &config
            .sources
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
    );
    let mut previous = HashMap::new();
    for l in &config.lists {
        if let Some((body, _)) = store.load_list(&l.name)? {
            previous.insert(l.name.clone(), body);
        }
    }
    let fetches = handle.block_on(fetch_sources(config, Some(&store), fetcher, mode, now))?;
    let (sources, pending) = accept_fetches(
        config,
        fetches,
        Some(&mut store),
        &mut data,
        now,
        Some(files),
    )?;
    // The accepted snapshots are written while the lists compile from the same data (both only
    // read it); the lists are saved after both, so a snapshot is durable before the lists made
    // from it (as `compile` does).
    let (compiled, written) = std::thread::scope(|scope| {
        let (st, d) = (&mut store, &data);
        let writer = (!pending.is_empty()).then(|| scope.spawn(move || pending.write(st, d)));
        let compiled: Vec<(ListOutcome, f64)> = config
            .lists
            .iter()
            .map(|l| {
                let t = Instant::now();
                let outcome = crate::pipeline::lists::compile_list(
                    config,
                    l,
                    &data,
                    previous.get(&l.name),
                    guard,
                    now,
                );
                (outcome, t.elapsed().as_secs_f64())
            })
            .collect();
        let written = writer.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (compiled, written)
    });
    written.transpose()?;
    let mut states = HashMap::new();
    let mut by_type: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    for s in &config.sources {
        if let Some(st) = store.state(&s.name)? {
            states.insert(s.name.clone(), st);
        }
        let mut t: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(set) = data.get(&s.name) {
            for (k, _) in set.iter() {
                let kind = match k {
                    Key::V4(..) | Key::V6(..) => "ip",
                    Key::Name(v) => v.kind().as_str(),
                };
                match t.get_mut(kind) {
                    Some(n) => *n += 1,
                    None => {
                        t.insert(kind.to_string(), 1);
                    }
                }
            }
        }
        by_type.insert(s.name.clone(), t);
    }
    let delivered = |s: &str| {
        states
            .get(s)
            .is_some_and(|st: &SourceState| st.last_success.is_some())
    };
    let mut lists = Vec::new();
    let mut collections = Vec::new();
    for (l, (outcome, took)) in config.lists.iter().zip(compiled) {
        // The store keeps only published lists: its copy is what "published before" means.
        // With PostgreSQL that copy may be one this replica followed: a compile missing a
        // block source that never delivered here (a new leader whose fetch of it failed) would
        // replace every replica's list with a wrong one, so it is held and the last version
        // stays served (`replica.rs`).
        let missing = match config.backend {
            Backend::Postgres { .. } if previous.contains_key(&l.name) => {
                publish::never_delivered(config, l, &delivered)
            }
            _ => Vec::new(),
        };
        let decision = match publish::decide(
            config,
            l,
            outcome.rendered.entries,
            previous.contains_key(&l.name),
            &delivered,
        )
        .and(if missing.is_empty() {
            Ok(())
        } else {
            Err(Held::NotDeliveredHere(missing))
        }) {
            Ok(()) => {
                // `changed_at` moves only when the content changed (the store's rule). The
                // gzip copy is made on the other cores while the list is saved.
                let body = &outcome.rendered.body;
                let (meta, gzip) = std::thread::scope(|scope| {
                    let gzip = scope.spawn(|| crate::serve::gzip_body(body));
                    (save_list(&mut store, &outcome, now), gzip.join())
                });
                let meta = meta?;
                if let Some(c) =
                    crate::pipeline::share::record(&mut store, l, &outcome.shared, now)?
                {
                    collections.push((l.name.clone(), c));
                }
                let gzip = gzip.map_or(Gzip::Make, Gzip::Made);
                let p = Arc::new(published_with_gzip(l, body.clone(), gzip, &meta));
                Ok((meta.changed_at, p, meta))
            }
            Err(h) => Err(h),
        };
        let (published, meta) = match decision {
            Ok((changed_at, p, meta)) => (Ok((changed_at, p)), Some(meta)),
            Err(h) => (Err(h), None),
        };
        lists.push(CycleList {
            outcome,
            took,
            published,
            meta,
        });
    }
    // Every snapshot of the cycle is written: the next one loads only those written since.
    kept.keep(&store, data)?;
    Ok(Cycle {
        sources,
        lists,
        states,
        by_type,
        finished: crate::indicator::unix_now(),
        collections,
    })
}
