//! Unit tests of [`Store`]: layout, atomic pairs, damage, versions, locking.

use super::*;
use crate::indicator::{parse_token, Tlp};
use crate::store::apply_delta;

fn open(dir: &Path) -> Store {
    Store::open(dir, Duration::from_secs(5)).unwrap()
}

fn rec(v: &str, first_seen: i64) -> Record {
    Record {
        value: parse_token(v.as_bytes(), None).unwrap().value,
        first_seen,
        last_seen: first_seen + 10,
        expires: Some(first_seen + 1000),
        confidence: Some(70),
        tlp: Some(Tlp::Green),
        tags: vec!["botnet".into(), "c2\nline".into()],
        comment: Some("seen in the wild\0".into()),
    }
}

fn state(n: u64) -> SourceState {
    SourceState {
        etag: Some(format!("\"e{n}\"")),
        accepted_count: n,
        last_success: Some(n as i64),
        ..SourceState::default()
    }
}

fn snap_path(s: &Store, source: &str) -> PathBuf {
    s.sources.join(format!(
        "{}{SNAP_EXT}",
        name::escape("source", source).unwrap()
    ))
}

fn state_path(s: &Store, source: &str) -> PathBuf {
    s.sources.join(format!(
        "{}{STATE_EXT}",
        name::escape("source", source).unwrap()
    ))
}

#[test]
fn new_store_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = open(&dir);
    assert_eq!(s.data_dir(), dir);
    for f in ["VERSION", "lock", "sources", "lists"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    assert!(s.sources().unwrap().is_empty());
    assert!(s.lists().unwrap().is_empty());
    assert_eq!(s.state("x").unwrap(), None);
    assert!(s.records("x").unwrap().is_empty());
    assert_eq!(s.load_list("x").unwrap(), None);
}

#[test]
fn replace_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    let records = vec![
        rec("1.2.3.4", 1),
        rec("2001:db8::/32", 2),
        rec("*.evil.example", 3),
        rec("http://evil.example/a[.]b?x=1", 4),
        rec(&"ab".repeat(20), 5),
    ];
    s.replace("feed", &records, &state(5)).unwrap();
    assert_eq!(s.records("feed").unwrap(), records);
    assert_eq!(s.state("feed").unwrap(), Some(state(5)));
    drop(s);
    // And after a restart.
    let s = open(tmp.path());
    assert_eq!(s.records("feed").unwrap(), records);
    assert_eq!(s.state("feed").unwrap(), Some(state(5)));
    assert_eq!(s.sources().unwrap(), ["feed"]);
}

#[test]
fn sources_are_real_names_sorted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    let names = [
        "zeta",
        "../etc/passwd",
        "Abuse.ch",
        "abuse.ch",
        "ü feed",
        "a\0b",
        ".",
    ];
    for n in names {
        s.replace(n, &[rec("1.2.3.4", 1)], &state(1)).unwrap();
    }
    s.set_state("only-state", &state(0)).unwrap();
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.push("only-state".into());
    want.sort();
    assert_eq!(s.sources().unwrap(), want);
    // Nothing escaped the directory.
    assert!(!tmp.path().join("etc").exists());
    for n in names {
        assert_eq!(s.records(n).unwrap().len(), 1, "{n:?}");
    }
    assert!(matches!(
        s.replace("", &[], &state(0)),
        Err(StoreError::InvalidName { .. })
    ));
}

#[test]
fn set_state_keeps_records() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    let records = vec![rec("1.2.3.4", 1)];
    s.replace("feed", &records, &state(1)).unwrap();
    let mut st = state(1);
    st.last_error = Some("body is HTML, not a list".into());
    st.last_error_reason = Some("html".into());
    s.set_state("feed", &st).unwrap();
    assert_eq!(s.state("feed").unwrap(), Some(st.clone()));
    assert_eq!(s.records("feed").unwrap(), records);
    // A later replace wins over the older state file.
    s.replace("feed", &[], &state(0)).unwrap();
    assert_eq!(s.state("feed").unwrap(), Some(state(0)));
    assert!(!state_path(&s, "feed").exists());
}

#[test]
fn state_only_source() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.set_state("new", &state(0)).unwrap();
    assert_eq!(s.state("new").unwrap(), Some(state(0)));
    assert!(s.records("new").unwrap().is_empty());
}

