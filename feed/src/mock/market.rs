//! What the mock exchange serves: a seeded simulated market or a re-timed capture, and the
//! exchange-side book of every symbol (for REST snapshots and as the tests' reference).
//!
//! Both markets produce [`Outbound`] payloads (the bare Binance JSON of one message) that the
//! websocket sessions wrap in the combined-stream envelope of each subscriber. The exchange-side
//! book ([`RefBook`]) is a `BTreeMap` ladder per side updated by every depth diff; a REST
//! snapshot is that book at that instant, with `lastUpdateId` the id of the last update applied
//! to it (which may fall inside the 100 ms batch the next diff will carry, as on Binance).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use orderflow_core::{Body, BookSide, Event, Px, Qty};

use super::rng::Rng;
use super::{MockError, SimConfig};
use crate::capture::MergedCapture;
use crate::streams::StreamKind;
use crate::{FrameParser, Parsed};

/// One message for the websocket sessions: the payload of one stream message.
#[derive(Debug)]
pub(crate) struct Outbound {
    /// Lower-case symbol, as in stream names.
    pub(crate) symbol: Arc<str>,
    pub(crate) kind: StreamKind,
    /// The bare payload JSON (`{"e":"depthUpdate",...}`).
    pub(crate) payload: String,
}

/// Levels per side the reference hash covers. A client's book is only as deep as its last
/// snapshot (1000 levels): levels beyond it that never change are never sent, so the deep end
/// of a client's book may lag the exchange's (protocol doc section 3.3, "Depth beyond the
/// snapshot"). The top 200 is what both must agree on.
pub const REFERENCE_LEVELS: usize = 200;

/// FNV-1a over a book's levels: bids best first, then asks best first, as `(px, qty)` raw
/// fixed-point pairs, at most [`REFERENCE_LEVELS`] per side. The tests compute it over the
/// client's book and compare it with the mock's at the same update id.
#[must_use]
pub fn book_hash(
    bids: impl IntoIterator<Item = (i64, i64)>,
    asks: impl IntoIterator<Item = (i64, i64)>,
) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: i64| {
        for b in v.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (px, qty) in bids.into_iter().take(REFERENCE_LEVELS) {
        eat(1);
        eat(px);
        eat(qty);
    }
    for (px, qty) in asks.into_iter().take(REFERENCE_LEVELS) {
        eat(2);
        eat(px);
        eat(qty);
    }
    h
}

/// The exchange-side book of one symbol.
#[derive(Clone, Debug, Default)]
pub(crate) struct RefBook {
    pub(crate) bids: BTreeMap<i64, i64>,
    pub(crate) asks: BTreeMap<i64, i64>,
    /// Id of the last update applied.
    pub(crate) last_u: u64,
    /// `E`/`T` of the last update, ms.
    pub(crate) time_ms: i64,
    /// `false` until the book is known (a capture before its snapshot line).
    pub(crate) ready: bool,
}

impl RefBook {
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

    fn hash(&self) -> u64 {
        book_hash(
            self.bids.iter().rev().map(|(p, q)| (*p, *q)),
            self.asks.iter().map(|(p, q)| (*p, *q)),
        )
    }

    fn best_bid(&self) -> Option<(i64, i64)> {
        self.bids.iter().next_back().map(|(p, q)| (*p, *q))
    }

    fn best_ask(&self) -> Option<(i64, i64)> {
        self.asks.iter().next().map(|(p, q)| (*p, *q))
    }

    /// The REST body of `/fapi/v1/depth` with at most `limit` levels per side.
    pub(crate) fn snapshot_json(&self, limit: usize) -> String {
        let mut s = String::with_capacity(64 + 40 * limit);
        let _ = write!(
            s,
            r#"{{"lastUpdateId":{},"E":{},"T":{},"bids":["#,
            self.last_u, self.time_ms, self.time_ms
        );
        levels_json(&mut s, self.bids.iter().rev().take(limit));
        s.push_str(r#"],"asks":["#);
        levels_json(&mut s, self.asks.iter().take(limit));
        s.push_str("]}");
        s
    }
}

fn levels_json<'a>(s: &mut String, levels: impl Iterator<Item = (&'a i64, &'a i64)>) {
    for (i, (px, qty)) in levels.enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, r#"["{}","{}"]"#, Px(*px), Qty(*qty));
    }
}

