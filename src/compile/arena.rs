//! The domain names a [`super::Compiler`] collects, in a few big buffers: each item is 12 bytes
//! (where its name lies, whether it is a wildcard, its metadata), not a 32-byte
//! `(Domain, MetaId)` with the name in a heap allocation of its own.
//!
//! Why: on 1M generated names every pass of the compile over the names (the sort keys, the runs
//! of equal prefixes, the wildcard coverage) read each name through a pointer to a separate
//! allocation, and a million allocations kept to the end cost their page faults and their
//! frees. Here the names lie in input order in one buffer, which those passes read in sequence:
//! the peak memory of 1M names cut to PAN-OS's 50,000 went from 114 to 71 MiB.
//!
//! A buffer is a chunk of at most 4 GiB; taking in another compiler's names
//! ([`Names::append`], the second half of a file parsed on another thread) adds its chunks as
//! they are, so their bytes are not copied (copying 10 MB of names into new pages took 12 ms).

use crate::indicator::{Domain, DomainRef};

use super::MetaId;

/// Where one name lies in a [`Names`] buffer, and whether it is a wildcard: 8 bytes, 12 with
/// its [`MetaId`]. A chunk of up to 4 GiB among up to 256, a length of 16 bits (a valid name
/// has at most 253 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Name {
    at: u32,
    len: u16,
    chunk: u8,
    /// As [`crate::indicator::Domain::wildcard`].
    pub(super) wildcard: bool,
}

/// Domain names in a few buffers, with their metadata, in the order they came.
#[derive(Debug, Default)]
pub(super) struct Names {
    text: NameText,
    /// Each name and its metadata.
    pub(super) items: Vec<(Name, MetaId)>,
}

/// A name that does not fit a [`Names`] buffer: longer than 65,535 bytes (no valid name is), or
/// past its 256 chunks of 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooBig;

impl Names {
    /// Adds a name.
    pub(super) fn push(&mut self, d: DomainRef<'_>, meta: MetaId) -> Result<(), TooBig> {
        let name = self.text.push(d)?;
        self.items.push((name, meta));
        Ok(())
    }

    /// Appends the names of `other` (its chunks as they are), their metadata ids through `meta`.
    /// The names past the 256 chunks are given back, in order (none but past 1 TiB).
    pub(super) fn append(&mut self, other: Names, meta: impl Fn(MetaId) -> MetaId) -> Vec<Domain> {
        let base = self.text.chunks.len();
        let room = 256 - base.min(256);
        let Names { text, items } = other;
        let moved = text.chunks.len().min(room);
        let mut chunks = text.chunks.into_iter();
        self.text.chunks.extend(chunks.by_ref().take(moved));
        let left_chunks: Vec<String> = chunks.collect();
        self.items.reserve(items.len());
        let mut left = Vec::new();
        for (n, m) in items {
            let c = usize::from(n.chunk);
            if c < moved {
                let chunk = (base + c) as u8; // < 256: `moved` is at most `room`
                self.items.push((Name { chunk, ..n }, meta(m)));
            } else {
                let chunk = (c - moved) as u8; // < 256: a chunk of `other`
                left.push(get(&left_chunks, Name { chunk, ..n }).to_domain());
            }
        }
        left
    }

    /// Splits into the buffers and the items.
    pub(super) fn into_parts(self) -> (NameText, Vec<(Name, MetaId)>) {
        (self.text, self.items)
    }
}

/// The buffers of a [`Names`] without its items, to read the names of the items it made.
#[derive(Debug, Default)]
pub(super) struct NameText {
    chunks: Vec<String>,
}

/// Most bytes of a chunk.
const CHUNK_MAX: usize = u32::MAX as usize;

