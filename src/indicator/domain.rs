//! Domain names: case folding, IDNA (UTS-46) to A-labels, the `*.` wildcard, and the label rules.
//!
//! Pure-ASCII names without `xn--` labels (nearly every line of a real feed) take a byte-level
//! fast path; everything else goes through `idna`'s non-strict UTS-46 mapping, after which the
//! label rules below are applied again because that mapping lets `*`, spaces and symbols through.

use super::skip::Skip;

/// A normalized domain name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain {
    /// Lowercase A-label form without a trailing dot, e.g. `xn--bcher-kva.example`.
    pub name: String,
    /// True for `*.name`: the name and all its subdomains.
    pub wildcard: bool,
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.view().fmt(f)
    }
}

impl Domain {
    /// The domain as a [`DomainRef`].
    pub fn view(&self) -> DomainRef<'_> {
        DomainRef {
            name: &self.name,
            wildcard: self.wildcard,
        }
    }
}

/// A [`Domain`] whose name lies elsewhere (in the buffer of names a compiler collects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainRef<'a> {
    /// The name, as in [`Domain::name`].
    pub name: &'a str,
    /// As [`Domain::wildcard`].
    pub wildcard: bool,
}

impl DomainRef<'_> {
    /// The owned domain.
    pub fn to_domain(self) -> Domain {
        Domain {
            name: self.name.to_string(),
            wildcard: self.wildcard,
        }
    }
}

impl std::fmt::Display for DomainRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.name)
        } else {
            f.write_str(self.name)
        }
    }
}

/// Longest name, RFC 1035 §2.3.4 (without the root dot).
pub const MAX_NAME: usize = 253;
/// Longest label, RFC 1035 §2.3.4.
pub const MAX_LABEL: usize = 63;

const TRAILING_DOTS: Skip = Skip::invalid("more than one trailing dot");
const EMPTY_LABEL: Skip = Skip::invalid("empty label");
const LABEL_CHARS: Skip =
    Skip::invalid("label with a character other than letters, digits, '-' and '_'");
const LABEL_HYPHEN: Skip = Skip::invalid("label starts or ends with '-'");
const LABEL_LONG: Skip = Skip::invalid("label longer than 63 characters");
const NAME_LONG: Skip = Skip::invalid("name longer than 253 characters");
const NUMERIC_TLD: Skip = Skip::invalid("last label is all digits (no such TLD)");
const IDNA: Skip = Skip::invalid("not a valid internationalized name (IDNA)");
const PUNYCODE: Skip = Skip::invalid("xn-- label that does not decode");

/// Checks the label rules on an already lowercase ASCII name (one pass over the bytes).
pub fn check_labels(name: &str) -> Result<(), Skip> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err(EMPTY_LABEL);
    }
    if b.len() > MAX_NAME {
        return Err(NAME_LONG);
    }
    let mut start = 0;
    let mut all_digits = true;
    for i in 0..=b.len() {
        let c = if i < b.len() { b[i] } else { b'.' };
        if c == b'.' {
            let len = i - start;
            if len == 0 {
                return Err(EMPTY_LABEL);
            }
            if len > MAX_LABEL {
                return Err(LABEL_LONG);
            }
            if b[start] == b'-' || b[i - 1] == b'-' {
                return Err(LABEL_HYPHEN);
            }
            if i == b.len() && all_digits {
                return Err(NUMERIC_TLD);
            }
            start = i + 1;
            all_digits = true;
        } else if c.is_ascii_lowercase() || c == b'-' || c == b'_' {
            all_digits = false;
        } else if !c.is_ascii_digit() {
            return Err(LABEL_CHARS);
        }
    }
    Ok(())
}

fn has_xn_label(name: &str) -> bool {
    let b = name.as_bytes();
    (0..b.len()).any(|i| {
        (i == 0 || b[i - 1] == b'.')
            && b.len() - i >= 4
            && b[i..i + 4].eq_ignore_ascii_case(b"xn--")
    })
}

