//! Public Suffix List: is a name itself a public suffix?
//!
//! The list is the `publicsuffix` crate parsing a snapshot of `public_suffix_list.dat`: the one
//! committed in `assets/` is built in (so edlforge works offline), and [`PublicSuffixes::from_file`]
//! loads a newer file without a rebuild (`scripts/refresh-psl.sh` fetches one).
//!
//! Why not the crate alone: `publicsuffix` 2.3 walks a single trie path, so when a specific rule
//! shares a prefix with a wildcard (`*.run.app` beside `*.mtls.run.app`) it follows `mtls` and never
//! sees that `*.run.app` already makes `mtls.run.app` a public suffix. We keep our own sets of the
//! wildcard and exception rules (a few hundred lines of the list) and answer the one question we
//! need — "is this exact name a public suffix?" — from the PSL algorithm directly:
//! a name is one when a rule matches it with as many labels as it has (an exact rule, a wildcard
//! rule on its parent, or the implicit `*` rule for a single label) and no exception rule matches.

use foldhash::HashSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use publicsuffix::{List, Psl};

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
    list: List,
    wildcards: HashSet<String>,
    exceptions: HashSet<String>,
    version: String,
}

fn to_ascii(rule: &str) -> String {
    idna::domain_to_ascii(rule).unwrap_or_else(|_| rule.to_ascii_lowercase())
}

impl PublicSuffixes {
    /// Parses a `public_suffix_list.dat`.
    ///
    /// # Errors
    /// [`PslError::Parse`] when the bytes are not a Public Suffix List.
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Self, PslError> {
        let list = List::from_bytes(bytes).map_err(|e| PslError::Parse {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        let text = String::from_utf8_lossy(bytes);
        let mut wildcards = HashSet::default();
        let mut exceptions = HashSet::default();
        let mut version = String::from("unknown");
        for line in text.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("// VERSION: ") {
                version = v.to_string();
            }
            let rule = line.split_whitespace().next().unwrap_or("");
            if let Some(base) = rule.strip_prefix("*.") {
                wildcards.insert(to_ascii(base));
            } else if let Some(name) = rule.strip_prefix('!') {
                exceptions.insert(to_ascii(name));
            }
        }
        Ok(PublicSuffixes {
            list,
            wildcards,
            exceptions,
            version,
        })
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
        LIST.get_or_init(|| {
            Arc::new(
                PublicSuffixes::from_bytes(EMBEDDED, "assets/public_suffix_list.dat")
                    .expect("the embedded public suffix list is valid (checked by a test)"),
            )
        })
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
        let parent = match name.split_once('.') {
            None => return true, // the implicit "*" rule: every single label is a suffix
            Some((_, p)) => p,
        };
        // A wildcard rule on the parent, or an exact rule (the crate's longest match covers the
        // whole name)...
        let matched = self.wildcards.contains(parent)
            || self
                .list
                .suffix(name.as_bytes())
                .is_some_and(|s| s.as_bytes().len() == name.len());
        // ...unless an exception rule names it. Checked last: exceptions are rare.
        matched && !self.exceptions.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