/// One symbol's exchange-side state.
#[derive(Debug)]
pub(crate) struct SymbolSlot {
    pub(crate) upper: String,
    pub(crate) lower: Arc<str>,
    pub(crate) book: RefBook,
    /// A copy of the book from one to two seconds ago (for stale snapshots).
    stale: Option<RefBook>,
    previous: Option<RefBook>,
    pub(crate) open_interest: i64,
    pub(crate) last_time_ms: i64,
}

impl SymbolSlot {
    fn new(upper: &str) -> Self {
        Self {
            upper: upper.to_ascii_uppercase(),
            lower: Arc::from(upper.to_ascii_lowercase()),
            book: RefBook::default(),
            stale: None,
            previous: None,
            open_interest: 104_873_512 * 100_000,
            last_time_ms: 0,
        }
    }

    /// The book to serve: the current one, or (when `stale`) the one from a second or two ago.
    pub(crate) fn snapshot_book(&self, stale: bool) -> &RefBook {
        if stale {
            self.stale.as_ref().unwrap_or(&self.book)
        } else {
            &self.book
        }
    }

    /// Rotates the stale copies (called once a second).
    fn age(&mut self) {
        self.stale = self.previous.take();
        self.previous = Some(self.book.clone());
    }
}

/// What the market holds: every symbol's book and the reference hashes.
#[derive(Debug)]
pub(crate) struct MarketState {
    pub(crate) symbols: Vec<SymbolSlot>,
    /// `(symbol, u) -> book hash` after every diff, when reference keeping is on.
    pub(crate) reference: Option<HashMap<(Arc<str>, u64), u64>>,
    last_age_ms: i64,
    /// `false` once a capture is exhausted.
    pub(crate) running: bool,
}

impl MarketState {
    pub(crate) fn new(keep_reference: bool) -> Self {
        Self {
            symbols: Vec::new(),
            reference: keep_reference.then(HashMap::new),
            last_age_ms: 0,
            running: true,
        }
    }

    pub(crate) fn slot(&self, lower: &str) -> Option<&SymbolSlot> {
        self.symbols
            .iter()
            .find(|s| s.lower.eq_ignore_ascii_case(lower))
    }

    fn slot_index(&mut self, name: &str) -> usize {
        if let Some(i) = self
            .symbols
            .iter()
            .position(|s| s.upper.eq_ignore_ascii_case(name))
        {
            return i;
        }
        self.symbols.push(SymbolSlot::new(name));
        self.symbols.len() - 1
    }

    fn note_diff(&mut self, i: usize) {
        if let (Some(reference), Some(slot)) = (self.reference.as_mut(), self.symbols.get(i)) {
            reference.insert(
                (Arc::clone(&slot.lower), slot.book.last_u),
                slot.book.hash(),
            );
        }
    }

    /// Once a second: rotate the stale snapshot copies.
    fn age(&mut self, now_ms: i64) {
        if now_ms - self.last_age_ms >= 1_000 {
            self.last_age_ms = now_ms;
            for s in &mut self.symbols {
                s.age();
            }
        }
    }
}

/// A market that produces messages as time passes.
pub(crate) trait Market: Send {
    /// Advances to wall time `now_ms`, applying book changes to `state` and pushing what to
    /// send into `out`.
    fn step(&mut self, now_ms: i64, state: &mut MarketState, out: &mut Vec<Outbound>);
}

// ---- simulated market -----------------------------------------------------------------------

/// Per-symbol parameters of the simulation.
#[derive(Clone, Copy, Debug)]
struct SimParams {
    tick: i64,
    lot: i64,
    mid_ticks: i64,
}

