//! The price grid: exact conversion between [`Px`](orderflow_core::Px) units and integer ticks.
//!
//! Every level update divides its price by the tick, so the division must be cheap and must
//! never round. We use the exact-division test compilers emit for `x % d == 0` (Granlund and
//! Montgomery; Hacker's Delight, 2nd ed., section 10-17): write the tick as `d = d0 * 2^k` with
//! `d0` odd, precompute `inv = d0^-1 mod 2^64` and `limit = (2^64 - 1) / d`. For any `x`,
//! `q = rotate_right(x * inv, k)` satisfies `q <= limit` exactly when `d` divides `x`, and `q` is
//! then the quotient. That is one multiply, one rotate and one compare instead of a 64-bit
//! `idiv` (20 to 90 cycles depending on the core), and it answers "on the grid?" for free.
//!
//! A price off the grid is never rounded: the caller re-grids to `gcd(tick, price)`.

/// An exact divisor for one tick size (raw 10^-8 units, > 0), or the unset grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    /// Tick in raw 10^-8 units; 0 while unset.
    tick: i64,
    /// Inverse of the odd part of `tick`, modulo 2^64.
    inv: u64,
    /// Trailing zero bits of `tick`.
    shift: u32,
    /// `u64::MAX / tick`: the largest quotient of an exact division.
    limit: u64,
}

impl Grid {
    /// No tick yet: [`Grid::ticks`] fails for every price (`limit` 0, `inv` 1, so `q = x >= 1`).
    pub(crate) const UNSET: Self = Self {
        tick: 0,
        inv: 1,
        shift: 0,
        limit: 0,
    };

    /// The grid of `tick` raw units; `None` unless `tick > 0`.
    pub(crate) fn new(tick: i64) -> Option<Self> {
        if tick <= 0 {
            return None;
        }
        let tick_u = tick.unsigned_abs();
        let shift = tick_u.trailing_zeros();
        let odd = tick_u >> shift;
        // Newton iteration for the inverse modulo 2^64: `odd * odd == 1 (mod 8)` gives three
        // correct bits, and each step doubles them (3, 6, 12, 24, 48, 96).
        let mut inv = odd;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inv)));
        }
        Some(Self {
            tick,
            inv,
            shift,
            limit: u64::MAX / tick_u,
        })
    }

    /// The tick in raw units, `None` while unset.
    #[inline]
    pub(crate) fn tick(self) -> Option<i64> {
        (self.tick > 0).then_some(self.tick)
    }

    /// The tick in raw units, 0 while unset (no level exists then, so products are unused).
    #[inline]
    pub(crate) fn tick_raw(self) -> i64 {
        self.tick
    }

    /// `px / tick` when `px > 0` lies exactly on the grid; `None` otherwise (and always while
    /// unset).
    #[inline]
    pub(crate) fn ticks(self, px: i64) -> Option<i64> {
        let (q, exact) = self.divide(px);
        (exact & (px > 0)).then_some(q)
    }

    /// `(px / tick, exact)` without a branch; the quotient is meaningful only when `exact` and
    /// `px > 0` (the caller folds those into one test with its own checks).
    #[inline]
    pub(crate) fn divide(self, px: i64) -> (i64, bool) {
        let q = (px as u64).wrapping_mul(self.inv).rotate_right(self.shift);
        // When exact, `q * tick == px <= i64::MAX`, so the cast is lossless.
        (q as i64, q <= self.limit)
    }
}

/// Greatest common divisor of two positive values.
pub(crate) fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a.abs()
}

/// The largest power of ten dividing `px` (`px > 0`): the first guess at a tick when none is
/// configured. `61800.20` (raw `6_180_020_000_000`) gives `10^7`, a tick of 0.1.
pub(crate) fn power_of_ten_tick(px: i64) -> i64 {
    let mut tick = 1i64;
    while let Some(next) = tick.checked_mul(10) {
        if px % next != 0 {
            break;
        }
        tick = next;
    }
    tick
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn binance_ticks() {
        let g = Grid::new(10_000_000).unwrap(); // 0.1
        assert_eq!(g.ticks(6_180_020_000_000), Some(618_002));
        assert_eq!(g.ticks(6_180_020_000_001), None);
        assert_eq!(g.ticks(6_180_025_000_000), None);
        assert_eq!(g.ticks(0), None);
        assert_eq!(g.ticks(-10_000_000), None);
        assert_eq!(Grid::UNSET.ticks(10_000_000), None);
        assert_eq!(Grid::UNSET.tick(), None);
        assert_eq!(Grid::new(0), None);
        assert_eq!(Grid::new(-5), None);
        let one = Grid::new(1).unwrap();
        assert_eq!(one.ticks(i64::MAX), Some(i64::MAX));
    }

    #[test]
    fn inferred_tick_is_a_power_of_ten() {
        assert_eq!(power_of_ten_tick(6_180_020_000_000), 10_000_000);
        assert_eq!(power_of_ten_tick(6_180_000_000_000), 10_000_000_000);
        assert_eq!(power_of_ten_tick(1), 1);
        assert_eq!(power_of_ten_tick(7), 1);
        assert_eq!(
            power_of_ten_tick(1_000_000_000_000_000_000),
            1_000_000_000_000_000_000
        );
        assert_eq!(gcd(10_000_000, 6_180_025_000_000), 5_000_000);
        assert_eq!(gcd(12, 18), 6);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        #[test]
        fn exact_division_matches_remainder(tick in 1i64..=i64::MAX, px in any::<i64>()) {
            let g = Grid::new(tick).unwrap();
            let expected = (px > 0 && px % tick == 0).then(|| px / tick);
            prop_assert_eq!(g.ticks(px), expected);
        }

        #[test]
        fn exact_division_small_ticks(
            tick in prop_oneof![1i64..1_000, Just(10_000_000), Just(5_000_000), Just(1_000_000)],
            q in 0i64..1_000_000_000, off in 0i64..3,
        ) {
            let g = Grid::new(tick).unwrap();
            let px = q.saturating_mul(tick).saturating_add(off);
            let expected = (px > 0 && px % tick == 0).then(|| px / tick);
            prop_assert_eq!(g.ticks(px), expected);
        }
    }
}
