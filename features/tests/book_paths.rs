//! The two ways the features read a book give the same features, bit for bit: the real
//! `orderflow_book::Book` lends its top-of-book arrays (`BookView::top_arrays`), and the same
//! book behind a view without them is copied level by level (`BookView::top_levels`).

mod common;

use common::{Collect, Out, Rng, SYMBOL};
use orderflow_book::{Book, BookConfig};
use orderflow_core::{BookLevel, BookSide, BookView, Px, Qty};
use orderflow_features::{FeatureConfig, SymbolFeatures};

/// `book` without `top_arrays`: the copy path.
struct Copied<'a>(&'a Book);

impl BookView for Copied<'_> {
    fn best_bid(&self) -> Option<BookLevel> {
        self.0.best_bid()
    }
    fn best_ask(&self) -> Option<BookLevel> {
        self.0.best_ask()
    }
    fn top_levels(&self, side: BookSide, out: &mut [BookLevel]) -> usize {
        BookView::top_levels(self.0, side, out)
    }
    fn is_synced(&self) -> bool {
        BookView::is_synced(self.0)
    }
}

#[test]
fn lent_arrays_and_copied_levels_give_the_same_features() {
    let mut rng = Rng(41);
    let config = FeatureConfig::default();
    let mut lent = SymbolFeatures::new(SYMBOL, &config);
    let mut copied = SymbolFeatures::new(SYMBOL, &config);
    let (mut out_lent, mut out_copied) = (Collect::default(), Collect::default());
    let mut t = common::MIDNIGHT_MS;
    let mut full_sides = 0;
    for round in 0..400 {
        let tick = [1, 10, 10_000_000, 5_000][round % 4];
        let mut book = Book::new(&BookConfig::with_tick(Px(tick)));
        let mid = 600_000 + rng.range(-50, 50);
        // 0 to 40 levels a side, some sparse, some far, some huge quantities.
        for side in [BookSide::Bid, BookSide::Ask] {
            let levels = rng.range(0, 40);
            let mut off = 0;
            for _ in 0..levels {
                off += if rng.pct(70) { 1 } else { rng.range(2, 500) };
                let ticks = match side {
                    BookSide::Bid => mid - off,
                    BookSide::Ask => mid + off - 1,
                };
                let qty = if rng.pct(3) {
                    rng.range(1, i64::MAX >> 12)
                } else {
                    rng.range(1, 5_000) * 100_000
                };
                book.set(side, Px(ticks * tick), Qty(qty)).unwrap();
            }
            full_sides += usize::from(book.len(side) >= 20);
        }
        // Updates on top, including removals, so the top cache has moved.
        for _ in 0..rng.range(0, 30) {
            let side = if rng.pct(50) {
                BookSide::Bid
            } else {
                BookSide::Ask
            };
            let k = rng.range(0, 25);
            let ticks = match side {
                BookSide::Bid => mid - 1 - k,
                BookSide::Ask => mid + k,
            };
            let qty = if rng.pct(30) {
                0
            } else {
                rng.range(1, 5_000) * 100_000
            };
            book.set(side, Px(ticks * tick), Qty(qty)).unwrap();
        }
        book.set_synced(!rng.pct(10));
        t += rng.range(0, 300);
        assert!(
            book.top_arrays(BookSide::Bid, 20).is_some()
                && book.top_arrays(BookSide::Ask, 20).is_some()
        );
        lent.on_book_update(&book, t, &mut out_lent);
        copied.on_book_update(&Copied(&book), t, &mut out_copied);
    }
    assert!(full_sides > 100 && full_sides < 700, "{full_sides}");
    assert_eq!(out_lent.0.len(), out_copied.0.len());
    for (k, (a, b)) in out_lent.0.iter().zip(&out_copied.0).enumerate() {
        // Debug formatting compares floats bit for bit and NaN equal to NaN.
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "output {k}");
    }
    let slopes = out_lent
        .0
        .iter()
        .filter(|o| matches!(o, Out::Features(f) if f.bid_slope.is_finite()))
        .count();
    assert!(slopes > 200, "{slopes}");
}
