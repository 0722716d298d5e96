//! Trailing windows by exchange time: a preallocated ring of non-empty time buckets, kept in
//! time order, with one running sum per window.
//!
//! Time is cut into buckets of `width_ms`, aligned to the UNIX epoch (so to UTC); bucket `b`
//! holds `[b * width, (b + 1) * width)`. At clock `now` the head bucket is `floor(now / width)`,
//! and a window of `len` buckets is the head and the `len - 1` before it: times
//! `[(head - len + 1) * width, now]`. With `width_ms == 1` that is exactly the trailing
//! `(now - len, now]`; a wider bucket trades edge precision (at most one bucket) for memory.
//!
//! Only buckets that received something are stored: the ring holds `(bucket, value)` entries in
//! increasing bucket order, and window `k` is always the newest `n[k]` entries (its suffix), so
//! it needs no pointer of its own. Moving the clock forward pops, for each window, the entries
//! that fell out of its suffix and subtracts them from its sum: the cost is the number of
//! entries leaving, not the time elapsed, and nothing happens while nothing leaves. An addition
//! for the newest bucket merges into the last entry; a newer bucket is appended; an older one
//! (a trade out of order) is merged into its entry or inserted in order by shifting the newer
//! entries, so the sums are exact for any arrival order.
//!
//! Measured (callgrind, `benches/benches/features.rs`, an event every 7 ms): the first version,
//! a dense ring of every 1 ms bucket stepped through as the clock moved, cost about 280
//! instructions per book update for the 1/5/10 s intensity windows alone; this sparse ring costs
//! about 30, and the head bucket's bounds are cached so that a clock inside it needs no division.
//!
//! Capacity: every stored bucket lies within the longest window (older ones are popped, and an
//! addition older than the longest window is refused and reported), so the ring never holds more
//! than `max_len` entries: it is allocated with exactly that many in [`BucketWindow::new`] and
//! cannot overflow.

/// A bucket value and how it adds into a window sum.
pub(crate) trait Bucket: Copy + Default + core::fmt::Debug {
    /// The running sum of a window (wider than the bucket where overflow is possible).
    type Sum: Copy + Default + core::fmt::Debug;
    /// `self += other`.
    fn merge(&mut self, other: &Self);
    /// `sum += self`.
    fn add_to(&self, sum: &mut Self::Sum);
    /// `sum -= self`.
    fn sub_from(&self, sum: &mut Self::Sum);
}

/// A ring of non-empty `Bucket`s with `K` nested windows ending at the head.
#[derive(Debug)]
pub(crate) struct BucketWindow<A: Bucket, const K: usize> {
    width_ms: i64,
    keys: Box<[i64]>,
    vals: Box<[A]>,
    /// Physical index one past the newest entry.
    end: usize,
    /// Entries stored (those of the longest window).
    stored: usize,
    /// Absolute index of the head bucket; `i64::MIN` before the first `advance`.
    head: i64,
    /// Start and end of the head bucket, ms: a clock or trade time inside it needs no
    /// division (an `idiv` costs tens of cycles; this is on every event).
    head_start_ms: i64,
    head_end_ms: i64,
    /// Window lengths in buckets, each in `1..=max_len`.
    lens: [i64; K],
    max_len: i64,
    /// Entries inside each window (the newest `n[k]` of the ring).
    n: [usize; K],
    sums: [A::Sum; K],
}

