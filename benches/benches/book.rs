//! Book benches (DESIGN.md section 7): one level update plus a touch read, the same plus a
//! top-20 walk of both sides, and a 1000-level-per-side snapshot load.
//!
//! Streams:
//! - `real`: every level of every BTCUSDT `@depth@0ms` diff after the REST snapshot in
//!   `shared/data/binance-usdm/btcusdt_20240808.gz` (about 443 000 level updates), starting from
//!   that snapshot. Skipped, with a printed reason, when the file is absent.
//! - `synthetic`: 1 000 000 seeded level updates (splitmix64): about 90 % within 50 ticks of the
//!   touch, 9 % within 5 000, 1 % up to 50 000 ticks away, 27 % deletes, the mid drifting.
//!
//! Each measured iteration applies the next update of the stream (cycling, the book state carried
//! from one iteration to the next) and reads the touch, so the figures are per level update.
//!
//! Cases in each group: `orderflow` ([`Book`] with the default 32 768-tick ladder; its walk reads
//! `Book::head`, the cached top 20), in the walk groups also `orderflow_levels_iter` (the general
//! `Book::levels` iterator) and `orderflow_top_levels` (`BookView::top_levels` into a buffer, then
//! a sum: the features' path), `btreemap` (a plain `BTreeMap<i64, i64>` per side), and with `--features hftbacktest` hftbacktest 0.9.4's
//! `ROIVectorMarketDepth` (range of interest: the snapshot mid +-20 %; updates outside it are
//! dropped by design) and `HashMapMarketDepth`. Each contender reads the stream in its own
//! 24-byte input type. `base` measures the loop alone: it reads every update's fields, no book
//! (reading about 10 MB per pass of the real stream is not free: about 1.3 ns per update).
//! Reproduce:
//!
//! ```text
//! cargo bench -p orderflow-benches --features hftbacktest --bench book -- --warm-up-time 1 --measurement-time 3
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use orderflow_book::{Book, BookConfig};
use orderflow_core::{BookLevel, BookSide, BookView, Px, Qty};

/// One level update of a stream. Each contender gets the stream converted to its own input type
/// ([`Contender::Input`], 24 bytes for every one) before timing.
#[derive(Clone, Copy, Debug)]
struct Update {
    side: BookSide,
    px: Px,
    qty: Qty,
}

impl Update {
    fn new(side: BookSide, px: Px, qty: Qty) -> Self {
        Self { side, px, qty }
    }
}

/// The input type of the contenders that take the stream as it is.
impl From<&Update> for Update {
    fn from(u: &Update) -> Self {
        *u
    }
}

/// A snapshot (bids then asks) and the level updates that follow it.
struct Stream {
    name: &'static str,
    tick: Px,
    snapshot: Vec<Update>,
    updates: Vec<Update>,
}

impl Stream {
    /// Mid of the snapshot: the centre of hftbacktest's range of interest.
    #[cfg(feature = "hftbacktest")]
    fn mid(&self) -> f64 {
        let best = |side| {
            self.snapshot
                .iter()
                .find(|u| u.side == side)
                .map_or(0.0, |u| u.px.to_f64())
        };
        (best(BookSide::Bid) + best(BookSide::Ask)) / 2.0
    }
}

fn data_file() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/binance-usdm/btcusdt_20240808.gz"
    ))
}

fn levels(value: &serde_json::Value, side: BookSide, out: &mut Vec<Update>) -> Option<()> {
    for pair in value.as_array()? {
        let px: Px = pair.get(0)?.as_str()?.parse().ok()?;
        let qty: Qty = pair.get(1)?.as_str()?.parse().ok()?;
        out.push(Update::new(side, px, qty));
    }
    Some(())
}

