//! `feeds.toml` loading: good files load, bad files give the exact messages in
//! `tests/fixtures/config/bad-*.err` (file:line:column, key, what is allowed), all at once.

use std::path::Path;

use edlforge::config::{Config, LoadError, Role, Transport};

use crate::support::fixture;

fn errors_of(name: &str) -> String {
    let text = std::fs::read_to_string(fixture(&format!("config/{name}.toml"))).unwrap();
    match Config::from_text(&text, Path::new("feeds.toml")) {
        Ok(_) => panic!("{name} loaded"),
        Err(LoadError::Invalid(errs)) => errs.iter().map(|e| format!("{e}\n")).collect::<String>(),
        Err(e) => panic!("{e}"),
    }
}

macro_rules! bad_config {
    ($test:ident, $name:expr) => {
        #[test]
        fn $test() {
            crate::support::golden(
                &fixture(&format!("config/{}.err", $name)),
                &errors_of($name),
            );
        }
    };
}

bad_config!(
    unknown_key_is_refused_with_the_allowed_keys,
    "bad-unknown-key"
);
bad_config!(every_problem_is_reported_at_once, "bad-many");
// See: issue 12 item 14: one unknown key hid the other three; a typo got 42 keys, not a hint.
bad_config!(
    an_unknown_key_hides_no_other_error_and_gets_a_hint,
    "bad-all-at-once"
);
// See: issue 12 item 14: a source with an error caused `no block source has tag "tor"`.
bad_config!(
    errors_that_only_follow_from_another_are_not_reported,
    "bad-follow-on"
);
bad_config!(secrets_must_be_references_and_resolve, "bad-secret-missing");

#[test]
fn server_and_access_mistakes_are_reported_at_once() {
    // SAFETY: set before any thread of this test reads the environment; the name is unique.
    unsafe { std::env::set_var("EDLFORGE_TEST_SHORT_TOKEN", "short") };
    crate::support::golden(
        &fixture("config/bad-server-access.err"),
        &errors_of("bad-server-access"),
    );
}

#[test]
fn small_config_gets_the_defaults() {
    let c = Config::load(&fixture("config/good-small.toml")).unwrap();
    assert_eq!(c.sources.len(), 1);
    let s = &c.sources[0];
    assert_eq!(s.refresh.as_secs(), 3600);
    assert_eq!(s.confidence, 50);
    assert_eq!(s.role, Role::Block);
    assert!(matches!(&s.transport, Transport::File { path } if path.ends_with("block.txt")));
    let l = &c.lists[0];
    assert_eq!(l.sources, ["local-block"]);
    assert_eq!(l.max_tlp, edlforge::indicator::Tlp::Green);
    assert!(c.data_dir.ends_with("data"));
}

#[test]
fn the_shipped_feeds_toml_loads() {
    let c = Config::load(&crate::support::root().join("feeds.toml")).unwrap();
    assert!(c.sources.len() >= 8, "{} sources", c.sources.len());
    assert!(c.lists.len() >= 9);
    let vendors: std::collections::HashSet<_> = c.lists.iter().map(|l| l.vendor).collect();
    assert_eq!(
        vendors.len(),
        edlforge::config::Vendor::ALL.len(),
        "one list per vendor"
    );
}

#[test]
fn secrets_in_clear_half_clear_or_empty_are_refused_where_written() {
    // See: issue 12 item 8. The empty one stands for `${env:X}` with X exported empty, which
    // let `curl -u 'fw-hq:'` read the list.
    // SAFETY: set before any thread of this test reads the environment; the names are unique.
    unsafe {
        std::env::set_var("EDLFORGE_TEST_SET_SECRET", "0123456789abcdef0123");
        std::env::set_var("EDLFORGE_TEST_EMPTY_SECRET", "");
    }
    crate::support::golden(
        &fixture("config/bad-secrets-clear.err"),
        &errors_of("bad-secrets-clear"),
    );
}

#[test]
fn check_refuses_a_half_clear_secret_with_file_line_and_column() {
    // See: issue 12 item 8 (`password = "hunter2${env:X}"` was accepted).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("feeds.toml");
    std::fs::write(
        &config,
        "[[source]]\nname = \"s\"\nurl = \"https://feeds.example.com/x.txt\"\nusername = \"me\"\npassword = \"hunter2${env:HOME}\"\n",
    )
    .unwrap();
    let out = crate::support::edlforge(&["check", "--config", config.to_str().unwrap()], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("feeds.toml:5:12: source.s.password: part of this secret is in clear"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "the clear part is not echoed: {err}"
    );
}
