//! The store as other stages use it: crash safety under `kill -9`, a frozen format-1 store that
//! must stay readable, size checks.
//!
//! The crash test re-runs this test binary as a child process in "writer" mode (selected by an
//! environment variable; without it `crash_writer` does nothing) and kills it with SIGKILL at
//! seeded random moments while it replaces snapshots in a loop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edlforge::indicator::{parse_token, Tlp, Value};
use edlforge::store::{ListMeta, Record, SourceState, Store};

/// Set to a `data_dir` in the child process: `crash_writer` then writes until killed.
const WRITER_ENV: &str = "EDLFORGE_STORE_CRASH_WRITER";
/// Seed of the kill delays; set it to reproduce a failure.
const SEED_ENV: &str = "EDLFORGE_STORE_CRASH_SEED";
const READY: &str = "crash-writer-ready";
const SOURCES: [&str; 3] = ["alpha", "Beta/feed", "gamma ü"];

/// The records of version `v` of source `s`: deterministic, so the checker can rebuild them, and
/// growing with `v`.
fn version_records(s: usize, v: u64) -> Vec<Record> {
    let n = 50 + v * 37 + s as u64 * 11;
    (0..n)
        .map(|i| {
            let value = match i % 3 {
                0 => format!("10.{s}.{}.{}", (i / 256) % 256, i % 256),
                1 => format!("h{i}.v{v}.s{s}.example"),
                _ => format!("http://s{s}.example/{v}/{i}?q=x%20y"),
            };
            Record {
                value: parse_token(value.as_bytes(), None)
                    .expect("generated values parse")
                    .value,
                first_seen: v as i64,
                last_seen: v as i64 + i as i64,
                expires: (i % 5 == 0).then_some(4_000_000_000),
                confidence: Some((i % 101) as u8),
                tlp: (i % 7 == 0).then_some(Tlp::Amber),
                tags: vec![format!("v{v}")],
                comment: (i % 2 == 0).then(|| format!("record {i}\nof version {v}")),
            }
        })
        .collect()
}

/// The state written with version `v`: the cursor names the version, the count its size.
fn version_state(s: usize, v: u64) -> SourceState {
    SourceState {
        etag: Some(format!("\"{v}\"")),
        last_success: Some(v as i64),
        accepted_count: version_records(s, v).len() as u64,
        cursor: Some(format!("v{v}")),
        ..SourceState::default()
    }
}

fn version_of(st: &SourceState) -> u64 {
    st.cursor
        .as_deref()
        .and_then(|c| c.strip_prefix('v'))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("state without a version cursor: {st:?}"))
}

/// Child mode: replace every source with a bigger version, then note an attempt, forever.
#[test]
fn crash_writer() {
    let Some(dir) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let mut store = Store::open(Path::new(&dir), Duration::from_secs(10)).expect("child opens");
    let mut v = 1 + SOURCES
        .iter()
        .filter_map(|s| store.state(s).expect("state reads"))
        .map(|st| version_of(&st))
        .max()
        .unwrap_or(0);
    println!("{READY}");
    loop {
        for (i, s) in SOURCES.iter().enumerate() {
            store
                .replace(s, &version_records(i, v), &version_state(i, v))
                .expect("replace");
            let mut st = version_state(i, v);
            st.last_attempt = Some(v as i64);
            store.set_state(s, &st).expect("set_state");
        }
        v += 1;
    }
}

/// Checks every source is one complete version, and returns the versions.
fn check_store(dir: &Path) -> Vec<u64> {
    let t = Instant::now();
    // A lock left held by the killed writer would wait out the whole 30 s and fail; the bound
    // is loose because a loaded machine is slow.
    let store = Store::open(dir, Duration::from_secs(30)).expect("store opens after kill -9");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the killed writer's lock blocked for {:?}",
        t.elapsed()
    );
    let mut versions = Vec::new();
    for (i, s) in SOURCES.iter().enumerate() {
        let records = store.records(s).expect("records read");
        let Some(st) = store.state(s).expect("state reads") else {
            assert!(records.is_empty(), "{s}: records without state");
            versions.push(0);
            continue;
        };
        let v = version_of(&st);
        assert_eq!(st.accepted_count, records.len() as u64, "{s} v{v}: count");
        assert_eq!(st.etag, version_state(i, v).etag, "{s} v{v}: state mix");
        assert!(
            records == version_records(i, v),
            "{s}: the records are not version {v}"
        );
        versions.push(v);
    }
    versions
}

