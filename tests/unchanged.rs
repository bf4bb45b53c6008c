//! `path` sources read again unchanged (`src/pipeline/unchanged.rs`): the daemon skips the
//! parse, and every record, report and stored snapshot is what a parse would have made.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use edlforge::config::Config;
use edlforge::pipeline::{self, FetchMode, FileReads, SourceData, SourceOutcome};
use edlforge::source::http::Fetcher;
use edlforge::store::Store;

/// A JSON feed (one item expires at 2500) and a text feed with lines that are skipped.
const JSON: &str = r#"[
  {"v": "a.example", "exp": 2500},
  {"v": "b.example", "exp": 9000},
  {"v": "c.example"},
  {"v": "not a name"}
]"#;
const TEXT: &str = "d.example\ne.example\nbad name\n10.0.0.1\n";

fn write_config(dir: &Path, data: &str, confidence: u8) -> Config {
    let toml = format!(
        r#"[store]
data_dir = "{data}"
[[source]]
name = "j"
path = "j.json"
format = "json"
value = "v"
expires_field = "exp"
[[source]]
name = "t"
path = "t.txt"
type = "domain"
max_invalid_ratio = 0.9
confidence = {confidence}
[[list]]
name = "all"
vendor = "plain"
types = ["domain"]
"#
    );
    std::fs::write(dir.join("feeds.toml"), toml).unwrap();
    Config::load(&dir.join("feeds.toml")).unwrap()
}

struct Run {
    out: Vec<SourceOutcome>,
    data: SourceData,
}

fn refresh(config: &Config, files: Option<&FileReads>, now: i64) -> Run {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fetcher = Arc::new(Fetcher::new(2));
    let mut store = Store::open(&config.data_dir, Duration::from_secs(30)).unwrap();
    let mut data = pipeline::load_sources(config, &store).unwrap();
    let out = rt
        .block_on(pipeline::refresh_sources(
            config,
            Some(&mut store),
            &mut data,
            fetcher,
            FetchMode::Offline,
            now,
            files,
        ))
        .unwrap();
    Run { out, data }
}

/// What each source holds, as the store reads it back.
fn stored(config: &Config) -> Vec<Vec<edlforge::store::Record>> {
    let store = Store::open(&config.data_dir, Duration::from_secs(30)).unwrap();
    config
        .sources
        .iter()
        .map(|s| store.load(&s.name).unwrap().to_records())
        .collect()
}