/// The BTCUSDT recording as a stream, or why not.
fn real_stream() -> Result<Stream, String> {
    let path = data_file();
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut snapshot = Vec::new();
    let mut last_update_id = None;
    let mut updates = Vec::new();
    for line in text.lines() {
        let Some((_, json)) = line.split_once(' ') else {
            continue;
        };
        if json.starts_with("{\"lastUpdateId\"") {
            let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
            last_update_id = v.get("lastUpdateId").and_then(serde_json::Value::as_u64);
            levels(&v["bids"], BookSide::Bid, &mut snapshot).ok_or("bad snapshot bids")?;
            levels(&v["asks"], BookSide::Ask, &mut snapshot).ok_or("bad snapshot asks")?;
            continue;
        }
        if !json.contains("\"depthUpdate\"") {
            continue;
        }
        let Some(l) = last_update_id else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let data = &v["data"];
        if data["u"].as_u64().is_none_or(|u| u < l) {
            continue;
        }
        levels(&data["b"], BookSide::Bid, &mut updates).ok_or("bad diff bids")?;
        levels(&data["a"], BookSide::Ask, &mut updates).ok_or("bad diff asks")?;
    }
    if snapshot.is_empty() || updates.is_empty() {
        return Err("no snapshot or no diffs in the recording".into());
    }
    Ok(Stream {
        name: "real",
        tick: Px(10_000_000),
        snapshot,
        updates,
    })
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 1 M seeded level updates around a drifting mid, tick 0.1, starting from a 1000-level book.
fn synthetic_stream() -> Stream {
    const TICK: i64 = 10_000_000;
    let mut rng = 0x5EED_u64;
    let mut mid = 618_000i64; // ticks: 61 800.0
    let px = |ticks: i64| Px(ticks * TICK);
    let mut snapshot = Vec::with_capacity(2000);
    for side in [BookSide::Bid, BookSide::Ask] {
        let mut t = mid;
        for _ in 0..1000 {
            t += match side {
                BookSide::Bid => -1 - (splitmix64(&mut rng) % 2) as i64,
                BookSide::Ask => 1 + (splitmix64(&mut rng) % 2) as i64,
            };
            let qty = Qty(1 + (splitmix64(&mut rng) % 500_000_000) as i64);
            snapshot.push(Update::new(side, px(t), qty));
        }
    }
    let mut updates = Vec::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let r = splitmix64(&mut rng);
        match r % 1000 {
            0..=49 => mid += 1,
            50..=99 => mid -= 1,
            _ => {}
        }
        let side = if (r >> 10) & 1 == 0 {
            BookSide::Bid
        } else {
            BookSide::Ask
        };
        let pick = (r >> 11) % 100;
        let span = match pick {
            0..=89 => 50,
            90..=98 => 5_000,
            _ => 50_000,
        };
        let dist = ((r >> 20) % span) as i64;
        let t = match side {
            BookSide::Bid => mid - 1 - dist,
            BookSide::Ask => mid + 1 + dist,
        };
        let qty = if (r >> 40) % 100 < 27 {
            Qty::ZERO
        } else {
            Qty(1 + ((r >> 44) % 500_000) as i64 * 1000)
        };
        updates.push(Update::new(side, px(t), qty));
    }
    Stream {
        name: "synthetic",
        tick: Px(TICK),
        snapshot,
        updates,
    }
}

/// What every contender does. Every `apply` is `#[inline(always)]`: the update is inlined into
/// the measuring loop, as it is into an engine's loop, rather than measured through a call
/// boundary the compiler chose to keep for some contenders and not others.
///
/// Each contender reads the stream in its own input type, converted before timing, and every
/// input type is 24 bytes: the stream is the same amount of memory to read for all of them.
/// Reading a stream this long (about 10 MB per pass over the real one) is a fixed cost of the
/// loop that `base` includes.
trait Contender {
    /// One level update as this contender takes it.
    type Input: Copy + for<'a> From<&'a Update>;
    fn apply(&mut self, u: &Self::Input);
    /// Best bid and ask (any representation: the result only goes to `black_box`).
    fn touch(&self) -> (i64, i64);
    /// Sum of the quantities of the first 20 levels of both sides.
    fn walk20(&self) -> f64;
    fn clear(&mut self);
}

struct Orderflow {
    book: Book,
}

impl Contender for Orderflow {
    type Input = Update;

    #[inline(always)]
    fn apply(&mut self, u: &Update) {
        // The `Result` is `Ok` for every level of the stream; the book's state is what counts.
        let _ = self.book.set(u.side, u.px, u.qty);
    }

    #[inline]
    fn touch(&self) -> (i64, i64) {
        (
            self.book.best_bid().map_or(0, |l| l.px.raw()),
            self.book.best_ask().map_or(0, |l| l.px.raw()),
        )
    }

    /// Walks the first 20 levels of each side with [`Book::head`] (the top cache).
    #[inline]
    fn walk20(&self) -> f64 {
        let mut sum = 0i64;
        for side in [BookSide::Bid, BookSide::Ask] {
            sum += self.book.head(side).map(|l| l.qty.raw()).sum::<i64>();
        }
        sum as f64
    }

    fn clear(&mut self) {
        self.book.clear();
    }
}

/// [`Orderflow`] walking with the general [`Book::levels`] iterator instead of `head`.
struct OrderflowLevels(Orderflow);

