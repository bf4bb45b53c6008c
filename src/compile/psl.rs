//! Public Suffix List: is a name itself a public suffix, and does any rule lie at or below it?
//!
//! The list is the `publicsuffix` crate parsing a snapshot of `public_suffix_list.dat`: the one
//! committed in `assets/` is built in (so edlforge works offline), and [`PublicSuffixes::from_file`]
//! loads a newer file without a rebuild (`scripts/refresh-psl.sh` fetches one).
//!
//! Two questions, both answered in constant time from indexes built once per loaded list:
//!
//! - [`PublicSuffixes::is_public_suffix`]: is this exact name a public suffix? Refuses `co.uk`,
//!   `github.io`, `ec2-1-2-3-4.compute-1.amazonaws.com` as entries.
//! - [`PublicSuffixes::suffix_at_or_below`]: does any rule of the list — plain, wildcard or
//!   exception — name this name or a name under it? An entry that reaches every subdomain of
//!   `amazonaws.com` (`*.amazonaws.com`, or a plain name on a vendor that matches subdomains too)
//!   reaches `s3.amazonaws.com`, a public suffix, and so every S3 bucket of every customer. The
//!   answer is one hash lookup in the set of "ancestors of some rule" (each rule's name and every
//!   name above it, built when the list is loaded), with the nearest rule kept for the message.
//!
//! For callers (the guard, and any fast path over names): hold an `Arc<PublicSuffixes>` (loaded
//! once; [`PublicSuffixes::embedded`] is shared by the process), pass names as
//! [`crate::indicator::Domain`] holds them (lowercase A-labels, no trailing dot, no `*.`), and
//! ask `is_public_suffix(name)` for an entry that is the name alone, plus
//! `suffix_at_or_below(name)` for one that also reaches its subdomains. Both take `&self`, do not
//! allocate and are safe to call from several threads. `compile::guard::Guard::check_name`
//! combines them with the special-use names and gives the `guarded` skip.
//!
//! Why not the crate alone: `publicsuffix` 2.3 walks a single trie path, so when a specific rule
//! shares a prefix with a wildcard (`*.run.app` beside `*.mtls.run.app`) it follows `mtls` and never
//! sees that `*.run.app` already makes `mtls.run.app` a public suffix. We keep our own sets of the
//! wildcard and exception rules (a few hundred lines of the list) and answer the one question we
//! need — "is this exact name a public suffix?" — from the PSL algorithm directly:
//! a name is one when a rule matches it with as many labels as it has (an exact rule, a wildcard
//! rule on its parent, or the implicit `*` rule for a single label) and no exception rule matches.
//! The crate has no "rules below this name" query at all.

use foldhash::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use publicsuffix::List;

/// The snapshot built into the binary.
pub const EMBEDDED: &[u8] = include_bytes!("../../assets/public_suffix_list.dat");

/// Errors loading a Public Suffix List.
#[derive(Debug, thiserror::Error)]
pub enum PslError {
    /// The file could not be read.
    #[error("cannot read public suffix list {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a Public Suffix List.
    #[error("{path}: not a valid public suffix list ({reason}); fetch a fresh copy with scripts/refresh-psl.sh")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
}

/// A loaded Public Suffix List (ICANN and private sections).
#[derive(Debug)]
pub struct PublicSuffixes {
    wildcards: HashSet<String>,
    exceptions: HashSet<String>,
    /// The plain rules (neither `*.` nor `!`), in A-labels: an exact match is one lookup here
    /// instead of a walk of the crate's trie per name.
    plain: HashSet<Box<str>>,
    /// Every rule, as written (`s3.amazonaws.com`, `*.sch.uk`, `!city.kawasaki.jp`), in A-labels.
    rules: Vec<Box<str>>,
    /// For each name that is a rule's name or an ancestor of one: the index in `rules` of the
    /// nearest such rule (fewest labels, then byte order: independent of the file's order).
    at_or_below: HashMap<Box<str>, u32>,
    version: String,
}

