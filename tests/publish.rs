//! The publication rule and the gates through `compile`, `check` and `explain` (issue 11,
//! items 4 and 6): a list `serve` would answer 503 for is not written, `--strict` sees a failed
//! last attempt whether or not the source was due, `check` refuses an unreadable `file` path,
//! and a typed source's foreign lines count toward `max_invalid_ratio`.

use crate::support::{run_config as run, write};

// See: issue 11, item 4.
#[test]
fn invalid_ratio_counts_lines_of_the_wrong_type() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "feeds.toml",
        "[[source]]\nname = \"a\"\npath = \"a.txt\"\ntype = \"ip\"\nmax_shrink = 1.0\n\n[[list]]\nname = \"fw\"\nvendor = \"plain\"\ntypes = [\"ip\"]\n",
    );
    let ips: String = (1..=10).map(|i| format!("45.9.148.{i}\n")).collect();
    write(d.path(), "a.txt", &ips);
    let (code, out, err) = run(d.path(), &["compile"]);
    assert_eq!(code, 0, "{out}{err}");
    let good = std::fs::read_to_string(d.path().join("out/fw.txt")).unwrap();
    // The provider switched to names: 10 IPs and 20 domains, 67% foreign to an `ip` source.
    let names: String = (1..=20).map(|i| format!("host{i}.evil-x.com\n")).collect();
    write(d.path(), "a.txt", &format!("{ips}{names}"));
    let (_, out, _) = run(d.path(), &["compile"]);
    assert!(out.contains("FAILED invalid_ratio"), "{out}");
    assert!(out.contains("30 lines cannot become ip entries"), "{out}");
    assert!(out.contains("invalid 0, wrong_type 20"), "{out}");
    let fw = std::fs::read_to_string(d.path().join("out/fw.txt")).unwrap();
    assert_eq!(fw, good, "still the last good set");
    // Comments and blank lines never count, however many.
    let comments: String = (1..=50).map(|i| format!("# note {i}\n\n")).collect();
    write(d.path(), "a.txt", &format!("{comments}{ips}45.9.149.1\n"));
    let (_, out, _) = run(d.path(), &["compile"]);
    assert!(out.contains("updated (+1 -0)"), "{out}");
}

const NEVER: &str = r#"
[[source]]
name = "a"
path = "a.txt"
allow_empty = true

[[source]]
name = "down"
url = "http://127.0.0.1:9/feed.txt"
retries = 0
timeout = "2s"

[[list]]
name = "fw"
vendor = "panos"
types = ["ip"]
sources = ["a", "down"]
"#;

// See: issue 11, item 6 (compile writes what serve would refuse).
#[test]
fn compile_does_not_write_a_list_serve_would_withhold() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "feeds.toml", NEVER);
    write(d.path(), "a.txt", "# nothing yet\n");
    std::fs::create_dir_all(d.path().join("out")).unwrap();
    // A good file from an earlier setup: it must survive a run that would write an empty list.
    write(d.path(), "out/fw.txt", "45.9.148.7\n");
    let (code, out, err) = run(d.path(), &["compile"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/fw.txt")).unwrap(),
        "45.9.148.7\n",
        "an existing file is left as it is"
    );
    assert!(err.contains("held back 1 list(s), not written"), "{err}");
    assert!(
        err.contains("fw: withheld: never published, and it compiled empty because source down has never delivered data"),
        "{err}"
    );
    assert!(err.contains("wrote 0 lists"), "{err}");
    let (_, out, _) = run(d.path(), &["explain", "45.9.148.7"]);
    assert!(
        out.contains("list fw (panos): not served: withheld"),
        "{out}"
    );
    // Once published, the list follows its sources, down to zero entries.
    write(d.path(), "a.txt", "45.9.148.8\n");
    let (code, _, err) = run(d.path(), &["compile"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/fw.txt")).unwrap(),
        "45.9.148.8\n"
    );
    write(d.path(), "a.txt", "# removed\n");
    let (code, _, err) = run(d.path(), &["compile"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("held back"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/fw.txt")).unwrap(),
        "",
        "a deliberately emptied list is published empty"
    );
}

// See: issue 11, item 6 (--strict and sources that failed but are not due).
#[test]
fn strict_sees_a_failed_last_attempt_whether_or_not_due() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "feeds.toml", NEVER);
    write(d.path(), "a.txt", "45.9.148.7\n");
    let (code, _, err) = run(d.path(), &["compile", "--strict"]);
    assert_eq!(code, 3, "the fetch failed in this run: {err}");
    // Second run: `down` is not due for an hour, but its last attempt failed.
    let (code, out, err) = run(d.path(), &["compile", "--strict"]);
    assert!(out.contains("not due"), "{out}");
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("1 source(s) of the written lists failed their last attempt: down"),
        "{err}"
    );
    let (code, _, err) = run(d.path(), &["compile"]);
    assert_eq!(
        code, 0,
        "without --strict a failing source is a warning: {err}"
    );
}

// See: issue 11, item 6 (check accepts a file source that cannot be read).
#[test]
fn check_refuses_a_file_source_it_cannot_read() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("lists/dir")).unwrap();
    write(
        d.path(),
        "feeds.toml",
        "[[source]]\nname = \"a\"\npath = \"lists/blok.txt\"\n\n[[source]]\nname = \"b\"\npath =   \"lists/dir\"\n\n[[list]]\nname = \"fw\"\nvendor = \"plain\"\n",
    );
    let (code, out, err) = run(d.path(), &["check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("feeds.toml:3:8: source.a.path: cannot read")
            && err.contains("blok.txt (no such file)"),
        "{err}"
    );
    assert!(
        err.contains("feeds.toml:7:10: source.b.path: cannot read")
            && err.contains("(it is a directory)"),
        "{err}"
    );
    write(d.path(), "lists/blok.txt", "");
    write(
        d.path(),
        "feeds.toml",
        "[[source]]\nname = \"a\"\npath = \"lists/blok.txt\"\n\n[[list]]\nname = \"fw\"\nvendor = \"plain\"\n",
    );
    let (code, out, err) = run(d.path(), &["check"]);
    assert_eq!(code, 0, "{out}{err}");
}
