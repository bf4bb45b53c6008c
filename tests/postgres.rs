//! Scale-out on PostgreSQL (issue 13): `--data-dir`, `[store] backend`/`url`, and the
//! PostgreSQL backend against a real server: migrations once under concurrency, one leader with
//! takeover and fencing, publishes followed with `LISTEN` and caught up by version.
//!
//! Every database test makes its own throwaway cluster (`support::postgres`). Without the
//! PostgreSQL server binaries (found by `build.rs`: `has_postgres`) they are reported as
//! ignored with the reason; with `EDLFORGE_REQUIRE_ORACLES` set (CI),
//! `postgres_binaries_are_present` then fails. Waits are bounded polls: the bounds are for
//! failure, not speed (measured times are printed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edlforge::config::{Backend, Config, LoadError};
use edlforge::store::postgres::{Leadership, ListVersion, PgError, PgStore, Publish};
use edlforge::store::{ListMeta, SourceState};

use crate::support::postgres::Cluster;
use crate::support::serve::Serve;

// ---------------------------------------------------------------------------------------------
// `--data-dir`

const FILE_CONFIG: &str = r#"[store]
data_dir = "./data"

[server]
tls = "off"

[[source]]
name = "block"
path = "lists/block.txt"

[[list]]
name = "pa"
vendor = "plain"
sources = ["block"]
"#;

