//! Criterion benchmarks of the whole in-process pipeline (parse → compile → render) on synthetic
//! feeds made with a fixed seed: IPs at 1M and 10M lines, domains and URLs at 1M lines.
//! Run with `cargo bench --bench compile`; peer comparisons are the scripts beside this file.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use edlforge::compile::guard::Guard;
use edlforge::compile::{AllowSet, Compiler, ListPolicy};
use edlforge::config::Vendor;
use edlforge::format::{Format, FormatOptions};
use edlforge::indicator::{parse_line, Kind};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn ip_feed(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut s = String::with_capacity(n * 15);
    for _ in 0..n {
        let x = r.next();
        let a = x as u32;
        let ip = std::net::Ipv4Addr::from(a);
        match x >> 60 {
            0 => {
                let p = 16 + (x >> 40) as u32 % 17;
                let net = std::net::Ipv4Addr::from(a & (u32::MAX << (32 - p)));
                let _ = writeln!(s, "{net}/{p}");
            }
            1 => {
                let end = std::net::Ipv4Addr::from(a.saturating_add((x >> 44) as u32 % 4096));
                let _ = writeln!(s, "{ip}-{end}");
            }
            _ => {
                let _ = writeln!(s, "{ip}");
            }
        }
    }
    s.into_bytes()
}

const WORDS: &[&str] = &[
    "login", "secure", "account", "paypal", "verify", "update", "bank", "mail", "cdn", "app",
];
const TLDS: &[&str] = &[
    "com", "net", "org", "xyz", "ru", "de", "co.uk", "io", "top", "info",
];

fn name(r: &mut Rng) -> String {
    let x = r.next();
    let w = WORDS[(x % 10) as usize];
    let t = TLDS[((x >> 8) % 10) as usize];
    let n = (x >> 16) % 200_000;
    match (x >> 40) % 10 {
        0 => format!("*.{w}{n}.{t}"),
        1 => format!(
            "{}.{w}{n}.{t}",
            WORDS[((x >> 48) % 10) as usize].to_uppercase()
        ),
        _ => format!("{w}-{n}.{t}"),
    }
}

fn domain_feed(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut s = String::new();
    for _ in 0..n {
        let _ = writeln!(s, "{}", name(&mut r));
    }
    s.into_bytes()
}

fn url_feed(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut s = String::new();
    for _ in 0..n {
        let host = name(&mut r).trim_start_matches("*.").to_string();
        let x = r.next();
        let scheme = if x & 1 == 0 { "http" } else { "https" };
        let _ = writeln!(
            s,
            "{scheme}://{host}/{}/{:x}.php?id={}",
            WORDS[(x >> 4) as usize % 10],
            x >> 20,
            x % 1000
        );
    }
    s.into_bytes()
}

fn run(data: &[u8], vendor: Vendor, kind: Kind) -> u64 {
    let guard = Guard::default();
    let format = Format::new(vendor, FormatOptions::default());
    let policy = ListPolicy {
        name: "bench".into(),
        kinds: vec![kind],
        max_entries: None,
    };
    let mut c = Compiler::new(policy, &guard, &format);
    for line in data.split(|b| *b == b'\n') {
        match parse_line(line, Some(kind)) {
            Ok(Some(p)) => c.push(p.parsed.value, 0, || None),
            Ok(None) => {}
            Err(s) => c.skip(s, || None, ""),
        }
    }
    let list = c.finish(&AllowSet::default());
    format.render(&list).entries
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for (label, n) in [("ip_1m", 1_000_000usize), ("ip_10m", 10_000_000)] {
        let data = ip_feed(n, 4242);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(label, |b| {
            b.iter(|| run(black_box(&data), Vendor::Plain, Kind::Ip))
        });
    }
    let domains = domain_feed(1_000_000, 1);
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("domain_1m_panos", |b| {
        b.iter(|| run(black_box(&domains), Vendor::Panos, Kind::Domain))
    });
    let urls = url_feed(1_000_000, 2);
    g.bench_function("url_1m_panos", |b| {
        b.iter(|| run(black_box(&urls), Vendor::Panos, Kind::Url))
    });
    g.finish();
}

criterion_group!(compile, benches);
criterion_main!(compile);
