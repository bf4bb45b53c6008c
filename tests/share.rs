//! Sharing: a `vendor = "stix"` list served by `edlforge serve` as a STIX 2.1 bundle and a TAXII
//! 2.1 collection, checked from outside.
//!
//! - The OASIS `taxii2-client` and `stix2-validator` (a virtualenv that `.ci/run` makes in
//!   `target/share-venv`, or `EDLFORGE_SHARE_PYTHON`) run `tests/fixtures/share/taxii_client.py`
//!   against the server on 127.0.0.1: discovery → API root → collections → objects paged two at a
//!   time, every object validated, 401 without credentials, an `added_after` poll after no change
//!   returns nothing, a removed entry comes back revoked and a new entry as a new indicator.
//!   Missing (`build.rs` finds it), that test shows as ignored with the reason; with
//!   `EDLFORGE_REQUIRE_ORACLES` set (CI), `ops::oracles_are_present` fails instead.
//! - Round trip (no Python): an edlforge `kind = "taxii"` source polling the server's own
//!   collection yields exactly the shared entries, and an entry inside an allow source is never
//!   shared even though the block source carries it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::serve::Serve;
use crate::support::{edlforge, fixture, root};

/// Upper bound for the server to start or recompile on a loaded machine (failure only).
const SETTLE: Duration = Duration::from_secs(60);
const PASSWORD: &str = "isac-secret-1";

/// What the block source carries. `81.2.69.10` is inside the allow source: never shared.
const SENSORS: &str = "45.137.21.0/24\n91.92.242.17\n81.2.69.10\ncdn-static-files.org\nmalware-c2.top\nhttp://update-flash-player.info/download/setup.exe\naec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f\n";
/// Our own networks.
const OURS: &str = "81.2.69.0/24\n";

fn config() -> String {
    r#"[server]
tls = "off"
organization = "Example CERT"

[[source]]
name = "sensors"
path = "lists/sensors.txt"

[[source]]
name = "ours"
path = "lists/ours.txt"
role = "allow"

[[list]]
name = "community"
vendor = "stix"
sources = ["sensors"]
allow = ["ours"]
auth = "basic"
users = [{ name = "isac", password = "${env:ISAC_PW}" }]

[[list]]
name = "community-plain"
vendor = "plain"
sources = ["sensors"]
allow = ["ours"]
"#
    .to_string()
}

/// `edlforge serve` on the site in `dir`, with the community password in its environment.
fn start(dir: &Path) -> Serve {
    let mut cmd = Serve::command(dir, "127.0.0.1:0");
    cmd.env("ISAC_PW", PASSWORD);
    Serve::spawn(cmd)
}

fn site() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("lists")).unwrap();
    std::fs::write(d.path().join("feeds.toml"), config()).unwrap();
    std::fs::write(d.path().join("lists/sensors.txt"), SENSORS).unwrap();
    std::fs::write(d.path().join("lists/ours.txt"), OURS).unwrap();
    d
}