fn params_for(upper: &str, i: usize) -> SimParams {
    const LOT: i64 = 100_000; // 0.001
    match upper {
        "BTCUSDT" => SimParams {
            tick: 10_000_000,
            lot: LOT,
            mid_ticks: 600_000,
        },
        "ETHUSDT" => SimParams {
            tick: 1_000_000,
            lot: LOT,
            mid_ticks: 300_000,
        },
        _ => SimParams {
            tick: 100_000,
            lot: LOT * 1_000,
            mid_ticks: 10_000 * (i as i64 + 1),
        },
    }
}

#[derive(Debug)]
struct SimSymbol {
    index: usize,
    p: SimParams,
    update_id: u64,
    batch_first: Option<u64>,
    pending: BTreeMap<(u8, i64), i64>,
    last_emitted_u: u64,
    agg_id: u64,
    trade_id: u64,
    last_top: Option<(i64, i64, i64, i64)>,
    ops_carry: f64,
    next_diff_ms: i64,
    next_mark_ms: i64,
    next_liq_ms: i64,
}

/// The seeded random-walk market.
#[derive(Debug)]
pub(crate) struct SimMarket {
    config: SimConfig,
    rng: Rng,
    symbols: Vec<SimSymbol>,
    last_ms: Option<i64>,
}

const MIN_LEVELS: usize = 8;

impl SimMarket {
    pub(crate) fn new(config: &SimConfig, state: &mut MarketState) -> Self {
        let mut rng = Rng::new(config.seed);
        let mut symbols = Vec::new();
        for (i, name) in config.symbols.iter().enumerate() {
            let index = state.slot_index(name);
            let slot = &mut state.symbols[index];
            let p = params_for(&slot.upper, i);
            let mut update_id = 1_000_000_000 + rng.range(0, 1_000_000) as u64;
            // Initial ladder: levels every 1..3 ticks from the touch.
            let mut px = p.mid_ticks - 1;
            for _ in 0..config.levels {
                slot.book
                    .bids
                    .insert(px * p.tick, rng.range(1, 3_000) * p.lot);
                px -= rng.range(1, 3);
            }
            let mut px = p.mid_ticks + 1;
            for _ in 0..config.levels {
                slot.book
                    .asks
                    .insert(px * p.tick, rng.range(1, 3_000) * p.lot);
                px += rng.range(1, 3);
            }
            update_id += 1;
            slot.book.last_u = update_id;
            slot.book.ready = true;
            symbols.push(SimSymbol {
                index,
                p,
                update_id,
                batch_first: None,
                pending: BTreeMap::new(),
                last_emitted_u: update_id,
                agg_id: 3_000_000_000 + rng.range(0, 1_000) as u64,
                trade_id: 8_000_000_000 + rng.range(0, 1_000) as u64,
                last_top: None,
                ops_carry: 0.0,
                next_diff_ms: 0,
                next_mark_ms: 0,
                next_liq_ms: 0,
            });
        }
        Self {
            config: config.clone(),
            rng,
            symbols,
            last_ms: None,
        }
    }
}

impl Market for SimMarket {
    fn step(&mut self, now_ms: i64, state: &mut MarketState, out: &mut Vec<Outbound>) {
        let dt_ms = self.last_ms.map_or(0, |t| (now_ms - t).max(0));
        self.last_ms = Some(now_ms);
        state.age(now_ms);
        #[allow(clippy::cast_precision_loss, reason = "a rate")]
        let ops_due = self.config.ops_per_sec * dt_ms as f64 / 1_000.0;
        for sym in &mut self.symbols {
            let Some(slot) = state.symbols.get_mut(sym.index) else {
                continue;
            };
            sym.ops_carry += ops_due;
            while sym.ops_carry >= 1.0 {
                sym.ops_carry -= 1.0;
                sim_op(sym, slot, &self.config, &mut self.rng, now_ms, out);
            }
            if now_ms >= sym.next_diff_ms {
                sym.next_diff_ms = now_ms + self.config.diff_interval_ms;
                if flush_diff(sym, slot, now_ms, out) {
                    let i = sym.index;
                    state.note_diff(i);
                }
            }
            let Some(slot) = state.symbols.get_mut(sym.index) else {
                continue;
            };
            if now_ms >= sym.next_mark_ms {
                sym.next_mark_ms = now_ms - now_ms % 1_000 + 1_000;
                mark_price(sym, slot, &mut self.rng, now_ms, out);
            }
            if now_ms >= sym.next_liq_ms {
                sym.next_liq_ms = now_ms + 1_000;
                if self.rng.chance(self.config.liquidation_prob) {
                    liquidation(sym, slot, &mut self.rng, now_ms, out);
                }
            }
        }
    }
}

