//! Fuzz the server's request handling (routes, auth, conditional GET, gzip negotiation) with
//! arbitrary methods, paths, queries and headers: never panic, never a 5xx but the documented
//! 503 of a list not compiled yet, and a 200 for a list is exactly one of its representations.
//! `/taxii2/` requests reach a published TAXII collection (the shared list `share`, basic auth):
//! every answer there is `application/taxii+json;version=2.1`.
#![no_main]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use edlforge::config::{Access, AuthMode, Credential};
use edlforge::metrics::Metrics;
use edlforge::serve::taxii::{Collection, Object};
use edlforge::serve::{handle, Published, Rules, State};
use http_body_util::{BodyExt, Empty};
use libfuzzer_sys::fuzz_target;

fn state() -> &'static (Arc<State>, Arc<Published>, tokio::runtime::Runtime) {
    static S: OnceLock<(Arc<State>, Arc<Published>, tokio::runtime::Runtime)> = OnceLock::new();
    S.get_or_init(|| {
        let open = Access { auth: AuthMode::None, users: vec![], tokens: vec![], clients: vec![] };
        let basic = Access {
            auth: AuthMode::Basic,
            users: vec![Credential { name: "fw".into(), secret: "pw".into() }],
            tokens: vec![],
            clients: vec![],
        };
        let token = Access {
            auth: AuthMode::Token,
            users: vec![],
            tokens: vec![Credential { name: "t".into(), secret: "0123456789abcdef".into() }],
            clients: vec!["127.0.0.0/8".parse().expect("constant")],
        };
        let mut rules = Rules::default();
        rules.lists.insert("pa".into(), open);
        rules.lists.insert("hq".into(), basic);
        rules.lists.insert("dc".into(), token);
        rules.lists.insert(
            "share".into(),
            Access {
                auth: AuthMode::Basic,
                users: vec![Credential { name: "fw".into(), secret: "pw".into() }],
                tokens: vec![],
                clients: vec![],
            },
        );
        rules.lists.insert("never".into(), Access { auth: AuthMode::None, users: vec![], tokens: vec![], clients: vec![] });
        rules.trusted_proxies = vec!["127.0.0.1/32".parse().expect("constant")];
        let st = Arc::new(State::new(rules, Metrics::new()));
        let p = Arc::new(Published::new(b"1.2.3.4\n5.6.7.0/24\n".to_vec(), "abc", 1_700_000_000, "text/plain; charset=utf-8", 2, true));
        st.publish(
            vec![("pa".into(), p.clone()), ("hq".into(), p.clone()), ("dc".into(), p.clone())],
            &["pa".into(), "hq".into(), "dc".into()],
        );
        let objects = (0..5)
            .map(|i| {
                Object::new(
                    format!("indicator--0000000{i}-0000-5000-8000-000000000000"),
                    format!("2026-01-0{}T00:00:00.000000Z", 1 + i % 2),
                    1_767_225_600_000_000 + i64::from(i) * 1_000_000,
                    Bytes::from_static(b"{}"),
                )
            })
            .collect();
        st.publish_collections(
            vec![("share".into(), Arc::new(Collection::new("c0".into(), "share".into(), objects)))],
            &["share".into()],
        );
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        (st, p, rt)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let target = lines.next().unwrap_or("/");
    let method = ["GET", "HEAD", "POST", "OPTIONS"][usize::from(m & 3)];
    let mut b = http::Request::builder().method(method).uri(target);
    for l in lines.take(16) {
        if let Some((k, v)) = l.split_once(':') {
            b = b.header(k.trim(), v.trim());
        }
    }
    let Ok(req) = b.body(Empty::<Bytes>::new()) else { return };
    let path = req.uri().path().to_string();
    let (st, p, rt) = state();
    let peer = if m & 4 != 0 { "127.0.0.1:5000" } else { "192.0.2.9:5000" };
    let resp = rt.block_on(handle(req, peer.parse().expect("constant"), st));
    let status = resp.status().as_u16();
    assert!(status < 500 || status == 503, "status {status}");
    if (path == "/taxii2" || path.starts_with("/taxii2/")) && status != 405 && status != 413 {
        assert_eq!(
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/taxii+json;version=2.1"),
            "{target}"
        );
    }
    if status == 200 && target.starts_with("/lists/") && !target.contains(".md5") && method == "GET" {
        let body = rt.block_on(resp.into_body().collect()).expect("full body").to_bytes();
        assert!(body == p.body || body == p.gzip, "a 200 list body is one of its representations");
    }
});
