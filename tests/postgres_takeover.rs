//! Scale-out on PostgreSQL (issue 13), operability: takeover after a network cut (not a
//! `kill -9`, which closes the socket), and what a replica reports about itself among the
//! others: the database's latency, each list's database version, and whether its feeds.toml
//! and `lists/` files match the leader's.
//!
//! The cut is made by `support::proxy`: a TCP proxy between the leader and PostgreSQL that
//! stops forwarding and keeps both sockets open, as a proxy or a NAT holding a half-open
//! session does; the server's keepalives never end that session. Waits are bounded polls for
//! failure (measured times are printed); the 15 s takeover budget is checked as the issue
//! states it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::postgres::{
    one_leader, replace, same_list_everywhere, site, wait_for, Replica, LIMIT, PG_CONFIG,
};
use crate::support::fixture::{FixtureServer, Reply, Routes};
use crate::support::postgres::Cluster;
use crate::support::proxy::Proxy;

/// The takeover budget of issue 13.
const TAKEOVER: Duration = Duration::from_secs(15);

fn status(r: &Replica) -> serde_json::Value {
    let body = r.get("/status.json").body;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("status.json: {e}\n{body}"))
}

fn metrics(r: &Replica) -> String {
    r.get("/metrics").body
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn a_leader_cut_off_from_the_database_is_replaced_within_15_s() {
    let feed = FixtureServer::start(
        Routes::new().reply("/feed.txt", Reply::ok("185.220.101.60\n185.220.101.62\n")),
    );
    let pg = Cluster::start();
    let direct = pg.create_db("edl");
    let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], pg.port)));
    let via_proxy = format!(
        "postgresql://postgres@127.0.0.1:{}/edl?sslmode=disable",
        proxy.port
    );
    let config = format!(
        "{}\n[[source]]\nname = \"feed\"\nurl = \"{}\"\ntype = \"ip\"\nrefresh = \"4s\"\n",
        PG_CONFIG.replace("sources = [\"block\"]", "sources = [\"block\", \"feed\"]"),
        feed.url("/feed.txt"),
    );
    let dir = site(&config);
    // The first replica reaches the database through the proxy and leads; the others join
    // directly once it does.
    let a = Replica::start(dir.path(), "replica-a", &via_proxy);
    wait_for("replica-a leads", LIMIT, || {
        (a.role() == "leader").then_some(())
    });
    let b = Replica::start(dir.path(), "replica-b", &direct);
    let c = Replica::start(dir.path(), "replica-c", &direct);
    let all = [&a, &b, &c];
    assert_eq!(one_leader(&all), 0, "replica-a leads");
    let served = same_list_everywhere(&all, "185.220.101.60");
    assert!(proxy.accepted() > 0, "replica-a talks through the proxy");

    // Every poll from here on, on every replica: 200, the same bytes and ETag.
    let mut polls = 0u32;
    let mut check = |t: Instant| {
        for r in all {
            assert_eq!(
                r.get("/lists/pa"),
                served,
                "replica {} after {:?}",
                r.addr,
                t.elapsed()
            );
        }
        polls += 1;
    };

    proxy.cut();
    let t = Instant::now();
    let (leader, took) = wait_for(
        "a follower leads after the leader's network was cut",
        LIMIT,
        || {
            check(t);
            [&b, &c]
                .iter()
                .position(|r| r.role() == "leader")
                .map(|i| (i + 1, t.elapsed()))
        },
    );
    eprintln!("network cut: replica {leader} leads after {took:?}");
    assert!(
        took < TAKEOVER,
        "takeover after a network cut took {took:?}, over the {TAKEOVER:?} budget"
    );
    // The cut leader stepped down (it could not renew), and sees the database as down.
    wait_for("the cut leader follows", LIMIT, || {
        check(t);
        (a.role() == "follower").then_some(())
    });
    wait_for("the cut leader reports the database down", LIMIT, || {
        check(t);
        metrics(&a)
            .contains("\nedlforge_database_up 0\n")
            .then_some(())
    });
    assert_eq!(one_leader(&all), leader, "exactly one leader");

    // From now on only the new leader fetches: the cut replica's last attempt stays where it
    // is, and the feed sees one replica's schedule (one fetch per 4 s, one spare).
    let stopped_at = status(&a)["sources"][1]["last_attempt"].clone();
    let h0 = feed.hits("/feed.txt");
    let w = Instant::now();
    while w.elapsed() < Duration::from_secs(10) {
        check(t);
        std::thread::sleep(Duration::from_millis(200));
    }
    let fetched = feed.hits("/feed.txt") - h0;
    let secs = w.elapsed().as_secs();
    eprintln!("after the takeover: {fetched} fetches in {secs} s; {polls} polls of 3 replicas, all 200 with one ETag");
    assert_eq!(
        status(&a)["sources"][1]["last_attempt"],
        stopped_at,
        "the cut leader fetches no more"
    );
    assert!(fetched >= 1, "the new leader fetches");
    assert!(
        fetched as u64 <= 1 + secs / 4 + 1,
        "{fetched} fetches in {secs} s: more than one replica fetches"
    );
    let s = status(all[leader]);
    assert!(s["sources"][1]["last_success"].is_i64(), "{s}");
    drop(proxy);
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "PostgreSQL server binaries not found: apt-get install postgresql, or set EDLFORGE_PG_BIN"
)]
fn replicas_report_latency_versions_and_a_config_that_differs_from_the_leaders() {
    let pg = Cluster::start();
    let url = pg.create_db("edl");
    // Two sites: replica-b's feeds.toml has one more setting than replica-a's.
    let site_a = site(PG_CONFIG);
    let site_b = site(&format!("{PG_CONFIG}\n[defaults]\nrefresh = \"2h\"\n"));
    let a = Replica::start(site_a.path(), "replica-a", &url);
    wait_for("replica-a leads", LIMIT, || {
        (a.role() == "leader").then_some(())
    });
    let b = Replica::start(site_b.path(), "replica-b", &url);
    assert_eq!(one_leader(&[&a, &b]), 0);
    let t0 = Instant::now();
    let served = same_list_everywhere(&[&a, &b], "45.137.21.9");

    // The follower says it differs: status.json, the page, the metric; the leader matches.
    let differs = wait_for("replica-b reports a config mismatch", LIMIT, || {
        let s = status(&b);
        (s["replica"]["matches_leader"] == false).then_some(s)
    });
    let r = &differs["replica"];
    assert_ne!(r["config_hash"], r["leader_config_hash"], "{r}");
    assert_eq!(r["files_hash"], r["leader_files_hash"], "{r}");
    assert_eq!(r["config_hash"].as_str().map(str::len), Some(64), "{r}");
    assert!(metrics(&b).contains("\nedlforge_config_matches_leader 0\n"));
    let page = b.get("/").body;
    assert!(
        page.contains("differs from the leader's</span> (feeds.toml:"),
        "{page}"
    );
    wait_for("replica-a reports a match", LIMIT, || {
        metrics(&a)
            .contains("\nedlforge_config_matches_leader 1\n")
            .then_some(())
    });
    assert_eq!(status(&a)["replica"]["matches_leader"], true);
    // It still serves the leader's bytes.
    assert_eq!(b.get("/lists/pa"), served);
    // Logged once per change, not once per probe (a probe every 2 s).
    std::thread::sleep(Duration::from_secs(5));
    let warned = |r: &Replica| r.log().matches("differ from the leader's").count();
    assert_eq!(warned(&b), 1, "{}", b.log());

    // Both replicas are listed, with their roles and hashes.
    let rows = status(&a)["replica"]["replicas"].clone();
    let roles: Vec<&str> = rows
        .as_array()
        .map(|v| v.iter().filter_map(|x| x["role"].as_str()).collect())
        .unwrap_or_default();
    let mut sorted = roles.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["follower", "leader"], "{rows}");

    // Same database version on both, with the time it was published; latency is measured.
    for r in [&a, &b] {
        let s = status(r);
        let v = &s["lists"][0]["database"];
        assert_eq!(v["version"], 1, "{s}");
        assert!(
            v["published_at"].is_i64() && v["applied_at"].is_i64(),
            "{s}"
        );
        assert!(s["database"]["latency_seconds"].is_f64(), "{s}");
        let m = metrics(r);
        assert!(
            m.contains("\nedlforge_list_version{list=\"pa\"} 1\n"),
            "{m}"
        );
        assert!(m.contains("\nedlforge_list_published_timestamp_seconds{list=\"pa\"} "));
        assert!(m.contains("\nedlforge_database_latency_seconds "), "{m}");
    }

    // The same feeds.toml on replica-b (reloaded): it matches, and says so once.
    replace(&site_b.path().join("feeds.toml"), PG_CONFIG);
    wait_for("replica-b matches after its reload", LIMIT, || {
        metrics(&b)
            .contains("\nedlforge_config_matches_leader 1\n")
            .then_some(())
    });
    assert_eq!(status(&b)["replica"]["matches_leader"], true);
    assert!(b.log().contains("match the leader's"), "{}", b.log());

    // lists/ files that differ count too, and replica-b keeps serving the leader's list.
    replace(
        &site_b.path().join("lists/block.txt"),
        "45.137.21.9\n203.0.113.99\n",
    );
    let s = wait_for("replica-b reports its lists/ files differ", LIMIT, || {
        let s = status(&b);
        (s["replica"]["matches_leader"] == false).then_some(s)
    });
    assert_eq!(
        s["replica"]["config_hash"], s["replica"]["leader_config_hash"],
        "{s}"
    );
    assert_ne!(
        s["replica"]["files_hash"], s["replica"]["leader_files_hash"],
        "{s}"
    );
    assert!(b.get("/").body.contains("(lists/ files: leader"));
    assert_eq!(b.get("/lists/pa"), served);
    assert_eq!(warned(&b), 2, "{}", b.log());

    // A healthy leader renews its lease: after well over the lease bound with a contender
    // asking every second, replica-a still leads with its first generation.
    std::thread::sleep((edlforge::store::postgres::LEASE * 2).saturating_sub(t0.elapsed()));
    assert_eq!(one_leader(&[&a, &b]), 0);
    assert!(!a.log().contains("lease expired") && !b.log().contains("lease expired"));
    assert_eq!(status(&b)["lists"][0]["database"]["generation"], 1);
}