#[test]
fn kill_9_never_loses_or_mixes_a_snapshot() {
    let seed: u64 = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_ed1f);
    let mut rng = seed;
    let mut next = move || {
        // xorshift64
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let exe = std::env::current_exe().expect("test binary path");
    let mut last = vec![0u64; SOURCES.len()];
    for round in 0..5 {
        let mut child = Command::new(&exe)
            .args(["store::crash_writer", "--exact", "--nocapture", "--quiet"])
            .env(WRITER_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().expect("piped");
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l == READY);
        assert!(ready, "round {round}: the writer never got ready");
        let delay = Duration::from_millis(30 + next() % 400);
        std::thread::sleep(delay);
        assert!(
            child.try_wait().expect("child status").is_none(),
            "round {round}: the writer died by itself"
        );
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let mid_write = std::fs::read_dir(dir.join("sources"))
            .expect("sources/ exists")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
        let versions = check_store(&dir);
        eprintln!(
            "seed {seed:#x} round {round}: killed after {delay:?}{}, versions {versions:?}",
            if mid_write { " in mid-write" } else { "" }
        );
        for (s, (&now, &before)) in versions.iter().zip(&last).enumerate() {
            assert!(
                now >= before,
                "{}: went back from v{before} to v{now}",
                SOURCES[s]
            );
        }
        last = versions;
    }
    assert!(
        last.iter().all(|v| *v > 1),
        "the writer made too little progress to test anything: {last:?}"
    );
}

fn mixed_records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let text = match i % 10 {
                0..=5 => format!(
                    "{}.{}.{}.{}",
                    1 + i % 223,
                    (i >> 8) % 256,
                    (i >> 16) % 256,
                    i % 256
                ),
                6 | 7 => format!("host{i}.example{}.com", i % 97),
                8 => format!("https://site{}.example/p/{i}?id={i}", i % 1000),
                _ => format!("{i:032x}"),
            };
            Record {
                value: parse_token(text.as_bytes(), None)
                    .expect("generated values parse")
                    .value,
                first_seen: 1_700_000_000 + (i % 86_400) as i64,
                last_seen: 1_700_100_000,
                expires: None,
                confidence: (i % 4 == 0).then_some(80),
                tlp: None,
                tags: Vec::new(),
                comment: (i % 8 == 0).then(|| "SBL123".to_string()),
            }
        })
        .collect()
}

#[test]
fn two_hundred_thousand_records_round_trip() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(tmp.path(), Duration::ZERO).expect("opens");
    let records = mixed_records(200_000);
    let state = SourceState {
        accepted_count: records.len() as u64,
        ..SourceState::default()
    };
    store.replace("big", &records, &state).expect("replace");
    let back = store.records("big").expect("records");
    assert!(back == records, "200k records did not round-trip");
    let mut streamed = 0;
    for r in store.read_records("big").expect("reader") {
        r.expect("record");
        streamed += 1;
    }
    assert_eq!(streamed, records.len());
    let size = std::fs::metadata(tmp.path().join("sources/big.snap"))
        .expect("snapshot exists")
        .len();
    eprintln!(
        "200k mixed records: {size} bytes on disk ({:.1} bytes/record)",
        size as f64 / records.len() as f64
    );
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store/v1")
}