// A crash between replace's rename and its removal of the old `.state`, or a `.state` that
// somehow survives: the older state file must lose to the snapshot's own state.
#[test]
fn stale_state_file_loses_to_newer_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.replace("feed", &[rec("1.1.1.1", 1)], &state(1)).unwrap();
    s.set_state("feed", &state(100)).unwrap();
    let stale = std::fs::read(state_path(&s, "feed")).unwrap();
    s.replace("feed", &[rec("2.2.2.2", 1), rec("3.3.3.3", 1)], &state(2))
        .unwrap();
    std::fs::write(state_path(&s, "feed"), stale).unwrap();
    assert_eq!(s.state("feed").unwrap(), Some(state(2)));
    assert_eq!(s.records("feed").unwrap().len(), 2);
    // And set_state after that still wins.
    s.set_state("feed", &state(3)).unwrap();
    assert_eq!(s.state("feed").unwrap(), Some(state(3)));
}

#[test]
fn remove_source() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.replace("a", &[rec("1.1.1.1", 1)], &state(1)).unwrap();
    s.set_state("a", &state(9)).unwrap();
    s.replace("b", &[rec("2.2.2.2", 1)], &state(1)).unwrap();
    s.remove_source("a").unwrap();
    s.remove_source("never-there").unwrap();
    assert_eq!(s.sources().unwrap(), ["b"]);
    assert_eq!(s.state("a").unwrap(), None);
    assert!(s.records("a").unwrap().is_empty());
}

// A crash in the middle of remove_source (state gone, snapshot not yet): the source reads as
// its last replace left it, a consistent pair.
#[test]
fn interrupted_remove_leaves_last_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.replace("a", &[rec("1.1.1.1", 1)], &state(1)).unwrap();
    s.set_state("a", &state(9)).unwrap();
    std::fs::remove_file(state_path(&s, "a")).unwrap();
    assert_eq!(s.state("a").unwrap(), Some(state(1)));
    assert_eq!(s.records("a").unwrap().len(), 1);
}

#[test]
fn lists_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    let meta = ListMeta {
        entries: 2,
        compiled_at: 1_700_000_000,
        changed_at: 1_699_999_000,
        etag: "\"abc\"".into(),
    };
    s.save_list("pa-ips", b"1.2.3.4\n5.6.7.8\n", &meta).unwrap();
    s.save_list("Empty List", b"", &meta).unwrap();
    assert_eq!(
        s.load_list("pa-ips").unwrap(),
        Some((b"1.2.3.4\n5.6.7.8\n".to_vec(), meta.clone()))
    );
    assert_eq!(s.lists().unwrap(), ["Empty List", "pa-ips"]);
    let meta2 = ListMeta { entries: 1, ..meta };
    s.save_list("pa-ips", b"9.9.9.9\n", &meta2).unwrap();
    drop(s);
    let s = open(tmp.path());
    assert_eq!(s.list_meta("pa-ips").unwrap(), Some(meta2.clone()));
    assert_eq!(s.list_meta("nope").unwrap(), None);
    assert_eq!(
        s.load_list("pa-ips").unwrap(),
        Some((b"9.9.9.9\n".to_vec(), meta2))
    );
}

#[test]
fn damaged_snapshot_is_a_clear_error_and_others_still_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    let good: Vec<Record> = (0..50).map(|i| rec(&format!("10.0.0.{i}"), i)).collect();
    s.replace("bad", &good, &state(50)).unwrap();
    s.replace("good", &good, &state(50)).unwrap();
    let path = snap_path(&s, "bad");
    let bytes = std::fs::read(&path).unwrap();
    let shown = path.display().to_string();

    // A flipped bit in the records.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x20;
    std::fs::write(&path, &flipped).unwrap();
    let e = s.records("bad").unwrap_err().to_string();
    assert!(e.starts_with(&shown), "{e}");
    assert!(e.contains("damaged store file"), "{e}");

    // Truncated, at every length.
    for cut in [0, 10, 40, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = s.records("bad").unwrap_err().to_string();
        assert!(e.starts_with(&shown) && e.contains("truncated"), "{e}");
        assert!(s.state("bad").is_err());
    }

    // Garbage.
    std::fs::write(&path, b"hello, world, this is no store file at all").unwrap();
    let e = s.records("bad").unwrap_err().to_string();
    assert!(e.contains("wrong magic"), "{e}");

    // The other source is untouched, and the damaged one recovers on its next replace.
    assert_eq!(s.records("good").unwrap(), good);
    assert_eq!(s.state("good").unwrap(), Some(state(50)));
    s.replace("bad", &good[..3], &state(3)).unwrap();
    assert_eq!(s.records("bad").unwrap().len(), 3);
    assert_eq!(s.state("bad").unwrap(), Some(state(3)));
}