pub(crate) fn site(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lists")).unwrap();
    std::fs::write(
        dir.path().join("lists/block.txt"),
        "45.137.21.9\n91.92.242.0/24\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("feeds.toml"), config).unwrap();
    dir
}

/// Polls `f` every 50 ms until it returns `Some`, failing after `limit` with `what`.
pub(crate) fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn compile_data_dir_overrides_the_config() {
    let dir = site(FILE_CONFIG);
    let out = Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .current_dir(dir.path())
        .args([
            "compile",
            "--config",
            "feeds.toml",
            "--offline",
            "--data-dir",
            "replica-1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("replica-1/lists/pa.list").is_file(),
        "the store is under --data-dir"
    );
    assert!(
        dir.path().join("replica-1/sources/block.snap").is_file(),
        "the source snapshot is under --data-dir"
    );
    assert!(
        !dir.path().join("data").exists(),
        "[store] data_dir was not used"
    );
    // `plan` takes the flag too and reads the same store: nothing new (a fresh store would
    // show the source's records as added, +2).
    let out = Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .current_dir(dir.path())
        .args(["plan", "--offline", "--data-dir", "replica-1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("updated (+0 -0)"), "{text}");
    assert!(text.contains("pa (plain): 2 entries, +0 -0"), "{text}");
}

#[test]
fn serve_data_dir_overrides_the_config_and_survives_a_reload() {
    let dir = site(FILE_CONFIG);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edlforge"));
    cmd.current_dir(dir.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        "replica-2",
    ]);
    let srv = Serve::spawn(cmd);
    let addr = srv
        .base
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("expected http://, got {}", srv.base))
        .to_string();
    let limit = Duration::from_secs(60);
    wait_for("replica-2/lists/pa.list", limit, || {
        dir.path()
            .join("replica-2/lists/pa.list")
            .is_file()
            .then_some(())
    });
    // A reload keeps --data-dir: a list added to feeds.toml is stored beside the first.
    let more = format!(
        "{FILE_CONFIG}\n[[list]]\nname = \"pa2\"\nvendor = \"plain\"\nsources = [\"block\"]\n"
    );
    let tmp = dir.path().join("feeds.toml.tmp");
    std::fs::write(&tmp, more).unwrap();
    std::fs::rename(&tmp, dir.path().join("feeds.toml")).unwrap();
    wait_for("replica-2/lists/pa2.list after the reload", limit, || {
        dir.path()
            .join("replica-2/lists/pa2.list")
            .is_file()
            .then_some(())
    });
    assert!(
        !dir.path().join("data").exists(),
        "[store] data_dir was not used"
    );
    // With the embedded store the one process leads: status.json and /metrics say so.
    let status = http_get(&addr, "/status.json");
    assert!(status.contains("\"role\": \"leader\""), "{status}");
    let metrics = http_get(&addr, "/metrics");
    assert!(metrics.contains("\nedlforge_leader 1\n"), "{metrics}");
}

/// A plain HTTP/1.0 GET on the loopback server; the whole response as text, empty when the
/// server cannot be reached (a replica being killed or restarted: the callers poll or assert).
pub(crate) fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    if write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// `[store] backend` and `url`

fn errors(text: &str) -> String {
    match Config::from_text(text, Path::new("feeds.toml")) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(LoadError::Invalid(errs)) => errs.iter().map(|e| format!("{e}\n")).collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn store_backend_and_url_are_checked() {
    let e = errors("[store]\nbackend = \"postgres\"\n");
    assert!(
        e.contains("feeds.toml:2:11: store.backend: backend = \"postgres\" needs url"),
        "{e}"
    );
    let e = errors("[store]\nbackend = \"postgres\"\nurl = \"postgresql://edl:hunter2@db/edl\"\n");
    assert!(
        e.contains("feeds.toml:3:7: store.url: secrets never sit in feeds.toml in clear"),
        "{e}"
    );
    let e = errors("[store]\nbackend = \"mysql\"\n");
    assert!(
        e.contains(
            "store.backend: unknown backend \"mysql\": expected \"embedded\" or \"postgres\""
        ),
        "{e}"
    );
    let e = errors("[store]\nurl = \"${env:EDLFORGE_TEST_PG_URL_UNUSED}\"\n");
    assert!(
        e.contains("store.url: url is only used with backend = \"postgres\""),
        "{e}"
    );
    let e = errors(
        "[store]\nbackend = \"postgres\"\nurl = \"${env:EDLFORGE_TEST_PG_URL_NEVER_SET}\"\n",
    );
    assert!(
        e.contains("store.url: environment variable EDLFORGE_TEST_PG_URL_NEVER_SET is not set"),
        "{e}"
    );

    // SAFETY: set before any thread of this test reads the environment; the name is unique.
    unsafe { std::env::set_var("EDLFORGE_TEST_PG_URL", "postgresql://edl:hunter2@db/edl") };
    let c = Config::from_text(
        "[store]\nbackend = \"postgres\"\nurl = \"${env:EDLFORGE_TEST_PG_URL}\"\n",
        Path::new("feeds.toml"),
    )
    .unwrap();
    assert_eq!(
        c.backend,
        Backend::Postgres {
            url: "postgresql://edl:hunter2@db/edl".into()
        }
    );
    assert!(
        !format!("{c:?}").contains("hunter2"),
        "Debug of the config hides the URL"
    );
    // `serve` runs on it (one leader, followers: see the replica tests below).
    assert!(c.serve_errors.is_empty(), "{:?}", c.serve_errors);
    let c = Config::from_text("", Path::new("feeds.toml")).unwrap();
    assert_eq!(c.backend, Backend::Embedded);
}

// ---------------------------------------------------------------------------------------------
// The PostgreSQL backend

#[test]
#[cfg_attr(
    not(require_oracles),
    ignore = "EDLFORGE_REQUIRE_ORACLES is not set: PostgreSQL tests are ignored when the binaries are missing"
)]
fn postgres_binaries_are_present() {
    // One entry per tool, as main's `oracles_are_present` keeps them.
    let tools = [(
        cfg!(has_postgres),
        "PostgreSQL server binaries (tests/postgres.rs): apt-get install postgresql (then touch build.rs), or set EDLFORGE_PG_BIN",
    )];
    let missing: Vec<&str> = tools.iter().filter(|(f, _)| !f).map(|(_, w)| *w).collect();
    assert!(
        missing.is_empty(),
        "EDLFORGE_REQUIRE_ORACLES is set but build.rs did not find: {missing:#?}"
    );
}

/// A current-thread-free runtime for the database tests (the tests block on processes too).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `e` with its chain of causes, for a panic message.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

pub(crate) async fn connect(url: &str) -> PgStore {
    match PgStore::connect(url).await {
        Ok((s, _)) => s,
        Err(e) => panic!("{}", chain(&e)),
    }
}

fn meta(etag: &str, entries: u64) -> ListMeta {
    ListMeta {
        entries,
        compiled_at: 1_765_000_000,
        changed_at: 1_765_000_000,
        etag: etag.into(),
    }
}

async fn publish(
    store: &PgStore,
    lead: &Leadership,
    name: &str,
    body: &str,
) -> Result<i64, PgError> {
    let drops = BTreeMap::from([("guarded".to_string(), 2u64)]);
    let m = meta(
        &format!("\"{name}-{}\"", body.len()),
        body.lines().count() as u64,
    );
    store
        .publish(
            lead.fence(),
            Publish {
                name,
                body: body.as_bytes(),
                gzip: Some(b"\x1f\x8bgz"),
                meta: &m,
                drops: &drops,
            },
        )
        .await
}

/// Polls the leader lock until `store` leads, failing after [`LIMIT`].
pub(crate) async fn lead(store: &PgStore, holder: &str) -> Leadership {
    lead_within(store, holder, LIMIT).await.0
}

/// Polls the leader lock until `store` leads, failing after `limit`.
async fn lead_within(store: &PgStore, holder: &str, limit: Duration) -> (Leadership, Duration) {
    let t = Instant::now();
    loop {
        match store.try_lead(holder).await {
            Ok(Some(l)) => return (l, t.elapsed()),
            Ok(None) => {}
            Err(e) => panic!("{}", chain(&e)),
        }
        assert!(
            t.elapsed() < limit,
            "{holder} did not lead within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn next_within(f: &mut edlforge::store::postgres::Follower, limit: Duration) -> ListVersion {
    match tokio::time::timeout(limit, f.next()).await {
        Ok(Some(l)) => l,
        Ok(None) => panic!("the follower stopped"),
        Err(_) => panic!("no list version within {limit:?}"),
    }
}

pub(crate) const LIMIT: Duration = Duration::from_secs(60);

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn replicas_starting_together_migrate_once() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let rt = runtime();
    let results = rt.block_on(async {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let url = url.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                PgStore::connect(&url).await.map(|(_, m)| m)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let all: Vec<i32> = (1..=edlforge::store::postgres::SCHEMA_VERSION).collect();
    let mut applied = Vec::new();
    for r in &results {
        match r {
            Ok(m) => {
                assert_eq!(m.version, edlforge::store::postgres::SCHEMA_VERSION);
                applied.push(m.applied.clone());
            }
            Err(e) => panic!("a migrator failed: {}\n{}", chain(e), pg.log()),
        }
    }
    assert_eq!(
        applied.iter().filter(|a| **a == all).count(),
        1,
        "exactly one migrator applied everything: {applied:?}"
    );
    assert_eq!(
        applied.iter().filter(|a| a.is_empty()).count(),
        3,
        "the others found nothing to do: {applied:?}"
    );
    assert_eq!(
        pg.sql("edl", "SELECT count(*) FROM edlforge_migrations"),
        all.len().to_string()
    );
    // A database migrated by a newer edlforge is refused, not written to.
    pg.sql(
        "edl",
        "INSERT INTO edlforge_migrations (version, description) VALUES (999, 'from the future')",
    );
    let e = rt.block_on(PgStore::connect(&url)).unwrap_err();
    assert!(
        matches!(e, PgError::NewerSchema { found: 999, .. }),
        "{}",
        chain(&e)
    );
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn one_leader_and_a_terminated_leader_is_replaced_and_fenced() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let rt = runtime();
    rt.block_on(async {
        let a = connect(&url).await;
        let b = connect(&url).await;
        let (lead_a, _) = lead_within(&a, "replica-a", LIMIT).await;
        assert!(lead_a.is_held());
        assert!(
            b.try_lead("replica-b").await.unwrap().is_none(),
            "a second contender does not lead while the first holds the lock"
        );
        let gen_a = lead_a.fence().generation();
        assert_eq!(b.leader().await.unwrap(), (gen_a, "replica-a".to_string()));
        assert_eq!(publish(&a, &lead_a, "pa", "192.0.2.1\n").await.unwrap(), 1);
        let mut follower = b.follow(BTreeMap::new());
        assert_eq!(next_within(&mut follower, LIMIT).await.version, 1);
        wait_listening(&pg, 1);

        // The server ends the leader's session: the leader knows, the other takes over.
        let t = Instant::now();
        pg.sql(
            "postgres",
            &format!("SELECT pg_terminate_backend({})", lead_a.backend_pid()),
        );
        tokio::time::timeout(LIMIT, lead_a.lost())
            .await
            .expect("the old leader notices it lost its session");
        let noticed = t.elapsed();
        assert!(!lead_a.is_held());
        let (lead_b, waited) = lead_within(&b, "replica-b", LIMIT).await;
        eprintln!(
            "leader session terminated: old leader noticed after {noticed:?}, new leader after {:?}",
            t.elapsed().max(waited)
        );
        assert_eq!(lead_b.fence().generation(), gen_a + 1);

        // The old leader's writes are refused by the fence, in the database.
        let e = publish(&a, &lead_a, "pa", "185.220.101.9\n").await.unwrap_err();
        assert!(
            matches!(e, PgError::Fenced { mine, current } if mine == gen_a && current == gen_a + 1),
            "{}",
            chain(&e)
        );
        let e = a
            .set_state(lead_a.fence(), "block", &SourceState::default())
            .await
            .unwrap_err();
        assert!(matches!(e, PgError::Fenced { .. }), "{}", chain(&e));
        // Nothing of it was written, nor announced: version 1 is still the newest.
        assert!(
            tokio::time::timeout(Duration::from_secs(1), follower.next())
                .await
                .is_err(),
            "a refused publish notifies nobody"
        );
        let stored = b.list("pa").await.unwrap().unwrap();
        assert_eq!((stored.version, stored.body.as_slice()), (1, &b"192.0.2.1\n"[..]));
        // The new leader writes.
        assert_eq!(publish(&b, &lead_b, "pa", "185.220.101.7\n").await.unwrap(), 2);
        let got = next_within(&mut follower, LIMIT).await;
        assert_eq!((got.version, got.body.as_slice()), (2, &b"185.220.101.7\n"[..]));
        let stored = a.list("pa").await.unwrap().unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(stored.generation, gen_a + 1);
    });
}

/// Not a test on its own: the leader process of
/// `a_killed_leader_process_is_replaced`, run as a child of it (`EDLFORGE_PG_HELPER_URL`).
#[test]
#[ignore = "helper process for a_killed_leader_process_is_replaced"]
fn leader_helper_process() {
    let url = std::env::var("EDLFORGE_PG_HELPER_URL").expect("run by its parent test");
    runtime().block_on(async {
        let store = connect(&url).await;
        let (lead, _) = lead_within(&store, "helper", LIMIT).await;
        println!("LEADING {}", lead.fence().generation());
        // Until killed by the parent (bounded, should the parent die first).
        tokio::time::sleep(Duration::from_secs(300)).await;
    });
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn a_killed_leader_process_is_replaced() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "postgres::leader_helper_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EDLFORGE_PG_HELPER_URL", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut child = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest may print "test <name> ... " on the same line first.
            if let Some(g) = line.split("LEADING ").nth(1) {
                let _ = tx.send(g.trim().parse::<i64>().unwrap_or(-1));
            }
        }
    });
    let helper_gen = rx.recv_timeout(LIMIT).expect("the helper process leads");
    let rt = runtime();
    rt.block_on(async {
        let b = connect(&url).await;
        assert!(
            b.try_lead("replica-b").await.unwrap().is_none(),
            "the helper process holds the lock"
        );
        assert_eq!(
            b.leader().await.unwrap(),
            (helper_gen, "helper".to_string())
        );
        // kill -9: no goodbye to the server; the socket closes with the process.
        let t = Instant::now();
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let (lead_b, _) = lead_within(&b, "replica-b", LIMIT).await;
        eprintln!("leader process killed: takeover after {:?}", t.elapsed());
        assert_eq!(lead_b.fence().generation(), helper_gen + 1);
    });
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn a_publish_reaches_a_follower_and_a_reconnected_follower_catches_up() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let rt = runtime();
    rt.block_on(async {
        let leader_store = connect(&url).await;
        let replica = connect(&url).await;
        let (lead, _) = lead_within(&leader_store, "leader", LIMIT).await;

        // Published before the follower starts: the first catch-up delivers it.
        assert_eq!(publish(&leader_store, &lead, "pa", "192.0.2.1\n").await.unwrap(), 1);
        let mut f = replica.follow(BTreeMap::new());
        let got = next_within(&mut f, LIMIT).await;
        assert_eq!((got.name.as_str(), got.version), ("pa", 1));
        assert_eq!(got.body, b"192.0.2.1\n");
        assert_eq!(got.gzip.as_deref(), Some(&b"\x1f\x8bgz"[..]));
        assert_eq!(got.meta, meta("\"pa-10\"", 1));
        assert_eq!(got.drops, BTreeMap::from([("guarded".to_string(), 2)]));

        // A publish while following arrives by NOTIFY.
        wait_listening(&pg, 1);
        let t = Instant::now();
        assert_eq!(publish(&leader_store, &lead, "pa", "192.0.2.1\n192.0.2.2\n").await.unwrap(), 2);
        let got = next_within(&mut f, LIMIT).await;
        eprintln!("publish to follower: {:?}", t.elapsed());
        assert_eq!((got.name.as_str(), got.version), ("pa", 2));
        assert_eq!(got.body, b"192.0.2.1\n192.0.2.2\n");

        // The follower's session is ended; what is published meanwhile arrives after its
        // reconnect (by catch-up or by NOTIFY, whichever comes first), nothing twice.
        pg.sql(
            "postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'edlforge-follower'",
        );
        assert_eq!(publish(&leader_store, &lead, "pa", "203.0.113.3\n").await.unwrap(), 3);
        assert_eq!(publish(&leader_store, &lead, "fmc", "203.0.113.4\n").await.unwrap(), 1);
        let first = next_within(&mut f, LIMIT).await;
        let second = next_within(&mut f, LIMIT).await;
        let mut got = [first, second];
        got.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            got.iter().map(|l| (l.name.as_str(), l.version)).collect::<Vec<_>>(),
            [("fmc", 1), ("pa", 3)]
        );
        assert!(f.sessions() >= 2, "the follower reconnected: {}", f.sessions());
        assert!(
            tokio::time::timeout(Duration::from_millis(500), f.next()).await.is_err(),
            "nothing is delivered twice"
        );

        // A replica restarted with versions from its cache gets only what is newer.
        drop(f);
        assert_eq!(publish(&leader_store, &lead, "pa", "203.0.113.5\n").await.unwrap(), 4);
        let known = BTreeMap::from([("pa".to_string(), 3), ("fmc".to_string(), 1)]);
        let mut f = replica.follow(known);
        let got = next_within(&mut f, LIMIT).await;
        assert_eq!((got.name.as_str(), got.version), ("pa", 4));
        assert_eq!(got.body, b"203.0.113.5\n");
        // Old versions are trimmed to the newest two.
        assert_eq!(pg.sql("edl", "SELECT string_agg(version::text, ',' ORDER BY version) FROM edlforge_lists WHERE name = 'pa'"), "3,4");
    });
}

