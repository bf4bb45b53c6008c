//! Why a line did not become a list entry, and the per-list tally of those reasons.
//!
//! Every stage that drops something (parser, guard, allowlist, vendor, capacity) records it here
//! under one of the reason ids below, with a few examples, so nothing vanishes silently. The ids
//! are stable: `convert`'s report, `explain` and the metrics use the same strings.

use std::fmt;

/// One reason a raw line or an indicator did not become an entry of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The line is not a valid indicator of any kind we know.
    Invalid,
    /// The line is a valid indicator, but of a kind the list does not take.
    WrongType,
    /// Refused by the safety floor (too wide, special-purpose space, public suffix, special-use name).
    Guarded,
    /// Removed by an allowlist entry.
    Allowlisted,
    /// Already covered by a wildcard entry of an ancestor domain in the same list.
    Covered,
    /// The target vendor cannot express this entry (for example IPv6 on Sophos).
    VendorUnsupported,
    /// Left out because the list reached its `max_entries`.
    OverLimit,
    /// Past its expiry (data-given `valid_until`/expiration, or `keep_for` elapsed).
    Expired,
    /// Below the list's `min_confidence`.
    BelowMinConfidence,
    /// Reported by fewer distinct sources than the list's `min_sources`.
    MinSources,
    /// Marked with a TLP above the list's `max_tlp`.
    Tlp,
    /// A STIX pattern edlforge cannot turn into block entries without approximating it (AND,
    /// FOLLOWEDBY, NOT, qualifiers, MATCHES, LIKE, other operators, unsupported object paths,
    /// a `pattern_type` other than `stix`).
    UnsupportedPattern,
    /// A STIX indicator whose `valid_from` is still in the future.
    NotYetValid,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 13] = [
        SkipReason::Invalid,
        SkipReason::UnsupportedPattern,
        SkipReason::NotYetValid,
        SkipReason::WrongType,
        SkipReason::Expired,
        SkipReason::Tlp,
        SkipReason::BelowMinConfidence,
        SkipReason::MinSources,
        SkipReason::Guarded,
        SkipReason::Allowlisted,
        SkipReason::Covered,
        SkipReason::VendorUnsupported,
        SkipReason::OverLimit,
    ];

    /// One line for people (status page legend).
    pub fn meaning(self) -> &'static str {
        match self {
            SkipReason::Invalid => "not a valid indicator",
            SkipReason::WrongType => "a type the list does not take",
            SkipReason::Guarded => {
                "refused by the safety floor (private or special space, too wide, public suffix)"
            }
            SkipReason::Allowlisted => "removed by an allowlist",
            SkipReason::Covered => "already covered by a wider entry",
            SkipReason::VendorUnsupported => "a form the vendor cannot take",
            SkipReason::OverLimit => "beyond max_entries (lowest priority first)",
            SkipReason::Expired => "past its expiry",
            SkipReason::BelowMinConfidence => "confidence below the list's min_confidence",
            SkipReason::MinSources => "reported by fewer sources than min_sources",
            SkipReason::Tlp => "TLP above the list's max_tlp",
            SkipReason::UnsupportedPattern => {
                "a STIX pattern that cannot be turned into block entries without approximating"
            }
            SkipReason::NotYetValid => "a STIX indicator whose valid_from is in the future",
        }
    }

    /// The stable id used in reports, metrics and `explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Invalid => "invalid",
            SkipReason::WrongType => "wrong_type",
            SkipReason::Guarded => "guarded",
            SkipReason::Allowlisted => "allowlisted",
            SkipReason::Covered => "covered",
            SkipReason::VendorUnsupported => "vendor_unsupported",
            SkipReason::OverLimit => "over_limit",
            SkipReason::Expired => "expired",
            SkipReason::BelowMinConfidence => "below_min_confidence",
            SkipReason::MinSources => "min_sources",
            SkipReason::Tlp => "tlp",
            SkipReason::UnsupportedPattern => "unsupported_pattern",
            SkipReason::NotYetValid => "not_yet_valid",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A skip with the rule that caused it, as returned by parsers and guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    /// The reason id.
    pub reason: SkipReason,
    /// The precise rule, for people: "IPv4 octet with a leading zero", "public suffix", ...
    pub detail: &'static str,
}

impl Skip {
    /// A skip for `reason` because of `detail`.
    pub const fn new(reason: SkipReason, detail: &'static str) -> Self {
        Skip { reason, detail }
    }
    /// Shorthand for an `invalid` skip.
    pub const fn invalid(detail: &'static str) -> Self {
        Skip::new(SkipReason::Invalid, detail)
    }
    /// Shorthand for a `guarded` skip.
    pub const fn guarded(detail: &'static str) -> Self {
        Skip::new(SkipReason::Guarded, detail)
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.detail)
    }
}

