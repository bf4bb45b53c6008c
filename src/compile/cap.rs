//! Capacity: keep a list within `max_entries` output lines, highest priority first.
//!
//! Priority is confidence, then number of sources, then newest `last_seen`, then value (the
//! caller's item order, which is value order). Items are taken in that order while they fit; the
//! first that does not fit ends the selection, so no lower-priority item is ever kept in place
//! of a higher one. An item that stands for several lines (a range written as single hosts) may be
//! cut to the lines that still fit. Everything left out is counted `over_limit`.

use std::cmp::Reverse;

use crate::indicator::Priority;

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
}
