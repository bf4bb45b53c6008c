//! Issue 13, "everything the embedded store holds lives in the database": the leader's sources
//! (records, fetch state with its validators and TAXII cursor, the indicator index) in
//! PostgreSQL, fenced, and a new leader that continues from them.
//!
//! Same conventions as `tests/postgres.rs`: a throwaway cluster per test
//! (`support::postgres`); without the PostgreSQL server binaries the tests are ignored with the
//! reason, and `postgres::postgres_binaries_are_present` fails under `EDLFORGE_REQUIRE_ORACLES`.
//! Waits are bounded polls; the bounds are for failure, not speed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use edlforge::indicator::parse_token;
use edlforge::store::mirror::{Mirror, MirrorError};
use edlforge::store::postgres::PgError;
use edlforge::store::{IndicatorIndex, Record, SourceState, Store};

use crate::postgres::{chain, connect, http_get, lead, runtime, wait_for, LIMIT};
use crate::support::fixture::{FixtureServer, Reply, Routes};
use crate::support::postgres::Cluster;
use crate::support::serve::Serve;

fn open(dir: &Path) -> Store {
    Store::open(dir, Duration::from_secs(5)).unwrap()
}

fn rec(v: &str, comment: Option<String>) -> Record {
    Record {
        value: parse_token(v.as_bytes(), None).unwrap().value,
        first_seen: 1_765_000_000,
        last_seen: 1_765_000_060,
        expires: None,
        confidence: Some(80),
        tlp: None,
        tags: vec!["c2".into()],
        comment,
    }
}

fn state(etag: &str, cursor: Option<&str>) -> SourceState {
    SourceState {
        etag: Some(format!("\"{etag}\"")),
        last_modified: Some("Mon, 07 Dec 2026 10:00:00 GMT".into()),
        last_attempt: Some(1_765_000_000),
        last_success: Some(1_765_000_000),
        accepted_count: 2,
        cursor: cursor.map(str::to_string),
        ..SourceState::default()
    }
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn source_writes_are_fenced_and_a_stale_copy_never_overwrites_a_newer_one() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    runtime().block_on(async {
        let db = connect(&url).await;
        let (mut sa, mut sb) = (open(dir_a.path()), open(dir_b.path()));
        let (ma, mb) = (Mirror::new(db.clone()), Mirror::new(db.clone()));

        // Replica A leads: a plain source, a TAXII one (cursor and index), one larger than a
        // database chunk (8 MiB: a comment of 9 MiB), and one it will remove.
        let lead_a = lead(&db, "a").await;
        let fa = lead_a.fence();
        let plain = vec![rec("45.137.21.9", None), rec("evil.example", None)];
        sa.replace("plain", &plain, &state("p1", None)).unwrap();
        sa.save_indicators("taxii", &IndicatorIndex::default())
            .unwrap();
        sa.replace("taxii", &[], &state("t1", Some("2026-12-07T10:00:00.000Z")))
            .unwrap();
        let big = vec![rec("91.92.242.1", Some("x".repeat(9 << 20)))];
        sa.replace("big", &big, &state("b1", None)).unwrap();
        sa.replace("gone", &[], &state("g1", None)).unwrap();
        let pushed = ma.push(fa, &sa).await.unwrap();
        assert_eq!(pushed.sent, ["big", "gone", "plain", "taxii"]);
        assert!(pushed.bytes > 9 << 20, "{pushed:?}");
        assert_eq!(
            pg.sql(
                "edl",
                "SELECT chunks FROM edlforge_source_files WHERE name = 'big' AND part = 'snap'"
            ),
            "2"
        );
        // The decoded state too, for people and SQL.
        assert_eq!(
            pg.sql(
                "edl",
                "SELECT etag || ' ' || cursor FROM edlforge_source_state WHERE name = 'taxii'"
            ),
            "\"t1\" 2026-12-07T10:00:00.000Z"
        );
        // Nothing changed: nothing sent again.
        assert!(ma.push(fa, &sa).await.unwrap().sent.is_empty());
        sa.remove_source("gone").unwrap();
        assert_eq!(ma.push(fa, &sa).await.unwrap().sent, ["gone"]);
        assert_eq!(
            pg.sql(
                "edl",
                "SELECT count(*) FROM edlforge_source_state WHERE name = 'gone'"
            ),
            "0"
        );
        // A's fetch of "plain" after its last push (not sent yet).
        sa.set_state("plain", &state("p2-a", None)).unwrap();

        // B takes over. A's late write is refused by the fence; nothing is written.
        drop(lead_a);
        let lead_b = lead(&db, "b").await;
        let fb = lead_b.fence();
        assert!(fb.generation() > fa.generation());
        let e = ma.push(fa, &sa).await.unwrap_err();
        assert!(
            matches!(e, MirrorError::Pg(PgError::Fenced { .. })),
            "{}",
            chain(&e)
        );

        // B holds an older copy of "plain" it never saw in the database: not sent (the
        // database's is kept), even under the current fence.
        sb.replace("plain", &[], &state("stale", None)).unwrap();
        sb.replace("gone", &[], &state("stale", None)).unwrap();
        let p = mb.push(fb, &sb).await.unwrap();
        assert_eq!(p.conflicts, ["gone", "plain"], "{p:?}");
        assert!(p.sent.is_empty(), "{p:?}");

        // B catches up: the database's copies, removed sources removed.
        let pulled = mb.pull(&mut sb).await.unwrap();
        assert_eq!(pulled.copied, ["big", "plain", "taxii"], "{pulled:?}");
        assert_eq!(pulled.removed, ["gone"], "{pulled:?}");
        assert_eq!(sb.sources().unwrap(), ["big", "plain", "taxii"]);
        assert_eq!(sb.state("plain").unwrap(), Some(state("p1", None)));
        assert_eq!(sb.records("plain").unwrap(), plain);
        assert_eq!(sb.records("big").unwrap(), big);
        assert_eq!(
            sb.state("taxii").unwrap().unwrap().cursor.as_deref(),
            Some("2026-12-07T10:00:00.000Z")
        );
        assert_eq!(
            sb.source_files("taxii").unwrap().len(),
            sa.source_files("taxii").unwrap().len()
        );

        // B's own write the database has not taken yet is newer than the database's copy: a
        // pull keeps it, the next push sends it.
        sb.set_state("plain", &state("p2-b", None)).unwrap();
        let pulled = mb.pull(&mut sb).await.unwrap();
        assert_eq!(pulled.ahead, ["plain"], "{pulled:?}");
        assert_eq!(sb.state("plain").unwrap(), Some(state("p2-b", None)));
        assert_eq!(mb.push(fb, &sb).await.unwrap().sent, ["plain"]);

        // A, no longer leading, holds a copy the database has moved past: the database wins.
        let pulled = ma.pull(&mut sa).await.unwrap();
        assert_eq!(pulled.copied, ["plain"], "{pulled:?}");
        assert_eq!(sa.state("plain").unwrap(), Some(state("p2-b", None)));
        drop(lead_b);
    });
}

