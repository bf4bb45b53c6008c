//! Capacity: keep a list within `max_entries` output lines, highest priority first.
//!
//! Priority is confidence, then number of sources, then newest `last_seen`, then value (the
//! caller's item order, which is value order). Items are taken in that order while they fit; the
//! first that does not fit ends the selection, so no lower-priority item is ever kept in place
//! of a higher one. An item that stands for several lines (a range written as single hosts) may be
//! cut to the lines that still fit. Everything left out is counted `over_limit`.
//!
//! [`select`] chooses; `apply_cap` applies the choice to a [`CompiledList`].

use std::cmp::Reverse;

use crate::indicator::{IpRange, Meta, Priority, Report};

use super::dedupe::into_entries;
use super::ip::line_cost;
use super::ipset::Addr;
use super::{
    par_halves, CompiledList, Entry, IpLine, IpStyle, MetaId, VendorRules, COVERED, OVER_LIMIT,
};
use crate::sort::permute;

/// One candidate output item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Its priority.
    pub priority: Priority,
    /// Which group it belongs to (the caller's numbering: kind order).
    pub group: u8,
    /// Its index in that group (value order).
    pub index: u32,
    /// Output lines it needs.
    pub cost: u64,
    /// True when it may be cut to fewer lines.
    pub divisible: bool,
}

/// Chooses what to keep. Returns, per item in input order, the lines kept (0 = dropped).
pub fn select(items: &[Item], max: u64) -> Vec<u64> {
    let total: u64 = items.iter().map(|i| i.cost).sum();
    if total <= max {
        return items.iter().map(|i| i.cost).collect();
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_unstable_by_key(|&i| (Reverse(items[i].priority), items[i].group, items[i].index));
    let mut kept = vec![0u64; items.len()];
    let mut budget = max;
    for i in order {
        let it = &items[i];
        if it.cost <= budget {
            kept[i] = it.cost;
            budget -= it.cost;
        } else {
            if it.divisible {
                kept[i] = budget;
            }
            break;
        }
    }
    kept
}

/// The capacity priorities of one group of entries, in entry order.
#[derive(Debug, Clone)]
pub(super) enum Prios {
    /// The same for every entry (a feed whose entries share their metadata).
    Uniform(Priority),
    /// One per entry.
    Each(Vec<Priority>),
}

impl Prios {
    /// The one priority every entry has, if they all have the same (`None` for no entries).
    fn common(&self) -> Option<Priority> {
        match self {
            Prios::Uniform(p) => Some(*p),
            Prios::Each(v) => v.first().copied().filter(|p| v.iter().all(|q| q == p)),
        }
    }

    fn is_empty_each(&self) -> bool {
        matches!(self, Prios::Each(v) if v.is_empty())
    }

    fn get(&self, i: usize) -> Priority {
        match self {
            Prios::Uniform(p) => *p,
            Prios::Each(v) => v[i],
        }
    }
}

/// The lines kept per item when every item has the same priority: [`select`]'s order is
/// then (group, index), the order of `costs`, so the selection is a prefix taken in one pass
/// with no item vector to build and sort.
fn select_in_order(costs: [Vec<u64>; 5], divisible: [bool; 5], max: u64) -> [Vec<u64>; 5] {
    let mut budget = max;
    let mut full = false;
    let mut i = 0;
    costs.map(|mut group| {
        for k in group.iter_mut() {
            if full {
                *k = 0;
            } else if *k <= budget {
                budget -= *k;
            } else {
                *k = if divisible[i] { budget } else { 0 };
                full = true;
            }
        }
        i += 1;
        group
    })
}

/// What is left of `max_entries` while a list whose entries all have one priority is cut as its
/// groups are made, in group order: [`select_in_order`]'s rule (take items while they fit; the
/// first that does not ends the selection) applied before the entries exist, so the ones that
/// are cut are never made. Used only when no IP line is cut (the IP lines fit whole).
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    left: u64,
    full: bool,
}

impl Budget {
    pub(super) fn new(left: u64) -> Self {
        Budget { left, full: false }
    }