/// Normalizes a host name (no wildcard handling): lowercase A-labels, one trailing dot removed.
/// Returns the name and whether it changed. A name with Unicode or `xn--` labels is put together
/// label by label when each label can be judged alone ([`labelwise_name`], the same result:
/// property tests against `normalize_name_whole` (in the tests)), else mapped whole.
pub fn normalize_name(raw: &str) -> Result<(String, bool), Skip> {
    let s = strip_trailing_dot(raw)?;
    let dot = s.len() != raw.len();
    if s.is_ascii() && !has_xn_label(s) {
        return lowercase_name(s, dot);
    }
    match labelwise_name(s) {
        Some(name) => {
            let changed = dot || name != s;
            Ok((name, changed))
        }
        None => idna_name(s, dot),
    }
}

/// `raw` without its one trailing dot; two are refused.
fn strip_trailing_dot(raw: &str) -> Result<&str, Skip> {
    match raw.strip_suffix('.') {
        Some(stripped) if stripped.ends_with('.') => Err(TRAILING_DOTS),
        Some(stripped) => Ok(stripped),
        None => Ok(raw),
    }
}

/// [`normalize_name`] with the whole name mapped through UTS-46 at once: the reference the
/// label-by-label path is tested against.
#[cfg(test)]
pub(crate) fn normalize_name_whole(raw: &str) -> Result<(String, bool), Skip> {
    let s = strip_trailing_dot(raw)?;
    let dot = s.len() != raw.len();
    if s.is_ascii() && !has_xn_label(s) {
        lowercase_name(s, dot)
    } else {
        idna_name(s, dot)
    }
}

/// A name of ASCII without `xn--` labels (trailing dot removed; `dot`: there was one),
/// lowercased and checked.
fn lowercase_name(s: &str, dot: bool) -> Result<(String, bool), Skip> {
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let name = if upper {
        s.to_ascii_lowercase()
    } else {
        s.to_string()
    };
    check_labels(&name)?;
    Ok((name, dot || upper))
}

/// A name mapped whole through UTS-46 (trailing dot removed; `dot`: there was one), checked.
fn idna_name(s: &str, dot: bool) -> Result<(String, bool), Skip> {
    let ascii = idna::domain_to_ascii(s).map_err(|_| IDNA)?;
    // idna validates xn-- labels on the way; check again that each decodes, so an
    // undecodable label can never reach a firewall.
    for label in ascii.split('.') {
        if let Some(rest) = label.strip_prefix("xn--") {
            if idna::punycode::decode_to_string(rest).is_none() {
                return Err(PUNYCODE);
            }
        }
    }
    check_labels(&ascii)?;
    let changed = dot || ascii != s;
    Ok((ascii, changed))
}

/// One label as [`normalize_name`] writes it within any name that needs UTS-46 and holds no
/// right-to-left label, or `None` when that cannot be told from the label alone: any `idna`
/// error, an `xn--` result that does not decode, a label that maps to more than one (`。`, `⒈`)
/// or to nothing, or one with a character `idna` may count as right-to-left (then the Bidi rule
/// of RFC 5893 judges every label of the name together, so no label can be judged alone).
///
/// Why the label alone decides otherwise: UTS-46 maps each code point on its own, NFC never
/// reaches across a `.`, and every check but the Bidi rule is made label by label
/// (`idna::uts46::Uts46::process`); a label of ASCII letters, digits, `-` and `_` without
/// `xn--` is only lowercased. A name is then the join of its labels' results, and
/// [`normalize_name`] adds its own checks on the joined name ([`check_labels`]), which the
/// caller makes too. Compared against [`normalize_name`] by property tests
/// (`indicator::url`'s differential tests).
pub fn idna_label(label: &str) -> Option<String> {
    if label.is_empty() {
        return None;
    }
    let ascii = idna::domain_to_ascii(label).ok()?;
    if ascii.is_empty() || ascii.contains('.') {
        return None;
    }
    let left_to_right = |u: &str| u.chars().all(never_right_to_left);
    let ok = match ascii.strip_prefix("xn--") {
        Some(rest) => idna::punycode::decode_to_string(rest).is_some_and(|u| left_to_right(&u)),
        None => left_to_right(&ascii),
    };
    ok.then_some(ascii)
}