fn fixture_records() -> Vec<Record> {
    let v = |s: &str| -> Value { parse_token(s.as_bytes(), None).expect("parses").value };
    vec![
        Record {
            value: v("1.2.3.4"),
            first_seen: 1_700_000_000,
            last_seen: 1_700_003_600,
            expires: Some(1_800_000_000),
            confidence: Some(90),
            tlp: Some(Tlp::AmberStrict),
            tags: vec!["c2".into(), "botnet".into()],
            comment: Some("line one\nline two".into()),
        },
        Record {
            value: v("2001:db8::/32"),
            first_seen: -5,
            last_seen: 0,
            expires: None,
            confidence: None,
            tlp: None,
            tags: vec![],
            comment: None,
        },
        Record {
            value: v("*.xn--bcher-kva.example"),
            first_seen: 1,
            last_seen: 2,
            expires: None,
            confidence: Some(0),
            tlp: Some(Tlp::Clear),
            tags: vec!["ünïcode".into(), String::new()],
            comment: Some("nul\0inside".into()),
        },
        Record {
            value: v("https://evil.example/a?b=c"),
            first_seen: 3,
            last_seen: 3,
            expires: Some(4),
            confidence: Some(100),
            tlp: Some(Tlp::Red),
            tags: vec![],
            comment: None,
        },
        Record {
            value: v("d41d8cd98f00b204e9800998ecf8427e"),
            first_seen: 7,
            last_seen: 8,
            expires: None,
            confidence: None,
            tlp: Some(Tlp::Green),
            tags: vec![],
            comment: Some(String::new()),
        },
    ]
}

fn fixture_state() -> SourceState {
    SourceState {
        etag: Some("W/\"5e-1\"".into()),
        last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        last_attempt: Some(1_700_003_600),
        last_success: Some(1_700_003_600),
        last_error: None,
        last_error_reason: None,
        accepted_count: 5,
        cursor: Some("2023-11-14T22:13:20Z".into()),
    }
}

fn fixture_newer_state() -> SourceState {
    SourceState {
        last_attempt: Some(1_700_007_200),
        last_error: Some("body is HTML, not a list".into()),
        last_error_reason: Some("html".into()),
        ..fixture_state()
    }
}

fn fixture_list() -> (Vec<u8>, ListMeta) {
    (
        b"1.2.3.4\n2001:db8::/32\n".to_vec(),
        ListMeta {
            entries: 2,
            compiled_at: 1_700_003_601,
            changed_at: 1_700_000_001,
            etag: "\"list-1\"".into(),
        },
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// Writes the format-1 fixture with today's code. Run once (`EDLFORGE_BLESS=1`) when the format
/// was created; never again, since the point is that old bytes stay readable.
fn bless_fixture(dir: &Path) {
    let mut store = Store::open(dir, Duration::ZERO).expect("opens");
    store
        .replace("abuse.ch", &fixture_records(), &fixture_state())
        .expect("replace");
    store
        .replace(
            "Mixed Case/../feed",
            &fixture_records()[..2],
            &fixture_state(),
        )
        .expect("replace");
    store
        .set_state("Mixed Case/../feed", &fixture_newer_state())
        .expect("set_state");
    store
        .set_state("never fetched", &fixture_newer_state())
        .expect("set_state");
    let (body, meta) = fixture_list();
    store.save_list("pa-ips", &body, &meta).expect("save_list");
    drop(store);
    std::fs::remove_file(dir.join("lock")).expect("no lock file in the fixture");
}

// A store written by the first release of the format: every later edlforge must read it (and
// migrate it to the current format).
#[test]
fn fixture_v1_still_reads() {
    let fixture = fixture_dir();
    if !fixture.exists() && std::env::var_os("EDLFORGE_BLESS").is_some() {
        bless_fixture(&fixture);
    }
    assert!(
        fixture.join("VERSION").exists(),
        "{} is missing (EDLFORGE_BLESS=1 creates it once)",
        fixture.display()
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture, tmp.path());
    let store = Store::open(tmp.path(), Duration::ZERO).expect("a v1 store opens");
    assert_eq!(
        store.sources().expect("sources"),
        ["Mixed Case/../feed", "abuse.ch", "never fetched"]
    );
    assert_eq!(store.records("abuse.ch").expect("reads"), fixture_records());
    assert_eq!(
        store.state("abuse.ch").expect("reads"),
        Some(fixture_state())
    );
    assert_eq!(
        store.records("Mixed Case/../feed").expect("reads"),
        fixture_records()[..2]
    );
    assert_eq!(
        store.state("Mixed Case/../feed").expect("reads"),
        Some(fixture_newer_state())
    );
    assert!(store.records("never fetched").expect("reads").is_empty());
    assert_eq!(
        store.state("never fetched").expect("reads"),
        Some(fixture_newer_state())
    );
    assert_eq!(store.lists().expect("lists"), ["pa-ips"]);
    assert_eq!(
        store.load_list("pa-ips").expect("reads"),
        Some(fixture_list())
    );

    // Migration to format 2: VERSION is raised on open, format-1 snapshots load as record sets,
    // and a replace writes format 2 beside the format-1 files, all readable.
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("VERSION")).expect("VERSION"),
        "2\n"
    );
    let mut sorted = fixture_records();
    sorted.sort_by(|a, b| a.value.cmp(&b.value));
    assert_eq!(store.load("abuse.ch").expect("loads").to_records(), sorted);
    let mut store = store;
    let set = store.load("abuse.ch").expect("loads");
    store
        .replace_set("abuse.ch", &set, &fixture_state())
        .expect("replace in format 2");
    drop(store);
    let store = Store::open(tmp.path(), Duration::ZERO).expect("reopens");
    assert_eq!(store.records("abuse.ch").expect("reads"), sorted);
    assert_eq!(store.load("abuse.ch").expect("loads"), set);
    assert_eq!(
        store
            .records("Mixed Case/../feed")
            .expect("format 1 beside format 2"),
        fixture_records()[..2]
    );
    let snap = std::fs::read(tmp.path().join("sources/abuse.ch.snap")).expect("snapshot");
    assert_eq!(snap[8..12], 2u32.to_le_bytes(), "written in format 2");
}