impl<A: Bucket, const K: usize> BucketWindow<A, K> {
    /// A ring for windows of `lens_ms` (each a positive multiple of `width_ms`).
    ///
    /// # Panics
    /// When a length is not a positive multiple of `width_ms` (checked by the config).
    pub(crate) fn new(width_ms: i64, lens_ms: [i64; K]) -> Self {
        assert!(width_ms > 0, "bucket width must be positive");
        let lens = lens_ms.map(|l| {
            assert!(
                l > 0 && l % width_ms == 0,
                "window must be a multiple of the bucket"
            );
            l / width_ms
        });
        let max_len = lens.iter().copied().max().unwrap_or(1);
        let cap = usize::try_from(max_len).unwrap_or(usize::MAX);
        Self {
            width_ms,
            keys: vec![0; cap].into_boxed_slice(),
            vals: vec![A::default(); cap].into_boxed_slice(),
            end: 0,
            stored: 0,
            head: i64::MIN,
            head_start_ms: i64::MIN,
            head_end_ms: i64::MIN,
            lens,
            max_len,
            n: [0; K],
            sums: [A::Sum::default(); K],
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.len() * (size_of::<i64>() + size_of::<A>())
    }

    /// Physical index of the entry `back` places before `end` (`back >= 1`).
    #[inline]
    fn back(&self, back: usize) -> usize {
        if self.end >= back {
            self.end - back
        } else {
            self.end + self.keys.len() - back
        }
    }

    /// The bucket holding `t_ms`.
    #[inline]
    fn bucket(&self, t_ms: i64) -> i64 {
        if self.width_ms == 1 {
            t_ms
        } else if (self.head_start_ms..self.head_end_ms).contains(&t_ms) {
            self.head
        } else {
            t_ms.div_euclid(self.width_ms)
        }
    }

    /// Moves the head to the bucket holding `now_ms` (never backwards).
    #[inline]
    pub(crate) fn advance(&mut self, now_ms: i64) {
        if now_ms < self.head_end_ms {
            return;
        }
        self.advance_to(self.bucket(now_ms));
    }

    fn advance_to(&mut self, target: i64) {
        if target <= self.head {
            return;
        }
        self.head = target;
        self.head_start_ms = target.saturating_mul(self.width_ms);
        self.head_end_ms = self.head_start_ms.saturating_add(self.width_ms);
        for k in 0..K {
            let threshold = target - self.lens[k];
            while self.n[k] > 0 {
                let i = self.back(self.n[k]);
                if self.keys[i] > threshold {
                    break;
                }
                self.vals[i].sub_from(&mut self.sums[k]);
                self.n[k] -= 1;
            }
        }
        self.stored = self.n.iter().copied().max().unwrap_or(0);
    }

    /// Adds `value` at time `t_ms` (at most the clock last passed to [`Self::advance`]).
    /// Returns `false` when `t_ms` is older than the longest window (nothing added).
    #[inline]
    pub(crate) fn add(&mut self, t_ms: i64, value: &A) -> bool {
        let b = self.bucket(t_ms);
        let age = self.head.saturating_sub(b);
        debug_assert!(age >= 0, "add after the clock");
        if !(0..self.max_len).contains(&age) {
            return false;
        }
        let stored = self.stored;
        let newest = if stored > 0 {
            Some(self.keys[self.back(1)])
        } else {
            None
        };
        match newest {
            Some(key) if key == b => {
                let i = self.back(1);
                self.vals[i].merge(value);
            }
            Some(key) if key > b => self.insert_older(b, value, stored),
            _ => {
                // Append; the windows that do not reach `b` stay empty suffixes.
                self.keys[self.end] = b;
                self.vals[self.end] = *value;
                self.end += 1;
                if self.end == self.keys.len() {
                    self.end = 0;
                }
                for k in 0..K {
                    if age < self.lens[k] {
                        self.n[k] += 1;
                    }
                }
                self.stored += 1;
            }
        }
        for k in 0..K {
            if age < self.lens[k] {
                value.add_to(&mut self.sums[k]);
            }
        }
        true
    }

    /// Merges or inserts bucket `b`, older than the newest entry, keeping the ring ordered.
    fn insert_older(&mut self, b: i64, value: &A, stored: usize) {
        // Entries newer than `b`: the last `newer` ones.
        let mut newer = 1;
        while newer < stored && self.keys[self.back(newer + 1)] > b {
            newer += 1;
        }
        if newer < stored {
            let i = self.back(newer + 1);
            if self.keys[i] == b {
                self.vals[i].merge(value);
                return;
            }
        }
        // Shift the newer entries one place towards the end, then write `b` before them.
        // `stored < capacity`: all stored buckets and `b` are distinct and within the
        // longest window.
        let mut dst = self.end;
        for _ in 0..newer {
            let src = if dst == 0 {
                self.keys.len() - 1
            } else {
                dst - 1
            };
            self.keys[dst] = self.keys[src];
            self.vals[dst] = self.vals[src];
            dst = src;
        }
        self.keys[dst] = b;
        self.vals[dst] = *value;
        self.end += 1;
        if self.end == self.keys.len() {
            self.end = 0;
        }
        let age = self.head - b;
        for k in 0..K {
            // Inside window k: it lies within the window's suffix, which grows by one.
            // Outside: it sits before the suffix, which keeps its length.
            if age < self.lens[k] {
                self.n[k] += 1;
            }
        }
        self.stored += 1;
    }

    /// The running sum of window `k` (as of the last [`Self::advance`]).
    #[inline]
    pub(crate) fn sum(&self, k: usize) -> A::Sum {
        self.sums[k]
    }
}

/// Trade count per bucket (the trade-intensity windows); wrapping as [`BuyTotal`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Count(pub(crate) u32);

impl Bucket for Count {
    type Sum = u64;
    #[inline]
    fn merge(&mut self, other: &Self) {
        self.0 = self.0.wrapping_add(other.0);
    }
    #[inline]
    fn add_to(&self, sum: &mut u64) {
        *sum = sum.wrapping_add(u64::from(self.0));
    }
    #[inline]
    fn sub_from(&self, sum: &mut u64) {
        *sum = sum.wrapping_sub(u64::from(self.0));
    }
}

/// Buy and total aggressor quantity per bucket, raw 10^-8 units (the buy-pressure window).
///
/// Bucket values and window sums use wrapping `i64` arithmetic: every sum is the exact total
/// modulo 2^64, so it is exact whenever the true window total fits an `i64` (92 billion base
/// units, far beyond 60 s or 15 min of any symbol), whatever overflowed on the way; and `i128`
/// arithmetic here cost a software conversion per event.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BuyTotal {
    pub(crate) buy: i64,
    pub(crate) total: i64,
}

