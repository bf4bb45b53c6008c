//! `edlforge compile`, `plan` and `check`: feeds.toml → sources → store → lists.

use crate::indicator::unix_now as now;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Config, LoadError, Transport};
use crate::indicator::SkipReason;
use crate::pipeline::publish::{self, Held};
use crate::pipeline::{self, FetchMode, ListOutcome, SourceOutcome, SourceStatus};
use crate::source::http::{ensure_crypto_provider, Fetcher};
use crate::store::{SourceState, Store};

use super::out::{errln, outln};
use super::CliError;

/// Arguments of `compile` and `plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, default_value = "feeds.toml")]
    pub config: PathBuf,
    /// Where to write the lists (default: `out/` beside the config file). `compile` only.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Fetch nothing over the network (file sources are still read).
    #[arg(long, conflicts_with = "force")]
    pub offline: bool,
    /// Fetch every source now, whatever its refresh interval.
    #[arg(long)]
    pub force: bool,
    /// Exit 3 when a source of a written list failed its last attempt (in this run or an
    /// earlier one, due now or not), when any source failed in this run, or when a list was
    /// held back.
    #[arg(long)]
    pub strict: bool,
    /// How long to wait for another edlforge holding the data directory.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub wait: u64,
    /// Keep the store here instead of `[store] data_dir` (relative to the working directory),
    /// as `serve --data-dir` does.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The config file.
    #[arg(long, short, default_value = "feeds.toml")]
    pub config: PathBuf,
}

/// Loads and fully checks a config; prints every error.
pub fn load_checked(path: &Path) -> Result<Config, CliError> {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(LoadError::Invalid(errs)) => {
            for e in &errs {
                errln!("{e}");
            }
            return Err(CliError::Exit(
                1,
                format!("{} error(s) in {}", errs.len(), path.display()),
            ));
        }
        Err(e) => return Err(CliError::Failed(anyhow::Error::from(e))),
    };
    let errs = pipeline::check(&config);
    if !errs.is_empty() {
        for e in &errs {
            errln!("{e}");
        }
        return Err(CliError::Exit(
            1,
            format!("{} error(s) in {}", errs.len(), path.display()),
        ));
    }
    for s in config.sources.iter().filter(|s| s.is_plain_http()) {
        errln!(
            "warning: source {:?} uses plain http://; its data can be altered in transit",
            s.name
        );
    }
    Ok(config)
}

/// `edlforge check`.
pub fn check(args: CheckArgs) -> Result<(), CliError> {
    let c = load_checked(&args.config)?;
    // Both kinds reported together: every problem in one run.
    for e in c.check_errors.iter().chain(&c.serve_errors) {
        errln!("{e}");
    }
    if !c.check_errors.is_empty() || !c.serve_errors.is_empty() {
        let mut why = Vec::new();
        if !c.check_errors.is_empty() {
            why.push(format!(
                "{} file source(s) cannot be read: their lists are held back until they can",
                c.check_errors.len()
            ));
        }
        if !c.serve_errors.is_empty() {
            why.push(format!(
                "{} list(s) `compile` can write and `serve` refuses to publish",
                c.serve_errors.len()
            ));
        }
        return Err(CliError::Exit(
            1,
            format!(
                "{} error(s) in {}: {}",
                c.check_errors.len() + c.serve_errors.len(),
                args.config.display(),
                why.join("; ")
            ),
        ));
    }
    outln!("{}: OK", args.config.display());
    outln!("  data_dir: {}", c.data_dir.display());
    outln!("  {} sources:", c.sources.len());
    for s in &c.sources {
        let what = match &s.transport {
            Transport::Http(h) => format!("http {}", h.url.split('?').next().unwrap_or("")),
            Transport::File { path } => format!("file {}", path.display()),
            Transport::Taxii(t) => format!(
                "taxii {} collection {}",
                t.http.url.split('?').next().unwrap_or(""),
                t.collection
            ),
        };
        outln!(
            "    {:<20} {:<5} every {:<8} {}",
            s.name,
            match s.role {
                crate::config::Role::Block => "block",
                crate::config::Role::Allow => "allow",
            },
            humantime::format_duration(s.refresh).to_string(),
            what
        );
    }
    outln!("  {} lists:", c.lists.len());
    for l in &c.lists {
        outln!(
            "    {:<20} {:<16} sources: {}{}",
            l.name,
            l.vendor.id(),
            l.sources.join(", "),
            if l.allow.is_empty() {
                String::new()
            } else {
                format!("; allow: {}", l.allow.join(", "))
            }
        );
    }
    Ok(())
}

struct Run {
    sources: Vec<SourceOutcome>,
    lists: Vec<ListOutcome>,
    /// Lists the publication rule held back (not written), by name.
    held: HashMap<String, Held>,
    /// Source states after the run (only those the store has).
    states: HashMap<String, SourceState>,
}

