//! IP entries of a list: the inputs of one family, union, exact subtraction of special-purpose
//! space and allowlists, the lines of the vendor's [`IpStyle`] and the priority of each line.

use std::collections::BinaryHeap;

use crate::indicator::{Priority, Report};

use super::cap::Prios;
use super::ipset::{self, Addr};
use super::{IpLine, IpStyle, MetaId, ALLOWLISTED};

#[derive(Debug, Clone, Copy)]
pub(super) struct In<T> {
    start: T,
    end: T,
    meta: MetaId,
}

/// IP inputs of one family. Metadata ids are kept only once some entry's metadata differs from
/// the first entry's, so the common cases (a plain feed; one source whose records share their
/// metadata) store 8 bytes per IPv4 entry.
#[derive(Debug, Clone, Default)]
pub(super) struct IpInputs<T> {
    ranges: Vec<(T, T)>,
    /// Per entry, once they differ; empty while every entry has `uniform`.
    metas: Vec<MetaId>,
    /// The metadata of every entry while `metas` is empty.
    uniform: MetaId,
}

impl<T: Copy> IpInputs<T> {
    pub(super) fn push(&mut self, start: T, end: T, meta: MetaId) {
        if self.metas.is_empty() {
            if self.ranges.is_empty() {
                self.uniform = meta;
            } else if meta != self.uniform {
                self.metas = vec![self.uniform; self.ranges.len()];
            }
        }
        self.ranges.push((start, end));
        if !self.metas.is_empty() {
            self.metas.push(meta);
        }
    }

    pub(super) fn append(&mut self, other: IpInputs<T>, meta_offset: MetaId) {
        let remap = |m: MetaId| if m == 0 { 0 } else { m + meta_offset };
        if other.ranges.is_empty() {
            return;
        }
        let other_uniform = remap(other.uniform);
        if self.ranges.is_empty() && self.metas.is_empty() {
            self.uniform = other_uniform;
        }
        if other.metas.is_empty() && self.metas.is_empty() && other_uniform == self.uniform {
            self.ranges.extend(other.ranges);
            return;
        }
        if self.metas.is_empty() {
            self.metas = vec![self.uniform; self.ranges.len()];
        }
        self.ranges.extend(other.ranges.iter().copied());
        if other.metas.is_empty() {
            self.metas.resize(self.ranges.len(), other_uniform);
        } else {
            self.metas.extend(other.metas.iter().map(|&m| remap(m)));
        }
    }
}

pub(super) fn line_cost<T: Addr>(style: IpStyle, l: &IpLine<T>) -> u64 {
    match style {
        IpStyle::Hosts => (l.end.wide() - l.start.wide()).saturating_add(1) as u64,
        _ => 1,
    }
}

pub(super) fn ip_cost<T: Addr>(style: IpStyle, v: &[IpLine<T>]) -> u64 {
    v.iter().map(|l| line_cost(style, l)).sum()
}

pub(super) fn compile_ip<T: Addr>(
    inputs: IpInputs<T>,
    special: &[(T, T)],
    allow: &[(T, T)],
    prio: &[Priority],
    style: IpStyle,
    report: &mut Report,
    show: impl Fn(T, T) -> String,
) -> (Vec<IpLine<T>>, Prios) {
    if inputs.ranges.is_empty() {
        return (Vec::new(), Prios::Each(Vec::new()));
    }
    let mut wholly_allowed = |s: T, e: T| {
        let hit = !allow.is_empty() && ipset::covers(allow, s, e);
        if hit {
            report.skip_with(ALLOWLISTED, 1, || None, || show(s, e));
        }
        hit
    };
    // Uniform metadata (the common case): sort and merge the bare pairs in place, so the peak
    // memory is the input vector alone. Otherwise keep each input's metadata for the sweep.
    let uniform = inputs.uniform;
    let (merged, with_meta) = if inputs.metas.is_empty() {
        let mut v = inputs.ranges;
        v.retain(|&(s, e)| !wholly_allowed(s, e));
        ipset::sort_by_start(&mut v, |i| i.0, |i| i.1);
        report.duplicates += v.windows(2).filter(|w| w[0] == w[1]).count() as u64;
        let n = merge_in_place(&mut v);
        v.truncate(n);
        v.shrink_to_fit();
        (v, Vec::new())
    } else {
        let mut v: Vec<In<T>> = inputs
            .ranges
            .iter()
            .zip(&inputs.metas)
            .filter(|(&(s, e), _)| !wholly_allowed(s, e))
            .map(|(&(start, end), &meta)| In { start, end, meta })
            .collect();
        drop(inputs);
        ipset::sort_by_start(&mut v, |i| i.start, |i| i.end);
        report.duplicates += v
            .windows(2)
            .filter(|w| w[0].start == w[1].start && w[0].end == w[1].end)
            .count() as u64;
        (ipset::merge_sorted(v.iter().map(|i| (i.start, i.end))), v)
    };
    let mut set = merged;
    ipset::subtract_in_place(&mut set, special);
    ipset::subtract_in_place(&mut set, allow);
    if with_meta.is_empty() {
        // One priority for every line: the lines are made straight from the set, with no
        // per-line priority vector and no intermediate interval vector (a 3M-line feed keeps
        // tens of MiB less at its peak).
        let p = prio[uniform as usize];
        let line = |start, end| IpLine {
            start,
            end,
            confidence: p.confidence,
        };
        let lines = match style {
            IpStyle::Cidr => ipset::into_cidr_lines(set, line),
            IpStyle::Range | IpStyle::Hosts => set.iter().map(|&(s, e)| line(s, e)).collect(),
        };
        return (lines, Prios::Uniform(p));
    }
    let intervals: Vec<(T, T)> = match style {
        IpStyle::Cidr => {
            let mut out = Vec::with_capacity(set.len());
            for &(s, e) in &set {
                ipset::for_each_cidr(s, e, |a, b| out.push((a, b)));
            }
            out
        }
        IpStyle::Range | IpStyle::Hosts => set,
    };
    let prios = line_priorities(&with_meta, &intervals, prio);
    let lines = intervals
        .iter()
        .zip(&prios)
        .map(|(&(start, end), p)| IpLine {
            start,
            end,
            confidence: p.confidence,
        })
        .collect();
    (lines, Prios::Each(prios))
}

/// Merges intervals sorted by start in place; returns how many remain.
fn merge_in_place<T: Addr>(v: &mut [(T, T)]) -> usize {
    let mut w = 0;
    for r in 0..v.len() {
        let (s, e) = v[r];
        if w > 0 {
            let last = &mut v[w - 1];
            if last.1 == T::MAX || s.wide() <= last.1.wide() + 1 {
                if e > last.1 {
                    last.1 = e;
                }
                continue;
            }
        }
        v[w] = (s, e);
        w += 1;
    }
    w
}

/// The highest priority among the inputs that overlap each line (sweep over both, sorted).
fn line_priorities<T: Addr>(
    inputs: &[In<T>],
    lines: &[(T, T)],
    prio: &[Priority],
) -> Vec<Priority> {
    let mut heap: BinaryHeap<(Priority, T)> = BinaryHeap::new();
    let mut j = 0;
    lines
        .iter()
        .map(|&(s, e)| {
            while j < inputs.len() && inputs[j].start <= e {
                heap.push((prio[inputs[j].meta as usize], inputs[j].end));
                j += 1;
            }
            while let Some(&(_, end)) = heap.peek() {
                if end < s {
                    heap.pop();
                } else {
                    break;
                }
            }
            heap.peek().map(|x| x.0).unwrap_or_default()
        })
        .collect()
}