/// One random book event: a quantity change, a new level, a cancel, or a market order.
fn sim_op(
    sym: &mut SimSymbol,
    slot: &mut SymbolSlot,
    config: &SimConfig,
    rng: &mut Rng,
    now_ms: i64,
    out: &mut Vec<Outbound>,
) {
    let p = sym.p;
    let side = if rng.chance(0.5) {
        BookSide::Bid
    } else {
        BookSide::Ask
    };
    let (Some((bid, _)), Some((ask, _))) = (slot.book.best_bid(), slot.book.best_ask()) else {
        return;
    };
    let r = rng.unit();
    let levels = match side {
        BookSide::Bid => slot.book.bids.len(),
        BookSide::Ask => slot.book.asks.len(),
    };
    let mut changes: [(BookSide, i64, i64); 2] = [(side, 0, -1); 2];
    if r < config.trade_share {
        // A market order against the touch of the other side.
        let (hit_side, (px, qty)) = match side {
            BookSide::Bid => (BookSide::Ask, slot.book.best_ask().unwrap_or_default()),
            BookSide::Ask => (BookSide::Bid, slot.book.best_bid().unwrap_or_default()),
        };
        let opposite_levels = match hit_side {
            BookSide::Bid => slot.book.bids.len(),
            BookSide::Ask => slot.book.asks.len(),
        };
        let take = rng.range(1, qty / p.lot).min(qty / p.lot) * p.lot;
        let left = if opposite_levels > MIN_LEVELS {
            qty - take
        } else {
            qty.max(take + p.lot) - take
        };
        changes[0] = (hit_side, px, left);
        trades(sym, slot, rng, now_ms, px, take, side == BookSide::Ask, out);
    } else if r < config.trade_share + 0.5 {
        // Change the quantity of a level near the touch.
        let k = rng.range(0, (levels.min(20) as i64) - 1) as usize;
        let px = match side {
            BookSide::Bid => slot.book.bids.keys().rev().nth(k).copied(),
            BookSide::Ask => slot.book.asks.keys().nth(k).copied(),
        };
        if let Some(px) = px {
            changes[0] = (side, px, rng.range(1, 3_000) * p.lot);
        }
    } else if r < config.trade_share + 0.75 {
        // A new level, sometimes inside the spread.
        let px = if rng.chance(0.15) && ask - bid > p.tick {
            match side {
                BookSide::Bid => bid + p.tick,
                BookSide::Ask => ask - p.tick,
            }
        } else {
            let d = rng.range(0, 60) * p.tick;
            match side {
                BookSide::Bid => bid - d,
                BookSide::Ask => ask + d,
            }
        };
        if px > 0 {
            changes[0] = (side, px, rng.range(1, 3_000) * p.lot);
        }
        // Keep the book within `levels`: drop the farthest level.
        if levels >= config.levels * 2 {
            let far = match side {
                BookSide::Bid => slot.book.bids.keys().next().copied(),
                BookSide::Ask => slot.book.asks.keys().next_back().copied(),
            };
            if let Some(far) = far {
                changes[1] = (side, far, 0);
            }
        }
    } else if levels > MIN_LEVELS {
        // A cancel: a level near the touch disappears.
        let k = rng.range(0, (levels.min(10) as i64) - 1) as usize;
        let px = match side {
            BookSide::Bid => slot.book.bids.keys().rev().nth(k).copied(),
            BookSide::Ask => slot.book.asks.keys().nth(k).copied(),
        };
        if let Some(px) = px {
            changes[0] = (side, px, 0);
        }
    }
    for (side, px, qty) in changes {
        if qty < 0 || px <= 0 {
            continue;
        }
        sym.update_id += rng.range(1, 40) as u64;
        sym.batch_first.get_or_insert(sym.update_id);
        slot.book.set(side, px, qty);
        slot.book.last_u = sym.update_id;
        slot.book.time_ms = now_ms;
        sym.pending.insert((side as u8, px), qty);
        book_ticker(sym, slot, now_ms, out);
    }
}