impl Contender for OrderflowLevels {
    type Input = Update;

    #[inline(always)]
    fn apply(&mut self, u: &Update) {
        self.0.apply(u);
    }

    #[inline]
    fn touch(&self) -> (i64, i64) {
        self.0.touch()
    }

    #[inline]
    fn walk20(&self) -> f64 {
        let mut sum = 0i64;
        for side in [BookSide::Bid, BookSide::Ask] {
            sum += self
                .0
                .book
                .levels(side)
                .take(20)
                .map(|l| l.qty.raw())
                .sum::<i64>();
        }
        sum as f64
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// [`Orderflow`] walking through `BookView::top_levels` (the features' path): a copy into a
/// buffer, then a sum over the buffer.
struct OrderflowTopLevels(Orderflow, [BookLevel; 20]);

impl Contender for OrderflowTopLevels {
    type Input = Update;

    #[inline(always)]
    fn apply(&mut self, u: &Update) {
        self.0.apply(u);
    }

    #[inline]
    fn touch(&self) -> (i64, i64) {
        self.0.touch()
    }

    #[inline]
    fn walk20(&self) -> f64 {
        let mut top = self.1;
        let mut sum = 0i64;
        for side in [BookSide::Bid, BookSide::Ask] {
            let n = self.0.book.top_levels(side, &mut top);
            sum += top.iter().take(n).map(|l| l.qty.raw()).sum::<i64>();
        }
        sum as f64
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

#[derive(Default)]
struct BTree {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl Contender for BTree {
    type Input = Update;

    #[inline(always)]
    fn apply(&mut self, u: &Update) {
        let side = match u.side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        if u.qty.is_zero() {
            side.remove(&u.px.raw());
        } else {
            side.insert(u.px.raw(), u.qty.raw());
        }
    }

    #[inline]
    fn touch(&self) -> (i64, i64) {
        (
            self.bids.last_key_value().map_or(0, |(&p, _)| p),
            self.asks.first_key_value().map_or(0, |(&p, _)| p),
        )
    }

    #[inline]
    fn walk20(&self) -> f64 {
        let bids: i64 = self.bids.values().rev().take(20).sum();
        let asks: i64 = self.asks.values().take(20).sum();
        (bids + asks) as f64
    }

    fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }
}

#[cfg(feature = "hftbacktest")]
mod hft {
    use hftbacktest::depth::{
        HashMapMarketDepth, INVALID_MAX, INVALID_MIN, L2MarketDepth, MarketDepth,
        ROIVectorMarketDepth,
    };
    use hftbacktest::types::Side;
    use orderflow_core::BookSide;

    use super::{Contender, Update};

    /// One level update as both hftbacktest depths take it: `f64` price and quantity.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Input {
        side: BookSide,
        px: f64,
        qty: f64,
    }

    impl From<&Update> for Input {
        fn from(u: &Update) -> Self {
            Self {
                side: u.side,
                px: u.px.to_f64(),
                qty: u.qty.to_f64(),
            }
        }
    }

    #[inline(always)]
    fn apply(d: &mut impl L2MarketDepth, u: &Input) {
        let _ = match u.side {
            BookSide::Bid => d.update_bid_depth(u.px, u.qty, 0),
            BookSide::Ask => d.update_ask_depth(u.px, u.qty, 0),
        };
    }

    /// Best bid and ask ticks.
    #[inline]
    fn touch(d: &impl MarketDepth) -> (i64, i64) {
        (d.best_bid_tick(), d.best_ask_tick())
    }

    pub(super) struct Roi(pub(super) ROIVectorMarketDepth);

    impl Contender for Roi {
        type Input = Input;

        #[inline(always)]
        fn apply(&mut self, u: &Input) {
            apply(&mut self.0, u);
        }

        #[inline]
        fn touch(&self) -> (i64, i64) {
            touch(&self.0)
        }

        /// Walks the dense arrays outward from the touch, as hftbacktest's own examples do.
        #[inline]
        fn walk20(&self) -> f64 {
            let d = &self.0;
            let (lb, _) = d.roi_tick();
            let mut sum = 0.0;
            if d.best_bid_tick != INVALID_MIN {
                let bids = d.bid_depth();
                let (mut i, mut n) = ((d.best_bid_tick - lb) as usize + 1, 0);
                while n < 20 && i > 0 {
                    i -= 1;
                    let q = bids[i];
                    if q > 0.0 {
                        sum += q;
                        n += 1;
                    }
                }
            }
            if d.best_ask_tick != INVALID_MAX {
                let asks = d.ask_depth();
                let (mut i, mut n) = ((d.best_ask_tick - lb) as usize, 0);
                while n < 20 && i < asks.len() {
                    let q = asks[i];
                    if q > 0.0 {
                        sum += q;
                        n += 1;
                    }
                    i += 1;
                }
            }
            sum
        }

        fn clear(&mut self) {
            self.0.clear_depth(Side::None, 0.0);
        }
    }

    pub(super) struct Hash(pub(super) HashMapMarketDepth);

    impl Contender for Hash {
        type Input = Input;

        #[inline(always)]
        fn apply(&mut self, u: &Input) {
            apply(&mut self.0, u);
        }

        #[inline]
        fn touch(&self) -> (i64, i64) {
            touch(&self.0)
        }

        /// Tick-by-tick lookups outward from the touch (its only level access).
        #[inline]
        fn walk20(&self) -> f64 {
            let d = &self.0;
            let mut sum = 0.0;
            let (mut t, mut n) = (d.best_bid_tick, 0);
            while n < 20 && t != INVALID_MIN && t >= d.low_bid_tick {
                let q = d.bid_qty_at_tick(t);
                if q > 0.0 {
                    sum += q;
                    n += 1;
                }
                t -= 1;
            }
            let (mut t, mut n) = (d.best_ask_tick, 0);
            while n < 20 && t != INVALID_MAX && t <= d.high_ask_tick {
                let q = d.ask_qty_at_tick(t);
                if q > 0.0 {
                    sum += q;
                    n += 1;
                }
                t += 1;
            }
            sum
        }

        fn clear(&mut self) {
            self.0.clear_depth(Side::None, 0.0);
        }
    }
}

fn load<C: Contender>(c: &mut C, snapshot: &[C::Input]) {
    c.clear();
    for u in snapshot {
        c.apply(u);
    }
}

/// `updates` in the contender's input type.
fn inputs<C: Contender>(updates: &[Update]) -> Vec<C::Input> {
    updates.iter().map(C::Input::from).collect()
}

/// A contender loaded with the stream's snapshot and taken once through the whole stream.
fn warm<C: Contender>(c: &mut C, snapshot: &[C::Input], updates: &[C::Input]) {
    load(c, snapshot);
    for u in updates {
        c.apply(u);
    }
    load(c, snapshot);
}

fn orderflow(stream: &Stream) -> Orderflow {
    Orderflow {
        book: Book::new(&BookConfig::with_tick(stream.tick)),
    }
}

/// One measured iteration = one level update (+ touch, + optional walk), cycling the stream.
fn per_update<C: Contender>(
    c: &mut C,
    updates: &[C::Input],
    pos: &mut usize,
    walk: bool,
    iters: u64,
) -> Duration {
    if walk {
        measure::<C, true>(c, updates, pos, iters)
    } else {
        measure::<C, false>(c, updates, pos, iters)
    }
}

/// [`per_update`] with the walk decided at compile time and the position in a register, so the
/// loop around the contender is the same few instructions for every contender.
#[inline(never)]
fn measure<C: Contender, const WALK: bool>(
    c: &mut C,
    updates: &[C::Input],
    pos: &mut usize,
    iters: u64,
) -> Duration {
    let mut at = *pos;
    let start = Instant::now();
    for _ in 0..iters {
        let u = &updates[at];
        at += 1;
        if at == updates.len() {
            at = 0;
        }
        c.apply(u);
        black_box(c.touch());
        if WALK {
            black_box(c.walk20());
        }
    }
    let elapsed = start.elapsed();
    *pos = at;
    elapsed
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Benches one contender on `stream`: the stream converted to the contender's input type, one
/// warm-up pass, then one level update (+ touch, + optional walk) per iteration.
fn case<C: Contender>(g: &mut Group<'_>, who: &str, stream: &Stream, mut c: C, walk: bool) {
    let snapshot = inputs::<C>(&stream.snapshot);
    let updates = inputs::<C>(&stream.updates);
    warm(&mut c, &snapshot, &updates);
    let mut pos = 0;
    g.bench_function(BenchmarkId::new(who, stream.name), |b| {
        b.iter_custom(|iters| per_update(&mut c, &updates, &mut pos, walk, iters));
    });
}

/// Benches every contender on `stream` in the group `name`.
fn group(c: &mut Criterion, stream: &Stream, name: &str, walk: bool) {
    let mut g = c.benchmark_group(format!("book/{name}"));
    let updates = &stream.updates[..];

    // The loop alone: fetch each update's fields (the stream is read as every contender reads
    // it), no book.
    g.bench_function(BenchmarkId::new("base", stream.name), |b| {
        let mut pos = 0usize;
        b.iter_custom(|iters| {
            let mut at = pos;
            let mut seen = 0i64;
            let start = Instant::now();
            for _ in 0..iters {
                let u = &updates[at];
                seen = seen.wrapping_add(u.px.raw() ^ u.qty.raw() ^ u.side as i64);
                at += 1;
                if at == updates.len() {
                    at = 0;
                }
            }
            black_box(seen);
            let elapsed = start.elapsed();
            pos = at;
            elapsed
        });
    });

    case(&mut g, "orderflow", stream, orderflow(stream), walk);
    if walk {
        case(
            &mut g,
            "orderflow_levels_iter",
            stream,
            OrderflowLevels(orderflow(stream)),
            walk,
        );
        let top = [BookLevel::default(); 20];
        let book = OrderflowTopLevels(orderflow(stream), top);
        case(&mut g, "orderflow_top_levels", stream, book, walk);
    }

    #[cfg(feature = "hftbacktest")]
    {
        let mid = stream.mid();
        let tick = stream.tick.to_f64();
        let roi = hftbacktest::depth::ROIVectorMarketDepth::new(tick, 0.001, mid * 0.8, mid * 1.2);
        case(&mut g, "hft_roi_vector", stream, hft::Roi(roi), walk);
        let hash = hftbacktest::depth::HashMapMarketDepth::new(tick, 0.001);
        case(&mut g, "hft_hashmap", stream, hft::Hash(hash), walk);
    }

    case(&mut g, "btreemap", stream, BTree::default(), walk);
    g.finish();
}

/// Clears and loads the 1000-per-side snapshot.
fn snapshot_group(c: &mut Criterion, stream: &Stream) {
    fn bench<C: Contender>(g: &mut Group<'_>, who: &str, stream: &Stream, mut contender: C) {
        let snapshot = inputs::<C>(&stream.snapshot);
        g.bench_function(BenchmarkId::new(who, stream.name), |b| {
            b.iter(|| {
                load(&mut contender, &snapshot);
                black_box(contender.touch())
            });
        });
    }
    let mut g = c.benchmark_group("book/snapshot_load");
    bench(&mut g, "orderflow", stream, orderflow(stream));
    #[cfg(feature = "hftbacktest")]
    {
        let (mid, tick) = (stream.mid(), stream.tick.to_f64());
        let roi = hftbacktest::depth::ROIVectorMarketDepth::new(tick, 0.001, mid * 0.8, mid * 1.2);
        bench(&mut g, "hft_roi_vector", stream, hft::Roi(roi));
        let hash = hftbacktest::depth::HashMapMarketDepth::new(tick, 0.001);
        bench(&mut g, "hft_hashmap", stream, hft::Hash(hash));
    }
    bench(&mut g, "btreemap", stream, BTree::default());
    g.finish();
}

/// Before timing anything: the fast book and the `BTreeMap` agree on the touch and the top-20
/// sums after the whole stream.
fn sanity(stream: &Stream) {
    let mut fast = orderflow(stream);
    let mut slow = BTree::default();
    load(&mut fast, &stream.snapshot);
    load(&mut slow, &stream.snapshot);
    for u in &stream.updates {
        fast.apply(u);
        slow.apply(u);
    }
    assert_eq!(fast.touch(), slow.touch(), "{}: touch differs", stream.name);
    assert_eq!(
        fast.walk20(),
        slow.walk20(),
        "{}: top-20 sums differ",
        stream.name
    );
    let stats = fast.book.stats();
    println!(
        "book bench: {} stream, {} level updates, snapshot {} levels; after one pass: {} recentres, {} levels in overflow",
        stream.name,
        stream.updates.len(),
        stream.snapshot.len(),
        stats.recentres,
        stats.overflow_levels,
    );
}

fn benches(c: &mut Criterion) {
    let mut streams = Vec::new();
    match real_stream() {
        Ok(s) => streams.push(s),
        Err(why) => println!("book bench: real stream skipped ({why}); synthetic only"),
    }
    streams.push(synthetic_stream());
    for stream in &streams {
        sanity(stream);
    }
    for stream in &streams {
        group(c, stream, "update_touch", false);
    }
    for stream in &streams {
        group(c, stream, "update_touch_walk20", true);
    }
    if let Some(stream) = streams.first() {
        snapshot_group(c, stream);
    }
}

criterion_group!(book, benches);
criterion_main!(book);
