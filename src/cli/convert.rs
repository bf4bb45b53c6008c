//! `edlforge convert`: indicator lines in, one vendor list out.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::compile::psl::PublicSuffixes;
use crate::compile::{AllowSet, Compiler, Guard, ListPolicy};
use crate::config::Vendor;
use crate::format::{proxysg, Format, FormatOptions};
use crate::indicator::line::{split, Line};
use crate::indicator::{
    parse_line, parse_plain_domain, parse_token, DomainRef, Kind, Meta, Report, SkipReason,
};

use super::out::{self, errln};
use super::read::for_each_line;
use super::CliError;

const VENDOR_HELP: &str = "Vendor format:
  panos            PAN-OS EDL: ip | domain | url (one type per list); *.x.com written as x.com + *.x.com;
                   URLs without scheme or port; max 50,000 entries
  fortigate        FortiGate threat feed: ip | domain | url | hash (one type per feed); URLs keep scheme
                   and port; max 131,072 entries
  checkpoint       Check Point IoC feed CSV (mixed types; IPv4 only); max 2,000,000 entries
  checkpoint-feed  Check Point Network Feed flat list: ip and domain (IPv4 only)
  sophos           Sophos threat feed: ip | domain | url; single IPv4 addresses, no wildcards
  cisco-tid        Cisco FMC Threat Intelligence Director: one observable per line, no CIDR, SHA-256 only
  cisco-si         Cisco FMC Security Intelligence feed: CIDRs, # header
  proxysg          Broadcom ProxySG local category (define category ... end)
  plain            one normalized value per line, # header
  stix             STIX 2.1 bundle: one indicator per entry (edlforge serve also offers it
                   as a TAXII 2.1 collection)";

/// Arguments of `convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Vendor format (see below).
    #[arg(long, value_name = "V", long_help = VENDOR_HELP)]
    pub vendor: String,
    /// Indicator type: ip, domain, url, hash, or auto (detect per line; only for vendors whose
    /// lists may mix types).
    #[arg(long = "type", value_name = "T", default_value = "auto")]
    pub kind: String,
    /// Allowlist file (same line syntax); may be repeated. Its entries are never published.
    #[arg(long = "allow", value_name = "FILE")]
    pub allow: Vec<PathBuf>,
    /// Write IP sets as start-end ranges where the vendor accepts them (fewest lines).
    #[arg(long)]
    pub ranges: bool,
    /// Most output lines (default: the vendor's documented limit, if any).
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u64>,
    /// ProxySG category name.
    #[arg(long, value_name = "NAME", default_value = "edlforge")]
    pub category: String,
    /// List name used in headers and Check Point names.
    #[arg(long, value_name = "NAME", default_value = "edlforge")]
    pub name: String,
    /// A newer public_suffix_list.dat to use instead of the built-in snapshot.
    #[arg(long, value_name = "FILE")]
    pub psl: Option<PathBuf>,
    /// Also print a few examples of every drop reason to stderr.
    #[arg(long, short)]
    pub verbose: bool,
    /// Input files (stdin when none).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

#[derive(Debug, Clone, Copy)]
struct LineOptions {
    want: Option<Kind>,
    keep_comments: bool,
}

/// Feeds one line to `c`; `at(n)` names line `n` in an example (made only for the few kept).
/// A plain name is written into `name` and copied into the compiler's names from there
/// ([`parse_plain_domain`]), with no string of its own: a string per name was an allocation and
/// a free per line (1M names: 4% of the CPU of a `convert`, with the UTF-8 check of the copy).
fn feed_line(
    c: &mut Compiler<'_>,
    o: LineOptions,
    at: &impl Fn(u64) -> String,
    n: u64,
    line: &[u8],
    name: &mut String,
) {
    // A line that is a plain name whole (but for a `\r` at its end) is its own token, with no
    // comment: the name's bytes hold no space, `#`, `;`, `/` or BOM byte, so `split` would find
    // nothing else. Tried before `split`, which took 5% of the CPU of 1M names.
    let whole = line.strip_suffix(b"\r").unwrap_or(line);
    let (token, comment, plain) = match parse_plain_domain(whole, o.want, name) {
        Some(p) => (whole, &b""[..], Some(p)),
        None => match split(line) {
            Line::Blank => return,
            // (a token as long as the line is the line, tried above)
            Line::Token { token, comment } if token.len() == whole.len() => (token, comment, None),
            Line::Token { token, comment } => {
                (token, comment, parse_plain_domain(token, o.want, name))
            }
        },
    };
    let meta = |c: &mut Compiler<'_>| {
        if o.keep_comments && !comment.is_empty() {
            c.add_meta(Meta {
                comment: Some(String::from_utf8_lossy(comment).into_owned()),
                ..Meta::default()
            })
        } else {
            0
        }
    };
    if let Some((wildcard, normalized)) = plain {
        if normalized {
            c.note_normalized();
        }
        let m = meta(c);
        let d = DomainRef { name, wildcard };
        return c.push_domain(d, m, || Some(at(n)));
    }
    match parse_token(token, o.want) {
        Ok(p) => {
            if p.normalized {
                c.note_normalized();
            }
            let m = meta(c);
            c.push(p.value, m, || Some(at(n)));
        }
        Err(skip) => c.skip(skip, || Some(at(n)), &String::from_utf8_lossy(line)),
    }
}