fn run_pipeline(args: &Args, config: &Config, write: bool) -> Result<Run, CliError> {
    // EDLFORGE_TIMING=1 prints the time of each phase to stderr (for benchmarks).
    let timing = std::env::var_os("EDLFORGE_TIMING").is_some();
    let mut clock = std::time::Instant::now();
    let mut lap = |what: &str| {
        if timing {
            errln!("timing: {what} {:.3}s", clock.elapsed().as_secs_f64());
        }
        clock = std::time::Instant::now();
    };
    let guard = pipeline::guard(config).map_err(anyhow::Error::from)?;
    let mut store = Store::open(&config.data_dir, Duration::from_secs(args.wait))
        .map_err(anyhow::Error::from)?;
    let mode = if args.offline {
        FetchMode::Offline
    } else if args.force {
        FetchMode::Force
    } else {
        FetchMode::Due
    };
    let now = now();
    ensure_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let fetcher = Arc::new(Fetcher::new(config.per_host));
    // The stored records and lists load while the sources are fetched (both only read the
    // store).
    let (data, fetches) = std::thread::scope(|scope| {
        let store = &store;
        let loader = scope.spawn(move || -> anyhow::Result<_> {
            let data = pipeline::load_sources(config, store)?;
            let mut previous = HashMap::new();
            for l in &config.lists {
                if let Some((body, _)) = store.load_list(&l.name)? {
                    previous.insert(l.name.clone(), body);
                }
            }
            Ok((data, previous))
        });
        let fetches = rt.block_on(pipeline::fetch_sources(
            config,
            if write { Some(store) } else { None },
            fetcher,
            mode,
            now,
        ));
        let loaded = match loader.join() {
            Ok(d) => d,
            Err(_) => Err(anyhow::anyhow!("the store loader thread panicked")),
        };
        (loaded, fetches)
    });
    let (mut data, previous) = data?;
    let mut fetches = fetches.map_err(anyhow::Error::from)?;
    if !write {
        // `plan` applies TAXII polls to the stored indicator indexes as `compile` would.
        fetches
            .load_indexes(config, &store)
            .map_err(anyhow::Error::from)?;
    }
    lap("load store + fetch");
    let (sources, pending) = pipeline::accept_fetches(
        config,
        fetches,
        if write { Some(&mut store) } else { None },
        &mut data,
        now,
        // One run: every file is parsed (the daemon remembers its reads, `pipeline/unchanged.rs`).
        None,
    )
    .map_err(anyhow::Error::from)?;
    lap("parse+gates+merge");
    // The accepted snapshots are written while the lists compile from the same data (both only
    // read it); the list files are written after both, so a snapshot is always durable before
    // the lists made from it.
    let (lists, written) = std::thread::scope(|scope| {
        let (store, data) = (&mut store, &data);
        let writer = (!pending.is_empty()).then(|| scope.spawn(move || pending.write(store, data)));
        let lists = pipeline::compile_lists(config, data, &previous, &guard, now);
        let written: anyhow::Result<()> = match writer {
            Some(h) => match h.join() {
                Ok(r) => r.map_err(anyhow::Error::from),
                Err(_) => Err(anyhow::anyhow!("the store writer thread panicked")),
            },
            None => Ok(()),
        };
        (lists, written)
    });
    written?;
    lap("compile+render+diff (and store)");
    // The publication rule `serve` applies (one place: pipeline::publish): a list `serve` would
    // answer 503 for is not written, and an existing file stays as it is.
    let mut states = HashMap::new();
    for s in &config.sources {
        if let Some(st) = store.state(&s.name).map_err(anyhow::Error::from)? {
            states.insert(s.name.clone(), st);
        }
    }
    let delivered = |name: &str| {
        states
            .get(name)
            .is_some_and(|st: &SourceState| st.last_success.is_some())
            || sources.iter().any(|o| {
                o.name == name
                    && matches!(
                        o.status,
                        SourceStatus::Updated { .. } | SourceStatus::NotModified
                    )
            })
    };
    let mut held = HashMap::new();
    for (l, o) in config.lists.iter().zip(&lists) {
        let before = previous.contains_key(&l.name);
        if let Err(h) = publish::decide(config, l, o.rendered.entries, before, &delivered) {
            held.insert(l.name.clone(), h);
        }
    }
    if write {
        let out = args.out.clone().unwrap_or_else(|| {
            config
                .path
                .parent()
                .map_or_else(|| PathBuf::from("out"), |p| p.join("out"))
        });
        for l in lists.iter().filter(|l| !held.contains_key(&l.name)) {
            // The file and the store's copy are independent: write both at once, so their
            // fsyncs overlap.
            std::thread::scope(|scope| -> anyhow::Result<()> {
                let file =
                    scope.spawn(|| pipeline::write_atomic(&out, &l.file_name, &l.rendered.body));
                let saved = pipeline::save_list(&mut store, l, now);
                match file.join() {
                    Ok(r) => r.map(drop)?,
                    Err(_) => anyhow::bail!("the list writer thread panicked"),
                }
                saved?;
                Ok(())
            })?;
        }
        errln!(
            "wrote {} lists to {}",
            lists.len() - held.len(),
            out.display()
        );
        lap("write lists");
    }
    Ok(Run {
        sources,
        lists,
        held,
        states,
    })
}