/// Peak RSS of this process since the last reset, in MiB (Linux).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn current_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets the peak RSS counter (Linux ≥ 4.0).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Measures 10M records. Run in release mode:
/// `cargo test --release --test tests store::ten_million -- --ignored --nocapture`
/// (`EDLFORGE_STORE_PERF_N` changes the count).
#[test]
#[ignore = "measurement, minutes in debug builds"]
fn ten_million_records_perf() {
    let n: usize = std::env::var("EDLFORGE_STORE_PERF_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(tmp.path(), Duration::ZERO).expect("opens");
    eprintln!(
        "size_of::<Record>() = {} bytes",
        std::mem::size_of::<Record>()
    );
    for (label, all_ipv4) in [("IPv4 only", true), ("mixed 60/20/10/10", false)] {
        let records: Vec<Record> = if all_ipv4 {
            (0..n)
                .map(|i| Record {
                    value: Value::Ip(edlforge::indicator::IpRange::V4 {
                        start: 0x0b00_0000 + i as u32,
                        end: 0x0b00_0000 + i as u32,
                    }),
                    first_seen: 1_700_000_000,
                    last_seen: 1_700_100_000,
                    expires: None,
                    confidence: None,
                    tlp: None,
                    tags: Vec::new(),
                    comment: None,
                })
                .collect()
        } else {
            mixed_records(n)
        };
        let state = SourceState::default();
        let base = current_rss_mib();
        reset_peak_rss();
        let t = Instant::now();
        store.replace("perf", &records, &state).expect("replace");
        let write = t.elapsed();
        let write_peak = peak_rss_mib() - base;
        let size = std::fs::metadata(tmp.path().join("sources/perf.snap"))
            .expect("snapshot")
            .len();
        drop(records);

        let base = current_rss_mib();
        reset_peak_rss();
        let t = Instant::now();
        let back = store.records("perf").expect("records");
        let read = t.elapsed();
        let read_peak = peak_rss_mib() - base;
        assert_eq!(back.len(), n);
        drop(back);

        let base = current_rss_mib();
        reset_peak_rss();
        let t = Instant::now();
        let mut count = 0usize;
        for r in store.read_records("perf").expect("reader") {
            r.expect("record");
            count += 1;
        }
        let stream = t.elapsed();
        let stream_peak = peak_rss_mib() - base;
        assert_eq!(count, n);
        eprintln!(
            "{label}: {n} records, {:.0} MiB on disk ({:.1} B/record)\n  \
             replace  {write:>8.2?}  (+{write_peak:.0} MiB peak RSS above the input)\n  \
             records  {read:>8.2?}  (+{read_peak:.0} MiB peak RSS, the Vec<Record> included)\n  \
             streamed {stream:>8.2?}  (+{stream_peak:.0} MiB peak RSS)",
            size as f64 / (1 << 20) as f64,
            size as f64 / n as f64,
        );
    }
}