/// A market order: one aggTrade of 1..3 fills, and the individual trades.
#[allow(clippy::too_many_arguments, reason = "one call site")]
fn trades(
    sym: &mut SimSymbol,
    slot: &SymbolSlot,
    rng: &mut Rng,
    now_ms: i64,
    px: i64,
    qty: i64,
    buyer_is_maker: bool,
    out: &mut Vec<Outbound>,
) {
    let fills = rng.range(1, 3);
    let first = sym.trade_id + 1;
    let mut left = qty;
    for f in 0..fills {
        sym.trade_id += 1;
        let q = if f == fills - 1 {
            left
        } else {
            (left / 2 / sym.p.lot).max(0) * sym.p.lot
        };
        left -= q;
        if q <= 0 {
            continue;
        }
        out.push(Outbound {
            symbol: Arc::clone(&slot.lower),
            kind: StreamKind::Trade,
            payload: format!(
                r#"{{"e":"trade","E":{now_ms},"T":{now_ms},"s":"{}","t":{},"p":"{}","q":"{}","X":"MARKET","m":{buyer_is_maker},"st":1}}"#,
                slot.upper,
                sym.trade_id,
                Px(px),
                Qty(q)
            ),
        });
    }
    if rng.chance(0.02) {
        // A placeholder trade, as Binance sends now and then.
        sym.trade_id += 1;
        out.push(Outbound {
            symbol: Arc::clone(&slot.lower),
            kind: StreamKind::Trade,
            payload: format!(
                r#"{{"e":"trade","E":{now_ms},"T":{now_ms},"s":"{}","t":{},"p":"0","q":"0","X":"NA","m":true}}"#,
                slot.upper, sym.trade_id
            ),
        });
    }
    sym.agg_id += 1;
    out.push(Outbound {
        symbol: Arc::clone(&slot.lower),
        kind: StreamKind::AggTrade,
        payload: format!(
            r#"{{"e":"aggTrade","E":{now_ms},"a":{},"s":"{}","p":"{}","q":"{}","nq":"{}","f":{first},"l":{},"T":{now_ms},"m":{buyer_is_maker},"st":1}}"#,
            sym.agg_id,
            slot.upper,
            Px(px),
            Qty(qty),
            Qty(qty),
            sym.trade_id
        ),
    });
}

/// A bookTicker when the touch changed (real time, between diffs).
fn book_ticker(sym: &mut SimSymbol, slot: &SymbolSlot, now_ms: i64, out: &mut Vec<Outbound>) {
    let (Some((bp, bq)), Some((ap, aq))) = (slot.book.best_bid(), slot.book.best_ask()) else {
        return;
    };
    let top = (bp, bq, ap, aq);
    if sym.last_top == Some(top) {
        return;
    }
    sym.last_top = Some(top);
    out.push(Outbound {
        symbol: Arc::clone(&slot.lower),
        kind: StreamKind::BookTicker,
        payload: format!(
            r#"{{"e":"bookTicker","u":{},"s":"{}","b":"{}","B":"{}","a":"{}","A":"{}","T":{now_ms},"E":{now_ms},"st":1}}"#,
            sym.update_id,
            slot.upper,
            Px(bp),
            Qty(bq),
            Px(ap),
            Qty(aq)
        ),
    });
}