/// The name a rule is about: `*.sch.uk` → `sch.uk`, `!city.kawasaki.jp` → `city.kawasaki.jp`.
fn rule_name(rule: &str) -> &str {
    rule.strip_prefix("*.")
        .or_else(|| rule.strip_prefix('!'))
        .unwrap_or(rule)
}

/// Labels in a name (`a.b.c` → 3).
fn labels(name: &str) -> usize {
    name.bytes().filter(|&b| b == b'.').count() + 1
}

/// The order in which rules are preferred as "the suffix found": nearest to the name first.
fn nearer(a: &str, b: &str) -> bool {
    let (na, nb) = (rule_name(a), rule_name(b));
    (labels(na), na, a) < (labels(nb), nb, b)
}

fn to_ascii(rule: &str) -> String {
    // Nearly every rule is ASCII already: IDNA only for the rest (it is most of the load time).
    if rule.is_ascii() {
        return rule.to_ascii_lowercase();
    }
    idna::domain_to_ascii(rule).unwrap_or_else(|_| rule.to_ascii_lowercase())
}

impl PublicSuffixes {
    /// Parses a `public_suffix_list.dat`.
    ///
    /// # Errors
    /// [`PslError::Parse`] when the bytes are not a Public Suffix List.
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Self, PslError> {
        // The crate's parser is the check that the bytes are a list; its trie is not kept (the
        // questions are answered from the sets below).
        List::from_bytes(bytes).map_err(|e| PslError::Parse {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_checked(bytes))
    }

    /// The indexes of a list the crate's parser accepted: for the embedded snapshot, which a
    /// test checks (`embedded_list_is_valid_for_the_crate`), so that every process does
    /// not check it again (6 of the 10 ms a `convert` spent loading the list before it read a
    /// line, 2026-12-07).
    fn from_checked(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let mut wildcards = HashSet::default();
        let mut exceptions = HashSet::default();
        let mut plain = HashSet::default();
        let mut rules: Vec<Box<str>> = Vec::new();
        let mut version = String::from("unknown");
        // Rules count only inside a section, as the crate reads them (so both indexes hold the
        // same rules): lines before `===BEGIN ICANN DOMAINS===` are the file's preamble.
        let mut in_section = false;
        for line in text.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("// VERSION: ") {
                version = v.to_string();
            }
            if line.contains("BEGIN ICANN DOMAINS") || line.contains("BEGIN PRIVATE DOMAINS") {
                in_section = true;
            }
            // [PSL format] a rule is the line up to its first whitespace; `//` starts a comment.
            let rule = line.split_whitespace().next().unwrap_or("");
            if !in_section || rule.is_empty() || rule.starts_with("//") {
                continue;
            }
            if let Some(base) = rule.strip_prefix("*.") {
                let base = to_ascii(base);
                rules.push(format!("*.{base}").into());
                wildcards.insert(base);
            } else if let Some(name) = rule.strip_prefix('!') {
                let name = to_ascii(name);
                rules.push(format!("!{name}").into());
                exceptions.insert(name);
            } else {
                let name: Box<str> = to_ascii(rule).into();
                plain.insert(name.clone());
                rules.push(name);
            }
        }
        // No sort needed: `nearer` is a total order on rules, so the index does not depend on
        // the file's order (a duplicated line is the same text whichever copy is kept).
        let at_or_below = index_ancestors(&rules);
        PublicSuffixes {
            wildcards,
            exceptions,
            plain,
            rules,
            at_or_below,
            version,
        }
    }