impl NameText {
    /// The domain of `n`, an item of the [`Names`] this was part of.
    #[inline]
    pub(super) fn get(&self, n: Name) -> DomainRef<'_> {
        get(&self.chunks, n)
    }

    /// Stores the name of `d`, in the last chunk or a new one.
    fn push(&mut self, d: DomainRef<'_>) -> Result<Name, TooBig> {
        let len = u16::try_from(d.name.len()).map_err(|_| TooBig)?;
        let full = self
            .chunks
            .last()
            .is_none_or(|c| c.len() + d.name.len() > CHUNK_MAX);
        if full {
            if self.chunks.len() == 256 {
                return Err(TooBig);
            }
            self.chunks.push(String::new());
        }
        let chunk = self.chunks.len() - 1;
        let text = &mut self.chunks[chunk];
        let at = text.len() as u32; // at most CHUNK_MAX
        text.push_str(d.name);
        Ok(Name {
            at,
            len,
            chunk: chunk as u8, // < 256, checked above
            wildcard: d.wildcard,
        })
    }
}

/// The domain of `n` in `chunks`. `n`'s bytes start and end where a `push_str` did, so on char
/// boundaries; a name of other chunks reads as empty.
#[inline]
fn get(chunks: &[String], n: Name) -> DomainRef<'_> {
    let at = n.at as usize;
    DomainRef {
        name: chunks
            .get(usize::from(n.chunk))
            .and_then(|c| c.get(at..at + usize::from(n.len)))
            .unwrap_or_default(),
        wildcard: n.wildcard,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str, wildcard: bool) -> DomainRef<'_> {
        DomainRef { name, wildcard }
    }

    fn all(names: Names) -> Vec<(String, MetaId)> {
        let (text, items) = names.into_parts();
        items
            .iter()
            .map(|&(n, m)| (text.get(n).to_string(), m))
            .collect()
    }

    #[test]
    fn names_come_back_as_pushed_across_an_append() {
        let mut a = Names::default();
        let mut b = Names::default();
        a.push(d("a.com", false), 0).unwrap();
        a.push(d("", true), 1).unwrap();
        b.push(d("b.example", true), 0).unwrap();
        b.push(d("c.org", false), 2).unwrap();
        assert!(a.append(b, |m| m + 10).is_empty());
        a.push(d("d.net", false), 3).unwrap();
        assert_eq!(a.text.chunks.len(), 2);
        assert_eq!(
            all(a),
            [
                ("a.com", 0),
                ("*.", 1),
                ("*.b.example", 10),
                ("c.org", 12),
                ("d.net", 3)
            ]
            .map(|(s, m)| (s.to_string(), m))
        );
    }

    #[test]
    fn a_name_too_long_is_refused() {
        let long = "a".repeat(70_000);
        assert_eq!(Names::default().push(d(&long, false), 0), Err(TooBig));
    }

    #[test]
    fn names_past_the_last_chunk_are_given_back_in_order() {
        // 250 chunks here and 10 there (one name each): 6 of the other's fit.
        let many = |n: usize, tag: &str| {
            let mut x = Names::default();
            for i in 0..n {
                x.text.chunks.push(String::new());
                let name = format!("{tag}{i}.com");
                let at = x.text.chunks.len() - 1;
                x.text.chunks[at].push_str(&name);
                let n = Name {
                    at: 0,
                    len: name.len() as u16,
                    chunk: at as u8,
                    wildcard: false,
                };
                x.items.push((n, i as MetaId));
            }
            x
        };
        let mut a = many(250, "a");
        let left = a.append(many(10, "b"), |m| m);
        assert_eq!(a.text.chunks.len(), 256);
        let names: Vec<String> = left.iter().map(Domain::to_string).collect();
        assert_eq!(names, ["b6.com", "b7.com", "b8.com", "b9.com"]);
        assert_eq!(
            a.push(d("x.com", false), 0),
            Ok(()),
            "the last chunk has room"
        );
        let got = all(a);
        assert_eq!(got.len(), 257);
        assert_eq!(got[255], ("b5.com".to_string(), 5));
        assert_eq!(got[256], ("x.com".to_string(), 0));
    }
}