/// Emits the pending changes as one depthUpdate; `true` when one was sent.
fn flush_diff(
    sym: &mut SimSymbol,
    slot: &mut SymbolSlot,
    now_ms: i64,
    out: &mut Vec<Outbound>,
) -> bool {
    let Some(first) = sym.batch_first.take() else {
        return false;
    };
    let mut payload = String::with_capacity(128 + 32 * sym.pending.len());
    let _ = write!(
        payload,
        r#"{{"e":"depthUpdate","E":{now_ms},"T":{now_ms},"s":"{}","U":{first},"u":{},"pu":{},"b":["#,
        slot.upper, sym.update_id, sym.last_emitted_u
    );
    let bids = sym.pending.range((0, i64::MIN)..=(0, i64::MAX)).rev();
    levels_json(&mut payload, bids.map(|(k, q)| (&k.1, q)));
    payload.push_str(r#"],"a":["#);
    let asks = sym.pending.range((1, i64::MIN)..=(1, i64::MAX));
    levels_json(&mut payload, asks.map(|(k, q)| (&k.1, q)));
    payload.push_str(r#"],"st":1}"#);
    sym.pending.clear();
    sym.last_emitted_u = sym.update_id;
    slot.last_time_ms = now_ms;
    out.push(Outbound {
        symbol: Arc::clone(&slot.lower),
        kind: StreamKind::Depth,
        payload,
    });
    true
}

fn mark_price(
    sym: &SimSymbol,
    slot: &mut SymbolSlot,
    rng: &mut Rng,
    now_ms: i64,
    out: &mut Vec<Outbound>,
) {
    let (Some((bid, _)), Some((ask, _))) = (slot.book.best_bid(), slot.book.best_ask()) else {
        return;
    };
    let mid = (bid + ask) / 2;
    let index = mid + rng.range(-3, 3) * sym.p.tick;
    let next_funding = now_ms - now_ms.rem_euclid(8 * 3_600_000) + 8 * 3_600_000;
    let rate = rng.range(-20, 40) * 1_000; // -0.0002 .. 0.0004
    slot.open_interest += rng.range(-50, 50) * sym.p.lot;
    out.push(Outbound {
        symbol: Arc::clone(&slot.lower),
        kind: StreamKind::MarkPrice,
        payload: format!(
            r#"{{"e":"markPriceUpdate","E":{now_ms},"s":"{}","p":"{}","ap":"{}","i":"{}","P":"{}","r":"{}","T":{next_funding},"st":1}}"#,
            slot.upper,
            Px(mid),
            Px(mid),
            Px(index),
            Px(index),
            Qty(rate)
        ),
    });
}

fn liquidation(
    sym: &SimSymbol,
    slot: &SymbolSlot,
    rng: &mut Rng,
    now_ms: i64,
    out: &mut Vec<Outbound>,
) {
    let (Some((bid, _)), Some((ask, _))) = (slot.book.best_bid(), slot.book.best_ask()) else {
        return;
    };
    let sell = rng.chance(0.5);
    let (side, px) = if sell {
        ("SELL", bid - rng.range(0, 20) * sym.p.tick)
    } else {
        ("BUY", ask + rng.range(0, 20) * sym.p.tick)
    };
    let q = Qty(rng.range(1, 500) * sym.p.lot);
    out.push(Outbound {
        symbol: Arc::clone(&slot.lower),
        kind: StreamKind::ForceOrder,
        payload: format!(
            r#"{{"e":"forceOrder","E":{now_ms},"o":{{"s":"{}","S":"{side}","o":"LIMIT","f":"IOC","q":"{q}","p":"{}","ap":"{}","X":"FILLED","l":"{q}","z":"{q}","T":{},"st":1}}}}"#,
            slot.upper,
            Px(px),
            Px(px),
            now_ms - 1
        ),
    });
}

// ---- re-timed capture -----------------------------------------------------------------------

/// How a capture is re-timed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// The capture's own gaps between frames, divided by this factor (1.0 = real time).
    Speed(f64),
    /// A fixed rate, frames per second, ignoring the capture's timing.
    Rate(f64),
}

/// Serves a raw capture's frames with their original (scaled) spacing.
pub(crate) struct CaptureMarket {
    capture: MergedCapture,
    parser: FrameParser,
    events: Vec<Event>,
    pace: Pace,
    start_ms: Option<i64>,
    first_recv_ns: Option<i64>,
    sent: u64,
    /// The next frame, read ahead: (receive time, bytes).
    next: Option<(i64, Vec<u8>)>,
    exhausted: bool,
}

impl std::fmt::Debug for CaptureMarket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureMarket")
            .field("pace", &self.pace)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl CaptureMarket {
    pub(crate) fn open(paths: &[PathBuf], pace: Pace) -> Result<Self, MockError> {
        let mut files = Vec::new();
        for p in paths {
            files.push(p.clone());
            files.extend(crate::capture::companion_http_files(p).map_err(MockError::Io)?);
        }
        let capture = MergedCapture::open(&files).map_err(MockError::Io)?;
        Ok(Self {
            capture,
            parser: FrameParser::new(),
            events: Vec::new(),
            pace,
            start_ms: None,
            first_recv_ns: None,
            sent: 0,
            next: None,
            exhausted: false,
        })
    }

    fn read_ahead(&mut self) {
        while self.next.is_none() && !self.exhausted {
            match self.capture.next_frame() {
                None => self.exhausted = true,
                Some(Err(_)) => {}
                Some(Ok(f)) => {
                    let mut bytes = f.frame.bytes.to_vec();
                    // A bare snapshot body names no symbol: wrap it with its hint.
                    if let Some(hint) = f.frame.symbol_hint
                        && !bytes.windows(9).any(|w| w == b"\"stream\":")
                    {
                        let lower = hint.as_str().to_ascii_lowercase();
                        let mut wrapped =
                            format!(r#"{{"stream":"{lower}@depthSnapshot","data":"#).into_bytes();
                        wrapped.extend_from_slice(&bytes);
                        wrapped.push(b'}');
                        bytes = wrapped;
                    }
                    self.next = Some((f.frame.recv_ns, bytes));
                }
            }
        }
    }

    fn due_ms(&self, recv_ns: i64, start_ms: i64, first_ns: i64) -> i64 {
        match self.pace {
            #[allow(clippy::cast_possible_truncation, reason = "ms offsets")]
            Pace::Speed(speed) => {
                start_ms + ((recv_ns - first_ns) as f64 / 1e6 / speed.max(1e-6)) as i64
            }
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_precision_loss,
                reason = "ms offsets"
            )]
            Pace::Rate(rate) => start_ms + (self.sent as f64 * 1_000.0 / rate.max(1e-6)) as i64,
        }
    }

    /// Applies one frame to the books; returns what to send.
    fn frame(&mut self, bytes: &[u8], state: &mut MarketState, out: &mut Vec<Outbound>) {
        self.events.clear();
        let Ok(Parsed::Events { .. }) = self.parser.parse(0, bytes, None, &mut self.events) else {
            return;
        };
        let Some(head) = self.events.first().copied() else {
            return;
        };
        let name = self.parser.symbols().name(head.symbol).to_owned();
        let i = state.slot_index(&name);
        let Some(slot) = state.symbols.get_mut(i) else {
            return;
        };
        let t = head.body.exchange_time_ms();
        if t != orderflow_core::UNDEF_TIME {
            slot.last_time_ms = t;
        }
        let kind = match head.body {
            Body::DepthSnapshot(s) => {
                slot.book = RefBook {
                    last_u: s.last_update_id,
                    time_ms: t,
                    ready: true,
                    ..RefBook::default()
                };
                for e in &self.events[1..] {
                    if let Body::Level(l) = e.body {
                        slot.book.set(l.side, l.px.raw(), l.qty.raw());
                    }
                }
                return;
            }
            Body::DepthDiff(d) => {
                if slot.book.ready && d.final_update_id >= slot.book.last_u {
                    for e in &self.events[1..] {
                        if let Body::Level(l) = e.body {
                            slot.book.set(l.side, l.px.raw(), l.qty.raw());
                        }
                    }
                    slot.book.last_u = d.final_update_id;
                    slot.book.time_ms = t;
                    state.note_diff(i);
                }
                StreamKind::Depth
            }
            Body::BookTicker(_) => StreamKind::BookTicker,
            Body::Trade(_) => StreamKind::Trade,
            Body::AggTrade(_) => StreamKind::AggTrade,
            Body::MarkPrice(_) => StreamKind::MarkPrice,
            Body::Liquidation(_) => StreamKind::ForceOrder,
            Body::Kline(_) => StreamKind::Kline,
            _ => return,
        };
        let Some(slot) = state.symbols.get(i) else {
            return;
        };
        out.push(Outbound {
            symbol: Arc::clone(&slot.lower),
            kind,
            payload: envelope_data(bytes).to_owned(),
        });
    }
}

