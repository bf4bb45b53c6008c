//! Scale-out on PostgreSQL (issue 13), sharing: the TAXII 2.1 collection of a `vendor = "stix"`
//! list answers the same objects on every replica (followers serve the leader's share history,
//! not their own), and after `kill -9` of the leader the new leader continues the same history:
//! every object version published before stays, byte for byte, and new versions follow it.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use edlforge::indicator::Tlp;
use edlforge::store::mirror::MirrorError;
use edlforge::store::postgres::{PgError, PgStore};
use edlforge::store::share::{History, Item};
use edlforge::store::share_mirror::ShareMirror;
use edlforge::store::Store;

use crate::postgres::{
    lead, one_leader, replace, runtime, site, wait_for, Replica, LIMIT, PG_CONFIG,
};
use crate::support::postgres::Cluster;

/// `isac:isac-secret-1`, base64 (HTTP basic auth).
const BASIC: &str = "aXNhYzppc2FjLXNlY3JldC0x";
const OBJECTS: &str =
    "/taxii2/api/collections/community/objects/?limit=1000&match%5Bversion%5D=all";

/// The site's feeds.toml: the plain list of `PG_CONFIG` and a shared list of the same
/// source, its password in a file of the site.
fn config(dir: &std::path::Path) -> String {
    let pw = dir.join("isac.pw");
    std::fs::write(&pw, "isac-secret-1").unwrap();
    let plain = PG_CONFIG.replace(
        "tls = \"off\"",
        "tls = \"off\"\norganization = \"Example CERT\"",
    );
    assert_ne!(plain, PG_CONFIG);
    format!(
        "{plain}\n[[list]]\nname = \"community\"\nvendor = \"stix\"\nsources = [\"block\"]\n\
         auth = \"basic\"\nusers = [{{ name = \"isac\", password = \"${{file:{}}}\" }}]\n",
        pw.display()
    )
}