/// Waits until `n` follower sessions listen (so a publish is not raced by the first catch-up).
fn wait_listening(pg: &Cluster, n: usize) {
    wait_for("a listening follower", LIMIT, || {
        let c = pg.sql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'edlforge-follower'",
        );
        (c.parse::<usize>().ok()? >= n).then_some(())
    });
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn source_state_round_trips_under_the_fence() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    runtime().block_on(async {
        let s = connect(&url).await;
        let (lead, _) = lead_within(&s, "leader", LIMIT).await;
        assert_eq!(s.state("spamhaus").await.unwrap(), None);
        let state = SourceState {
            etag: Some("\"abc\"".into()),
            last_modified: Some("Mon, 07 Dec 2026 09:00:00 GMT".into()),
            last_attempt: Some(1_765_000_100),
            last_success: Some(1_765_000_000),
            last_error: Some("body is HTML, not a list".into()),
            last_error_reason: Some("html".into()),
            accepted_count: 1234,
            cursor: Some("2026-12-07T09:00:00.000000Z".into()),
        };
        s.set_state(lead.fence(), "spamhaus", &state).await.unwrap();
        assert_eq!(s.state("spamhaus").await.unwrap(), Some(state.clone()));
        let newer = SourceState {
            accepted_count: 7,
            ..SourceState::default()
        };
        s.set_state(lead.fence(), "spamhaus", &newer).await.unwrap();
        assert_eq!(s.state("spamhaus").await.unwrap(), Some(newer));
    });
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn after_the_database_restarts_leadership_and_following_resume() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    runtime().block_on(async {
        let leader_store = connect(&url).await;
        let replica = connect(&url).await;
        let (lead, _) = lead_within(&leader_store, "leader", LIMIT).await;
        assert_eq!(
            publish(&leader_store, &lead, "pa", "45.137.21.9\n")
                .await
                .unwrap(),
            1
        );
        let mut f = replica.follow(BTreeMap::new());
        assert_eq!(next_within(&mut f, LIMIT).await.version, 1);

        // The server stops: the leader's session ends with it, and the leader knows.
        pg.stop();
        tokio::time::timeout(LIMIT, lead.lost())
            .await
            .expect("the leader notices the database went away");
        let gen = lead.fence().generation();
        drop(lead);
        pg.restart();

        // Leadership is contended again (a new generation), and the follower, reconnected,
        // receives what the new leader publishes.
        let (lead, _) = lead_within(&leader_store, "leader", LIMIT).await;
        assert_eq!(lead.fence().generation(), gen + 1);
        assert_eq!(
            publish(&leader_store, &lead, "pa", "91.92.242.17\n")
                .await
                .unwrap(),
            2
        );
        let got = next_within(&mut f, LIMIT).await;
        assert_eq!(
            (got.version, got.body.as_slice()),
            (2, &b"91.92.242.17\n"[..])
        );
        assert!(
            f.sessions() >= 2,
            "the follower reconnected: {}",
            f.sessions()
        );
    });
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn contenders_settle_on_one_leader_and_hand_over() {
    use edlforge::store::postgres::{Contender, Role};
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    runtime().block_on(async {
        let mut replicas = Vec::new();
        for i in 0..3 {
            let s = connect(&url).await;
            let c = s.contend(format!("replica-{i}"));
            replicas.push((s, c));
        }
        let leaders = |rs: &[(PgStore, Contender)]| -> Vec<(usize, i64)> {
            rs.iter()
                .enumerate()
                .filter_map(|(i, (_, c))| match c.role() {
                    Role::Leader(f) => Some((i, f.generation())),
                    Role::Follower => None,
                })
                .collect()
        };
        let t = Instant::now();
        let first = loop {
            let l = leaders(&replicas);
            if l.len() == 1 {
                break l[0];
            }
            assert!(l.len() <= 1, "two leaders at once: {l:?}");
            assert!(t.elapsed() < LIMIT, "no leader within {LIMIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // A few contention rounds later, still the same single leader.
        tokio::time::sleep(edlforge::store::postgres::CONTEND_EVERY * 3).await;
        assert_eq!(leaders(&replicas), [first]);

        // The server ends the leader's session: another contender leads with the next
        // generation, and the old one follows.
        let t = Instant::now();
        pg.sql(
            "postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = 2 AND classid = 1701080166",
        );
        let second = loop {
            let l = leaders(&replicas);
            if l.len() == 1 && l[0] != first {
                break l[0];
            }
            assert!(t.elapsed() < LIMIT, "no takeover within {LIMIT:?}: {l:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        eprintln!("contender takeover after {:?}", t.elapsed());
        assert_eq!(second.1, first.1 + 1);
        assert_eq!(replicas[first.0].1.role(), Role::Follower);
    });
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn a_leader_whose_session_stops_answering_steps_down() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    runtime().block_on(async {
        let s = connect(&url).await;
        let (lead, _) = lead_within(&s, "leader", LIMIT).await;
        // Another session locks the generation row's table: the leader's heartbeat gets no
        // answer (as over a cut network) and the leader must stop on its own, without its
        // session having ended.
        let mut blocker = Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" -X -q -h \"$1\" -p \"$2\" -U postgres -d edl -c 'BEGIN; LOCK TABLE edlforge_leader IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(12); COMMIT;'")
            .arg(pg.psql_path())
            .arg(pg.socket_dir())
            .arg(pg.port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        let stepped_down = tokio::time::timeout(LIMIT, lead.lost()).await;
        stepped_down.expect("the leader steps down when its heartbeat goes unanswered");
        eprintln!("unanswered heartbeat: stepped down after {:?}", t.elapsed());
        assert!(!lead.is_held());
        assert!(
            t.elapsed() >= edlforge::store::postgres::HEARTBEAT_TIMEOUT,
            "stepped down only after the heartbeat timeout"
        );
        // Stepping down closed its session: once the table is free again (the blocker's
        // 12 s), another replica leads while the old `Leadership` value still exists.
        let other = connect(&url).await;
        let (next, _) = lead_within(&other, "next", LIMIT).await;
        assert_eq!(next.fence().generation(), lead.fence().generation() + 1);
        let _ = blocker.kill();
        let _ = blocker.wait();
    });
}

// ---------------------------------------------------------------------------------------------
// `edlforge serve` replicas on one database

pub(crate) const PG_CONFIG: &str = r#"[store]
backend = "postgres"
url = "${env:EDLFORGE_DATABASE_URL}"

[server]
tls = "off"

[[source]]
name = "block"
path = "lists/block.txt"

[[list]]
name = "pa"
vendor = "plain"
sources = ["block"]
"#;

/// One `edlforge serve` replica: its address; killed (SIGKILL) and reaped on drop.
pub(crate) struct Replica {
    pub(crate) srv: Serve,
    pub(crate) addr: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- replica on {}:\n{}", self.addr, self.log());
        }
    }
}

impl Replica {
    /// Starts `edlforge serve` in `site` with `--data-dir data_dir` on database `url`.
    pub(crate) fn start(site: &Path, data_dir: &str, url: &str) -> Replica {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edlforge"));
        cmd.current_dir(site)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir])
            .env("EDLFORGE_DATABASE_URL", url);
        let srv = Serve::spawn(cmd);
        let addr = srv
            .base
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("expected http://, got {}", srv.base))
            .to_string();
        Replica { srv, addr }
    }

    pub(crate) fn get(&self, path: &str) -> Response {
        Response::parse(&http_get(&self.addr, path))
    }

    /// `"leader"` or `"follower"`, from status.json, checked against `edlforge_leader`.
    pub(crate) fn role(&self) -> String {
        let status = self.get("/status.json");
        let v: serde_json::Value = serde_json::from_str(&status.body).unwrap();
        let role = v["role"].as_str().unwrap().to_string();
        let metrics = self.get("/metrics").body;
        let gauge = if metrics.contains("\nedlforge_leader 1\n") {
            "leader"
        } else {
            assert!(metrics.contains("\nedlforge_leader 0\n"), "{metrics}");
            "follower"
        };
        // The two are set together; a poll between them may see one change before the other.
        if role == gauge {
            role
        } else {
            "changing".into()
        }
    }

    pub(crate) fn log(&self) -> String {
        self.srv.log()
    }
}