/// The characters `idna` never counts as right-to-left (bidi class R, AL or AN) when it asks
/// whether a name is a Bidi domain name: the ranges its `Uts46::is_bidi` skips without a look-up
/// (idna 1.1.0, `src/uts46.rs`). Anything else may be, so [`idna_label`] refuses it.
fn never_right_to_left(c: char) -> bool {
    c < '\u{0590}'
        || ('\u{0900}'..='\u{FB1C}').contains(&c)
        || ('\u{FF00}'..='\u{107FF}').contains(&c)
        || ('\u{11000}'..='\u{1E7FF}').contains(&c)
        || ('\u{1F000}'..='\u{3FFFF}').contains(&c)
}

/// [`normalize_name`] of a name made of labels alone: each label of ASCII letters,
/// digits, `-` and `_` lowercased, each other one (Unicode or `xn--`) as
/// [`idna_label`] writes it, remembered per thread ([`IDN_LABELS`]): a feed repeats a
/// few Unicode labels and TLDs (`рф`, `xn--p1ai`) over thousands of hosts, and mapping a whole
/// name through UTS-46 for each of them was 12% of the CPU of 1M generated URLs (10% IDN).
/// `None` (an empty label, a trailing dot, a label [`idna_label`] cannot judge alone,
/// a name [`check_labels`] refuses) leaves the name to the whole-name mapping.
pub(crate) fn labelwise_name(h: &str) -> Option<String> {
    let mut name = String::with_capacity(h.len() + 8);
    // Split at each `.` by a byte scan (`str::split` set up a searcher per name).
    let mut rest = Some(h);
    while let Some(r) = rest {
        let (label, next) = match r.bytes().position(|c| c == b'.') {
            Some(i) => (&r[..i], Some(&r[i + 1..])),
            None => (r, None),
        };
        rest = next;
        if !name.is_empty() {
            name.push('.');
        }
        let b = label.as_bytes();
        if b.is_empty() {
            return None;
        }
        let ascii = b
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if ascii && !(b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"xn--")) {
            let at = name.len();
            name.push_str(label);
            name[at..].make_ascii_lowercase();
        } else if !cached_idna_label(label, &mut name) {
            return None;
        }
    }
    check_labels(&name).ok()?;
    Some(name)
}

/// Longest label [`IDN_LABELS`] remembers, in bytes of input (a valid one is at most 63
/// characters of output); longer ones are mapped every time.
const IDN_LABEL_MAX: usize = 64;
/// Labels [`IDN_LABELS`] holds at most; it starts again empty when full.
const IDN_LABELS_MAX: usize = 4096;

thread_local! {
    /// [`idna_label`] of the Unicode and `xn--` labels seen on this thread, `None` for a
    /// label it cannot judge alone. Bounded: at most [`IDN_LABELS_MAX`] labels of at most
    /// [`IDN_LABEL_MAX`] bytes (under 1 MiB a thread).
    static IDN_LABELS: std::cell::RefCell<foldhash::HashMap<Box<str>, Option<Box<str>>>> =
        std::cell::RefCell::new(foldhash::HashMap::default());
}

/// Appends [`idna_label`] of `label` to `out` through [`IDN_LABELS`]; false when the
/// label cannot be judged alone.
fn cached_idna_label(label: &str, out: &mut String) -> bool {
    if label.len() > IDN_LABEL_MAX {
        return idna_label(label).is_some_and(|a| {
            out.push_str(&a);
            true
        });
    }
    IDN_LABELS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache.get(label) {
            return hit.as_deref().is_some_and(|a| {
                out.push_str(a);
                true
            });
        }
        let a = idna_label(label).map(String::into_boxed_str);
        if let Some(a) = &a {
            out.push_str(a);
        }
        let found = a.is_some();
        if cache.len() >= IDN_LABELS_MAX {
            cache.clear();
        }
        cache.insert(label.into(), a);
        found
    })
}

/// [`normalize_name`] for a name of ASCII letters, digits, `.`, `-` and `_` only: lowercase in
/// one copy, labels checked. `None` for an `xn--` label (IDNA decides) and for anything
/// [`normalize_name`] refuses, so errors are always made by [`normalize_name`].
pub fn normalize_plain(raw: &str) -> Option<(String, bool)> {
    normalize_plain_bytes(raw.as_bytes()).map(|p| (p.name, p.changed))
}

