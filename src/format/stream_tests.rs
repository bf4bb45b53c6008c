//! [`Format::write_to`] (streamed) gives the bytes and count of [`Format::render`] (whole body).

use std::io;

use proptest::prelude::*;

use crate::compile::{AllowSet, Compiler, Guard, ListPolicy};
use crate::config::Vendor;
use crate::format::{Format, FormatOptions, Spill};
use crate::indicator::{parse_token, Kind, Meta};

fn compile(format: &Format, tokens: &[String]) -> crate::compile::CompiledList {
    let guard = Guard::default();
    let policy = ListPolicy {
        name: "stream\ttest".into(),
        kinds: format.kinds().to_vec(),
        max_entries: None,
    };
    let mut c = Compiler::new(policy, &guard, format);
    for (i, t) in tokens.iter().enumerate() {
        let meta = c.add_meta(Meta {
            confidence: Some((i % 7) as u8 * 10),
            ..Meta::default()
        });
        if let Ok(p) = parse_token(t.as_bytes(), None) {
            c.push(p.value, meta, || None);
        }
    }
    c.finish(&AllowSet::default())
}

fn formats() -> Vec<Format> {
    let mut v = vec![];
    for vendor in [
        Vendor::Plain,
        Vendor::Panos,
        Vendor::Fortigate,
        Vendor::CiscoSi,
    ] {
        for ranges in [false, true] {
            let f = Format::new(
                vendor,
                FormatOptions {
                    ranges,
                    ..FormatOptions::default()
                },
            );
            if !ranges || f.accepts_ranges() {
                v.push(f);
            }
        }
    }
    v
}

/// A writer that takes at most `step` bytes per call (partial writes), optionally failing once
/// `fail_after` bytes are in.
struct Trickle {
    got: Vec<u8>,
    step: usize,
    fail_after: Option<usize>,
}

impl io::Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.fail_after.is_some_and(|n| self.got.len() >= n) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
        }
        let n = buf.len().min(self.step);
        self.got.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|a| std::net::Ipv4Addr::from(a).to_string()),
        (any::<u32>(), 8u8..=32).prop_map(|(a, p)| {
            let a = a & (u32::MAX << (32 - p as u32));
            format!("{}/{p}", std::net::Ipv4Addr::from(a))
        }),
        (any::<u32>(), 0u32..5000).prop_map(|(a, l)| format!(
            "{}-{}",
            std::net::Ipv4Addr::from(a),
            std::net::Ipv4Addr::from(a.saturating_add(l))
        )),
        any::<u128>().prop_map(|a| std::net::Ipv6Addr::from(a | (0x2a << 120)).to_string()),
        "(\\*\\.)?[a-z]{1,12}\\.(com|net|org|co\\.uk)",
        "https?://[a-z]{1,10}\\.com(:8080)?/[a-zA-Z0-9/]{0,20}",
        "[0-9a-f]{64}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn streamed_bytes_and_count_equal_rendered(
        tokens in prop::collection::vec(token(), 0..300),
        step in 1usize..5000,
    ) {
        for f in formats() {
            let list = compile(&f, &tokens);
            let whole = f.render(&list);
            let mut w = Trickle { got: vec![], step, fail_after: None };
            let (n, r) = f.write_to(&list, &mut w);
            prop_assert!(r.is_ok());
            prop_assert_eq!(n, whole.entries, "{}", f.vendor);
            prop_assert!(w.got == whole.body, "{} ranges={}", f.vendor, f.options.ranges);
        }
    }
}

/// Bodies many chunks long: every chunk boundary falls at a line end and nothing is lost.
#[test]
fn streams_lists_longer_than_a_chunk() {
    let tokens: Vec<String> = (0..60_000u32)
        .map(|i| std::net::Ipv4Addr::from(0x2d00_0000 + i * 3).to_string())
        .chain((0..20_000).map(|i| format!("host{i}.example.com")))
        .collect();
    for f in [
        Format::new(Vendor::Plain, FormatOptions::default()),
        Format::new(Vendor::Panos, FormatOptions::default()),
    ] {
        let kinds: Vec<Kind> = f.kinds().to_vec();
        let list = compile(&f, &tokens);
        let whole = f.render(&list);
        assert!(whole.body.len() > 4 * Spill::CHUNK, "{}", whole.body.len());
        let mut w = Trickle {
            got: vec![],
            step: usize::MAX,
            fail_after: None,
        };
        let (n, r) = f.write_to(&list, &mut w);
        r.unwrap();
        assert_eq!(n, whole.entries, "{} {kinds:?}", f.vendor);
        assert!(w.got == whole.body, "{}", f.vendor);
    }
}

/// A failed write is reported, the count is still the whole list's, and nothing after the
/// failure is written.
#[test]
fn a_write_error_is_returned_with_the_full_count() {
    let tokens: Vec<String> = (0..40_000u32)
        .map(|i| std::net::Ipv4Addr::from(0x2d00_0000 + i * 3).to_string())
        .collect();
    let f = Format::new(Vendor::Plain, FormatOptions::default());
    let list = compile(&f, &tokens);
    let whole = f.render(&list);
    let mut w = Trickle {
        got: vec![],
        step: usize::MAX,
        fail_after: Some(1),
    };
    let (n, r) = f.write_to(&list, &mut w);
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    assert_eq!(n, whole.entries);
    assert!(whole.body.starts_with(&w.got) && w.got.len() < whole.body.len());
}