/// A status code, the ETag and the body of an HTTP/1.0 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) etag: Option<String>,
    pub(crate) body: String,
}

impl Response {
    fn parse(raw: &str) -> Response {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let etag = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("etag").then(|| v.trim().to_string())
        });
        Response {
            status,
            etag,
            body: body.to_string(),
        }
    }
}

/// Waits until exactly one of `replicas` leads (and the others follow); its index.
pub(crate) fn one_leader(replicas: &[&Replica]) -> usize {
    wait_for("exactly one leader", LIMIT, || {
        let roles: Vec<String> = replicas.iter().map(|r| r.role()).collect();
        let leaders = roles.iter().filter(|r| *r == "leader").count();
        let followers = roles.iter().filter(|r| *r == "follower").count();
        (leaders == 1 && followers == replicas.len() - 1)
            .then(|| roles.iter().position(|r| r == "leader").unwrap_or(0))
    })
}

/// Waits until every replica serves list `pa` with 200, one ETag and one body containing
/// `needle`; that response.
pub(crate) fn same_list_everywhere(replicas: &[&Replica], needle: &str) -> Response {
    wait_for(
        &format!("every replica serves /lists/pa with {needle:?}"),
        LIMIT,
        || {
            let got: Vec<Response> = replicas.iter().map(|r| r.get("/lists/pa")).collect();
            let first = got[0].clone();
            (first.status == 200
                && first.etag.is_some()
                && first.body.contains(needle)
                && got.iter().all(|r| *r == first))
            .then_some(first)
        },
    )
}