fn print_sources(sources: &[SourceOutcome]) {
    outln!("{:<20} {:>9}  STATUS", "SOURCE", "RECORDS");
    for s in sources {
        let status = match &s.status {
            SourceStatus::Updated { added, removed } => {
                let skipped = s.report.total_skipped();
                format!(
                    "updated (+{added} -{removed}){}",
                    if skipped > 0 {
                        format!("; {}", s.report.summary())
                    } else {
                        String::new()
                    }
                )
            }
            SourceStatus::NotModified => "not modified".into(),
            SourceStatus::Skipped => "not due".into(),
            SourceStatus::Failed { reason, message } => format!("FAILED {reason}: {message}"),
        };
        outln!("{:<20} {:>9}  {status}", s.name, s.records);
    }
}

fn dropped(l: &ListOutcome) -> String {
    let r = &l.report;
    let parts: Vec<String> = SkipReason::ALL
        .iter()
        .filter(|x| r.count(**x) > 0)
        .map(|x| format!("{x} {}", r.count(*x)))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

fn print_lists(lists: &[ListOutcome], held: &HashMap<String, Held>) {
    outln!(
        "{:<20} {:<16} {:>8} {:>8} {:>8}  DROPPED",
        "LIST",
        "VENDOR",
        "ENTRIES",
        "ADDED",
        "REMOVED"
    );
    for l in lists {
        if held.contains_key(&l.name) {
            outln!(
                "{:<20} {:<16} {:>8} {:>8} {:>8}  -",
                l.name,
                l.vendor.id(),
                "held",
                "-",
                "-"
            );
            continue;
        }
        outln!(
            "{:<20} {:<16} {:>8} {:>8} {:>8}  {}",
            l.name,
            l.vendor.id(),
            l.rendered.entries,
            format!("+{}", l.added.len()),
            format!("-{}", l.removed.len()),
            dropped(l)
        );
    }
}

/// Lists held back, one line each (config order), for the summary.
fn print_held(config: &Config, held: &HashMap<String, Held>) {
    if held.is_empty() {
        return;
    }
    errln!(
        "held back {} list(s), not written (an existing file is left as it is):",
        held.len()
    );
    for l in &config.lists {
        if let Some(h) = held.get(&l.name) {
            errln!("  {}: {h}", l.name);
        }
    }
}

/// Sources of the written lists (block and allow) whose last attempt failed, whether or not
/// they were due in this run, in config order.
fn failing_sources(config: &Config, run: &Run) -> Vec<String> {
    let written: Vec<&crate::config::List> = config
        .lists
        .iter()
        .filter(|l| !run.held.contains_key(&l.name))
        .collect();
    config
        .sources
        .iter()
        .filter(|s| {
            written
                .iter()
                .any(|l| l.sources.contains(&s.name) || l.allow.contains(&s.name))
        })
        .filter(|s| {
            let now_failed = run
                .sources
                .iter()
                .any(|o| o.name == s.name && matches!(o.status, SourceStatus::Failed { .. }));
            let last_failed = run.states.get(&s.name).is_some_and(|st| {
                st.last_error.is_some()
                    && st
                        .last_attempt
                        .is_some_and(|a| st.last_success.is_none_or(|ok| a > ok))
            });
            now_failed || last_failed
        })
        .map(|s| s.name.clone())
        .collect()
}

/// `config` with `--data-dir` in place of `[store] data_dir`.
fn with_data_dir(mut config: Config, args: &Args) -> Config {
    if let Some(d) = &args.data_dir {
        config.data_dir.clone_from(d);
    }
    config
}

/// `edlforge compile`.
pub fn compile(args: Args) -> Result<(), CliError> {
    let config = with_data_dir(load_checked(&args.config)?, &args);
    let run = run_pipeline(&args, &config, true)?;
    print_sources(&run.sources);
    outln!();
    print_lists(&run.lists, &run.held);
    print_held(&config, &run.held);
    let failed: Vec<&str> = run
        .sources
        .iter()
        .filter(|s| matches!(s.status, SourceStatus::Failed { .. }))
        .map(|s| s.name.as_str())
        .collect();
    if !failed.is_empty() {
        errln!(
            "warning: {} source(s) failed and kept their last good set: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    let failing = failing_sources(&config, &run);
    if !failing.is_empty() {
        errln!(
            "warning: {} source(s) of the written lists failed their last attempt: {}",
            failing.len(),
            failing.join(", ")
        );
    }
    if args.strict && !(failed.is_empty() && failing.is_empty() && run.held.is_empty()) {
        return Err(CliError::Exit(
            3,
            "--strict: a source failed its last attempt or a list was held back".into(),
        ));
    }
    Ok(())
}

/// `edlforge plan`: what `compile` would change, writing nothing.
pub fn plan(args: Args) -> Result<(), CliError> {
    let config = with_data_dir(load_checked(&args.config)?, &args);
    let run = run_pipeline(&args, &config, false)?;
    print_sources(&run.sources);
    outln!();
    for l in &run.lists {
        if let Some(h) = run.held.get(&l.name) {
            outln!("{} ({}): held back: {h}", l.name, l.vendor.id());
            continue;
        }
        outln!(
            "{} ({}): {} entries, +{} -{}",
            l.name,
            l.vendor.id(),
            l.rendered.entries,
            l.added.len(),
            l.removed.len()
        );
        for a in l.added.iter().take(10) {
            outln!("  + {a}");
        }
        if l.added.len() > 10 {
            outln!("  + … {} more", l.added.len() - 10);
        }
        for r in l.removed.iter().take(10) {
            outln!("  - {r}");
        }
        if l.removed.len() > 10 {
            outln!("  - … {} more", l.removed.len() - 10);
        }
    }
    Ok(())
}

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The indicator to explain (IP, network, domain, URL or hash; defanged is fine).
    pub value: String,
    /// The config file.
    #[arg(long, short, default_value = "feeds.toml")]
    pub config: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for another edlforge holding the data directory.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub wait: u64,
}

fn when(t: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64))
        .to_string()
}

