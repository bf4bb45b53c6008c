//! Format: a [`CompiledList`] to the exact bytes a firewall accepts. One file per vendor; each
//! offers the same items (`DEFAULT_MAX_ENTRIES`, `KINDS`, `ONE_TYPE_PER_LIST`,
//! `PLAIN_NAME_COVERS_SUBDOMAINS`, `admit`, `ip_style`, `write`, and where they differ
//! `domain_lines` and `url_key`), and this module
//! dispatches on [`Vendor`] with a plain `match`.
//!
//! Output is deterministic: no timestamps, stable order, so replicas produce identical bytes.
//! Only formats whose vendor documents whole-line `#` comments get a header line.

pub mod checkpoint;
pub mod cisco;
pub mod fortigate;
pub mod panos;
pub mod plain;
pub mod proxysg;
pub mod sophos;
pub mod stix;
#[cfg(test)]
mod stream_tests;

use std::borrow::Cow;
use std::io::{self, Write as _};
use std::net::Ipv6Addr;

use crate::compile::{CompiledList, IpLine, IpStyle, VendorRules};
use crate::config::Vendor;
use crate::indicator::ip::write_v4;
use crate::indicator::{Domain, DomainRef, Kind, Skip, SkipReason, UrlValue, Value};

/// Options a list gives its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOptions {
    /// Write IP sets as `start-end` ranges where the vendor allows (fewest lines).
    pub ranges: bool,
    /// Category name (ProxySG `define category`).
    pub category: String,
    /// What a shared (`stix`) list says about itself.
    pub share: ShareOptions,
}

/// The producer and marking of a shared (`vendor = "stix"`) list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareOptions {
    /// The producer's name (`[server] organization`).
    pub organization: String,
    /// The TLP every indicator is marked with (the list's `max_tlp`).
    pub tlp: crate::indicator::Tlp,
}

impl Default for ShareOptions {
    fn default() -> Self {
        ShareOptions {
            organization: "edlforge".to_string(),
            tlp: crate::indicator::Tlp::Green,
        }
    }
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            ranges: false,
            category: "edlforge".to_string(),
            share: ShareOptions::default(),
        }
    }
}

/// A list rendered for one vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedList {
    /// The file content.
    pub body: Vec<u8>,
    /// Entry lines written (headers and comments not counted).
    pub entries: u64,
}

/// A vendor with its options: the [`VendorRules`] the compiler consults, and the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// The vendor.
    pub vendor: Vendor,
    /// The options.
    pub options: FormatOptions,
}

impl Format {
    /// A format for `vendor` with `options`.
    pub fn new(vendor: Vendor, options: FormatOptions) -> Self {
        Format { vendor, options }
    }