// ---------------------------------------------------------------------------------------------
// Replicas

/// One `edlforge serve` replica on database `url`.
struct Replica {
    srv: Serve,
    name: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {}:\n{}", self.name, self.srv.log());
        }
    }
}

impl Replica {
    fn start(site: &Path, data_dir: &str, url: &str) -> Replica {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edlforge"));
        cmd.current_dir(site)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir])
            .env("EDLFORGE_DATABASE_URL", url);
        Replica {
            srv: Serve::spawn(cmd),
            name: data_dir.to_string(),
        }
    }

    fn status(&self) -> serde_json::Value {
        let raw = http_get(&self.srv.addr.to_string(), "/status.json");
        let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
    }

    fn leads(&self) -> bool {
        self.status()["role"] == "leader"
    }

    fn kill(mut self) {
        self.srv.child.kill().unwrap();
        self.srv.child.wait().unwrap();
    }
}

/// Waits until exactly one of `replicas` leads; its index.
fn one_leader(replicas: &[&Replica]) -> usize {
    wait_for("exactly one leader", LIMIT, || {
        let leaders: Vec<usize> = (0..replicas.len())
            .filter(|&i| replicas[i].leads())
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    })
}

/// `feeds.toml` with two HTTP sources of the fixture: `due` every 2 s, `later` every hour.
fn site(fixture: &FixtureServer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"[store]
backend = "postgres"
url = "${{env:EDLFORGE_DATABASE_URL}}"

[server]
tls = "off"

[[source]]
name = "due"
url = "{}"
refresh = "2s"

[[source]]
name = "later"
url = "{}"
refresh = "1h"

[[list]]
name = "pa"
vendor = "plain"
sources = ["due", "later"]
"#,
        fixture.url("/due.txt"),
        fixture.url("/later.txt")
    );
    std::fs::write(dir.path().join("feeds.toml"), config).unwrap();
    dir
}

const LAST_MODIFIED: &str = "Mon, 07 Dec 2026 10:00:00 GMT";

