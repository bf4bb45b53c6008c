//! Oracle test: 100k random IP lines (fixed seed) through `convert --vendor plain --type ip`
//! against an independent implementation on Python's `ipaddress` (tests/oracle/collapse.py):
//! same address set, same CIDRs, line for line. Reported as ignored (with the reason) when
//! `build.rs` found no python3; with `EDLFORGE_REQUIRE_ORACLES` set (CI) a missing python3
//! fails `ops::oracles_are_present`.

use std::fmt::Write as _;
use std::process::Command;

use edlforge::compile::guard::{SPECIAL_V4, SPECIAL_V6};

use crate::support::{edlforge, root};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: fixed seed, reproducible on every machine
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn v4(a: u32) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

fn random_lines(seed: u64, n: usize) -> String {
    let mut r = Rng(seed);
    let mut s = String::new();
    for _ in 0..n {
        let kind = r.below(100);
        if kind < 60 {
            // single IPv4, a fifth of them clustered in one /16 so that merging happens
            let a = if r.below(5) == 0 {
                0x5b0c_0000 | (r.next() as u32 & 0xffff)
            } else {
                r.next() as u32
            };
            writeln!(s, "{}", v4(a)).unwrap();
        } else if kind < 80 {
            // /18../32, and one in fifty /6../8 (wider than /8 is refused)
            let p = if r.below(50) == 0 {
                6 + r.below(3)
            } else {
                18 + r.below(15)
            } as u32;
            let a = (r.next() as u32) & (u32::MAX << (32 - p));
            writeln!(s, "{}/{p}", v4(a)).unwrap();
        } else if kind < 90 {
            let a = r.next() as u32;
            let len = r.below(1 << 12) as u32;
            writeln!(s, "{}-{}", v4(a), v4(a.saturating_add(len))).unwrap();
        } else {
            let p = 20 + r.below(109) as u32; // /20../128
            let hi = 0x2000_0000_0000_0000_0000_0000_0000_0000u128
                | ((r.next() as u128) << 64 | r.next() as u128) >> 3;
            let a = if p == 128 {
                hi
            } else {
                hi & (u128::MAX << (128 - p))
            };
            let addr = std::net::Ipv6Addr::from(a);
            if p == 128 {
                writeln!(s, "{addr}").unwrap();
            } else {
                writeln!(s, "{addr}/{p}").unwrap();
            }
        }
    }
    s
}

fn python() -> Option<String> {
    for p in ["python3", "python"] {
        if Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(p.to_string());
        }
    }
    None
}

#[test]
#[cfg_attr(
    not(has_python3),
    ignore = "python3 not found: apt-get install python3"
)]
fn plain_ip_matches_python_ipaddress() {
    // Ignored when build.rs found no python3; run anyway, it fails rather than pass unrun.
    let Some(py) = python() else {
        panic!("python3 not found: apt-get install python3 (then `touch build.rs`)");
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let special = dir.path().join("special.txt");
    std::fs::write(&input, random_lines(0x5eed_0001, 100_000)).unwrap();
    let mut sp = SPECIAL_V4.join("\n");
    sp.push('\n');
    sp.push_str(&SPECIAL_V6.join("\n"));
    std::fs::write(&special, sp).unwrap();

    let ours = edlforge(
        &[
            "convert",
            "--vendor",
            "plain",
            "--type",
            "ip",
            input.to_str().unwrap(),
        ],
        None,
    );
    assert!(ours.status.success());
    let ours = String::from_utf8(ours.stdout).unwrap();
    let ours: Vec<&str> = ours.lines().filter(|l| !l.starts_with('#')).collect();

    let theirs = Command::new(py)
        .arg(root().join("tests/oracle/collapse.py"))
        .arg(&input)
        .arg(&special)
        .output()
        .expect("oracle runs");
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    let theirs: Vec<&str> = theirs.lines().collect();

    assert!(
        ours.len() > 10_000,
        "suspiciously small output: {}",
        ours.len()
    );
    assert_eq!(ours.len(), theirs.len(), "number of CIDRs differs");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "line {i} differs");
    }
}