/// The collection's objects on replica `r` (status 200 with the TAXII media type and
/// credentials), each object as JSON; `None` while it answers anything else.
fn objects(r: &Replica) -> Option<Vec<serde_json::Value>> {
    let mut s = std::net::TcpStream::connect(&r.addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "GET {OBJECTS} HTTP/1.0\r\nHost: localhost\r\nAccept: application/taxii+json;version=2.1\r\n\
         Authorization: Basic {BASIC}\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["objects"].as_array().cloned()
}

/// `(id, modified, revoked)` of each indicator version, for messages.
fn versions(objs: &[serde_json::Value]) -> Vec<(String, String, bool)> {
    objs.iter()
        .filter(|o| o["type"] == "indicator")
        .map(|o| {
            (
                o["id"].as_str().unwrap_or("").to_string(),
                o["modified"].as_str().unwrap_or("").to_string(),
                o["revoked"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// Waits until every replica's collection is the same and `ok` accepts it; that collection.
fn same_collection_everywhere(
    what: &str,
    replicas: &[&Replica],
    ok: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let t = Instant::now();
    loop {
        let got: Vec<Option<Vec<serde_json::Value>>> =
            replicas.iter().map(|r| objects(r)).collect();
        if let Some(Some(first)) = got.first() {
            if ok(first) && got.iter().all(|g| g.as_ref() == Some(first)) {
                return first.clone();
            }
        }
        if t.elapsed() > LIMIT {
            let shown: Vec<_> = got.iter().map(|g| g.as_deref().map(versions)).collect();
            panic!("timed out after {LIMIT:?}: {what}; indicator versions per replica: {shown:#?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn has(objs: &[serde_json::Value], needle: &str, revoked: bool) -> bool {
    objs.iter().any(|o| {
        o["type"] == "indicator"
            && o["pattern"].as_str().is_some_and(|p| p.contains(needle))
            && o["revoked"].as_bool().unwrap_or(false) == revoked
    })
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn every_replica_serves_the_leaders_taxii_objects_and_a_new_leader_continues_the_history() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let dir = site(PG_CONFIG);
    std::fs::write(dir.path().join("feeds.toml"), config(dir.path())).unwrap();
    let a = Replica::start(dir.path(), "replica-a", &url);
    wait_for("replica-a leads", LIMIT, || {
        (a.role() == "leader").then_some(())
    });
    let b = Replica::start(dir.path(), "replica-b", &url);
    let c = Replica::start(dir.path(), "replica-c", &url);
    let all = [&a, &b, &c];
    assert_eq!(one_leader(&all), 0, "replica-a leads");

    // The first history: both entries of the source, on every replica.
    let first = same_collection_everywhere("the first objects on every replica", &all, |o| {
        has(o, "45.137.21.9", false) && has(o, "91.92.242.0/24", false)
    });
    // A second version: one entry leaves (revoked), one arrives.
    replace(
        &dir.path().join("lists/block.txt"),
        "45.137.21.9\n185.220.101.60\n",
    );
    let before = same_collection_everywhere("the revocation on every replica", &all, |o| {
        has(o, "91.92.242.0/24", true) && has(o, "185.220.101.60", false)
    });
    for o in first.iter().filter(|o| o["type"] == "indicator") {
        assert!(before.contains(o), "a published version was dropped: {o}");
    }
    eprintln!("history before the kill: {:#?}", versions(&before));

    // kill -9 of the leader; a follower takes over and runs its first cycle.
    let (mut dead, rest) = (a, [&b, &c]);
    dead.srv.child.kill().unwrap();
    dead.srv.child.wait().unwrap();
    let t = Instant::now();
    let leader = wait_for("a follower leads after kill -9", LIMIT, || {
        rest.iter().position(|r| r.role() == "leader")
    });
    eprintln!("takeover after kill -9: {:?}", t.elapsed());
    wait_for("a cycle of the new leader", LIMIT, || {
        let s: serde_json::Value =
            serde_json::from_str(&rest[leader].get("/status.json").body).ok()?;
        s["sources"][0]["last_attempt"].is_i64().then_some(())
    });
    // Its first cycle compiled the same files: the collection is unchanged everywhere.
    let same = same_collection_everywhere("the same objects after the takeover", &rest, |_| true);
    assert_eq!(
        versions(&same),
        versions(&before),
        "the new leader restarted the history"
    );
    assert_eq!(same, before, "the new leader changed published objects");

    // A change under the new leader continues the history: every version published before
    // stays as it was, and the new versions come after.
    replace(
        &dir.path().join("lists/block.txt"),
        "45.137.21.9\n185.220.101.60\n185.220.101.62\n",
    );
    let after =
        same_collection_everywhere("the new leader's change on every replica", &rest, |o| {
            has(o, "185.220.101.62", false)
        });
    for o in before.iter().filter(|o| o["type"] == "indicator") {
        assert!(
            after.contains(o),
            "a version published before the takeover is gone: {o}\nafter: {:#?}",
            versions(&after)
        );
    }
    let newest_before = versions(&before).into_iter().map(|v| v.1).max().unwrap();
    let added: Vec<_> = versions(&after)
        .into_iter()
        .filter(|v| !versions(&before).contains(v))
        .collect();
    assert_eq!(added.len(), 1, "one new object: {added:#?}");
    assert!(
        added[0].1 > newest_before,
        "{added:#?} after {newest_before}"
    );
    assert_eq!(
        after.iter().filter(|o| o["type"] == "indicator").count(),
        before.iter().filter(|o| o["type"] == "indicator").count() + 1
    );
}

// ---------------------------------------------------------------------------------------------
// The store side: `ShareMirror` between two replicas' local stores and the database.

fn item(v: &str) -> Item {
    Item {
        key: format!("ipv4-addr:value:{v}"),
        pattern: format!("[ipv4-addr:value = '{v}']"),
        confidence: 50,
        tlp: Tlp::Green,
    }
}

const DAY: i64 = 86_400_000_000;

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn share_histories_are_fenced_and_a_copy_not_seen_is_never_overwritten() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lists = vec!["community".to_string()];
    runtime().block_on(async {
        let (db, _) = PgStore::connect(&url).await.unwrap();
        let (ma, mb) = (ShareMirror::new(db.clone()), ShareMirror::new(db.clone()));
        let mut sa = Store::open(dir_a.path(), Duration::from_secs(5)).unwrap();
        let mut sb = Store::open(dir_b.path(), Duration::from_secs(5)).unwrap();

        // Replica b has an old history of its own (say, from before it ever joined).
        let mut stale = History::default();
        stale.update(&[item("45.1.2.3")], 1_000, DAY);
        sb.save_share("community", &stale).unwrap();

        // a leads and sends its history; a second push sends nothing.
        let lead_a = lead(&db, "a").await;
        let mut h = History::default();
        h.update(&[item("45.137.21.9"), item("91.92.242.17")], 2_000, DAY);
        h.update(&[item("45.137.21.9")], 3_000, DAY);
        sa.save_share("community", &h).unwrap();
        let sent = ma.push(lead_a.fence(), &sa, &lists).await.unwrap();
        assert_eq!(sent, lists);
        assert!(ma
            .push(lead_a.fence(), &sa, &lists)
            .await
            .unwrap()
            .is_empty());

        // b follows: its own history is replaced by the database's, whole.
        let unseen = mb.unseen(&lists).await.unwrap();
        assert_eq!(mb.pull(&mut sb, &unseen).await.unwrap(), lists);
        assert_eq!(sb.load_share("community").unwrap(), h);
        // Until it says it serves them, the versions stay unseen (a cut-short follow retries).
        assert_eq!(mb.unseen(&lists).await.unwrap(), unseen);
        mb.saw_all(&unseen);
        assert!(
            mb.unseen(&lists).await.unwrap().is_empty(),
            "nothing new since"
        );

        // b takes over and continues the history; a's late write is refused by the fence.
        let fa = lead_a.fence();
        drop(lead_a);
        let lead_b = lead(&db, "b").await;
        let mut next = sb.load_share("community").unwrap();
        next.update(&[item("45.137.21.9"), item("185.220.101.60")], 4_000, DAY);
        sb.save_share("community", &next).unwrap();
        assert_eq!(mb.push(lead_b.fence(), &sb, &lists).await.unwrap(), lists);
        let mut late = h.clone();
        late.update(&[], 5_000, DAY);
        sa.save_share("community", &late).unwrap();
        let e = ma.push(fa, &sa, &lists).await.unwrap_err();
        assert!(matches!(e, MirrorError::Pg(PgError::Fenced { .. })), "{e}");

        // A leader that never saw the database's copy (its pull failed) does not overwrite it.
        let fresh = ShareMirror::new(db.clone());
        assert!(fresh
            .push(lead_b.fence(), &sa, &lists)
            .await
            .unwrap()
            .is_empty());
        let unseen = ma.unseen(&lists).await.unwrap();
        assert_eq!(ma.pull(&mut sa, &unseen).await.unwrap(), lists);
        assert_eq!(sa.load_share("community").unwrap(), next);
        // Pulled again (the follow was cut short): nothing to change, the same copy.
        assert!(ma.pull(&mut sa, &unseen).await.unwrap().is_empty());
        ma.saw_all(&unseen);
    });
}