/// The `data` value of a combined-stream envelope (the frame itself when it is bare).
fn envelope_data(frame: &[u8]) -> &str {
    let text = std::str::from_utf8(frame).unwrap_or("");
    let Some(at) = text.find("\"data\":") else {
        return text;
    };
    let rest = &text[at + 7..];
    let end = rest.rfind('}').unwrap_or(rest.len());
    rest[..end].trim()
}

impl Market for CaptureMarket {
    fn step(&mut self, now_ms: i64, state: &mut MarketState, out: &mut Vec<Outbound>) {
        state.age(now_ms);
        let start_ms = *self.start_ms.get_or_insert(now_ms);
        loop {
            self.read_ahead();
            let Some((recv_ns, _)) = &self.next else {
                state.running = false;
                return;
            };
            let first_ns = *self.first_recv_ns.get_or_insert(*recv_ns);
            if self.due_ms(*recv_ns, start_ms, first_ns) > now_ms {
                return;
            }
            if let Some((_, bytes)) = self.next.take() {
                self.sent += 1;
                self.frame(&bytes, state, out);
            }
            if out.len() >= 4_096 {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_payload_is_the_data_value() {
        let f = br#"{"stream":"btcusdt@trade","data":{"e":"trade","p":"1"}}"#;
        assert_eq!(envelope_data(f), r#"{"e":"trade","p":"1"}"#);
        assert_eq!(envelope_data(br#"{"e":"x"}"#), r#"{"e":"x"}"#);
    }

    #[test]
    fn sim_market_keeps_an_uncrossed_book_and_a_pu_chain() {
        let config = SimConfig::default();
        let mut state = MarketState::new(true);
        let mut market = SimMarket::new(&config, &mut state);
        let mut out = Vec::new();
        let mut parser = FrameParser::new();
        let mut prev_u: Option<u64> = None;
        let mut events = Vec::new();
        for step in 0..2_000 {
            market.step(1_700_000_000_000 + step * 5, &mut state, &mut out);
            for s in &state.symbols {
                let (b, a) = (s.book.best_bid().unwrap(), s.book.best_ask().unwrap());
                assert!(b.0 < a.0, "crossed at step {step}");
            }
            for o in out.drain(..) {
                events.clear();
                parser
                    .parse(0, o.payload.as_bytes(), None, &mut events)
                    .unwrap_or_else(|e| panic!("{e}: {}", o.payload));
                if (o.kind, &*o.symbol) == (StreamKind::Depth, "btcusdt")
                    && let Body::DepthDiff(d) = events[0].body
                {
                    if let Some(p) = prev_u {
                        assert_eq!(d.prev_final_update_id, p);
                    }
                    assert!(d.first_update_id <= d.final_update_id);
                    prev_u = Some(d.final_update_id);
                }
            }
        }
        assert!(prev_u.is_some());
        assert!(state.reference.as_ref().unwrap().len() > 100);
        let snap = state.symbols[0].book.snapshot_json(1000);
        events.clear();
        let mut p = FrameParser::new();
        let hint = p.intern(b"BTCUSDT").unwrap();
        p.parse(0, snap.as_bytes(), Some(hint), &mut events)
            .unwrap();
        assert!(matches!(events[0].body, Body::DepthSnapshot(_)));
    }
}