    /// Whether items of `lines` lines in all would be kept whole.
    pub(super) fn fits(&self, lines: u64) -> bool {
        !self.full && lines <= self.left
    }

    /// [`Budget::fits`] of the sum of `lines`, which stops adding once it is over: a list cut
    /// far below its input reads no more items than it keeps (the sum over 1M names took 5 ms,
    /// on one thread, of a 330 ms `convert`).
    pub(super) fn fits_all(&self, lines: impl IntoIterator<Item = u64>) -> bool {
        let mut sum = 0u64;
        for l in lines {
            sum = sum.saturating_add(l);
            if !self.fits(sum) {
                return false;
            }
        }
        self.fits(sum)
    }

    /// Takes `lines` that [`Budget::fits`] said fit (items kept whole by another path).
    pub(super) fn spend(&mut self, lines: u64) {
        self.left = self.left.saturating_sub(lines);
    }

    /// Whether an item of `cost` lines is kept.
    fn take(&mut self, cost: u64) -> bool {
        if !self.full && cost <= self.left {
            self.left -= cost;
            true
        } else {
            self.full = true;
            false
        }
    }
}

/// One group cut to `budget`: `keep` holds the indices of the items that are left after dedupe
/// and the other drops, in list order, and `cost` gives the lines of the item at an index (so the
/// values of the items cut are not read, except for the report's examples, `show`). An item of
/// cost 0 is one a wildcard entry covers: it is dropped and counted `covered` wherever it lies.
/// Returns the indices that fit (in `keep`'s memory); the rest are counted `over_limit` as
/// [`apply_cap`] counts them.
pub(super) fn cut_indices(
    mut keep: Vec<u32>,
    cost: impl Fn(usize) -> u64 + Sync,
    budget: &mut Budget,
    report: &mut Report,
    show: impl Fn(usize) -> String + Sync,
) -> Vec<u32> {
    // An item not kept: covered (cost 0) or over the limit.
    let left_out = |rep: &mut Report, i: usize, c: u64| match c {
        0 => rep.skip_with(COVERED, 1, || None, || show(i)),
        c => rep.skip_with(OVER_LIMIT, c, || None, || show(i)),
    };
    let mut kept = 0;
    let mut r = 0;
    while r < keep.len() && !budget.full {
        let i = keep[r] as usize;
        let c = cost(i);
        if c != 0 && budget.take(c) {
            keep[kept] = i as u32;
            kept += 1;
        } else {
            left_out(report, i, c);
        }
        r += 1;
    }
    // Once full, nothing more is kept: the rest is only counted, on both cores (most of a list
    // cut far below its input; 5 ms of 1M generated names on one), each half into a report of its
    // own, merged in order (so the examples are those of one pass).
    let parts: Vec<Report> = par_halves(&keep[r..], 1 << 16, |part| {
        let mut rep = Report::default();
        for &i in part {
            left_out(&mut rep, i as usize, cost(i as usize));
        }
        vec![rep]
    });
    for p in &parts {
        report.merge(p);
    }
    keep.truncate(kept);
    keep
}

/// The entries of the items of `v` at `kept` (in that order). A few (a list cut far below its
/// input) are cloned and `v` is dropped on another thread; many are put in order in place and
/// made into entries from the back ([`super::dedupe::into_entries`]), so the values and their
/// entries are never both held in full (a cap that does not bind held 1M names twice: 181 MB
/// against 114 MB).
pub(super) fn take_entries<V: Clone + Send + Sync + 'static>(
    mut v: Vec<(V, MetaId)>,
    kept: Vec<u32>,
    metas: &[Meta],
    prio: &[Priority],
) -> (Vec<Entry<V>>, Vec<Priority>) {
    if kept.len() < v.len() / 8 {
        // Each clone reads an item and its heap value at random (two cache misses): 50,000 of
        // 1M names took 8 ms on one thread.
        let (out, out_p) = par_halves(&kept, 1 << 12, |part| {
            let mut out = Vec::with_capacity(part.len());
            let mut out_p = Vec::with_capacity(part.len());
            for &i in part {
                let (value, m) = &v[i as usize];
                let p = prio[*m as usize];
                out_p.push(p);
                out.push(Entry {
                    value: value.clone(),
                    confidence: p.confidence,
                    comment: metas[*m as usize].comment.clone(),
                });
            }
            (out, out_p)
        });
        super::drop_later(v);
        return (out, out_p);
    }
    // The kept items first, in list order, then the others: one permutation in place.
    let n = kept.len();
    let mut taken = vec![false; v.len()];
    for &i in &kept {
        taken[i as usize] = true;
    }
    let mut order = kept;
    order.extend((0..v.len() as u32).filter(|&i| !taken[i as usize]));
    drop(taken);
    permute(&mut v, &mut order);
    drop(order);
    super::drop_later(v.split_off(n));
    into_entries(v, metas, prio)
}