/// Files at least this big are parsed by two threads, one per half.
const PARALLEL_MIN_BYTES: u64 = 8 << 20;

/// Reads one file into `compiler`. A large file is split at a line boundary near its middle
/// and the second half is parsed on another thread into a second compiler, absorbed after the
/// first, so the result (entries, counts and the order of examples) is the same as a serial
/// read.
fn read_file<'a>(
    path: &Path,
    compiler: &mut Compiler<'a>,
    o: LineOptions,
    fresh: impl FnOnce() -> Compiler<'a>,
) -> Result<(), CliError> {
    let name = path.display().to_string();
    let at = |n| format!("{name}:{n}");
    let mut file = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if size < PARALLEL_MIN_BYTES || threads < 2 || !file.metadata().is_ok_and(|m| m.is_file()) {
        let mut buf = String::new();
        return for_each_line(file, |n, l| feed_line(compiler, o, &at, n, l, &mut buf))
            .with_context(|| format!("cannot read {name}"))
            .map_err(CliError::from);
    }
    let mid = line_boundary(&mut file, size / 2).with_context(|| format!("cannot read {name}"))?;
    let mut second = fresh();
    let second_half = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let first_half = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let counter = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let second = std::thread::scope(|s| -> Result<Compiler<'a>, CliError> {
        let name2 = name.clone();
        let handle = s.spawn(move || -> io::Result<Compiler<'a>> {
            // Line numbers of the second half start after the first half's lines, which are
            // counted when an example first needs one (counted before the parse, they held this
            // thread back 4 ms on a 1M-line file; a clean file needs none). A failed count names
            // the file alone.
            let base = std::cell::OnceCell::new();
            let at = |n: u64| match base.get_or_init(|| count_lines((&counter).take(mid)).ok()) {
                Some(b) => format!("{name2}:{}", b + n),
                None => name2.clone(),
            };
            let mut f = second_half;
            f.seek(SeekFrom::Start(mid))?;
            let mut buf = String::new();
            for_each_line(f, |n, l| feed_line(&mut second, o, &at, n, l, &mut buf))?;
            Ok(second)
        });
        let mut buf = String::new();
        for_each_line(first_half.take(mid), |n, l| {
            feed_line(compiler, o, &at, n, l, &mut buf)
        })
        .with_context(|| format!("cannot read {name}"))?;
        match handle.join() {
            Ok(r) => Ok(r.with_context(|| format!("cannot read {name}"))?),
            Err(_) => Err(anyhow::anyhow!("reader thread for {name} panicked").into()),
        }
    })?;
    compiler.absorb(second);
    Ok(())
}

/// The offset just after the first `\n` at or after `from` (or the file size).
fn line_boundary(f: &mut File, from: u64) -> io::Result<u64> {
    f.seek(SeekFrom::Start(from))?;
    let mut buf = [0u8; 64 * 1024];
    let mut pos = from;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(pos);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
}

fn count_lines(mut r: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..k]).count() as u64;
    }
}

/// The process's peak resident memory so far (`VmHWM`), for `EDLFORGE_TIMING`; "?" where
/// `/proc` does not say.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".to_string())
}