    /// The HTTP `Content-Type` the list is served with: `text/csv` for Check Point's IoC CSV
    /// (a CSV file, `checkpoint.rs` [C2]), the STIX 2.1 media type for a STIX bundle
    /// (`stix.rs` [X]), plain text for every other format (each vendor polls a text file).
    pub fn content_type(&self) -> &'static str {
        match self.vendor {
            Vendor::Checkpoint => "text/csv; charset=utf-8",
            Vendor::Stix => "application/stix+json;version=2.1",
            _ => "text/plain; charset=utf-8",
        }
    }

    /// Whether the server also offers `/lists/{name}.md5`: Cisco FMC Security Intelligence
    /// feeds polled every 30 minutes or more often need an MD5 URL holding only the checksum
    /// (`cisco.rs` [K4]).
    pub fn md5_url(&self) -> bool {
        self.vendor == Vendor::CiscoSi
    }

    /// The vendor's default `max_entries` (`None` = no documented limit).
    pub fn default_max_entries(&self) -> Option<u64> {
        match self.vendor {
            Vendor::Panos => panos::DEFAULT_MAX_ENTRIES,
            Vendor::Fortigate => fortigate::DEFAULT_MAX_ENTRIES,
            Vendor::Checkpoint => checkpoint::DEFAULT_MAX_ENTRIES,
            Vendor::CheckpointFeed => checkpoint::FEED_DEFAULT_MAX_ENTRIES,
            Vendor::Sophos => sophos::DEFAULT_MAX_ENTRIES,
            Vendor::CiscoTid => cisco::TID_DEFAULT_MAX_ENTRIES,
            Vendor::CiscoSi => cisco::SI_DEFAULT_MAX_ENTRIES,
            Vendor::Proxysg => proxysg::DEFAULT_MAX_ENTRIES,
            Vendor::Plain => plain::DEFAULT_MAX_ENTRIES,
            Vendor::Stix => stix::DEFAULT_MAX_ENTRIES,
        }
    }

    /// The kinds the vendor takes.
    pub fn kinds(&self) -> &'static [Kind] {
        match self.vendor {
            Vendor::Panos => panos::KINDS,
            Vendor::Fortigate => fortigate::KINDS,
            Vendor::Checkpoint => checkpoint::KINDS,
            Vendor::CheckpointFeed => checkpoint::FEED_KINDS,
            Vendor::Sophos => sophos::KINDS,
            Vendor::CiscoTid => cisco::TID_KINDS,
            Vendor::CiscoSi => cisco::SI_KINDS,
            Vendor::Proxysg => proxysg::KINDS,
            Vendor::Plain => plain::KINDS,
            Vendor::Stix => stix::KINDS,
        }
    }

    /// True when one list may hold only one type of indicator.
    pub fn one_type_per_list(&self) -> bool {
        match self.vendor {
            Vendor::Panos => panos::ONE_TYPE_PER_LIST,
            Vendor::Fortigate => fortigate::ONE_TYPE_PER_LIST,
            Vendor::Checkpoint => checkpoint::ONE_TYPE_PER_LIST,
            Vendor::CheckpointFeed => checkpoint::FEED_ONE_TYPE_PER_LIST,
            Vendor::Sophos => sophos::ONE_TYPE_PER_LIST,
            Vendor::CiscoTid => cisco::TID_ONE_TYPE_PER_LIST,
            Vendor::CiscoSi => cisco::SI_ONE_TYPE_PER_LIST,
            Vendor::Proxysg => proxysg::ONE_TYPE_PER_LIST,
            Vendor::Plain => plain::ONE_TYPE_PER_LIST,
            Vendor::Stix => stix::ONE_TYPE_PER_LIST,
        }
    }

    /// True when the vendor can write IP sets as `start-end` ranges (what `ranges = true` asks
    /// for). Derived from the vendor's own IP style, so the rule lives in its file only.
    pub fn accepts_ranges(&self) -> bool {
        let with_ranges = Format::new(
            self.vendor,
            FormatOptions {
                ranges: true,
                ..self.options.clone()
            },
        );
        with_ranges.ip_style() == IpStyle::Range
    }

    /// Writes the list.
    pub fn render(&self, list: &CompiledList) -> RenderedList {
        let mut out = Vec::with_capacity(estimate(list));
        let o = &self.options;
        let entries = match self.vendor {
            Vendor::Panos => panos::write(list, o, &mut out),
            Vendor::Fortigate => fortigate::write(list, o, &mut out),
            Vendor::Checkpoint => checkpoint::write(list, o, &mut out),
            Vendor::CheckpointFeed => checkpoint::write_feed(list, o, &mut out),
            Vendor::Sophos => sophos::write(list, o, &mut out),
            Vendor::CiscoTid => cisco::write_tid(list, o, &mut out),
            Vendor::CiscoSi => cisco::write_si(list, o, &mut out),
            Vendor::Proxysg => proxysg::write(list, o, &mut out),
            Vendor::Plain => plain::write(list, o, &mut out),
            Vendor::Stix => stix::write(list, o, &mut out),
        };
        RenderedList { body: out, entries }
    }

    /// Writes the list to `w` as it is made: the same bytes as [`Format::render`]'s body, but
    /// for the formats whose lists grow to millions of lines (plain, PAN-OS) without holding
    /// the whole body in memory (`convert` of a 10M-line feed); the others are rendered first.
    /// Returns the entry count, counted to the end even when a write failed, and the first
    /// write error.
    pub fn write_to(&self, list: &CompiledList, w: &mut dyn io::Write) -> (u64, io::Result<()>) {
        match self.vendor {
            Vendor::Plain => Spill::stream(w, plain::HEADROOM, |out, spill| {
                plain::write_with(list, out, &mut |b| spill(b))
            }),
            Vendor::Panos => Spill::stream(w, panos::HEADROOM, |out, spill| {
                panos::write_with(list, out, &mut |b| spill(b))
            }),
            _ => {
                let r = self.render(list);
                (r.entries, w.write_all(&r.body))
            }
        }
    }
}

/// A value of a type the vendor does not take.
const UNSUPPORTED_TYPE: Skip = Skip::new(
    SkipReason::VendorUnsupported,
    "the vendor does not take this type",
);