/// What [`normalize_plain_bytes`] makes of a plain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainName {
    /// The normalized name.
    pub name: String,
    /// Whether it differs from the input (case, trailing dot).
    pub changed: bool,
    /// Whether the name has a letter or `_` (a name of digits, dots and hyphens alone may be
    /// an address for the token classifier).
    pub letter: bool,
}

/// [`PLAIN_CLASS`] bits: a byte a plain name cannot hold, an uppercase letter, a letter or `_`.
const OTHER: u8 = 1;
const UPPER: u8 = 2;
const LETTER: u8 = 4;

/// The class of every byte for [`normalize_plain_bytes`].
const PLAIN_CLASS: [u8; 256] = byte_table!(|b| if b.is_ascii_lowercase() || b == b'_' {
    LETTER
} else if b.is_ascii_uppercase() {
    LETTER | UPPER
} else if b.is_ascii_digit() || b == b'-' || b == b'.' {
    0
} else {
    OTHER
});

/// [`normalize_plain`] on bytes, in one pass: the character check, the `xn--` check, the lowercase
/// copy and the label rules of [`check_labels`] are made together (they were five passes and a
/// UTF-8 check, ~25% of the CPU of `convert` on 1M names). `None` for any byte outside ASCII
/// letters, digits, `.`, `-` and `_`, and wherever [`normalize_plain`] is `None`.
pub fn normalize_plain_bytes(raw: &[u8]) -> Option<PlainName> {
    let mut name = String::new();
    let f = plain_name_into(raw, &mut name)?;
    Some(PlainName {
        name,
        changed: f.changed,
        letter: f.letter,
    })
}

/// What [`plain_name_into`] tells of a plain name besides the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainFlags {
    /// As [`PlainName::changed`].
    pub changed: bool,
    /// As [`PlainName::letter`].
    pub letter: bool,
}

/// [`normalize_plain_bytes`] writing the name into `out` (emptied first; left in any state on
/// `None`), so that a caller with a buffer of its own makes no allocation per name.
pub fn plain_name_into(raw: &[u8], out: &mut String) -> Option<PlainFlags> {
    let s = match raw {
        [rest @ .., b'.'] if rest.last() == Some(&b'.') => return None,
        [rest @ .., b'.'] => rest,
        _ => raw,
    };
    if s.is_empty() || s.len() > MAX_NAME {
        return None;
    }
    // One pass over the bytes without a branch per byte (a `.` every few bytes made a branchy
    // loop mispredict), then the labels between the dots.
    let class = s.iter().fold(0u8, |f, &c| f | PLAIN_CLASS[c as usize]);
    if class & OTHER != 0 {
        return None;
    }
    let mut start = 0;
    for end in memchr::memchr_iter(b'.', s).chain(std::iter::once(s.len())) {
        let label = &s[start..end];
        match (label.first(), label.last()) {
            (Some(&first), Some(&last)) if first != b'-' && last != b'-' => {}
            _ => return None,
        }
        if label.len() > MAX_LABEL || (label.len() >= 4 && label[..4].eq_ignore_ascii_case(b"xn--"))
        {
            return None;
        }
        if end == s.len() && label.iter().all(u8::is_ascii_digit) {
            return None;
        }
        start = end + 1;
    }
    // Every byte is ASCII (checked above): copied as bytes, lowercased on the way. Checked again
    // as UTF-8 (`str::from_utf8`), the copy took 5% of the CPU of 1M names; pushed a `char` a
    // byte, 6%; as bytes, under 1% (2026-12-08, `perf`).
    out.clear();
    // SAFETY: `class & OTHER == 0`, so every byte of `s` is an ASCII letter, digit, `.`, `-` or
    // `_` (`PLAIN_CLASS` gives `OTHER` to every byte from 0x80); ASCII lowercase maps ASCII to
    // ASCII, and ASCII bytes are valid UTF-8 whatever their order, so `out` stays a `String`.
    unsafe { out.as_mut_vec() }.extend(s.iter().map(u8::to_ascii_lowercase));
    Some(PlainFlags {
        changed: s.len() != raw.len() || class & UPPER != 0,
        letter: class & LETTER != 0,
    })
}

