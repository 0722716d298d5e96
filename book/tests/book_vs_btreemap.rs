//! The fast book against an obviously correct model: two `BTreeMap<i64, i64>` keyed by raw
//! price (STYLE.md section 6; memchr's `naive.rs` + `prop.rs`). After every step the complete
//! state is compared: every level of both sides in order, the touch, level k, quantity at a
//! price, cumulative sums, `top_levels`, crossing, and the cost to fill.
//!
//! Ladders as narrow as 64 ticks force the overflow map and re-centring on almost every step;
//! far updates (up to 300 000 ticks away), 1000-level snapshots, touch walks (deleting the best
//! levels, jumping the centre) and off-grid prices (re-grids) are all in the mix.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions"
)]

use std::collections::BTreeMap;

use orderflow_book::{Book, BookConfig, TOP_LEVELS};
use orderflow_core::{BookLevel, BookSide, BookView, Px, Qty, SCALE, Side, TopVersion, notional};
use proptest::prelude::*;

/// Raw price units per tick in these tests.
const TICK: i64 = 100;

/// The model: raw price -> quantity, per side.
#[derive(Default)]
struct Model {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl Model {
    fn side(&self, side: BookSide) -> &BTreeMap<i64, i64> {
        match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        }
    }

    fn set(&mut self, side: BookSide, px: i64, qty: i64) {
        let map = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        if qty == 0 {
            map.remove(&px);
        } else {
            map.insert(px, qty);
        }
    }

    /// Levels outward from the touch.
    fn levels(&self, side: BookSide) -> Vec<BookLevel> {
        let map = self.side(side);
        let lvl = |(&px, &qty): (&i64, &i64)| BookLevel {
            px: Px(px),
            qty: Qty(qty),
        };
        match side {
            BookSide::Bid => map.iter().rev().map(lvl).collect(),
            BookSide::Ask => map.iter().map(lvl).collect(),
        }
    }