impl VendorRules for Format {
    fn admit(&self, value: &Value) -> Result<(), Skip> {
        if let Value::Domain(d) = value {
            return self.admit_domain(d.view());
        }
        if !self.kinds().contains(&value.kind()) {
            return Err(UNSUPPORTED_TYPE);
        }
        let o = &self.options;
        match self.vendor {
            Vendor::Panos => panos::admit(value, o),
            Vendor::Fortigate => fortigate::admit(value, o),
            Vendor::Checkpoint => checkpoint::admit(value, o),
            Vendor::CheckpointFeed => checkpoint::admit_feed(value, o),
            Vendor::Sophos => sophos::admit(value, o),
            Vendor::CiscoTid => cisco::admit_tid(value, o),
            Vendor::CiscoSi => cisco::admit_si(value, o),
            Vendor::Proxysg => proxysg::admit(value, o),
            Vendor::Plain => plain::admit(value, o),
            Vendor::Stix => stix::admit(value, o),
        }
    }

    /// No vendor has a rule on a domain beyond taking the type (the vendor modules' `admit`
    /// judge URLs and addresses alone): a rule on names belongs here, the one path of both.
    fn admit_domain(&self, _d: DomainRef<'_>) -> Result<(), Skip> {
        if !self.kinds().contains(&Kind::Domain) {
            return Err(UNSUPPORTED_TYPE);
        }
        Ok(())
    }

    fn ip_style(&self) -> IpStyle {
        let o = &self.options;
        match self.vendor {
            Vendor::Panos => panos::ip_style(o),
            Vendor::Fortigate => fortigate::ip_style(o),
            Vendor::Checkpoint => checkpoint::ip_style(o),
            Vendor::CheckpointFeed => checkpoint::feed_ip_style(o),
            Vendor::Sophos => sophos::ip_style(o),
            Vendor::CiscoTid => cisco::tid_ip_style(o),
            Vendor::CiscoSi => cisco::si_ip_style(o),
            Vendor::Proxysg => proxysg::ip_style(o),
            Vendor::Plain => plain::ip_style(o),
            Vendor::Stix => stix::ip_style(o),
        }
    }

    fn domain_lines(&self, d: DomainRef<'_>) -> usize {
        match self.vendor {
            Vendor::Panos => panos::domain_lines(d),
            Vendor::CheckpointFeed => checkpoint::feed_domain_lines(d),
            _ => 1,
        }
    }

    fn plain_name_covers_subdomains(&self) -> bool {
        match self.vendor {
            Vendor::Panos => panos::PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::Fortigate => fortigate::PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::Checkpoint => checkpoint::PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::CheckpointFeed => checkpoint::FEED_PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::Sophos => sophos::PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::CiscoTid => cisco::TID_PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::CiscoSi => cisco::SI_PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::Proxysg => proxysg::PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::Plain => plain::PLAIN_NAME_COVERS_SUBDOMAINS,
            Vendor::Stix => stix::PLAIN_NAME_COVERS_SUBDOMAINS,
        }
    }

    fn url_key<'a>(&self, u: &'a UrlValue) -> Cow<'a, str> {
        match self.vendor {
            Vendor::Panos => panos::url_key(u),
            Vendor::Fortigate => fortigate::url_key(u),
            Vendor::Checkpoint => checkpoint::url_key(u),
            Vendor::Sophos => sophos::url_key(u),
            Vendor::CiscoTid => cisco::tid_url_key(u),
            Vendor::CiscoSi => cisco::si_url_key(u),
            Vendor::Proxysg => proxysg::url_key(u),
            Vendor::CheckpointFeed | Vendor::Plain => plain::url_key(u),
            Vendor::Stix => stix::url_key(u),
        }
    }
}

fn estimate(list: &CompiledList) -> usize {
    (list.v4.len() * 16 + list.v6.len() * 40 + list.domains.len() * 24 + list.urls.len() * 64)
        .saturating_add(list.hashes.len() * 66)
        .min(1 << 30)
}

// ---- shared writing helpers ---------------------------------------------------------------

/// The `# <list> generated by edlforge: N entries` header, for formats whose vendor documents
/// whole-line `#` comments. No timestamp: the same input must give the same bytes.
pub(crate) fn header(out: &mut Vec<u8>, list: &CompiledList, entries: u64) {
    let name: String = list
        .name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let _ = writeln!(out, "# {name} generated by edlforge: {entries} entries");
}