#[test]
fn damaged_state_file_is_an_error_until_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.set_state("a", &state(1)).unwrap();
    std::fs::write(state_path(&s, "a"), b"EDLFSTAT\x01\0\0\0").unwrap();
    let e = s.state("a").unwrap_err().to_string();
    assert!(e.contains("a.state") && e.contains("truncated"), "{e}");
    s.set_state("a", &state(2)).unwrap();
    assert_eq!(s.state("a").unwrap(), Some(state(2)));
}

#[test]
fn file_swapped_between_sources_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.replace("a", &[rec("1.1.1.1", 1)], &state(1)).unwrap();
    std::fs::copy(snap_path(&s, "a"), snap_path(&s, "b")).unwrap();
    let e = s.records("b").unwrap_err().to_string();
    assert!(e.contains("the header names \"a\""), "{e}");
}

#[test]
fn unparsable_values_are_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let s = open(tmp.path());
    // Hand-written records: a good one, one whose text no parser takes, a good one.
    let mut payload = Vec::new();
    let mut scratch = record::Scratch::default();
    payload.extend_from_slice(record::encode_record(&rec("1.1.1.1", 1), &mut scratch));
    let mut bad = Vec::new();
    bad.extend_from_slice(&[1, 0]); // domain, no optional fields
    codec::put_str(&mut bad, "evil..example");
    codec::put_i64(&mut bad, 1);
    codec::put_i64(&mut bad, 0);
    codec::put_u64(&mut bad, 0);
    codec::put_bytes(&mut payload, &bad);
    payload.extend_from_slice(record::encode_record(&rec("2.2.2.2", 1), &mut scratch));
    let header = record::encode_snap_header(
        "feed",
        &SnapHeader {
            gen: 1,
            count: 3,
            state: state(3),
        },
    );
    file::write_atomic_as(&s.sources, "feed.snap", MAGIC_SNAP, 1, &header, |w| {
        w.write(&payload)
    })
    .unwrap();
    let got = s.records("feed").unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(s.load("feed").unwrap().to_records(), got);
    let mut reader = s.read_records("feed").unwrap();
    assert_eq!(reader.by_ref().filter(Result::is_ok).count(), 2);
    assert_eq!(reader.skipped(), 1);
    assert_eq!(reader.first_skipped(), Some("evil..example"));
}

#[test]
fn unparsable_values_are_skipped_and_counted_in_format_2() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.replace(
        "feed",
        &[rec("1.1.1.1", 1), rec("evil.example", 1), rec("2.2.2.2", 1)],
        &state(3),
    )
    .unwrap();
    // Damage the name's text in place (same length), then fix the payload checksum so only the
    // value is wrong: "evil.example" -> "evil..xample".
    let path = snap_path(&s, "feed");
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.windows(6).position(|w| w == b"evil.e").unwrap();
    bytes[i + 5] = b'.';
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let payload_start = 16 + header_len + 4;
    let crc = codec::Crc32::of(&bytes[payload_start..]);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
    let header_crc = codec::Crc32::of(&bytes[..16 + header_len]);
    bytes[16 + header_len..payload_start].copy_from_slice(&header_crc.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(s.records("feed").unwrap().len(), 2);
    assert_eq!(s.load("feed").unwrap().len(), 2);
    let mut reader = s.read_records("feed").unwrap();
    assert_eq!(reader.by_ref().filter(Result::is_ok).count(), 2);
    assert_eq!(reader.first_skipped(), Some("evil..xample"));
}

#[test]
fn newer_store_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    std::fs::write(tmp.path().join("VERSION"), "3\n").unwrap();
    let e = Store::open(tmp.path(), Duration::ZERO).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}/ was written by a newer edlforge (format 3, this one reads up to 2); upgrade \
             edlforge or use another data_dir",
            tmp.path().display()
        )
    );
}

#[test]
fn newer_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.replace("a", &[rec("1.1.1.1", 1)], &state(1)).unwrap();
    let path = snap_path(&s, "a");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8] = 3; // format, little-endian
    std::fs::write(&path, bytes).unwrap();
    let e = s.records("a").unwrap_err();
    assert!(matches!(e, StoreError::NewerFile { found: 3, .. }), "{e}");
    assert!(e.to_string().starts_with(&path.display().to_string()));
}

#[test]
fn leftover_temp_files_are_removed_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    s.replace("a", &[rec("1.1.1.1", 1)], &state(1)).unwrap();
    let leftover = s.sources.join(".a.snap.tmp");
    std::fs::write(&leftover, b"half a snapshot").unwrap();
    drop(s);
    let s = open(tmp.path());
    assert!(!leftover.exists());
    assert_eq!(s.records("a").unwrap().len(), 1);
}