#[test]
fn unchanged_files_are_not_parsed_again_and_give_what_a_parse_gives() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("j.json"), JSON).unwrap();
    std::fs::write(d.path().join("t.txt"), TEXT).unwrap();
    // Two stores fed the same files at the same times: one by a process that remembers its
    // reads, one that parses every time (as before).
    let mut remembering = write_config(d.path(), "remembering", 50);
    let mut parsing = write_config(d.path(), "parsing", 50);
    let files = FileReads::default();
    let same = |a: &Run, b: &Run, remembering: &Config, parsing: &Config, at: &str| {
        assert_eq!(a.data, b.data, "{at}: records");
        for (x, y) in a.out.iter().zip(&b.out) {
            assert_eq!(x.status, y.status, "{at}: {}", x.name);
            assert_eq!(x.report, y.report, "{at}: {}", x.name);
            assert_eq!(x.records, y.records, "{at}: {}", x.name);
        }
        assert_eq!(stored(remembering), stored(parsing), "{at}: stored");
    };
    let step = |remembering: &Config, parsing: &Config, files: &FileReads, now, at: &str| {
        let a = refresh(remembering, Some(files), now);
        let b = refresh(parsing, None, now);
        same(&a, &b, remembering, parsing, at);
        a
    };

    let first = step(&remembering, &parsing, &files, 1000, "first read");
    assert_eq!(files.unchanged_reads(), 0);
    assert!(
        first.out[1].report.total_skipped() > 0,
        "the text feed has skips"
    );

    // Read again unchanged, after a.example expired: not parsed; the same as a parse.
    let again = step(&remembering, &parsing, &files, 3000, "unchanged");
    assert_eq!(files.unchanged_reads(), 2);
    assert_eq!(again.data["j"].len(), 2, "a.example expired");

    // The text source's settings change: parsed again; the JSON one is not.
    remembering = write_config(d.path(), "remembering", 60);
    parsing = write_config(d.path(), "parsing", 60);
    step(&remembering, &parsing, &files, 4000, "settings changed");
    assert_eq!(files.unchanged_reads(), 3);

    // The text file changes: parsed again.
    std::fs::write(d.path().join("t.txt"), "d.example\nf.example\n").unwrap();
    step(&remembering, &parsing, &files, 5000, "bytes changed");
    assert_eq!(files.unchanged_reads(), 4);

    // Another run on the same store parsed them (`compile`): this process parses again, once.
    refresh(&remembering, None, 6000);
    refresh(&parsing, None, 6000);
    step(
        &remembering,
        &parsing,
        &files,
        7000,
        "store written by another run",
    );
    assert_eq!(files.unchanged_reads(), 4);
    step(&remembering, &parsing, &files, 8000, "unchanged after that");
    assert_eq!(files.unchanged_reads(), 6);

    // A new process remembers nothing: it parses each file once.
    let fresh = FileReads::default();
    step(&remembering, &parsing, &fresh, 9000, "new process");
    assert_eq!(fresh.unchanged_reads(), 0);
    step(
        &remembering,
        &parsing,
        &fresh,
        9500,
        "new process, unchanged",
    );
    assert_eq!(fresh.unchanged_reads(), 2);

    // A change the gates refuse keeps the last good set; going back to the last accepted bytes
    // is that set read again.
    std::fs::write(d.path().join("t.txt"), "!!!\n@@@\n").unwrap();
    let refused = step(&remembering, &parsing, &fresh, 9600, "refused");
    assert!(
        matches!(refused.out[1].status, pipeline::SourceStatus::Failed { .. }),
        "{:?}",
        refused.out[1].status
    );
    assert_eq!(
        fresh.unchanged_reads(),
        3,
        "the JSON file was read unchanged"
    );
    std::fs::write(d.path().join("t.txt"), "d.example\nf.example\n").unwrap();
    step(
        &remembering,
        &parsing,
        &fresh,
        9700,
        "back to the accepted bytes",
    );
    assert_eq!(fresh.unchanged_reads(), 5);
}

#[test]
fn kept_sets_are_the_stored_ones_and_reload_when_another_run_wrote() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("j.json"), JSON).unwrap();
    std::fs::write(d.path().join("t.txt"), TEXT).unwrap();
    let config = write_config(d.path(), "data", 50);
    let kept = pipeline::KeptSets::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fetcher = Arc::new(Fetcher::new(2));
    let files = FileReads::default();
    // One daemon cycle: load (kept or stored), refresh, keep.
    let cycle = |now| {
        let mut store = Store::open(&config.data_dir, Duration::from_secs(30)).unwrap();
        let mut data = kept.load(&config, &store).unwrap();
        let loaded: Vec<_> = config
            .sources
            .iter()
            .map(|s| store.load(&s.name).unwrap())
            .collect();
        for (s, l) in config.sources.iter().zip(&loaded) {
            assert_eq!(
                &data[&s.name], l,
                "{now}: {} as kept against as stored",
                s.name
            );
        }
        rt.block_on(pipeline::refresh_sources(
            &config,
            Some(&mut store),
            &mut data,
            fetcher.clone(),
            FetchMode::Offline,
            now,
            Some(&files),
        ))
        .unwrap();
        kept.keep(&store, data).unwrap();
    };
    cycle(1000); // nothing stored yet: nothing to load
    assert_eq!(kept.loads(), 0);
    cycle(2000); // the records written by the last cycle are kept, not loaded
    cycle(3000);
    assert_eq!(kept.loads(), 0);
    // Another run writes the store (`compile`): its snapshots are loaded, once.
    refresh(&config, None, 3500);
    cycle(4000);
    assert_eq!(kept.loads(), 2);
    cycle(5000);
    assert_eq!(kept.loads(), 2);
    // A store put back from a backup (the same generation written again): loaded.
    let backup = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        for e in std::fs::read_dir(from.join("sources")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join("sources").join(e.file_name())).unwrap();
        }
    };
    std::fs::create_dir_all(backup.path().join("sources")).unwrap();
    copy(&config.data_dir, backup.path());
    cycle(6000);
    copy(backup.path(), &config.data_dir);
    cycle(7000);
    assert_eq!(kept.loads(), 4);
}