fn client() -> reqwest::Client {
    edlforge::source::http::ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// GETs `url` until `ok` accepts the status and body (bounded by [`SETTLE`]).
async fn wait_for(
    c: &reqwest::Client,
    url: &str,
    auth: bool,
    ok: impl Fn(u16, &str) -> bool,
) -> String {
    let t = Instant::now();
    loop {
        let mut rq = c.get(url);
        if auth {
            rq = rq.basic_auth("isac", Some(PASSWORD));
        }
        if let Ok(r) = rq.send().await {
            let code = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            if ok(code, &body) {
                return body;
            }
        }
        assert!(t.elapsed() < SETTLE, "timed out waiting for {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The entry lines of a plain list (header dropped), sorted.
fn entries(plain: &str) -> Vec<String> {
    let mut v: Vec<String> = plain
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_taxii_source_round_trips_and_allowlisted_entries_stay_home() {
    let site = site();
    let srv = start(site.path());
    let c = client();
    let bundle = wait_for(&c, &srv.url("/lists/community"), true, |s, _| s == 200).await;
    let plain = wait_for(&c, &srv.url("/lists/community-plain"), false, |s, _| {
        s == 200
    })
    .await;
    let shared = entries(&plain);
    assert_eq!(shared.len(), 6, "{plain}");

    // The bundle: STIX media type, and our own network is not in it though the block source has it.
    let r = c
        .get(srv.url("/lists/community"))
        .basic_auth("isac", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/stix+json;version=2.1"
    );
    assert!(SENSORS.contains("81.2.69.10"));
    assert!(!bundle.contains("81.2.69."), "{bundle}");
    let v: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    assert_eq!(v["type"], "bundle");

    // Without credentials the collection is refused, with a TAXII error body.
    let r = c
        .get(srv.url("/taxii2/api/collections/community/objects/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["content-type"],
        "application/taxii+json;version=2.1"
    );
    let e: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(e["http_status"], "401");

    // The collection list: 401 without or with wrong credentials, the list's collection with
    // the right ones.
    let cols = srv.url("/taxii2/api/collections/");
    let r = c.get(&cols).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(&cols)
        .basic_auth("isac", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(&cols)
        .basic_auth("isac", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["collections"][0]["title"], "community");
    assert_eq!(v["collections"][0]["can_write"], false);

    // Every TAXII object, paged: the allowlisted address is in none.
    let objects = wait_for(
        &c,
        &srv.url("/taxii2/api/collections/community/objects/?limit=1000"),
        true,
        |s, b| s == 200 && b.contains("indicator--"),
    )
    .await;
    assert!(!objects.contains("81.2.69."), "{objects}");

    // An edlforge TAXII source polling this server gets exactly the shared entries.
    let poller = tempfile::tempdir().unwrap();
    let pw = poller.path().join("pw");
    std::fs::write(&pw, PASSWORD).unwrap();
    std::fs::write(
        poller.path().join("feeds.toml"),
        format!(
            "[[source]]\nname = \"peer\"\nkind = \"taxii\"\nurl = \"{}\"\ncollection = \"community\"\n\
             username = \"isac\"\npassword = \"${{file:{}}}\"\npage_size = 2\n\n\
             [[list]]\nname = \"back\"\nvendor = \"plain\"\n",
            srv.url("/taxii2/"),
            pw.display()
        ),
    )
    .unwrap();
    let cfg = poller.path().join("feeds.toml");
    let out = edlforge(
        &["compile", "--force", "--config", cfg.to_str().unwrap()],
        None,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}\nserver log:\n{}", srv.log());
    let back = std::fs::read_to_string(poller.path().join("out/back.txt")).unwrap();
    assert_eq!(entries(&back), shared, "{back}");
}

/// The virtualenv's python with taxii2-client and stix2-validator (`build.rs` found it, or the
/// test calling this is ignored).
fn share_python() -> PathBuf {
    match std::env::var_os("EDLFORGE_SHARE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => root().join("target/share-venv/bin/python"),
    }
}

/// Runs the OASIS client script; its JSON output.
fn poll(python: &Path, srv: &Serve, added_after: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new(python);
    cmd.arg(fixture("share/taxii_client.py"))
        .arg(srv.url("/taxii2/"))
        .args(["isac", PASSWORD]);
    if let Some(a) = added_after {
        cmd.arg(a);
    }
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "taxii_client.py failed:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        srv.log()
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

fn patterns(v: &serde_json::Value) -> Vec<(String, bool)> {
    let mut p: Vec<(String, bool)> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .map(|o| {
            (
                o["pattern"].as_str().unwrap().to_string(),
                o["revoked"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    p.sort();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_share_python),
    ignore = "taxii2-client/stix2-validator venv not found: set EDLFORGE_SHARE_PYTHON=/path/to/venv/bin/python or run .ci/run"
)]
async fn oasis_client_pages_validates_and_sees_changes() {
    let python = share_python();
    let site = site();
    let srv = start(site.path());
    let c = client();
    wait_for(&c, &srv.url("/lists/community"), true, |s, _| s == 200).await;

    let first = poll(&python, &srv, None);
    assert_eq!(first["unauthenticated_status"], 401);
    assert_eq!(
        first["unauthenticated_content_type"],
        "application/taxii+json;version=2.1"
    );
    assert_eq!(first["title"], "edlforge");
    assert_eq!(first["versions"][0], "application/taxii+json;version=2.1");
    let cols = first["collections"].as_array().unwrap();
    assert_eq!(cols.len(), 1, "{cols:?}");
    assert_eq!(cols[0]["title"], "community");
    assert_eq!(cols[0]["can_read"], true);
    assert_eq!(cols[0]["can_write"], false);
    // Every TAXII object and the /lists/ bundle pass stix2-validator.
    assert_eq!(first["invalid"], serde_json::json!([]), "{first}");
    assert_eq!(
        first["bundle_content_type"],
        "application/stix+json;version=2.1"
    );
    // identity + TLP:GREEN + 6 indicators, two per page.
    let objects = first["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 8, "{first}");
    assert_eq!(first["pages"], 4);
    assert_eq!(first["manifest"].as_array().unwrap().len(), 8);
    let p = patterns(&first);
    assert_eq!(p.len(), 6);
    assert!(p.contains(&("[domain-name:value = 'malware-c2.top']".into(), false)));
    assert!(p.iter().all(|(p, _)| !p.contains("81.2.69.")), "{p:?}");
    let identity = objects
        .iter()
        .find(|o| o["type"] == "identity")
        .expect("an identity");
    assert_eq!(identity["name"], "Example CERT");
    for o in objects.iter().filter(|o| o["type"] == "indicator") {
        assert_eq!(o["created_by_ref"], identity["id"]);
        assert_eq!(
            o["object_marking_refs"][0],
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
        );
    }
    let last = first["date_added_last"].as_str().unwrap().to_string();

    // Nothing changed: an added_after poll returns nothing.
    let again = poll(&python, &srv, Some(&last));
    assert_eq!(again["objects"], serde_json::json!([]), "{again}");

    // One entry leaves, one arrives: exactly a revoked version and a new indicator.
    let changed = SENSORS.replace("malware-c2.top\n", "new-c2.top\n");
    let tmp = site.path().join("lists/sensors.tmp");
    std::fs::write(&tmp, changed).unwrap();
    std::fs::rename(&tmp, site.path().join("lists/sensors.txt")).unwrap();
    wait_for(&c, &srv.url("/lists/community"), true, |s, b| {
        s == 200 && b.contains("new-c2.top")
    })
    .await;
    let delta = poll(&python, &srv, Some(&last));
    assert_eq!(delta["invalid"], serde_json::json!([]), "{delta}");
    assert_eq!(
        patterns(&delta),
        [
            ("[domain-name:value = 'malware-c2.top']".to_string(), true),
            ("[domain-name:value = 'new-c2.top']".to_string(), false),
        ],
        "{delta}"
    );
    let revoked = delta["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["revoked"] == true)
        .unwrap();
    let id = revoked["id"].as_str().unwrap();
    // The revoked indicator kept its id; it has two versions now.
    assert!(objects.iter().any(|o| o["id"] == id));
    assert_eq!(
        delta["object_versions"][id].as_array().unwrap().len(),
        2,
        "{delta}"
    );
}

#[test]
fn stix_lists_need_an_organization_and_take_a_retention() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("feeds.toml");
    let list =
        "[[source]]\nname = \"s\"\npath = \"s.txt\"\n\n[[list]]\nname = \"c\"\nvendor = \"stix\"\n";
    std::fs::write(&p, list).unwrap();
    let e = edlforge::config::Config::load(&p).unwrap_err().to_string()
        + &format!("{:?}", edlforge::config::Config::load(&p).unwrap_err());
    assert!(e.contains("list.c.vendor"), "{e}");
    assert!(e.contains("needs [server] organization"), "{e}");
    std::fs::write(
        &p,
        format!("[server]\norganization = \"Example CERT\"\n\n{list}share_retention = \"90d\"\n"),
    )
    .unwrap();
    let c = edlforge::config::Config::load(&p).unwrap();
    assert_eq!(c.lists[0].organization, "Example CERT");
    assert_eq!(c.lists[0].share_retention, Duration::from_secs(90 * 86_400));
    std::fs::write(
        &p,
        format!("[server]\norganization = \"Example CERT\"\n\n{list}"),
    )
    .unwrap();
    let c = edlforge::config::Config::load(&p).unwrap();
    assert_eq!(c.lists[0].share_retention, Duration::from_secs(30 * 86_400));
}