/// One IP line as text, for writers that need more than the text.
pub(crate) struct IpText<'a> {
    /// `a`, `a/len` or `a-b`.
    pub text: &'a [u8],
    /// True for a single address.
    pub single: bool,
    /// Confidence of the line.
    pub confidence: u8,
}

fn push_v6(out: &mut Vec<u8>, a: u128) {
    let _ = write!(out, "{}", Ipv6Addr::from(a));
}

fn write_one<T: crate::compile::ipset::Addr>(
    buf: &mut Vec<u8>,
    start: T,
    end: T,
    style: IpStyle,
    push: fn(&mut Vec<u8>, T),
) -> bool {
    push(buf, start);
    if start == end {
        return true;
    }
    let span = end.wide() - start.wide();
    match style {
        IpStyle::Cidr => {
            // a CIDR block: size is a power of two
            let len = T::BITS - (span.count_ones());
            buf.push(b'/');
            push_small(buf, len);
        }
        IpStyle::Range | IpStyle::Hosts => {
            buf.push(b'-');
            push(buf, end);
        }
    }
    false
}

/// Writes `n` (at most 999) in decimal without going through `fmt`.
fn push_small(buf: &mut Vec<u8>, n: u32) {
    if n >= 100 {
        buf.push(b'0' + (n / 100 % 10) as u8);
    }
    if n >= 10 {
        buf.push(b'0' + (n / 10 % 10) as u8);
    }
    buf.push(b'0' + (n % 10) as u8);
}