/// `edlforge explain VALUE`: who reports it, which lists publish it, and why the others do not.
pub fn explain(args: ExplainArgs) -> Result<(), CliError> {
    let config = load_checked(&args.config)?;
    let query = crate::indicator::parse_token(args.value.trim().as_bytes(), None)
        .map_err(|s| CliError::Usage(format!("{:?} is not an indicator: {}", args.value, s)))?;
    let guard = pipeline::guard(&config).map_err(anyhow::Error::from)?;
    let store = Store::open(&config.data_dir, Duration::from_secs(args.wait))
        .map_err(anyhow::Error::from)?;
    let data = pipeline::load_sources(&config, &store).map_err(anyhow::Error::from)?;
    let indexes = pipeline::load_indexes(&config, &store).map_err(anyhow::Error::from)?;
    let facts = publish::Facts::load(&config, &store).map_err(anyhow::Error::from)?;
    drop(store);
    let e = pipeline::explain(
        &config,
        &data,
        &indexes,
        &guard,
        &query.value,
        &facts,
        now(),
    );
    if args.json {
        let text = serde_json::to_string_pretty(&e).context("cannot encode JSON")?;
        outln!("{text}");
        return Ok(());
    }
    outln!("{}", e.value);
    if e.sightings.is_empty() {
        outln!("  no source reports it");
    }
    for s in &e.sightings {
        outln!(
            "  source {}: {} (first seen {}, last seen {}, confidence {}, TLP {}{}{})",
            s.source,
            s.value,
            when(s.first_seen),
            when(s.last_seen),
            s.confidence,
            s.tlp,
            s.expires
                .map(|x| format!(", expires {}", when(x)))
                .unwrap_or_default(),
            s.comment
                .as_deref()
                .map(|c| format!(", {c}"))
                .unwrap_or_default()
        );
        if !s.indicators.is_empty() {
            outln!(
                "    asserted by {} live STIX indicator(s): {}",
                s.indicators.len(),
                s.indicators.join(", ")
            );
        }
    }
    for v in &e.lists {
        if v.published {
            outln!(
                "  list {} ({}): published as {} · ETag {}",
                v.list,
                v.vendor,
                v.lines.join(" | "),
                v.etag
            );
        } else if let Some(w) = &v.withheld {
            outln!("  list {} ({}): not served: {w}", v.list, v.vendor);
        } else {
            outln!(
                "  list {} ({}): not published: {} ({}) · ETag {}, {} entries",
                v.list,
                v.vendor,
                v.reason.as_deref().unwrap_or("?"),
                v.detail.as_deref().unwrap_or(""),
                v.etag,
                v.entries
            );
        }
    }
    Ok(())
}