    /// Loads a list from a file.
    ///
    /// # Errors
    /// [`PslError`] when the file cannot be read or parsed.
    pub fn from_file(path: &Path) -> Result<Self, PslError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| PslError::Read {
            path: p.clone(),
            source,
        })?;
        Self::from_bytes(&bytes, &p)
    }

    /// The built-in snapshot, parsed once per process.
    pub fn embedded() -> Arc<PublicSuffixes> {
        static LIST: OnceLock<Arc<PublicSuffixes>> = OnceLock::new();
        LIST.get_or_init(|| Arc::new(PublicSuffixes::from_checked(EMBEDDED)))
            .clone()
    }

    /// The `// VERSION:` line of the list.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// True when `name` (lowercase A-labels, no trailing dot) is itself a public suffix.
    pub fn is_public_suffix(&self, name: &str) -> bool {
        if name.is_empty() {
            return true;
        }
        // A byte loop: `split_once('.')` costs more on names this short.
        let parent = match name.bytes().position(|b| b == b'.') {
            None => return true, // the implicit "*" rule: every single label is a suffix
            Some(i) => &name[i + 1..],
        };
        // A wildcard rule on the parent, or an exact rule...
        let matched = self.wildcards.contains(parent) || self.plain.contains(name);
        // ...unless an exception rule names it or an ancestor: the exception then prevails, and
        // the suffix it gives is shorter than `name` (the PSL algorithm; a list with `a.b.co` and
        // `!b.co`, which the crate reads so). Checked last, and only for a match: exceptions are
        // rare.
        matched && {
            let mut at = Some(name);
            while let Some(a) = at {
                if self.exceptions.contains(a) {
                    return false;
                }
                at = a.find('.').map(|i| &a[i + 1..]);
            }
            true
        }
    }

    /// The nearest rule of the list — plain, wildcard or exception — that names `name` itself or
    /// a name below it, as written in the list (A-labels): `*.sch.uk` for `sch.uk`,
    /// `execute-api.af-south-1.amazonaws.com` (or a nearer one) for `amazonaws.com`; `None` when
    /// no rule lies at or below `name`.
    ///
    /// This is the question to ask of any entry that matches every name under `name` (a `*.name`
    /// wildcard, or a plain name on a vendor that matches subdomains): `Some` means the entry
    /// would block registrations of unrelated parties, so the floor refuses it. `name` is lowercase
    /// A-labels without a trailing dot, as [`crate::indicator::Domain`] holds it. The implicit `*`
    /// rule is not a rule of the list: a TLD the list does not know has nothing below it.
    ///
    /// Cost: one hash lookup of `name` (no allocation, no scan of the list): the index of every
    /// rule's ancestors is built once when the list is loaded, so this is safe on the hot path of
    /// a list with millions of names. "Nearest" is fewest labels, then byte order, so the answer
    /// does not depend on the order of the file.
    pub fn suffix_at_or_below(&self, name: &str) -> Option<&str> {
        self.at_or_below
            .get(name)
            .map(|&i| &*self.rules[i as usize])
    }
}