/// Calls `f` for every IP line of the list (IPv4 then IPv6), expanded per the list's style:
/// CIDR blocks as `a/len`, ranges as `a-b`, hosts one per line; single addresses bare.
pub(crate) fn for_each_ip(list: &CompiledList, mut f: impl FnMut(IpText<'_>)) {
    let mut buf = Vec::with_capacity(96);
    fn each<T: crate::compile::ipset::Addr>(
        lines: &[IpLine<T>],
        style: IpStyle,
        push: fn(&mut Vec<u8>, T),
        buf: &mut Vec<u8>,
        f: &mut dyn FnMut(IpText<'_>),
    ) {
        for l in lines {
            if style == IpStyle::Hosts {
                let mut a = l.start.wide();
                let end = l.end.wide();
                loop {
                    buf.clear();
                    push(buf, T::narrow(a));
                    f(IpText {
                        text: buf,
                        single: true,
                        confidence: l.confidence,
                    });
                    if a >= end {
                        break;
                    }
                    a += 1;
                }
            } else {
                buf.clear();
                let single = write_one(buf, l.start, l.end, style, push);
                f(IpText {
                    text: buf,
                    single,
                    confidence: l.confidence,
                });
            }
        }
    }
    each(&list.v4, list.ip_style, write_v4, &mut buf, &mut f);
    each(&list.v6, list.ip_style, push_v6, &mut buf, &mut f);
}

/// Writes every IP line, one per line. Returns the count.
pub(crate) fn write_ips(list: &CompiledList, out: &mut Vec<u8>) -> u64 {
    write_ips_with(list, out, &mut |_| {})
}

/// [`write_ips`], calling `spill(out)` after each line (see [`Spill`]).
pub(crate) fn write_ips_with(
    list: &CompiledList,
    out: &mut Vec<u8>,
    spill: &mut impl FnMut(&mut Vec<u8>),
) -> u64 {
    if list.ip_style == IpStyle::Hosts {
        let mut n = 0;
        for_each_ip(list, |ip| {
            out.extend_from_slice(ip.text);
            out.push(b'\n');
            n += 1;
            spill(out);
        });
        return n;
    }
    // One line per interval: written straight into `out` (the lines of `for_each_ip`, without
    // its per-line buffer and copy).
    fn each<T: crate::compile::ipset::Addr>(
        lines: &[IpLine<T>],
        style: IpStyle,
        push: fn(&mut Vec<u8>, T),
        out: &mut Vec<u8>,
        spill: &mut impl FnMut(&mut Vec<u8>),
    ) {
        for l in lines {
            write_one(out, l.start, l.end, style, push);
            out.push(b'\n');
            spill(out);
        }
    }
    each(&list.v4, list.ip_style, write_v4, out, spill);
    each(&list.v6, list.ip_style, push_v6, out, spill);
    (list.v4.len() + list.v6.len()) as u64
}

/// How many lines [`for_each_ip`] gives for the list (hosts style: one per address).
pub(crate) fn ip_lines(list: &CompiledList) -> u64 {
    fn each<T: crate::compile::ipset::Addr>(lines: &[IpLine<T>], style: IpStyle) -> u64 {
        match style {
            IpStyle::Hosts => lines
                .iter()
                .map(|l| (l.end.wide() - l.start.wide()).saturating_add(1) as u64)
                .fold(0u64, u64::saturating_add),
            IpStyle::Cidr | IpStyle::Range => lines.len() as u64,
        }
    }
    each(&list.v4, list.ip_style).saturating_add(each(&list.v6, list.ip_style))
}

/// Writes one text line per domain/URL/hash entry through `text`. Returns the count.
pub(crate) fn write_lines<V>(
    entries: &[crate::compile::Entry<V>],
    out: &mut Vec<u8>,
    text: impl FnMut(&V, &mut Vec<u8>) -> u64,
) -> u64 {
    write_lines_with(entries, out, &mut |_| {}, text)
}

/// [`write_lines`], calling `spill(out)` after each entry (see [`Spill`]).
pub(crate) fn write_lines_with<V>(
    entries: &[crate::compile::Entry<V>],
    out: &mut Vec<u8>,
    spill: &mut impl FnMut(&mut Vec<u8>),
    mut text: impl FnMut(&V, &mut Vec<u8>) -> u64,
) -> u64 {
    entries
        .iter()
        .map(|e| {
            let n = text(&e.value, out);
            spill(out);
            n
        })
        .sum()
}

/// Hands a writer's buffer to an [`io::Write`] each time it holds [`Spill::CHUNK`] bytes (the
/// writers call it at line ends), so streaming a list costs one chunk of memory instead of the
/// whole body. The first write error is kept and ends the writing; later calls only clear the
/// buffer.
pub(crate) struct Spill<'w> {
    w: &'w mut dyn io::Write,
    err: Option<io::Error>,
}

impl<'w> Spill<'w> {
    /// Bytes gathered before each write.
    pub(crate) const CHUNK: usize = 128 * 1024;

    pub(crate) fn new(w: &'w mut dyn io::Write) -> Self {
        Spill { w, err: None }
    }

    /// Writes `buf` out once it is full.
    pub(crate) fn spill(&mut self, buf: &mut Vec<u8>) {
        if buf.len() >= Self::CHUNK {
            self.flush(buf);
        }
    }

    fn flush(&mut self, buf: &mut Vec<u8>) {
        if self.err.is_none() {
            if let Err(e) = self.w.write_all(buf) {
                self.err = Some(e);
            }
        }
        buf.clear();
    }

    /// Writes what is left and returns the first error, if any.
    pub(crate) fn finish(mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        self.flush(buf);
        match self.err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Spill<'_> {
    /// Streams what `write_with(out, spill)` makes to `w`, one [`Spill::CHUNK`] (plus
    /// `headroom`, the longest line) at a time: the body of every vendor's `write_to`.
    /// Returns the entry count `write_with` returns and the first write error.
    pub(crate) fn stream(
        w: &mut dyn io::Write,
        headroom: usize,
        write_with: impl FnOnce(&mut Vec<u8>, &mut dyn FnMut(&mut Vec<u8>)) -> u64,
    ) -> (u64, io::Result<()>) {
        let mut out = Vec::with_capacity(Spill::CHUNK + headroom);
        let mut spill = Spill::new(w);
        let n = write_with(&mut out, &mut |b| spill.spill(b));
        (n, spill.finish(&mut out))
    }
}

/// Writes a domain as normalized: `*.name` for a wildcard, else `name`.
pub(crate) fn write_domain(out: &mut Vec<u8>, d: &Domain) {
    if d.wildcard {
        out.extend_from_slice(b"*.");
    }
    out.extend_from_slice(d.name.as_bytes());
}

/// A `vendor_unsupported` skip.
pub(crate) const fn unsupported(detail: &'static str) -> Skip {
    Skip::new(SkipReason::VendorUnsupported, detail)
}

/// Number of addresses in an IP value minus one.
pub(crate) fn span(v: &Value) -> u128 {
    match v {
        Value::Ip(r) => r.span(),
        _ => 0,
    }
}

/// True for an IPv6 value.
pub(crate) fn is_v6(v: &Value) -> bool {
    matches!(v, Value::Ip(crate::indicator::IpRange::V6 { .. }))
}
