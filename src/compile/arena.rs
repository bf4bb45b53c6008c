//! The domain names a [`super::Compiler`] collects, in one buffer: each item is 12 bytes (where
//! its name lies, whether it is a wildcard, its metadata), not a 32-byte `(Domain, MetaId)` with
//! the name in a heap allocation of its own.
//!
//! Why: on 1M generated names every pass of the compile over the names (the sort keys, the runs
//! of equal prefixes, the wildcard coverage, the absorb of a second parse) read each name through
//! a pointer to a separate allocation, and a million allocations kept to the end cost their page
//! faults and their frees. Here the names lie in input order in one buffer, which those passes
//! read in sequence.

use crate::indicator::DomainRef;

use super::MetaId;

/// Where one name lies in a [`Names`] buffer, and whether it is a wildcard: 8 bytes, 12 with
/// its [`MetaId`]. The offset has 40 bits (1 TiB of names), the length 16 (a valid name has
/// at most 253 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Name {
    lo: u32,
    len: u16,
    hi: u8,
    /// As [`crate::indicator::Domain::wildcard`].
    pub(super) wildcard: bool,
}

impl Name {
    fn range(self) -> std::ops::Range<usize> {
        let start = (usize::from(self.hi) << 32) | self.lo as usize;
        start..start + usize::from(self.len)
    }
}

/// Domain names in one buffer, with their metadata, in the order they came.
#[derive(Debug, Default)]
pub(super) struct Names {
    text: String,
    /// Each name and its metadata.
    pub(super) items: Vec<(Name, MetaId)>,
}

/// A name that does not fit a [`Names`] buffer: longer than 65,535 bytes (no valid name is) or
/// past its 1 TiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooBig;

impl Names {
    /// Adds a name.
    pub(super) fn push(&mut self, d: DomainRef<'_>, meta: MetaId) -> Result<(), TooBig> {
        let name = place(self.text.len(), d)?;
        self.text.push_str(d.name);
        self.items.push((name, meta));
        Ok(())
    }

    /// Appends the names of `other`, their metadata ids through `meta`. Names that no longer
    /// fit are given back (none but past 1 TiB).
    pub(super) fn append(
        &mut self,
        other: Names,
        meta: impl Fn(MetaId) -> MetaId,
    ) -> Vec<(String, bool, MetaId)> {
        let base = self.text.len();
        let mut left = Vec::new();
        self.text.push_str(&other.text);
        self.items.reserve(other.items.len());
        for (n, m) in other.items {
            let r = n.range();
            let d = DomainRef {
                name: other.text.get(r.clone()).unwrap_or_default(),
                wildcard: n.wildcard,
            };
            match place(base + r.start, d) {
                Ok(moved) => self.items.push((moved, meta(m))),
                Err(TooBig) => left.push((d.name.to_string(), d.wildcard, meta(m))),
            }
        }
        left
    }

    /// Splits into the buffer and the items.
    pub(super) fn into_parts(self) -> (NameText, Vec<(Name, MetaId)>) {
        (NameText { text: self.text }, self.items)
    }
}

/// The buffer of a [`Names`] without its items, to read the names of the items it made.
pub(super) struct NameText {
    text: String,
}

impl NameText {
    /// The domain of `n`, an item of the [`Names`] this was part of.
    pub(super) fn get(&self, n: Name) -> DomainRef<'_> {
        DomainRef {
            // `n`'s range starts and ends where a `push_str` did, so on char boundaries.
            name: self.text.get(n.range()).unwrap_or_default(),
            wildcard: n.wildcard,
        }
    }
}

/// The [`Name`] of `d` stored at `start`.
fn place(start: usize, d: DomainRef<'_>) -> Result<Name, TooBig> {
    let len = u16::try_from(d.name.len()).map_err(|_| TooBig)?;
    let hi = u8::try_from(start >> 32).map_err(|_| TooBig)?;
    Ok(Name {
        lo: start as u32,
        len,
        hi,
        wildcard: d.wildcard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_back_as_pushed_across_an_append() {
        let mut a = Names::default();
        let mut b = Names::default();
        let d = |name, wildcard| DomainRef { name, wildcard };
        a.push(d("a.com", false), 0).unwrap();
        a.push(d("", true), 1).unwrap();
        b.push(d("b.example", true), 0).unwrap();
        b.push(d("c.org", false), 2).unwrap();
        assert!(a.append(b, |m| m + 10).is_empty());
        let (text, items) = a.into_parts();
        let got: Vec<(String, MetaId)> = items
            .iter()
            .map(|&(n, m)| (text.get(n).to_string(), m))
            .collect();
        assert_eq!(
            got,
            [("a.com", 0), ("*.", 1), ("*.b.example", 10), ("c.org", 12)]
                .map(|(s, m)| (s.to_string(), m))
        );
    }

    #[test]
    fn a_name_too_long_or_too_far_is_refused() {
        let long = "a".repeat(70_000);
        let d = DomainRef {
            name: &long,
            wildcard: false,
        };
        assert_eq!(Names::default().push(d, 0), Err(TooBig));
        let short = DomainRef {
            name: "x.com",
            wildcard: true,
        };
        assert_eq!(place(1 << 40, short), Err(TooBig));
        let n = place((1 << 40) - 8, short).unwrap();
        assert_eq!(n.range(), (1 << 40) - 8..(1 << 40) - 3);
    }
}