/// Maps every rule's name and each of its ancestors to the nearest rule at or below it.
fn index_ancestors(rules: &[Box<str>]) -> HashMap<Box<str>, u32> {
    let mut map: HashMap<Box<str>, u32> = HashMap::default();
    for (i, rule) in rules.iter().enumerate() {
        let mut name = rule_name(rule);
        loop {
            match map.get_mut(name) {
                Some(best) => {
                    if nearer(rule, &rules[*best as usize]) {
                        *best = i as u32;
                    }
                }
                None => {
                    map.insert(name.into(), i as u32);
                }
            }
            match name.split_once('.') {
                Some((_, parent)) => name = parent,
                None => break,
            }
        }
    }
    map.shrink_to_fit();
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use publicsuffix::Psl;

    /// [`PublicSuffixes::is_public_suffix`] as it was answered before the `plain` set: an exact
    /// rule is the crate's longest match covering the whole name (the oracle of the tests
    /// below).
    fn is_public_suffix_by_crate(l: &PublicSuffixes, list: &List, name: &str) -> bool {
        if name.is_empty() {
            return true;
        }
        let Some((_, parent)) = name.split_once('.') else {
            return true;
        };
        let matched = l.wildcards.contains(parent)
            || list
                .suffix(name.as_bytes())
                .is_some_and(|s| s.as_bytes().len() == name.len());
        // an exception on the name or an ancestor prevails (the PSL algorithm)
        let mut excepted = false;
        let mut at = Some(name);
        while let Some(a) = at {
            excepted |= l.exceptions.contains(a);
            at = a.split_once('.').map(|(_, p)| p);
        }
        matched && !excepted
    }

    #[test]
    fn exact_rules_agree_with_the_crate_on_the_embedded_list() {
        // Every rule's name, a name below it and each ancestor: the set answers what the
        // crate's trie answered.
        let l = PublicSuffixes::embedded();
        let list = List::from_bytes(EMBEDDED).expect("embedded list");
        let mut checked = 0;
        for rule in &l.rules {
            let n = rule_name(rule);
            for name in [format!("x.{n}"), format!("xn--55qx5d.{n}"), n.to_string()] {
                let mut n = name.as_str();
                loop {
                    assert_eq!(
                        l.is_public_suffix(n),
                        is_public_suffix_by_crate(&l, &list, n),
                        "{n}"
                    );
                    checked += 1;
                    match n.split_once('.') {
                        Some((_, p)) => n = p,
                        None => break,
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    fn ps(n: &str) -> bool {
        PublicSuffixes::embedded().is_public_suffix(n)
    }

    #[test]
    fn icann_and_private() {
        assert!(ps("com"));
        assert!(ps("co.uk"));
        assert!(ps("github.io"));
        assert!(!ps("evil.github.io"));
        assert!(!ps("example.co.uk"));
        assert!(!ps("google.com"));
    }

    #[test]
    fn implicit_star_rule() {
        assert!(ps("intranet"));
        assert!(ps("notatld"));
        assert!(!ps("foo.notatld"));
    }

    #[test]
    fn wildcards_and_exceptions() {
        // *.compute-1.amazonaws.com: an EC2 host name is itself a public suffix.
        assert!(ps("ec2-1-2-3-4.compute-1.amazonaws.com"));
        assert!(!ps("x.ec2-1-2-3-4.compute-1.amazonaws.com"));
        // *.kawasaki.jp with !city.kawasaki.jp
        assert!(ps("foo.kawasaki.jp"));
        assert!(!ps("city.kawasaki.jp"));
        assert!(ps("ck"));
        assert!(!ps("www.ck"));
    }

    #[test]
    fn nested_wildcards() {
        // *.run.app and *.mtls.run.app
        assert!(ps("mtls.run.app"), "*.run.app covers mtls.run.app");
        assert!(ps("svc.run.app"));
        assert!(ps("x.mtls.run.app"));
        assert!(!ps("a.x.mtls.run.app"));
        assert!(!ps("a.svc.run.app"));
    }

    #[test]
    fn idn_rules_match_a_labels() {
        // 公司.cn is an ICANN rule, written in Unicode in the list.
        assert!(ps("xn--55qx5d.cn"));
        assert!(!ps("evil.xn--55qx5d.cn"));
    }

    /// What [`PublicSuffixes::embedded`] takes for granted.
    #[test]
    fn embedded_list_is_valid_for_the_crate() {
        let checked = PublicSuffixes::from_bytes(EMBEDDED, "assets/public_suffix_list.dat")
            .expect("the embedded list passes the crate's parser");
        let embedded = PublicSuffixes::embedded();
        assert_eq!(checked.rules, embedded.rules);
        assert_eq!(checked.at_or_below, embedded.at_or_below);
    }

    #[test]
    fn embedded_list_parses() {
        let l = PublicSuffixes::embedded();
        assert!(l.version().starts_with("20"), "{}", l.version());
        assert!(l.wildcards.len() > 100);
    }

    #[test]
    fn bad_file_is_an_error() {
        assert!(PublicSuffixes::from_bytes(b"// nothing\n", "x.dat").is_err());
    }

    fn below(n: &str) -> Option<String> {
        PublicSuffixes::embedded()
            .suffix_at_or_below(n)
            .map(str::to_string)
    }

    #[test]
    fn rules_at_or_below() {
        // A wildcard rule on the name itself (issue 11: `*.sch.uk`, `*.nom.br`).
        assert_eq!(below("sch.uk").as_deref(), Some("*.sch.uk"));
        assert_eq!(below("nom.br").as_deref(), Some("*.nom.br"));
        // Plain rules below (S3, API gateway hosts): `amazonaws.com` is not a suffix, but
        // everything under it includes some.
        assert!(!ps("amazonaws.com"));
        let aws = below("amazonaws.com").expect("rules below amazonaws.com");
        assert!(aws.ends_with(".amazonaws.com"), "{aws}");
        assert_eq!(
            below("compute-1.amazonaws.com").as_deref(),
            Some("*.compute-1.amazonaws.com")
        );
        // An exception rule counts too.
        assert_eq!(
            below("city.kawasaki.jp").as_deref(),
            Some("!city.kawasaki.jp")
        );
        // A name that is a rule itself: the rule.
        assert_eq!(below("co.uk").as_deref(), Some("co.uk"));
        // Nothing at or below.
        assert_eq!(below("evil.com"), None);
        assert_eq!(below("evil.github.io"), None);
        assert_eq!(below("ec2-1-2-3-4.compute-1.amazonaws.com"), None);
        assert_eq!(below("notatld"), None, "the implicit * rule is not a rule");
        assert_eq!(below(""), None);
    }

    #[test]
    fn nearest_rule_is_named_whatever_the_file_order() {
        const S: &[u8] =
            b"before.x\n// ===BEGIN ICANN DOMAINS===\nb.a.x\n*.c.b.a.x\nz.a.x\n!q.z.a.x\n";
        const R: &[u8] = b"// ===BEGIN PRIVATE DOMAINS===\n!q.z.a.x\nz.a.x\n*.c.b.a.x\nb.a.x\n";
        let a = PublicSuffixes::from_bytes(S, "a").unwrap();
        let b = PublicSuffixes::from_bytes(R, "b").unwrap();
        for l in [&a, &b] {
            assert_eq!(l.suffix_at_or_below("x"), Some("b.a.x"));
            assert_eq!(l.suffix_at_or_below("a.x"), Some("b.a.x"));
            assert_eq!(l.suffix_at_or_below("b.a.x"), Some("b.a.x"));
            assert_eq!(l.suffix_at_or_below("c.b.a.x"), Some("*.c.b.a.x"));
            assert_eq!(l.suffix_at_or_below("z.a.x"), Some("z.a.x"));
            assert_eq!(l.suffix_at_or_below("q.z.a.x"), Some("!q.z.a.x"));
            assert_eq!(l.suffix_at_or_below("d.c.b.a.x"), None);
            assert_eq!(l.suffix_at_or_below("y"), None);
            assert_eq!(
                l.suffix_at_or_below("before.x"),
                None,
                "no rules before a section"
            );
        }
    }

    #[test]
    fn idn_rules_are_indexed_as_a_labels() {
        // 公司.cn: an ancestor lookup by A-label finds it.
        assert_eq!(below("xn--55qx5d.cn").as_deref(), Some("xn--55qx5d.cn"));
    }

    /// The brute-force reference: every rule of the file whose name is `name` or ends with
    /// `.name`, scanned line by line, without the index.
    struct Brute(Vec<(String, String)>);

    impl Brute {
        fn new(text: &str) -> Self {
            let mut rules = Vec::new();
            // From the line after the marker: the marker line itself is no rule (it was read as
            // the rule `===begin` when the slice began inside that line).
            let text = match text.find("===BEGIN ICANN DOMAINS===") {
                Some(i) => text[i..].split_once('\n').map_or("", |(_, rest)| rest),
                None => "",
            };
            for line in text.lines() {
                let Some(rule) = line.split_whitespace().next() else {
                    continue;
                };
                if rule.starts_with("//") {
                    continue;
                }
                let (prefix, name) = if let Some(n) = rule.strip_prefix("*.") {
                    ("*.", n)
                } else if let Some(n) = rule.strip_prefix('!') {
                    ("!", n)
                } else {
                    ("", rule)
                };
                let name = to_ascii(name);
                rules.push((format!("{prefix}{name}"), name));
            }
            Brute(rules)
        }

        /// The rules at or below `name`, nearest (fewest labels, then name, then rule) first.
        fn at_or_below(&self, name: &str) -> Vec<&str> {
            let dotted = format!(".{name}");
            let mut hits: Vec<(usize, &str, &str)> = self
                .0
                .iter()
                .filter(|(_, n)| n == name || n.ends_with(&dotted))
                .map(|(r, n)| (n.split('.').count(), n.as_str(), r.as_str()))
                .collect();
            hits.sort_unstable();
            hits.into_iter().map(|h| h.2).collect()
        }
    }

    fn check_against_brute(l: &PublicSuffixes, brute: &Brute, name: &str) {
        let want = brute.at_or_below(name);
        let got = l.suffix_at_or_below(name);
        assert_eq!(got, want.first().copied(), "name {name:?}, rules {want:?}");
    }

    fn embedded_brute() -> &'static Brute {
        static B: OnceLock<Brute> = OnceLock::new();
        B.get_or_init(|| Brute::new(&String::from_utf8_lossy(EMBEDDED)))
    }

    #[test]
    fn every_exception_and_its_ancestors_match_brute_force() {
        // Exceptions are a handful of the list's lines: too rare for the sampled test below.
        let l = PublicSuffixes::embedded();
        let brute = embedded_brute();
        let exceptions: Vec<&String> = brute
            .0
            .iter()
            .filter(|(r, _)| r.starts_with('!'))
            .map(|(_, n)| n)
            .collect();
        assert!(!exceptions.is_empty());
        for name in exceptions {
            let mut n = name.as_str();
            loop {
                check_against_brute(&l, brute, n);
                match n.split_once('.') {
                    Some((_, p)) => n = p,
                    None => break,
                }
            }
        }
    }

    use proptest::prelude::*;

    fn label() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "c", "xn--55qx5d", "co"]).prop_map(str::to_string)
    }

    fn name(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(label(), 1..=max).prop_map(|v| v.join("."))
    }

    fn rule() -> impl Strategy<Value = String> {
        // An exception names at least two labels (the crate refuses `!a`; the PSL has none).
        (prop::sample::select(vec!["", "*.", "!"]), label(), name(3)).prop_map(|(p, l, n)| {
            if p.is_empty() || p == "*." && l == "a" {
                format!("{p}{n}")
            } else {
                format!("{p}{l}.{n}")
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Random small lists (rules of every kind, comments, trailing text, any order): the
        /// index answers exactly what a scan of the file answers, for every name.
        #[test]
        fn index_matches_brute_force_on_random_lists(
            rules in prop::collection::vec(rule(), 1..12),
            names in prop::collection::vec(name(5), 1..16),
        ) {
            let mut text = String::from("// ===BEGIN ICANN DOMAINS===\n");
            for (i, r) in rules.iter().enumerate() {
                text.push_str(r);
                text.push_str(if i % 3 == 0 { " trailing words\n" } else { "\n" });
                if i % 4 == 1 {
                    text.push_str("// a comment *.a\n\n");
                }
            }
            let l = PublicSuffixes::from_bytes(text.as_bytes(), "random.dat")
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let brute = Brute::new(&text);
            let list = List::from_bytes(text.as_bytes()).expect("parsed above");
            for n in &names {
                check_against_brute(&l, &brute, n);
                prop_assert_eq!(
                    l.is_public_suffix(n),
                    is_public_suffix_by_crate(&l, &list, n),
                    "{}", n
                );
            }
            // And every rule's own name and ancestors.
            for r in &rules {
                let mut n = rule_name(r);
                loop {
                    check_against_brute(&l, &brute, n);
                    match n.split_once('.') {
                        Some((_, p)) => n = p,
                        None => break,
                    }
                }
            }
        }

        /// The embedded list: a rule's name, a name below it and each ancestor.
        #[test]
        fn index_matches_brute_force_on_the_embedded_list(
            pick in any::<prop::sample::Index>(),
            child in label(),
        ) {
            let l = PublicSuffixes::embedded();
            let brute = embedded_brute();
            let (_, rn) = &brute.0[pick.index(brute.0.len())];
            check_against_brute(&l, brute, &format!("{child}.{rn}"));
            let mut n = rn.as_str();
            loop {
                check_against_brute(&l, brute, n);
                match n.split_once('.') {
                    Some((_, p)) => n = p,
                    None => break,
                }
            }
        }
    }
}
