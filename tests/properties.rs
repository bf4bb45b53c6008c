//! Property tests of the compiler as a whole (fixed seeds via proptest's deterministic runner).
//!
//! - IP output covers exactly (∪ inputs) − allowlist − special space, with no overlap and no two
//!   entries that could merge, in CIDR and range styles. Checked by brute force over a 4096-address
//!   window that straddles the start of 10.0.0.0/8.
//! - The same inputs in any order give byte-identical output for every vendor.

use proptest::prelude::*;

use edlforge::compile::guard::Guard;
use edlforge::compile::{AllowSet, CompiledList, Compiler, ListPolicy};
use edlforge::config::Vendor;
use edlforge::format::{Format, FormatOptions};
use edlforge::indicator::{parse_line, IpRange, Kind, Value};

const BASE: u32 = 0x09ff_f800; // 9.255.248.0; 10.0.0.0 is BASE + 2048
const WINDOW: u32 = 4096;

fn compile_ips(inputs: &[(u32, u32)], allow: &[(u32, u32)], ranges: bool) -> CompiledList {
    let guard = Guard::default();
    let format = Format::new(
        Vendor::Plain,
        FormatOptions {
            ranges,
            ..FormatOptions::default()
        },
    );
    let policy = ListPolicy {
        name: "p".into(),
        kinds: vec![Kind::Ip],
        max_entries: None,
    };
    let mut c = Compiler::new(policy, &guard, &format);
    for &(s, e) in inputs {
        c.push(Value::Ip(IpRange::V4 { start: s, end: e }), 0, || None);
    }
    let allow = AllowSet::new(
        allow
            .iter()
            .map(|&(s, e)| Value::Ip(IpRange::V4 { start: s, end: e })),
    );
    c.finish(&allow)
}

fn interval() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        // CIDR-aligned blocks
        (0u32..WINDOW, 0u32..8).prop_map(|(o, p)| {
            let size = 1u32 << p;
            let s = BASE + (o & !(size - 1));
            (s, s + size - 1)
        }),
        // arbitrary ranges
        (0u32..WINDOW, 0u32..300).prop_map(|(o, l)| {
            let s = BASE + o;
            (s, (s + l).min(BASE + WINDOW - 1))
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn ip_output_is_exact_and_minimal(
        inputs in prop::collection::vec(interval(), 0..40),
        allow in prop::collection::vec(interval(), 0..6),
        ranges in any::<bool>(),
    ) {
        let list = compile_ips(&inputs, &allow, ranges);
        let inside = |set: &[(u32, u32)], x: u32| set.iter().any(|&(s, e)| s <= x && x <= e);
        let out: Vec<(u32, u32)> = list.v4.iter().map(|l| (l.start, l.end)).collect();
        for x in BASE..BASE + WINDOW {
            let special = x >= 0x0a00_0000;
            let want = inside(&inputs, x) && !inside(&allow, x) && !special;
            prop_assert_eq!(inside(&out, x), want, "address {}", std::net::Ipv4Addr::from(x));
        }
        for w in out.windows(2) {
            prop_assert!(w[0].1 < w[1].0, "overlap or disorder: {:?}", w);
            if ranges {
                prop_assert!(w[0].1 + 1 < w[1].0, "adjacent ranges not merged: {:?}", w);
            } else {
                let size = w[0].1 - w[0].0 + 1;
                let buddies = size == w[1].1 - w[1].0 + 1
                    && w[0].1 + 1 == w[1].0
                    && w[0].0 % (2 * size) == 0;
                prop_assert!(!buddies, "two CIDRs could merge: {:?}", w);
            }
        }
        if !ranges {
            for &(s, e) in &out {
                let size = (e - s) as u64 + 1;
                prop_assert!(size.is_power_of_two() && (s as u64).is_multiple_of(size), "not a CIDR: {s}-{e}");
            }
        }
    }
}

const POOL: &[&str] = &[
    "5.8.8.8",
    "5.8.8.9",
    "5.8.8.0/29",
    "45.9.148.0/24",
    "45.9.149.7",
    "81.2.69.160-81.2.69.200",
    "10.0.0.1",
    "9.255.255.250-10.0.0.5",
    "2a00:1450:4001:814::200e",
    "2a0b:4340::/48",
    "evil.com",
    "EVIL.com",
    "*.evil.com",
    "a.evil.com",
    "*.phish.net",
    "phish.net",
    "co.uk",
    "bücher.de",
    "http://evil.com/x",
    "https://evil.com/x",
    "evil.com/x",
    "http://evil.com:8080/x",
    "hxxp://bad[.]org/kit",
    "d41d8cd98f00b204e9800998ecf8427e",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "bogus line",
    "010.1.1.1",
];

fn render(lines: &[&str], vendor: Vendor, kind: Option<Kind>) -> Vec<u8> {
    let guard = Guard::default();
    let format = Format::new(vendor, FormatOptions::default());
    let kinds = kind.map_or_else(|| format.kinds().to_vec(), |k| vec![k]);
    let policy = ListPolicy {
        name: "order".into(),
        kinds,
        max_entries: Some(7),
    };
    let mut c = Compiler::new(policy, &guard, &format);
    for l in lines {
        match parse_line(l.as_bytes(), kind) {
            Ok(Some(p)) => c.push(p.parsed.value, 0, || None),
            Ok(None) => {}
            Err(s) => c.skip(s, || None, l),
        }
    }
    format.render(&c.finish(&AllowSet::default())).body
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    // max_entries 7 is in the config above so capacity selection is exercised too.
    #[test]
    fn output_does_not_depend_on_input_order(
        picks in prop::collection::vec(0..POOL.len(), 1..40),
        shuffled in Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
    ) {
        let lines: Vec<&str> = picks.iter().map(|&i| POOL[i]).collect();
        let mut other = lines.clone();
        // a deterministic permutation from proptest's seeded RNG
        let mut x = shuffled | 1;
        for i in (1..other.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            other.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for vendor in Vendor::ALL {
            let format = Format::new(vendor, FormatOptions::default());
            let kinds: Vec<Option<Kind>> = if format.one_type_per_list() {
                format.kinds().iter().map(|k| Some(*k)).collect()
            } else {
                vec![None]
            };
            for k in kinds {
                prop_assert_eq!(render(&lines, vendor, k), render(&other, vendor, k), "{} {:?}", vendor, k);
            }
        }
    }
}