impl Bucket for BuyTotal {
    type Sum = Self;
    #[inline]
    fn merge(&mut self, other: &Self) {
        self.buy = self.buy.wrapping_add(other.buy);
        self.total = self.total.wrapping_add(other.total);
    }
    #[inline]
    fn add_to(&self, sum: &mut Self) {
        sum.merge(self);
    }
    #[inline]
    fn sub_from(&self, sum: &mut Self) {
        sum.buy = sum.buy.wrapping_sub(self.buy);
        sum.total = sum.total.wrapping_sub(self.total);
    }
}

/// Quantity and trade count per bucket (the large-trade mean); wrapping as [`BuyTotal`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct QtyCount {
    pub(crate) qty: i64,
    pub(crate) count: u64,
}

impl Bucket for QtyCount {
    type Sum = Self;
    #[inline]
    fn merge(&mut self, other: &Self) {
        self.qty = self.qty.wrapping_add(other.qty);
        self.count = self.count.wrapping_add(other.count);
    }
    #[inline]
    fn add_to(&self, sum: &mut Self) {
        sum.merge(self);
    }
    #[inline]
    fn sub_from(&self, sum: &mut Self) {
        sum.qty = sum.qty.wrapping_sub(self.qty);
        sum.count = sum.count.wrapping_sub(self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive model: keep every (time, count) and sum those inside each window.
    fn naive(adds: &[(i64, u32)], now: i64, width: i64, len_ms: i64) -> u64 {
        let head = now.div_euclid(width);
        adds.iter()
            .filter(|(t, _)| {
                let age = head - t.div_euclid(width);
                (0..len_ms / width).contains(&age)
            })
            .map(|&(_, c)| u64::from(c))
            .sum()
    }

    #[test]
    fn matches_naive_sums_under_jumps_and_late_adds() {
        for width in [1, 10, 100] {
            let lens = [1_000, 5_000, 10_000];
            let mut w = BucketWindow::<Count, 3>::new(width, lens);
            let mut adds = Vec::new();
            let mut now = 1_700_000_000_000i64;
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            for step in 0..3_000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let jump = match seed % 100 {
                    0 => 12_000,
                    1..=3 => 3_000,
                    _ => (seed >> 8) as i64 % 40,
                };
                now += jump;
                w.advance(now);
                let lag = match seed % 7 {
                    0 => [0, 999, 1_000, 1_001, 4_999, 5_000, 9_999, 10_000]
                        [(seed >> 3) as usize % 8],
                    1..=4 => (seed >> 20) as i64 % 30,
                    _ => (seed >> 20) as i64 % 11_000,
                };
                let t = now - lag;
                let c = 1 + (step % 3) as u32;
                if w.add(t, &Count(c)) {
                    adds.push((t, c));
                } else {
                    assert!(now.div_euclid(width) - t.div_euclid(width) >= 10_000 / width);
                }
                for (k, len) in lens.iter().enumerate() {
                    assert_eq!(w.sum(k), naive(&adds, now, width, *len), "w={width} k={k}");
                }
                // The ring stays sorted and holds exactly the longest window's buckets.
                let stored = w.n[2];
                let keys: Vec<i64> = (1..=stored).rev().map(|b| w.keys[w.back(b)]).collect();
                assert!(keys.windows(2).all(|p| p[0] < p[1]), "{keys:?}");
            }
        }
    }

    #[test]
    fn ring_never_needs_more_than_the_window() {
        // Every bucket of the window filled, in reverse order, then once more.
        let mut w = BucketWindow::<Count, 1>::new(1, [64]);
        w.advance(1_000);
        for round in 0..2 {
            for t in (1_000 - 63..=1_000).rev() {
                assert!(w.add(t, &Count(1)));
            }
            assert_eq!(w.sum(0), 64 * (round + 1));
        }
        assert!(!w.add(1_000 - 64, &Count(1)));
        w.advance(1_032);
        assert_eq!(w.sum(0), 2 * 32);
        assert_eq!(w.heap_bytes(), 64 * 12);
    }
}