    fn best(&self, side: BookSide) -> Option<i64> {
        match side {
            BookSide::Bid => self.bids.keys().next_back().copied(),
            BookSide::Ask => self.asks.keys().next().copied(),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Within 64 ticks of the side's touch (either direction: improving, crossing or deeper).
    Near { side: BookSide, off: i64, qty: i64 },
    /// Anywhere within 300 000 ticks of the centre.
    Far { side: BookSide, off: i64, qty: i64 },
    /// Deletes the `k`-th level (mod the side's length).
    Delete { side: BookSide, k: usize },
    /// Deletes a price that holds nothing.
    DeleteAbsent { side: BookSide, off: i64 },
    /// Deletes the best `n` levels: the touch walks outward.
    WalkAway { side: BookSide, n: usize },
    /// Moves the centre: later updates cluster far from the current book.
    Jump { delta: i64 },
    /// Clears the book and loads `levels` per side around the centre.
    Snapshot { levels: usize, seed: u64 },
    /// A price off the configured grid by `frac` of a tick.
    OffGrid {
        side: BookSide,
        off: i64,
        frac: i64,
        qty: i64,
    },
}

fn side() -> impl Strategy<Value = BookSide> {
    prop_oneof![Just(BookSide::Bid), Just(BookSide::Ask)]
}

fn qty() -> impl Strategy<Value = i64> {
    prop_oneof![3 => Just(0i64), 8 => 1i64..=1_000_000_000]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        40 => (side(), -64i64..64, qty()).prop_map(|(side, off, qty)| Op::Near { side, off, qty }),
        12 => (side(), -300_000i64..300_000, qty())
            .prop_map(|(side, off, qty)| Op::Far { side, off, qty }),
        12 => (side(), any::<usize>()).prop_map(|(side, k)| Op::Delete { side, k }),
        4 => (side(), -5_000i64..5_000).prop_map(|(side, off)| Op::DeleteAbsent { side, off }),
        4 => (side(), 1usize..40).prop_map(|(side, n)| Op::WalkAway { side, n }),
        3 => (-400_000i64..400_000).prop_map(|delta| Op::Jump { delta }),
        1 => (prop_oneof![1usize..50, Just(1000usize)], any::<u64>())
            .prop_map(|(levels, seed)| Op::Snapshot { levels, seed }),
        1 => (side(), -100i64..100, prop_oneof![Just(50i64), Just(25), Just(4)], 1i64..1_000)
            .prop_map(|(side, off, frac, qty)| Op::OffGrid { side, off, frac, qty }),
    ]
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Applies `op` to both books.
fn step(book: &mut Book, model: &mut Model, centre: &mut i64, op: &Op) {
    let set = |book: &mut Book, model: &mut Model, side, px: i64, qty: i64| {
        let px = px.max(TICK);
        book.set(side, Px(px), Qty(qty)).expect("valid level");
        model.set(side, px, qty);
    };
    match *op {
        Op::Near { side, off, qty } => {
            let touch = model.best(side).unwrap_or(*centre * TICK);
            set(book, model, side, touch + off * TICK, qty);
        }
        Op::Far { side, off, qty } => set(book, model, side, (*centre + off) * TICK, qty),
        Op::Delete { side, k } => {
            let levels = model.levels(side);
            if !levels.is_empty() {
                let px = levels[k % levels.len()].px.raw();
                set(book, model, side, px, 0);
            }
        }
        Op::DeleteAbsent { side, off } => {
            let px = (*centre + off) * TICK;
            if !model.side(side).contains_key(&px) {
                set(book, model, side, px, 0);
            }
        }
        Op::WalkAway { side, n } => {
            for level in model.levels(side).into_iter().take(n) {
                set(book, model, side, level.px.raw(), 0);
            }
        }
        Op::Jump { delta } => *centre = (*centre + delta).clamp(1_000_000, 1_000_000_000),
        Op::Snapshot { levels, seed } => {
            book.clear();
            *model = Model::default();
            let mut rng = seed;
            for side in [BookSide::Bid, BookSide::Ask] {
                let mut px = *centre;
                for _ in 0..levels {
                    let r = splitmix(&mut rng);
                    let gap = if r.is_multiple_of(50) {
                        1 + (r >> 8) % 5_000
                    } else {
                        1 + (r >> 8) % 3
                    };
                    px += match side {
                        BookSide::Bid => -(gap as i64),
                        BookSide::Ask => gap as i64,
                    };
                    let qty = 1 + (splitmix(&mut rng) % 1_000_000_000) as i64;
                    set(book, model, side, px * TICK, qty);
                }
            }
        }
        Op::OffGrid {
            side,
            off,
            frac,
            qty,
        } => {
            let touch = model.best(side).unwrap_or(*centre * TICK);
            set(book, model, side, touch + off * TICK + frac, qty);
        }
    }
}

/// The model's cost to fill, computed the plain way.
fn model_fill(model: &Model, taker: Side, want: i64) -> (i64, i128, u32, Option<i64>, bool) {
    let side = match taker {
        Side::Buy => BookSide::Ask,
        Side::Sell => BookSide::Bid,
    };
    let (mut left, mut notional_sum, mut levels, mut worst) = (want, 0i128, 0u32, None);
    for level in model.levels(side) {
        if left <= 0 {
            break;
        }
        let take = left.min(level.qty.raw());
        notional_sum += notional(level.px, Qty(take));
        left -= take;
        levels += 1;
        worst = Some(level.px.raw());
    }
    (want - left.max(0), notional_sum, levels, worst, left <= 0)
}

/// What `top_arrays` lent last for one side: its version and contents.
type Lent = Option<(TopVersion, Vec<i64>, Vec<i64>, i64)>;

/// Features reuse what they computed from a side while its `TopArrays::version` is unchanged,
/// so an unchanged version must mean unchanged keys, quantities and key step.
fn check_top_version(book: &Book, lent: &mut [Lent; 2]) -> Result<(), TestCaseError> {
    for (side, last) in [BookSide::Bid, BookSide::Ask]
        .into_iter()
        .zip(lent.iter_mut())
    {
        let Some(top) = book.top_arrays(side, TOP_LEVELS) else {
            *last = None;
            continue;
        };
        let Some(version) = top.version else {
            *last = None;
            continue;
        };
        let now = (
            version,
            top.keys.to_vec(),
            top.qtys.to_vec(),
            top.px_per_key,
        );
        if let Some(before) = last.as_ref()
            && before.0 == version
        {
            prop_assert_eq!(before, &now, "{:?}: same version, different top", side);
        }
        *last = Some(now);
    }
    Ok(())
}

/// Compares every query of `book` with `model`.
fn check(book: &Book, model: &Model, probe_px: i64) -> Result<(), TestCaseError> {
    for side in [BookSide::Bid, BookSide::Ask] {
        let expected = model.levels(side);
        let got: Vec<BookLevel> = book.levels(side).collect();
        prop_assert_eq!(&got, &expected, "levels of {:?}", side);
        prop_assert_eq!(book.len(side), expected.len());
        prop_assert_eq!(book.best(side), expected.first().copied());
        let n = expected.len();
        for k in [0, 1, 2, 5, TOP_LEVELS - 1, TOP_LEVELS, TOP_LEVELS + 1, 50] {
            prop_assert_eq!(book.level(side, k), expected.get(k).copied(), "level {}", k);
        }
        prop_assert_eq!(
            book.level(side, n.saturating_sub(1)),
            expected.last().copied()
        );
        for count in [0, 1, 5, 10, TOP_LEVELS, TOP_LEVELS + 1, 64, n + 3] {
            let sum: i64 = expected.iter().take(count).map(|l| l.qty.raw()).sum();
            prop_assert_eq!(book.cum_qty(side, count), Qty(sum), "cum {}", count);
        }
        let head: Vec<BookLevel> = book.head(side).collect();
        prop_assert_eq!(&head[..], &expected[..n.min(TOP_LEVELS)]);
        prop_assert_eq!(book.head(side).len(), n.min(TOP_LEVELS));
        for width in [5, TOP_LEVELS, TOP_LEVELS + 7] {
            let mut out = vec![BookLevel::default(); width];
            let filled = book.top_levels(side, &mut out);
            prop_assert_eq!(filled, n.min(width));
            prop_assert_eq!(&out[..filled], &expected[..filled]);
        }
        for probe in [probe_px, probe_px + TICK / 2] {
            let want = model.side(side).get(&probe).copied().unwrap_or(0);
            prop_assert_eq!(book.qty_at(side, Px(probe)), Qty(want));
        }
        if let Some(level) = expected.get(n / 2) {
            prop_assert_eq!(book.qty_at(side, level.px), level.qty);
        }
    }
    prop_assert_eq!(book.best_bid(), BookView::best_bid(book));
    let crossed = matches!(
        (model.best(BookSide::Bid), model.best(BookSide::Ask)),
        (Some(b), Some(a)) if b >= a
    );
    prop_assert_eq!(book.is_crossed(), crossed);

    for taker in [Side::Buy, Side::Sell] {
        for want in [1, 150_000_000, 3_000_000_000, 40_000_000_000, i64::MAX / 4] {
            let fill = book.cost_to_fill(taker, Qty(want));
            let (filled, notional_sum, levels, worst, complete) = model_fill(model, taker, want);
            prop_assert_eq!(fill.filled, Qty(filled));
            prop_assert_eq!(fill.notional, notional_sum);
            prop_assert_eq!(fill.levels, levels);
            prop_assert_eq!(fill.worst, worst.map_or(Px::UNDEF, Px));
            prop_assert_eq!(fill.is_complete, complete);
            if filled > 0 {
                let avg = notional_sum as f64 / filled as f64 / SCALE as f64;
                prop_assert_eq!(fill.avg_px.to_bits(), avg.to_bits());
                let at_touch = i128::from(fill.touch.raw()) * i128::from(filled);
                let excess = match taker {
                    Side::Buy => notional_sum - at_touch,
                    Side::Sell => at_touch - notional_sum,
                };
                let slip = excess as f64 / at_touch as f64 * 1e4;
                prop_assert_eq!(fill.slippage_bps.to_bits(), slip.to_bits());
                prop_assert!(fill.slippage_bps >= 0.0);
            } else {
                prop_assert!(fill.avg_px.is_nan());
            }
        }
    }
    Ok(())
}

fn config() -> impl Strategy<Value = BookConfig> {
    (
        prop_oneof![Just(64usize), Just(256), Just(4096), Just(1 << 15)],
        prop_oneof![Just(Some(Px(TICK))), Just(Some(Px(TICK * 10))), Just(None)],
    )
        .prop_map(|(ladder_ticks, tick)| BookConfig {
            tick,
            ladder_ticks,
            ..BookConfig::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn book_matches_btreemap(
        config in config(),
        ops in proptest::collection::vec(op(), 1..160),
        probe in -2_000i64..2_000,
    ) {
        let mut book = Book::new(&config);
        let mut model = Model::default();
        let mut centre = 10_000_000i64;
        let mut lent = [None, None];
        for op in &ops {
            step(&mut book, &mut model, &mut centre, op);
            let probe_px = model.best(BookSide::Bid).unwrap_or(centre * TICK) + probe * TICK;
            check(&book, &model, probe_px)?;
            check_top_version(&book, &mut lent)?;
        }
    }
}

/// A long deterministic run: the touch drifts tens of thousands of ticks away and back in both
/// directions while updates cluster around it, with the state checked every 211 steps.
#[test]
fn long_random_walk_matches_model() {
    for ladder_ticks in [64usize, 1024, 1 << 15] {
        let mut book = Book::new(&BookConfig {
            ladder_ticks,
            ..BookConfig::with_tick(Px(TICK))
        });
        let mut model = Model::default();
        let mut rng = ladder_ticks as u64;
        let mut mid = 10_000_000i64;
        for i in 0..20_000 {
            let r = splitmix(&mut rng);
            if r.is_multiple_of(1000) {
                mid += ((r >> 10) % 40_001) as i64 - 20_000;
            } else if r.is_multiple_of(7) {
                mid += ((r >> 10) % 5) as i64 - 2;
            }
            let side = if r & 1 == 0 {
                BookSide::Bid
            } else {
                BookSide::Ask
            };
            let dist = match (r >> 16) % 10 {
                0 => ((r >> 24) % 100_000) as i64,
                _ => ((r >> 24) % 50) as i64,
            };
            let px = match side {
                BookSide::Bid => mid - 1 - dist,
                BookSide::Ask => mid + 1 + dist,
            } * TICK;
            let qty = if (r >> 40).is_multiple_of(4) {
                0
            } else {
                ((r >> 44) % 1000 + 1) as i64
            };
            book.set(side, Px(px), Qty(qty)).unwrap();
            model.set(side, px, qty);
            if i % 211 == 0 {
                check(&book, &model, mid * TICK).unwrap();
            }
        }
        check(&book, &model, mid * TICK).unwrap();
        assert!(book.stats().recentres > 0);
    }
}