#[test]
fn second_open_waits_then_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open(tmp.path());
    let t = std::time::Instant::now();
    let e = Store::open(tmp.path(), Duration::from_millis(150)).unwrap_err();
    assert!(t.elapsed() >= Duration::from_millis(150));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "data_dir {} is held by another edlforge (pid {})",
            tmp.path().display(),
            std::process::id()
        )),
        "{msg}"
    );
    assert!(msg.contains("another data_dir"), "{msg}");
    drop(first);
    let _second = Store::open(tmp.path(), Duration::ZERO).unwrap();
}

#[test]
fn waiting_open_gets_the_lock_when_released() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open(tmp.path());
    let dir = tmp.path().to_path_buf();
    let waiter = std::thread::spawn(move || Store::open(&dir, Duration::from_secs(10)).is_ok());
    std::thread::sleep(Duration::from_millis(100));
    drop(first);
    assert!(waiter.join().unwrap());
}

// `load` decodes format 2 in batches straight from the read buffer: records cut by the 1 MiB
// buffer boundary, long names and every family must come back as `records` gives them.
#[test]
fn load_equals_records_across_buffer_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    let mut records = Vec::new();
    for i in 0..150_000u32 {
        let v = match i % 4 {
            0 => format!("{}.{}.{}.{}", 1 + i % 200, (i >> 8) & 255, i & 255, i % 7),
            1 => format!("[2001:db8::{:x}:{:x}]", i >> 16, i & 0xffff),
            2 => format!("h{i}x{}.evil.com", "x".repeat((i % 50) as usize)),
            _ => format!("http://u{i}.evil.com/{}", "p".repeat((i % 300) as usize)),
        };
        records.push(rec(&v, i64::from(i % 3)));
    }
    s.replace("big", &records, &state(records.len() as u64))
        .unwrap();
    let set = s.load("big").unwrap();
    assert_eq!(set, RecordSet::from_records(s.records("big").unwrap()));
    assert_eq!(set.len(), records.len());
    assert_eq!(set.stamps().len(), 3);
    s.replace_set("big2", &set, &state(1)).unwrap();
    assert_eq!(s.load("big2").unwrap(), set);
}

#[test]
fn indicator_index_round_trips_and_is_dropped_when_behind_its_snapshot() {
    use crate::source::taxii::stix::{Status, Version};
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path());
    assert!(s.load_indicators("isac").unwrap().is_empty());
    let mut idx = IndicatorIndex::default();
    let version = |id: &str, status| Version {
        id: id.into(),
        modified: Some("2026-01-01T00:00:00Z".into()),
        status,
        values: vec![parse_token(b"203.0.113.5", None).unwrap().value],
        expires: Some(2_000_000_000),
        starts: None,
        confidence: Some(80),
        tlp: Some(Tlp::Amber),
        tags: vec!["c2".into()],
        comment: Some("C2".into()),
    };
    let (records, _) = apply_delta(
        &mut idx,
        vec![],
        vec![
            version("indicator--a", Status::Active),
            version("indicator--b", Status::Revoked),
        ],
        1_800_000_000,
        0,
        None,
    );
    // The index first, then its snapshot (the pipeline's order): read back whole.
    s.save_indicators("isac", &idx).unwrap();
    s.replace("isac", &records, &state(1)).unwrap();
    assert_eq!(s.load_indicators("isac").unwrap(), idx);
    assert_eq!(s.sources().unwrap(), ["isac"]);
    // A crash between the two writes leaves the index ahead: still used.
    s.save_indicators("isac", &idx).unwrap();
    assert_eq!(s.load_indicators("isac").unwrap(), idx);
    // A snapshot written without an index (an older binary): the index is behind, not used.
    s.replace("isac", &records, &state(2)).unwrap();
    s.replace("isac", &records, &state(3)).unwrap();
    assert!(s.load_indicators("isac").unwrap().is_empty());
    // Damage is a clear error naming the file.
    s.save_indicators("isac", &idx).unwrap();
    let path = tmp.path().join("sources").join("isac.ids");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let e = s.read_indicators("isac").unwrap_err().to_string();
    assert!(e.contains("isac.ids"), "{e}");
    // ... and not used (logged): it never blocks the source's polls.
    assert!(s.load_indicators("isac").unwrap().is_empty());
    // Removing the source removes its index.
    s.remove_source("isac").unwrap();
    assert!(!path.exists());
    assert!(s.sources().unwrap().is_empty());
}