pub(crate) fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn two_replicas_one_leader_same_bytes_and_a_lists_edit_reaches_both() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let dir = site(PG_CONFIG);
    let a = Replica::start(dir.path(), "replica-a", &url);
    let b = Replica::start(dir.path(), "replica-b", &url);
    let replicas = [&a, &b];
    let leader = one_leader(&replicas);
    let follower = replicas[1 - leader];
    let first = same_list_everywhere(&replicas, "45.137.21.9");
    eprintln!("leader: replica {leader}; served ETag {:?}", first.etag);
    // Only the leader read the source; the follower serves what it published and keeps a
    // copy in its own cache.
    let status: serde_json::Value =
        serde_json::from_str(&follower.get("/status.json").body).unwrap();
    assert!(status["sources"][0]["last_attempt"].is_null(), "{status}");
    assert_eq!(status["database"]["up"], true, "{status}");
    let page = follower.get("/").body;
    assert!(page.contains("database <code>127.0.0.1:"), "{page}");
    let status: serde_json::Value =
        serde_json::from_str(&replicas[leader].get("/status.json").body).unwrap();
    assert!(status["sources"][0]["last_attempt"].is_i64(), "{status}");
    for r in replicas {
        assert!(
            r.get("/metrics")
                .body
                .contains("\nedlforge_database_up 1\n"),
            "database up on every replica"
        );
    }
    let cache = if leader == 0 {
        "replica-b"
    } else {
        "replica-a"
    };
    wait_for("the follower's cache holds the list", LIMIT, || {
        dir.path()
            .join(cache)
            .join("lists/pa.list")
            .is_file()
            .then_some(())
    });
    assert!(
        follower.log().contains("List followed from the leader."),
        "{}",
        follower.log()
    );

    // (b) An edit of lists/ reaches both replicas, same bytes and ETag.
    let t = Instant::now();
    replace(
        &dir.path().join("lists/block.txt"),
        "45.137.21.9\n91.92.242.0/24\n185.220.101.7\n",
    );
    let second = same_list_everywhere(&replicas, "185.220.101.7");
    eprintln!(
        "lists/ edit served by both replicas after {:?}",
        t.elapsed()
    );
    assert_ne!(second.etag, first.etag);
    // Still one leader: the edit did not make the follower fetch.
    assert_eq!(one_leader(&replicas), leader);
    let status: serde_json::Value =
        serde_json::from_str(&follower.get("/status.json").body).unwrap();
    assert!(status["sources"][0]["last_attempt"].is_null(), "{status}");
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn a_killed_leader_replica_is_replaced_and_the_follower_keeps_serving() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let dir = site(PG_CONFIG);
    let a = Replica::start(dir.path(), "replica-a", &url);
    let b = Replica::start(dir.path(), "replica-b", &url);
    let leader = one_leader(&[&a, &b]);
    let served = same_list_everywhere(&[&a, &b], "45.137.21.9");
    let (mut dead, survivor) = if leader == 0 { (a, b) } else { (b, a) };

    // kill -9: no goodbye to the database; the follower must take over.
    let t = Instant::now();
    dead.srv.child.kill().unwrap();
    dead.srv.child.wait().unwrap();
    let mut polls = 0u32;
    let took = wait_for(
        "the follower leads after kill -9 of the leader",
        LIMIT,
        || {
            // Every poll meanwhile: 200, the same bytes and ETag.
            let r = survivor.get("/lists/pa");
            assert_eq!(r, served, "after {:?}", t.elapsed());
            polls += 1;
            (survivor.role() == "leader").then(|| t.elapsed())
        },
    );
    eprintln!("takeover after kill -9: {took:?} ({polls} polls, all 200 with one ETag)");
    // As leader it compiles the same files: the same ETag, still 200, for a few more seconds
    // (its first cycle as leader runs at once).
    wait_for("a cycle of the new leader", LIMIT, || {
        let status: serde_json::Value =
            serde_json::from_str(&survivor.get("/status.json").body).unwrap();
        status["sources"][0]["last_attempt"].is_i64().then_some(())
    });
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(survivor.get("/lists/pa"), served);
        std::thread::sleep(Duration::from_millis(100));
    }
    // And it now does the leader's work: an edit of lists/ reaches it.
    replace(
        &dir.path().join("lists/block.txt"),
        "45.137.21.9\n91.92.242.0/24\n185.220.101.9\n",
    );
    let next = same_list_everywhere(&[&survivor], "185.220.101.9");
    assert_ne!(next.etag, served.etag);
    drop(dead);
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn a_new_leader_keeps_the_list_when_a_source_fails_on_it() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let config = format!(
        "{}\n[[source]]\nname = \"extra\"\npath = \"lists/extra.txt\"\n",
        PG_CONFIG.replace("sources = [\"block\"]", "sources = [\"block\", \"extra\"]")
    );
    let dir = site(&config);
    std::fs::write(dir.path().join("lists/extra.txt"), "185.220.101.44\n").unwrap();
    let a = Replica::start(dir.path(), "replica-a", &url);
    let b = Replica::start(dir.path(), "replica-b", &url);
    let leader = one_leader(&[&a, &b]);
    let served = same_list_everywhere(&[&a, &b], "185.220.101.44");
    let (mut dead, survivor) = if leader == 0 { (a, b) } else { (b, a) };
    // The leader can no longer read `extra`: it keeps its last good set (same list).
    std::fs::remove_file(dir.path().join("lists/extra.txt")).unwrap();
    wait_for("the leader fails to read extra", LIMIT, || {
        let s: serde_json::Value = serde_json::from_str(&dead.get("/status.json").body).unwrap();
        s["sources"][1]["last_error"].is_string().then_some(())
    });
    assert_eq!(dead.get("/lists/pa"), served);
    dead.srv.child.kill().unwrap();
    dead.srv.child.wait().unwrap();
    // The survivor leads and runs a cycle. Its own read of `extra` fails, but it continued
    // from the old leader's last good set of `extra` (the sources live in the database,
    // tests/postgres_state.rs), so the list it compiles is the same: 200, the same bytes and
    // ETag, nothing withheld.
    wait_for("the survivor leads and runs a cycle", LIMIT, || {
        let s: serde_json::Value =
            serde_json::from_str(&survivor.get("/status.json").body).unwrap();
        (s["role"] == "leader" && s["sources"][1]["last_attempt"].is_i64()).then_some(())
    });
    assert_eq!(survivor.get("/lists/pa"), served);
    let s: serde_json::Value = serde_json::from_str(&survivor.get("/status.json").body).unwrap();
    assert!(s["lists"][0]["withheld_reason"].is_null(), "{s}");
    assert!(s["sources"][1]["last_error"].is_string(), "{s}");
    assert!(s["sources"][1]["last_success"].is_i64(), "{s}");
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(survivor.get("/lists/pa"), served);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Once `extra` delivers again, the new leader compiles and publishes as usual.
    replace(
        &dir.path().join("lists/extra.txt"),
        "185.220.101.44\n185.220.101.50\n",
    );
    same_list_everywhere(&[&survivor], "185.220.101.50");
    drop(dead);
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn replicas_serve_through_a_database_outage_and_resume() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let dir = site(PG_CONFIG);
    let a = Replica::start(dir.path(), "replica-a", &url);
    let b = Replica::start(dir.path(), "replica-b", &url);
    let leader = one_leader(&[&a, &b]);
    let served = same_list_everywhere(&[&a, &b], "45.137.21.9");
    let (lead, follow) = if leader == 0 { (a, b) } else { (b, a) };
    // The follower has the list in its cache before the outage.
    wait_for("the follower's cache", LIMIT, || {
        let cache = if leader == 0 {
            "replica-b"
        } else {
            "replica-a"
        };
        dir.path()
            .join(cache)
            .join("lists/pa.list")
            .is_file()
            .then_some(())
    });

    pg.stop();
    let t = Instant::now();
    let metric = |r: &Replica, line: &str| r.get("/metrics").body.contains(line);
    for r in [&lead, &follow] {
        wait_for("edlforge_database_up 0", LIMIT, || {
            assert_eq!(r.get("/lists/pa"), served, "after {:?}", t.elapsed());
            metric(r, "\nedlforge_database_up 0\n").then_some(())
        });
        assert_eq!(r.get("/healthz").status, 200);
        assert_eq!(r.get("/readyz").status, 200);
        let s: serde_json::Value = serde_json::from_str(&r.get("/status.json").body).unwrap();
        assert_eq!(s["database"]["up"], false, "{s}");
        assert!(r.get("/").body.contains(">unreachable</span>"));
    }
    // The leader's session is gone: it steps down, nobody fetches.
    wait_for("the leader steps down", LIMIT, || {
        assert_eq!(lead.get("/lists/pa"), served);
        (lead.role() == "follower").then_some(())
    });
    eprintln!(
        "outage seen and leader stepped down after {:?}",
        t.elapsed()
    );
    // A follower restarted during the outage serves its cache.
    drop(follow);
    let cache = if leader == 0 {
        "replica-b"
    } else {
        "replica-a"
    };
    let follow = Replica::start(dir.path(), cache, &url);
    assert_eq!(follow.get("/lists/pa"), served);
    assert_eq!(follow.get("/readyz").status, 200);
    assert_eq!(follow.role(), "follower");
    // An edit during the outage is not fetched by anyone.
    replace(
        &dir.path().join("lists/block.txt"),
        "45.137.21.9\n91.92.242.0/24\n185.220.101.7\n",
    );
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert_eq!(lead.get("/lists/pa"), served);
        assert_eq!(follow.get("/lists/pa"), served);
        std::thread::sleep(Duration::from_millis(100));
    }

    // The database returns: one leader again, the edit reaches both, without a restart.
    pg.restart();
    let t = Instant::now();
    for r in [&lead, &follow] {
        wait_for("edlforge_database_up 1", LIMIT, || {
            metric(r, "\nedlforge_database_up 1\n").then_some(())
        });
    }
    one_leader(&[&lead, &follow]);
    let next = same_list_everywhere(&[&lead, &follow], "185.220.101.7");
    eprintln!("resumed after the database returned: {:?}", t.elapsed());
    assert_ne!(next.etag, served.etag);
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn a_publish_the_database_refused_is_retried_and_reaches_the_followers() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let dir = site(PG_CONFIG);
    let a = Replica::start(dir.path(), "replica-a", &url);
    let b = Replica::start(dir.path(), "replica-b", &url);
    let leader = one_leader(&[&a, &b]);
    let served = same_list_everywhere(&[&a, &b], "45.137.21.9");
    let (lead, follow) = if leader == 0 { (&a, &b) } else { (&b, &a) };
    // Every new list version is refused by the database (the leader's session stays fine).
    pg.sql(
        "edl",
        "ALTER TABLE edlforge_lists ADD CONSTRAINT refuse_publish CHECK (version < 0) NOT VALID",
    );
    replace(
        &dir.path().join("lists/block.txt"),
        "45.137.21.9\n91.92.242.0/24\n185.220.101.7\n",
    );
    // The leader compiled and serves the edit; its publish failed.
    same_list_everywhere(&[lead], "185.220.101.7");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(follow.get("/lists/pa"), served);
    // The database takes writes again: the retry (30 s after the failure) publishes.
    pg.sql(
        "edl",
        "ALTER TABLE edlforge_lists DROP CONSTRAINT refuse_publish",
    );
    let next = same_list_everywhere(&[lead, follow], "185.220.101.7");
    assert_ne!(next.etag, served.etag);
    let metrics = lead.get("/metrics").body;
    assert!(
        metrics.contains("edlforge_cycle_failures_total{reason=\"database\"} 1"),
        "{metrics}"
    );
    assert!(
        lead.get("/metrics")
            .body
            .contains("\nedlforge_cycle_success 1\n"),
        "the retried cycle succeeded"
    );
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn three_replicas_fetch_a_feed_once_per_refresh() {
    use crate::support::fixture::{FixtureServer, Reply, Routes};
    let feed = FixtureServer::start(
        Routes::new().reply("/feed.txt", Reply::ok("185.220.101.60\n185.220.101.62\n")),
    );
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let config = format!(
        "{}\n[[source]]\nname = \"feed\"\nurl = \"{}\"\ntype = \"ip\"\nrefresh = \"4s\"\n",
        PG_CONFIG.replace("sources = [\"block\"]", "sources = [\"block\", \"feed\"]"),
        feed.url("/feed.txt"),
    );
    let dir = site(&config);
    let replicas: Vec<Replica> = ["replica-a", "replica-b", "replica-c"]
        .iter()
        .map(|d| Replica::start(dir.path(), d, &url))
        .collect();
    let all: Vec<&Replica> = replicas.iter().collect();
    let leader = one_leader(&all);
    same_list_everywhere(&all, "185.220.101.60");
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let hits = feed.hits("/feed.txt");
    let elapsed = t.elapsed().as_secs();
    eprintln!(
        "3 replicas, refresh 4 s: {hits} fetches of the feed in about {elapsed} s after the first"
    );
    // One replica's schedule: the first fetch, then one per 4 s (one spare for timing);
    // three replicas fetching would make about three times as many.
    assert!(hits >= 2, "the leader fetches every refresh: {hits}");
    assert!(
        hits as u64 <= 1 + elapsed / 4 + 1,
        "{hits} fetches in {elapsed} s: more than one replica fetches"
    );
    for (i, r) in replicas.iter().enumerate() {
        let s: serde_json::Value = serde_json::from_str(&r.get("/status.json").body).unwrap();
        if i == leader {
            assert!(s["sources"][1]["last_success"].is_i64(), "{s}");
        } else {
            assert!(s["sources"][1]["last_attempt"].is_null(), "{s}");
        }
    }
    assert_eq!(one_leader(&all), leader);
}
