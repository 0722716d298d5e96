//! The far levels of one side: quantities in a hash map, their keys in an ordered set.
//!
//! Far updates are point writes: on the 2024-08-08 BTCUSDT capture about 4 % of the level
//! updates land beyond the ladder, and three in four of those change the quantity of a level
//! that is already there (most on a few lowball bids); one in nine deletes a level that is not
//! there. Those are one hash probe here. Only a level that appears or disappears also updates
//! the ordered key set, which the rare ordered reads (a walk past the ladder, a re-centre)
//! use. With a `BTreeMap` holding both, every far update was a search down the tree: about
//! 18 % of the time of a real-stream update for 4 % of the updates (`perf` on the `book`
//! bench).

use std::collections::{BTreeSet, btree_set, hash_map};

use rustc_hash::FxHashMap;

/// Levels at or beyond the end of the ladder, by outward coordinate.
///
/// Invariant: `keys` holds exactly the keys of `qty`, and no quantity is zero.
#[derive(Debug, Default)]
pub(crate) struct Overflow {
    qty: FxHashMap<i64, i64>,
    keys: BTreeSet<i64>,
}

impl Overflow {
    /// Number of levels.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.qty.len()
    }

    /// Quantity at `o` (zero when absent).
    #[inline]
    pub(crate) fn get(&self, o: i64) -> i64 {
        self.qty.get(&o).copied().unwrap_or(0)
    }

    /// Sets the level at `o` to `q >= 0` (zero deletes); returns the previous quantity (zero
    /// when absent).
    #[inline]
    pub(crate) fn set(&mut self, o: i64, q: i64) -> i64 {
        if q == 0 {
            return match self.qty.remove(&o) {
                Some(old) => {
                    self.keys.remove(&o);
                    old
                }
                None => 0,
            };
        }
        match self.qty.entry(o) {
            hash_map::Entry::Occupied(mut level) => level.insert(q),
            hash_map::Entry::Vacant(slot) => {
                slot.insert(q);
                self.keys.insert(o);
                0
            }
        }
    }

    /// The nearest level.
    #[inline]
    pub(crate) fn first(&self) -> Option<(i64, i64)> {
        self.keys.first().map(|&o| (o, self.get(o)))
    }

    /// The levels at `start` and beyond, in order.
    #[inline]
    pub(crate) fn range_from(&self, start: i64) -> OverflowRange<'_> {
        OverflowRange {
            keys: self.keys.range(start..),
            qty: &self.qty,
        }
    }

    /// Removes every level (keeps the allocations of the hash map).
    pub(crate) fn clear(&mut self) {
        self.qty.clear();
        self.keys.clear();
    }
}

/// Levels of an [`Overflow`] in outward order, as `(o, qty)`.
#[derive(Debug)]
pub(crate) struct OverflowRange<'a> {
    keys: btree_set::Range<'a, i64>,
    qty: &'a FxHashMap<i64, i64>,
}

impl Iterator for OverflowRange<'_> {
    type Item = (i64, i64);

    #[inline]
    fn next(&mut self) -> Option<(i64, i64)> {
        let &o = self.keys.next()?;
        Some((o, self.qty.get(&o).copied().unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn matches_a_btreemap() {
        let mut overflow = Overflow::default();
        let mut model = BTreeMap::new();
        // A small key range, so that changes, deletes and deletes of absent keys all happen.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let o = (x % 64) as i64 * 3 + 40_000;
            let q = if x >> 60 < 5 {
                0
            } else {
                (x >> 40) as i64 % 1000 + 1
            };
            let old = model.get(&o).copied().unwrap_or(0);
            if q == 0 {
                model.remove(&o);
            } else {
                model.insert(o, q);
            }
            assert_eq!(overflow.set(o, q), old);
            assert_eq!(overflow.len(), model.len());
            assert_eq!(
                overflow.first(),
                model.first_key_value().map(|(&k, &v)| (k, v))
            );
            let start = o - 7;
            assert!(
                overflow
                    .range_from(start)
                    .eq(model.range(start..).map(|(&k, &v)| (k, v)))
            );
        }
        overflow.clear();
        assert_eq!((overflow.len(), overflow.first()), (0, None));
    }
}