pub(super) fn apply_cap(
    list: &mut CompiledList,
    rules: &dyn VendorRules,
    max: u64,
    prios: [&Prios; 5],
) {
    if list.lines(rules) <= max {
        return;
    }
    let style = list.ip_style;
    let hosts = style == IpStyle::Hosts;
    let costs: [Vec<u64>; 5] = [
        list.v4.iter().map(|l| line_cost(style, l)).collect(),
        list.v6.iter().map(|l| line_cost(style, l)).collect(),
        list.domains
            .iter()
            .map(|d| rules.domain_lines(d.value.view()) as u64)
            .collect(),
        vec![1; list.urls.len()],
        vec![1; list.hashes.len()],
    ];
    let divisible = [hosts, hosts, false, false, false];
    let mut common = prios
        .iter()
        .filter(|p| !p.is_empty_each())
        .map(|p| p.common());
    let first = common.next().flatten();
    let uniform = first.is_some() && common.all(|p| p == first);
    let groups = if uniform {
        select_in_order(costs, divisible, max)
    } else {
        let mut items = Vec::new();
        for (group, (c, p)) in costs.iter().zip(prios).enumerate() {
            for (i, &cost) in c.iter().enumerate() {
                items.push(Item {
                    priority: p.get(i),
                    group: group as u8,
                    index: i as u32,
                    cost,
                    divisible: divisible[group],
                });
            }
        }
        let kept = select(&items, max);
        let mut groups: [Vec<u64>; 5] = Default::default();
        for (it, k) in items.iter().zip(kept) {
            groups[it.group as usize].push(k);
        }
        groups
    };
    let report = &mut list.report;
    cut_ip(&mut list.v4, &groups[0], style, report, |s, e| {
        IpRange::V4 { start: s, end: e }.to_string()
    });
    cut_ip(&mut list.v6, &groups[1], style, report, |s, e| {
        IpRange::V6 { start: s, end: e }.to_string()
    });
    cut(
        &mut list.domains,
        &groups[2],
        |d| rules.domain_lines(d.view()) as u64,
        report,
    );
    cut(&mut list.urls, &groups[3], |_| 1, report);
    cut(&mut list.hashes, &groups[4], |_| 1, report);
}

fn cut_ip<T: Addr>(
    v: &mut Vec<IpLine<T>>,
    kept: &[u64],
    style: IpStyle,
    report: &mut Report,
    show: impl Fn(T, T) -> String,
) {
    let mut out = Vec::with_capacity(v.len());
    for (l, &k) in v.iter().zip(kept) {
        let cost = line_cost(style, l);
        if k < cost {
            report.skip_with(OVER_LIMIT, cost - k, || None, || show(l.start, l.end));
        }
        if k == cost {
            out.push(*l);
        } else if k > 0 {
            out.push(IpLine {
                start: l.start,
                end: T::narrow(l.start.wide() + k as u128 - 1),
                confidence: l.confidence,
            });
        }
    }
    *v = out;
}