/// One kept example of a skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Where the value came from (`file:line`), when known.
    pub origin: Option<String>,
    /// The value or line text (cut to [`EXAMPLE_MAX_CHARS`]).
    pub value: String,
    /// The rule that dropped it.
    pub detail: &'static str,
}

/// Examples kept per reason.
pub const EXAMPLES_PER_REASON: usize = 5;
/// Longest example text kept.
pub const EXAMPLE_MAX_CHARS: usize = 120;

/// Counts of every skip reason with a few examples each, plus informational counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    counts: [u64; SkipReason::ALL.len()],
    examples: [Vec<Example>; SkipReason::ALL.len()],
    /// Lines or indicators rewritten to their normal form (host bits masked, case folded, ...).
    pub normalized: u64,
    /// Valid indicators that were equal to one already in the list (merged, not dropped).
    pub duplicates: u64,
}

impl Report {
    /// Records one skip.
    pub fn skip(&mut self, skip: Skip, origin: impl FnOnce() -> Option<String>, value: &str) {
        self.skip_with(skip, 1, origin, || value.to_string());
    }

    /// Records `n` skips of the same kind with one example.
    pub fn skip_n(
        &mut self,
        skip: Skip,
        n: u64,
        origin: impl FnOnce() -> Option<String>,
        value: &str,
    ) {
        self.skip_with(skip, n, origin, || value.to_string());
    }

    /// Records `n` skips; the example text is only made when an example is still wanted, so a
    /// million guarded lines cost a million increments, not a million strings.
    pub fn skip_with(
        &mut self,
        skip: Skip,
        n: u64,
        origin: impl FnOnce() -> Option<String>,
        value: impl FnOnce() -> String,
    ) {
        let i = skip.reason.index();
        self.counts[i] += n;
        if self.examples[i].len() < EXAMPLES_PER_REASON {
            let value = value();
            let value = if value.chars().count() > EXAMPLE_MAX_CHARS {
                let mut v: String = value.chars().take(EXAMPLE_MAX_CHARS).collect();
                v.push('…');
                v
            } else {
                value.to_string()
            };
            self.examples[i].push(Example {
                origin: origin(),
                value,
                detail: skip.detail,
            });
        }
    }

    /// How many were skipped for `reason`.
    pub fn count(&self, reason: SkipReason) -> u64 {
        self.counts[reason.index()]
    }

    /// The examples kept for `reason`.
    pub fn examples(&self, reason: SkipReason) -> &[Example] {
        &self.examples[reason.index()]
    }

    /// Total skipped, all reasons.
    pub fn total_skipped(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds another report's counts and examples into this one.
    pub fn merge(&mut self, other: &Report) {
        for r in SkipReason::ALL {
            let i = r.index();
            self.counts[i] += other.counts[i];
            for e in &other.examples[i] {
                if self.examples[i].len() < EXAMPLES_PER_REASON {
                    self.examples[i].push(e.clone());
                }
            }
        }
        self.normalized += other.normalized;
        self.duplicates += other.duplicates;
    }

    /// The one-line summary: `dropped: invalid 3, guarded 1` (reasons with a zero count left out).
    pub fn summary(&self) -> String {
        let parts: Vec<String> = SkipReason::ALL
            .iter()
            .filter(|r| self.count(**r) > 0)
            .map(|r| format!("{} {}", r, self.count(*r)))
            .collect();
        if parts.is_empty() {
            "dropped: none".to_string()
        } else {
            format!("dropped: {}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_caps_examples() {
        let mut r = Report::default();
        for i in 0..10 {
            r.skip(Skip::invalid("x"), || Some(format!("f:{i}")), "bad");
        }
        r.skip(Skip::guarded("wide"), || None, "0.0.0.0/0");
        assert_eq!(r.count(SkipReason::Invalid), 10);
        assert_eq!(r.examples(SkipReason::Invalid).len(), EXAMPLES_PER_REASON);
        assert_eq!(r.summary(), "dropped: invalid 10, guarded 1");
        assert_eq!(r.total_skipped(), 11);
    }

    #[test]
    fn long_examples_are_cut() {
        let mut r = Report::default();
        r.skip(Skip::invalid("x"), || None, &"a".repeat(500));
        assert_eq!(
            r.examples(SkipReason::Invalid)[0].value.chars().count(),
            EXAMPLE_MAX_CHARS + 1
        );
    }
}