/// Runs `convert`.
pub fn run(args: Args) -> Result<(), CliError> {
    let vendor: Vendor = args
        .vendor
        .parse()
        .map_err(|e| usage(format!("--vendor: {e}")))?;
    let want: Option<Kind> = match args.kind.as_str() {
        "auto" => None,
        k => Some(k.parse().map_err(|e| usage(format!("--type: {e}")))?),
    };
    if !proxysg::valid_category(&args.category) {
        return Err(usage(format!(
            "--category {:?}: use letters, digits, '_', '-' or '.' (at most 64)",
            args.category
        )));
    }
    let format = Format::new(
        vendor,
        FormatOptions {
            ranges: args.ranges,
            category: args.category.clone(),
            ..FormatOptions::default()
        },
    );
    let kinds: Vec<Kind> = match want {
        Some(k) => {
            if !format.kinds().contains(&k) {
                return Err(usage(format!(
                    "--vendor {vendor} does not take --type {k}; it takes: {}",
                    format
                        .kinds()
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            vec![k]
        }
        None => {
            if format.one_type_per_list() {
                return Err(usage(format!(
                    "--vendor {vendor} lists hold one type only; pass --type {}",
                    format
                        .kinds()
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join("|")
                )));
            }
            format.kinds().to_vec()
        }
    };
    if args.ranges && !format.accepts_ranges() {
        return Err(usage(format!(
            "--ranges: {vendor} does not accept IP ranges"
        )));
    }
    if args.max_entries == Some(0) {
        return Err(usage("--max-entries must be at least 1"));
    }
    let psl = match &args.psl {
        Some(p) => Arc::new(PublicSuffixes::from_file(p).map_err(anyhow::Error::from)?),
        None => PublicSuffixes::embedded(),
    };
    let guard = Guard::new(psl);

    // Allowlists: same syntax, any type, not guarded.
    let mut allow_values = Vec::new();
    let mut allow_report = Report::default();
    for path in &args.allow {
        let file = File::open(path)
            .with_context(|| format!("cannot open allowlist {}", path.display()))?;
        let name = path.display().to_string();
        for_each_line(file, |n, line| match parse_line(line, None) {
            Ok(Some(p)) => allow_values.push(p.parsed.value),
            Ok(None) => {}
            Err(skip) => allow_report.skip(
                skip,
                || Some(format!("{name}:{n}")),
                &String::from_utf8_lossy(line),
            ),
        })
        .with_context(|| format!("cannot read allowlist {}", path.display()))?;
    }
    if allow_report.count(SkipReason::Invalid) > 0 {
        for e in allow_report.examples(SkipReason::Invalid) {
            errln!(
                "warning: {}: {} ({}); this allowlist entry is ignored",
                e.origin.as_deref().unwrap_or("allowlist"),
                e.value,
                e.detail
            );
        }
    }
    let allow = AllowSet::new(allow_values);

    let policy = ListPolicy {
        name: args.name.clone(),
        kinds,
        max_entries: args.max_entries.or(format.default_max_entries()),
    };
    // EDLFORGE_TIMING=1 prints the time of each phase to stderr (for benchmarks).
    let timing = std::env::var_os("EDLFORGE_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let mut compiler = Compiler::new(policy.clone(), &guard, &format);
    let line_opts = LineOptions {
        want,
        keep_comments: vendor == Vendor::Checkpoint,
    };
    if args.files.is_empty() {
        let mut buf = String::new();
        for_each_line(io::stdin().lock(), |n, l| {
            let at = |n| format!("stdin:{n}");
            feed_line(&mut compiler, line_opts, &at, n, l, &mut buf)
        })
        .context("cannot read standard input")?;
    } else {
        for path in &args.files {
            read_file(path, &mut compiler, line_opts, || {
                Compiler::new(policy.clone(), &guard, &format)
            })?;
        }
    }
    let t1 = std::time::Instant::now();
    let rss_read = timing.then(peak_rss);
    let list = compiler.finish(&allow);
    let t2 = std::time::Instant::now();
    let rss_compile = timing.then(peak_rss);
    // Streamed: the body goes out as it is made, never held whole (a 3M-line list is 32 MB).
    let (entries, written) = out::stream(|w| format.write_to(&list, w));
    written.context("cannot write the list")?;
    if timing {
        errln!(
            "timing: read+parse {:.3}s, compile {:.3}s, render+write {:.3}s; peak RSS after \
             read {}, after compile {}, at the end {}",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            t2.elapsed().as_secs_f64(),
            rss_read.unwrap_or_default(),
            rss_compile.unwrap_or_default(),
            peak_rss()
        );
    }
    let r = &list.report;
    errln!(
        "kept {}; {}; normalized {}, duplicates {}",
        entries,
        r.summary(),
        r.normalized,
        r.duplicates
    );
    if args.verbose {
        for reason in SkipReason::ALL {
            for e in r.examples(reason) {
                errln!(
                    "  {reason}: {}{} ({})",
                    e.origin
                        .as_deref()
                        .map(|o| format!("{o}: "))
                        .unwrap_or_default(),
                    e.value,
                    e.detail
                );
            }
        }
    }
    Ok(())
}