/// Parses a domain token: `name`, `name.` or `*.name`.
pub fn parse(token: &str) -> Result<(Domain, bool), Skip> {
    let (rest, wildcard) = match token.strip_prefix("*.") {
        Some(r) => (r, true),
        None => (token, false),
    };
    let (name, changed) = normalize_name(rest)?;
    Ok((Domain { name, wildcard }, changed))
}

/// The parent of a name (`a.b.c` → `b.c`), `None` for a single label.
pub fn parent(name: &str) -> Option<&str> {
    memchr::memchr(b'.', name.as_bytes()).map(|i| &name[i + 1..])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Labels of ASCII, Unicode (right-to-left too), `xn--` (valid or not) and odd characters
    /// (`。`, joiners, soft hyphens): what the label-by-label path must judge as the whole-name
    /// path does (shared with the URL host tests).
    pub(crate) fn idn_label() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            3 => "[a-zA-Z0-9_-]{1,6}",
            2 => "[a-zäöüßÉ日本ПрмеΣσς0-9-]{1,5}",
            1 => "(xn--|XN--)[a-z0-9-]{0,8}",
            2 => prop::sample::select(vec![
                "xn--p1ai", "XN--P1AI", "xn--bcher-kva", "рф", "xn--4dbrk0ce", "xn--mgbh0fb",
            ])
            .prop_map(str::to_string),
            2 => "[אבגשبتث٣١a1-]{1,4}",
            1 => "[a\u{0301}\u{200d}\u{200c}\u{3002}\u{ff0e}\u{2488}\u{ad}\u{ff21}\u{2160}-]{1,4}",
            1 => "[\u{0590}-\u{08ff}\u{fb1d}-\u{fdff}\u{10800}-\u{10fff}a]{1,3}",
        ]
    }

    proptest::proptest! {
        // Any bytes at all (the `unsafe` copy of `plain_name_into` relies on this): a name it
        // takes is ASCII, the input lowercased without its one trailing dot, whatever `out`
        // held before; and what it takes, `normalize_name` gives too.
        #[test]
        fn plain_name_into_takes_ascii_alone(
            raw in proptest::collection::vec(proptest::prop_oneof![
                4 => proptest::sample::select(b"abcXYZ09-_.".to_vec()),
                1 => proptest::num::u8::ANY,
            ], 0..40),
            old in ".{0,20}",
        ) {
            let mut out = old;
            if let Some(f) = plain_name_into(&raw, &mut out) {
                proptest::prop_assert!(out.is_ascii());
                let want = raw.strip_suffix(b".").unwrap_or(&raw).to_ascii_lowercase();
                proptest::prop_assert_eq!(out.as_bytes(), &want[..]);
                let s = std::str::from_utf8(&raw).expect("ASCII");
                proptest::prop_assert_eq!(normalize_name(s), Ok((out.clone(), f.changed)));
            }
        }
    }

    mod label_by_label {
        use super::*;
        use proptest::prelude::*;

        /// Names of [`idn_label`]s and a few more (an empty label, a label ending in `-`, a
        /// `*`), with no, one or two trailing dots.
        fn name() -> impl Strategy<Value = String> {
            let label = prop_oneof![
                12 => idn_label(),
                1 => prop::sample::select(vec!["", "xn--zz-", "a*b"]).prop_map(str::to_string),
            ];
            (prop::collection::vec(label, 1..5), 0usize..3)
                .prop_map(|(l, dots)| format!("{}{}", l.join("."), ".".repeat(dots)))
        }

        proptest! {
            /// A name put together label by label is the name mapped whole, with the same
            /// "changed" flag and the same error; twice, so remembered labels are compared too.
            #[test]
            fn normalize_name_is_the_whole_name_mapped(n in name()) {
                for _ in 0..2 {
                    prop_assert_eq!(normalize_name(&n), normalize_name_whole(&n), "{:?}", n);
                }
            }
        }
    }

    macro_rules! ok {
        ($name:ident, $in:expr, $out:expr) => {
            #[test]
            fn $name() {
                assert_eq!(parse($in).map(|d| d.0.to_string()), Ok($out.to_string()));
            }
        };
    }
    macro_rules! bad {
        ($name:ident, $in:expr) => {
            #[test]
            fn $name() {
                assert!(parse($in).is_err(), "{:?}", parse($in));
            }
        };
    }

    ok!(lowercase, "EviL.COM", "evil.com");
    ok!(trailing_dot, "evil.com.", "evil.com");
    ok!(wildcard, "*.Evil.com", "*.evil.com");
    ok!(underscore, "_dmarc.evil.com", "_dmarc.evil.com");
    ok!(idn, "bücher.example", "xn--bcher-kva.example");
    ok!(idn_upper, "BÜCHER.de", "xn--bcher-kva.de");
    ok!(
        punycode_kept,
        "xn--bcher-kva.example",
        "xn--bcher-kva.example"
    );
    ok!(fullwidth_dot, "evil。com", "evil.com");
    ok!(digits_inside, "1.2.3.com", "1.2.3.com");
    bad!(two_trailing_dots, "evil.com..");
    bad!(empty_label, "evil..com");
    bad!(leading_dot, ".evil.com");
    bad!(hyphen_start, "-evil.com");
    bad!(hyphen_end, "evil-.com");
    bad!(star_inside, "ev*il.com");
    bad!(star_label, "a.*.com");
    bad!(space_via_idna, "evil\u{3000}x.com");
    bad!(numeric_tld, "1.2.3.999");
    bad!(numeric_ip, "1.2.3.4");
    bad!(bad_punycode, "xn--zz-.com");
    bad!(bad_punycode2, "xn--a.com");
    bad!(long_label, &format!("{}.com", "a".repeat(64)));
    bad!(long_name, &format!("{}com", "abcdefghi.".repeat(26)));
    bad!(slash, "evil.com/x");
    bad!(empty, "");
    bad!(only_star, "*.");

    #[test]
    fn label_63_ok() {
        assert!(parse(&format!("{}.com", "a".repeat(63))).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, ..Default::default() })]

        // The one-pass plain path agrees with `normalize_name` wherever it answers, and answers
        // for every plain name without an `xn--` label that `normalize_name` takes.
        #[test]
        fn plain_bytes_match_normalize_name(
            raw in "([a-zA-Z0-9_-]{0,6}|[xX][nN]--[a-z0-9]{0,3}|-|[0-9]{1,3})(\\.([a-zA-Z0-9_-]{0,6}|[xX][nN]--[a-z]{0,2}|[0-9]{1,3}|-)){0,4}\\.{0,2}",
        ) {
            let plain = normalize_plain_bytes(raw.as_bytes());
            let general = normalize_name(&raw);
            let xn = raw.split('.').any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"));
            match (&plain, &general) {
                (Some(p), Ok((name, changed))) => {
                    proptest::prop_assert_eq!(&p.name, name);
                    proptest::prop_assert_eq!(p.changed, *changed);
                    proptest::prop_assert_eq!(p.letter, raw.bytes().any(|c| c.is_ascii_alphabetic() || c == b'_'));
                }
                (Some(p), Err(e)) => proptest::prop_assert!(false, "{raw:?}: plain {p:?}, general {e:?}"),
                (None, Ok(g)) => proptest::prop_assert!(xn, "{raw:?}: plain None, general {g:?}"),
                (None, Err(_)) => {}
            }
        }
    }

    #[test]
    fn long_names_and_labels_take_the_plain_path_alike() {
        for raw in [
            format!("{}.com", "a".repeat(63)),
            format!("{}.com", "a".repeat(64)),
            format!("{}com", "abcdefghi.".repeat(25)),
            format!("{}com", "abcdefghi.".repeat(26)),
            format!("{}.com.", "A".repeat(63)),
        ] {
            let plain = normalize_plain_bytes(raw.as_bytes()).map(|p| (p.name, p.changed));
            assert_eq!(plain, normalize_name(&raw).ok(), "{raw}");
        }
    }

    #[test]
    fn parents() {
        assert_eq!(parent("a.b.c"), Some("b.c"));
        assert_eq!(parent("c"), None);
    }
}