fn cut<V: std::fmt::Display>(
    v: &mut Vec<Entry<V>>,
    kept: &[u64],
    cost: impl Fn(&V) -> u64,
    report: &mut Report,
) {
    let old = std::mem::take(v);
    for (e, &k) in old.into_iter().zip(kept) {
        if k == 0 {
            // the text is made only while examples are still wanted (not once per dropped entry)
            report.skip_with(OVER_LIMIT, cost(&e.value), || None, || e.value.to_string());
        } else {
            v.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(conf: u8, index: u32, cost: u64) -> Item {
        Item {
            priority: Priority {
                confidence: conf,
                sources: 0,
                last_seen: 0,
            },
            group: 0,
            index,
            cost,
            divisible: false,
        }
    }

    #[test]
    fn under_limit_keeps_all() {
        assert_eq!(select(&[item(1, 0, 1), item(1, 1, 2)], 3), vec![1, 2]);
    }

    #[test]
    fn keeps_highest_confidence_then_value() {
        let items = [
            item(10, 0, 1),
            item(90, 1, 1),
            item(50, 2, 1),
            item(90, 3, 1),
        ];
        assert_eq!(select(&items, 2), vec![0, 1, 0, 1]);
    }

    #[test]
    fn stops_at_first_that_does_not_fit() {
        let items = [item(90, 0, 2), item(80, 1, 2), item(10, 2, 1)];
        assert_eq!(select(&items, 3), vec![2, 0, 0]);
    }

    #[test]
    fn divisible_items_are_cut() {
        let mut big = item(90, 0, 256);
        big.divisible = true;
        assert_eq!(select(&[big, item(10, 1, 1)], 100), vec![100, 0]);
    }

    proptest::proptest! {
        // With one priority for all, the one-pass selection keeps exactly what `select`
        // keeps (its order is then group, index).
        #[test]
        fn in_order_selection_is_cap_select(
            costs in proptest::collection::vec(proptest::collection::vec(1u64..5, 0..6), 5),
            divisible in proptest::array::uniform5(proptest::bool::ANY),
            max in 0u64..40,
        ) {
            let costs: [Vec<u64>; 5] = costs.try_into().expect("five groups");
            let mut items = Vec::new();
            for (g, c) in costs.iter().enumerate() {
                for (i, &cost) in c.iter().enumerate() {
                    items.push(Item {
                        priority: Priority::default(),
                        group: g as u8,
                        index: i as u32,
                        cost,
                        divisible: divisible[g],
                    });
                }
            }
            let total: u64 = items.iter().map(|i| i.cost).sum();
            proptest::prop_assume!(total > max);
            let want = select(&items, max);
            let got: Vec<u64> = select_in_order(costs, divisible, max).concat();
            proptest::prop_assert_eq!(got, want);
        }

        // The cut counts as one pass over the items would, examples and all, also when the
        // items left once the budget is full are counted on two threads.
        #[test]
        fn cut_counts_as_one_pass(
            costs in proptest::collection::vec(0u64..3, 1..40),
            left in 0u64..30,
            big in proptest::bool::ANY,
        ) {
            // many items (over the two-thread threshold) repeat the pattern of the few
            let n = if big { 70_000 } else { costs.len() };
            let cost = |i: usize| costs[i % costs.len()];
            let show = |i: usize| format!("item {i}");
            let keep: Vec<u32> = (0..n as u32).rev().collect();
            let (mut want, mut want_budget) = (Report::default(), Budget::new(left));
            let mut want_kept = Vec::new();
            for &i in &keep {
                let c = cost(i as usize);
                if c == 0 {
                    want.skip_with(COVERED, 1, || None, || show(i as usize));
                } else if want_budget.take(c) {
                    want_kept.push(i);
                } else {
                    want.skip_with(OVER_LIMIT, c, || None, || show(i as usize));
                }
            }
            let (mut got, mut budget) = (Report::default(), Budget::new(left));
            let kept = cut_indices(keep, cost, &mut budget, &mut got, show);
            proptest::prop_assert_eq!(kept, want_kept);
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(budget.left, want_budget.left);
        }

        // Stopping at the first partial sum over the budget answers as the whole sum does.
        #[test]
        fn fits_all_is_fits_of_the_sum(
            lines in proptest::collection::vec(0u64..5, 0..20),
            left in 0u64..40,
            full in proptest::bool::ANY,
        ) {
            let b = Budget { left, full };
            proptest::prop_assert_eq!(b.fits_all(lines.iter().copied()), b.fits(lines.iter().sum()));
        }
    }
}