/// Whether the database holds a file of source `name` whose header has `needle` (an ETag).
fn db_has(pg: &Cluster, name: &str, needle: &str) -> bool {
    let out = pg.psql(
        "edl",
        &format!(
            "SELECT count(*) FROM edlforge_source_files WHERE name = '{name}' \
             AND position('{needle}'::bytea in fingerprint) > 0"
        ),
    );
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() != "0"
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn after_kill_9_the_new_leader_sends_the_old_validators_and_skips_what_is_not_due() {
    let fixture = FixtureServer::start(
        Routes::new()
            .reply(
                "/due.txt",
                Reply::ok("45.137.21.9\n")
                    .etag("\"due-v1\"")
                    .last_modified(LAST_MODIFIED),
            )
            .reply(
                "/later.txt",
                Reply::ok("91.92.242.0/24\n")
                    .etag("\"later-v1\"")
                    .last_modified(LAST_MODIFIED),
            ),
    );
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let dir = site(&fixture);
    let replicas: Vec<Replica> = ["replica-a", "replica-b", "replica-c"]
        .iter()
        .map(|d| Replica::start(dir.path(), d, &url))
        .collect();
    let leader = one_leader(&replicas.iter().collect::<Vec<_>>());
    // The leader fetched both and stored them in the database, with a 304 of `due` since.
    wait_for("both sources in the database", LIMIT, || {
        (db_has(&pg, "due", "due-v1") && db_has(&pg, "later", "later-v1")).then_some(())
    });
    wait_for(
        "a conditional fetch of due by the first leader",
        LIMIT,
        || (fixture.hits("/due.txt") >= 2).then_some(()),
    );
    assert_eq!(fixture.hits("/later.txt"), 1, "one fetch of later");

    let mut replicas = replicas;
    let dead = replicas.remove(leader);
    dead.kill();
    let seen = fixture.hits("/due.txt");
    let t = Instant::now();
    let rest: Vec<&Replica> = replicas.iter().collect();
    let new = one_leader(&rest);
    eprintln!("new leader after {:?}", t.elapsed());
    // Its first fetches of `due`: conditional, answered 304.
    wait_for("two fetches of due by the new leader", LIMIT, || {
        (fixture.hits("/due.txt") >= seen + 2).then_some(())
    });
    for r in &fixture.requests("/due.txt")[seen..] {
        assert_eq!(
            r.header("if-none-match"),
            Some("\"due-v1\""),
            "every fetch of the new leader is conditional: {:?}",
            r.header("if-none-match")
        );
    }
    // `later` is not due for an hour: the new leader does not fetch it.
    assert_eq!(fixture.hits("/later.txt"), 1, "later was fetched again");
    let s = rest[new].status();
    let later = s["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "later")
        .cloned()
        .unwrap_or_default();
    assert!(later["last_success"].is_i64(), "{s}");
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn a_fetch_the_database_missed_while_down_is_sent_when_it_returns() {
    // `due` answers v1, then v2 slowly: the test stops the database while v2 is on its way,
    // so the leader stores it locally and cannot send it. After that the feed refuses every
    // request, so v2 reaches the database only from the leader's store, never by a refetch.
    let fixture = FixtureServer::start(
        Routes::new()
            .dynamic("/due.txt", |_, n| match n {
                0 => Reply::ok("45.137.21.9\n").etag("\"due-v1\""),
                1 => Reply::ok("45.137.21.10\n")
                    .etag("\"due-v2\"")
                    .delay(Duration::from_secs(4)),
                // Then the feed refuses (rate limit): v2 exists only in the leader's store.
                _ => Reply::status(429),
            })
            .reply("/later.txt", Reply::ok("91.92.242.0/24\n").etag("\"l1\"")),
    );
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let dir = site(&fixture);
    let a = Replica::start(dir.path(), "replica-a", &url);
    wait_for("a leads", LIMIT, || a.leads().then_some(()));
    wait_for("v1 in the database", LIMIT, || {
        db_has(&pg, "due", "due-v1").then_some(())
    });
    // The second request (v2) has arrived and is held 4 s: stop the database meanwhile.
    wait_for("the fetch of v2 started", LIMIT, || {
        (fixture.hits("/due.txt") >= 2).then_some(())
    });
    pg.stop();
    let snap = dir.path().join("replica-a/sources/due.snap");
    wait_for("a stores v2 locally", LIMIT, || {
        let bytes = std::fs::read(&snap).ok()?;
        bytes.windows(6).any(|w| w == b"due-v2").then_some(())
    });
    assert!(!db_has(&pg, "due", "due-v2"), "the database was down");
    std::thread::sleep(Duration::from_secs(3));
    pg.restart();
    // A leads again, keeps its newer local copy and sends it.
    wait_for("v2 in the database", LIMIT, || {
        db_has(&pg, "due", "due-v2").then_some(())
    });
    a.kill();
    // A fresh replica continues from v2: its first fetch says If-None-Match "due-v2".
    let seen = fixture.hits("/due.txt");
    let b = Replica::start(dir.path(), "replica-b", &url);
    wait_for("b leads", LIMIT, || b.leads().then_some(()));
    wait_for("a fetch of due by b", LIMIT, || {
        (fixture.hits("/due.txt") > seen).then_some(())
    });
    let r = &fixture.requests("/due.txt")[seen];
    assert_eq!(r.header("if-none-match"), Some("\"due-v2\""));
}

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
/// The `X-TAXII-Date-Added-Last` of the fixture collection's one indicator.
const ADDED_LAST: &str = "2026-01-10T08:14:00.000000Z";

/// A TAXII 2.1 API root with one collection: a poll without `added_after` gets one indicator
/// and `X-TAXII-Date-Added-Last`; a poll from that position gets nothing new.
fn taxii_fixture() -> FixtureServer {
    let taxii = |body: String| Reply::ok(body).content_type("application/taxii+json;version=2.1");
    FixtureServer::start(
        Routes::new()
            .reply(
                "/api1/",
                taxii(
                    r#"{"title":"isac","versions":["application/taxii+json;version=2.1"],"max_content_length":10485760}"#
                        .into(),
                ),
            )
            .reply(
                &format!("/api1/collections/{COLLECTION}/"),
                taxii(format!(
                    r#"{{"id":"{COLLECTION}","title":"isac","can_read":true,"can_write":false}}"#
                )),
            )
            .dynamic(
                &format!("/api1/collections/{COLLECTION}/objects/"),
                move |r, _| {
                    if r.query.as_deref().unwrap_or("").contains("added_after") {
                        return taxii(r#"{"more":false}"#.into());
                    }
                    taxii(
                        r#"{"more":false,"objects":[{"type":"indicator","spec_version":"2.1",
                        "id":"indicator--0d9b1a1e-7c2b-4c47-9a55-3c7f6a8f9b01",
                        "created":"2026-01-10T08:14:00.000Z","modified":"2026-01-10T08:14:00.000Z",
                        "pattern":"[ipv4-addr:value = '45.137.21.9']","pattern_type":"stix",
                        "valid_from":"2026-01-10T08:14:00Z"}]}"#
                            .into(),
                    )
                    .header("X-TAXII-Date-Added-Last", ADDED_LAST)
                },
            ),
    )
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn after_kill_9_the_new_leader_polls_taxii_from_the_old_position() {
    let fixture = taxii_fixture();
    let objects = format!("/api1/collections/{COLLECTION}/objects/");
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feeds.toml"),
        format!(
            r#"[store]
backend = "postgres"
url = "${{env:EDLFORGE_DATABASE_URL}}"

[server]
tls = "off"

[[source]]
name = "isac"
kind = "taxii"
url = "{}"
collection = "{COLLECTION}"
refresh = "2s"

[[list]]
name = "pa"
vendor = "plain"
sources = ["isac"]
"#,
            fixture.url("/api1/")
        ),
    )
    .unwrap();
    let replicas = vec![
        Replica::start(dir.path(), "replica-a", &url),
        Replica::start(dir.path(), "replica-b", &url),
    ];
    let leader = one_leader(&replicas.iter().collect::<Vec<_>>());
    // The first poll, then one from its position, and the position in the database.
    wait_for("a poll from the stored position", LIMIT, || {
        (fixture.hits(&objects) >= 2).then_some(())
    });
    wait_for("the position in the database", LIMIT, || {
        db_has(&pg, "isac", "2026-01-10T08:14:00").then_some(())
    });
    let mut replicas = replicas;
    replicas.remove(leader).kill();
    let seen = fixture.hits(&objects);
    let new = &replicas[0];
    wait_for("the survivor leads", LIMIT, || new.leads().then_some(()));
    wait_for("a poll by the new leader", LIMIT, || {
        (fixture.hits(&objects) > seen).then_some(())
    });
    for r in &fixture.requests(&objects)[seen..] {
        let q = r.query.clone().unwrap_or_default().replace("%3A", ":");
        assert!(
            q.contains(&format!("added_after={ADDED_LAST}")),
            "the new leader polls from the old position: {q}"
        );
    }
    // Its list still holds the indicator polled by the old leader (records and index came
    // with the position).
    wait_for("a cycle of the new leader", LIMIT, || {
        new.status()["sources"][0]["last_attempt"]
            .is_i64()
            .then_some(())
    });
    let raw = http_get(&new.srv.addr.to_string(), "/lists/pa");
    assert!(
        raw.starts_with("HTTP/1.1 200") || raw.starts_with("HTTP/1.0 200"),
        "{raw}"
    );
    assert!(raw.contains("45.137.21.9"), "{raw}");
}
