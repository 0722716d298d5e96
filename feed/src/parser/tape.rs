//! The general path: simd-json builds a tape of the frame, and a walker over the tape turns
//! every message type we know into events.
//!
//! simd-json parses in place, so the frame is first copied into a reusable scratch buffer
//! padded with [`simd_json::INPUT_PADDING`] bytes ([`simd_json::fill_tape_padded`] then skips
//! its own padded copy). The scratch buffer, simd-json's [`Buffers`] and the tape's node vector
//! are kept between frames, so after warm-up on the largest frame this path allocates nothing
//! either. Events are staged in a reusable vector and handed to the sink only once the whole
//! frame has been converted.
//!
//! Object members are looked up by one pass over the object per message (`lookup`); when a key
//! repeats, the last value wins, as in `serde_json`.

use orderflow_core::{
    AggTrade, Body, BookSide, BookTicker, DepthDiff, DepthSnapshot, Event, Flags, Kline,
    KlineInterval, Level, Liquidation, MarkPrice, OpenInterest, OrderStatus, Px, Qty, Side,
    SymbolId, SymbolTable, Trade, UNDEF_TIME,
};
use simd_json::{Buffers, Node, StaticNode, Tape};

use super::{ParseError, Parsed};

type Res<T> = Result<T, ParseError>;

/// Reusable state of the simd-json path.
pub(crate) struct Fallback {
    /// The frame copied for in-place parsing, plus padding.
    scratch: Vec<u8>,
    buffers: Buffers,
    /// The tape's node vector, kept between frames (emptied, so `'static` holds).
    tape: Tape<'static>,
    /// Events of the frame being parsed; flushed to the sink on success.
    pub(crate) stage: Vec<Event>,
}

impl core::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fallback")
            .field("scratch_capacity", &self.scratch.capacity())
            .field("stage_capacity", &self.stage.capacity())
            .finish_non_exhaustive()
    }
}

/// Messages of a frame that produced no event, for the parser's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) dropped: u64,
    pub(crate) unknown: u64,
}

impl Fallback {
    pub(crate) fn new() -> Self {
        Self {
            scratch: Vec::new(),
            buffers: Buffers::new(0),
            tape: Tape(Vec::new()),
            stage: Vec::new(),
        }
    }

    /// Parses `frame` into `self.stage` (cleared first).
    ///
    /// # Errors
    /// Any [`ParseError`]; `self.stage` then holds a partial frame the caller must discard.
    pub(crate) fn parse(
        &mut self,
        recv_ns: i64,
        frame: &[u8],
        hint: Option<SymbolId>,
        symbols: &mut SymbolTable,
        tally: &mut Tally,
    ) -> Res<Parsed> {
        self.stage.clear();
        self.scratch.clear();
        self.scratch.extend_from_slice(frame);
        self.scratch
            .resize(frame.len() + simd_json::INPUT_PADDING, b' ');

        let mut tape = core::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let result = match simd_json::fill_tape_padded(
            &mut self.scratch,
            frame.len(),
            &mut self.buffers,
            &mut tape,
        ) {
            Ok(()) => Walker {
                nodes: &tape.0,
                recv_ns,
                hint,
                symbols,
                stage: &mut self.stage,
                tally,
            }
            .frame(),
            Err(e) => Err(ParseError::InvalidJson {
                offset: u32::try_from(e.index()).unwrap_or(u32::MAX),
            }),
        };
        self.tape = tape.reset();
        result
    }
}

/// What one venue message became.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    /// Events were staged.
    Events(u32),
    /// A placeholder trade.
    Dropped,
    /// A message type we do not know.
    Unknown,
}

/// Number of tape nodes a value spans, itself included.
#[inline]
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Walks one frame's tape.
struct Walker<'t, 'i, 'c> {
    nodes: &'t [Node<'i>],
    recv_ns: i64,
    hint: Option<SymbolId>,
    symbols: &'c mut SymbolTable,
    stage: &'c mut Vec<Event>,
    tally: &'c mut Tally,
}

impl<'i> Walker<'_, 'i, '_> {
    fn frame(&mut self) -> Res<Parsed> {
        match self.nodes.first() {
            Some(Node::Object { .. }) => self.top(0),
            Some(Node::Array { .. }) => self.batch(0, None),
            _ => Err(ParseError::UnexpectedType { field: "frame" }),
        }
    }

    fn node(&self, i: usize, field: &'static str) -> Res<Node<'i>> {
        self.nodes
            .get(i)
            .copied()
            .ok_or(ParseError::UnexpectedType { field })
    }

    /// Value indices of `keys` in the object at `obj` (last occurrence wins).
    fn lookup<const N: usize>(&self, obj: usize, keys: [&str; N]) -> Res<[Option<usize>; N]> {
        let Node::Object { len, .. } = self.node(obj, "object")? else {
            return Err(ParseError::UnexpectedType { field: "object" });
        };
        let mut found = [None; N];
        let mut i = obj + 1;
        for _ in 0..len {
            let Node::String(key) = self.node(i, "object")? else {
                return Err(ParseError::UnexpectedType { field: "object" });
            };
            let value = i + 1;
            if let Some(k) = keys.iter().position(|k| *k == key)
                && let Some(slot) = found.get_mut(k)
            {
                *slot = Some(value);
            }
            i = value + span(&self.node(value, "object")?);
        }
        Ok(found)
    }

    /// The object at `i`, or a type error naming `field`.
    fn object(&self, i: usize, field: &'static str) -> Res<usize> {
        match self.node(i, field)? {
            Node::Object { .. } => Ok(i),
            _ => Err(ParseError::UnexpectedType { field }),
        }
    }

    fn str(&self, i: usize, field: &'static str) -> Res<&'i str> {
        match self.node(i, field)? {
            Node::String(s) => Ok(s),
            _ => Err(ParseError::UnexpectedType { field }),
        }
    }

    fn u64(&self, i: usize, field: &'static str) -> Res<u64> {
        match self.node(i, field)? {
            Node::Static(StaticNode::U64(v)) => Ok(v),
            Node::Static(StaticNode::I64(v)) => {
                u64::try_from(v).map_err(|_| ParseError::InvalidNumber { field })
            }
            Node::Static(StaticNode::F64(_)) => Err(ParseError::InvalidNumber { field }),
            _ => Err(ParseError::UnexpectedType { field }),
        }
    }

    fn i64(&self, i: usize, field: &'static str) -> Res<i64> {
        match self.node(i, field)? {
            Node::Static(StaticNode::I64(v)) => Ok(v),
            Node::Static(StaticNode::U64(v)) => {
                i64::try_from(v).map_err(|_| ParseError::InvalidNumber { field })
            }
            Node::Static(StaticNode::F64(_)) => Err(ParseError::InvalidNumber { field }),
            _ => Err(ParseError::UnexpectedType { field }),
        }
    }

    fn bool(&self, i: usize, field: &'static str) -> Res<bool> {
        match self.node(i, field)? {
            Node::Static(StaticNode::Bool(v)) => Ok(v),
            _ => Err(ParseError::UnexpectedType { field }),
        }
    }

    fn decimal(&self, i: usize, field: &'static str) -> Res<i64> {
        Px::parse_bytes(self.str(i, field)?.as_bytes())
            .map(Px::raw)
            .map_err(|err| ParseError::InvalidDecimal { field, err })
    }

    fn px(&self, i: usize, field: &'static str) -> Res<Px> {
        self.decimal(i, field).map(Px)
    }

    fn qty(&self, i: usize, field: &'static str) -> Res<Qty> {
        self.decimal(i, field).map(Qty)
    }

    /// A decimal that may be absent or `""` (`UNDEF`, `i64::MIN`, then).
    fn optional_decimal(&self, i: Option<usize>, field: &'static str) -> Res<i64> {
        match i {
            None => Ok(i64::MIN),
            Some(i) if self.str(i, field)?.is_empty() => Ok(i64::MIN),
            Some(i) => self.decimal(i, field),
        }
    }

    fn symbol(&mut self, name: &str) -> Res<SymbolId> {
        self.symbols
            .intern(name.as_bytes())
            .map_err(ParseError::InvalidSymbol)
    }

    fn push(&mut self, symbol: SymbolId, flags: Flags, body: Body) {
        self.stage
            .push(Event::new(self.recv_ns, symbol, body).with_flags(flags));
    }

    /// A whole-frame object: an envelope, a bare message, or a subscription reply.
    fn top(&mut self, obj: usize) -> Res<Parsed> {
        let [
            stream,
            data,
            e,
            last_update_id,
            open_interest,
            error,
            result,
            id,
        ] = self.lookup(
            obj,
            [
                "stream",
                "data",
                "e",
                "lastUpdateId",
                "openInterest",
                "error",
                "result",
                "id",
            ],
        )?;
        if let (Some(stream), Some(data)) = (stream, data) {
            let stream = self.str(stream, "stream")?;
            let symbol = stream.split('@').next();
            return match self.node(data, "data")? {
                Node::Object { .. } => self.single(data, symbol),
                Node::Array { .. } => self.batch(data, symbol),
                _ => Err(ParseError::UnexpectedType { field: "data" }),
            };
        }
        if e.is_some() || last_update_id.is_some() || open_interest.is_some() {
            return self.single(obj, None);
        }
        if let Some(error) = error {
            let error = self.object(error, "error")?;
            let [code] = self.lookup(error, ["code"])?;
            let code = self.i64(
                code.ok_or(ParseError::MissingField("error.code"))?,
                "error.code",
            )?;
            return Ok(Parsed::ReplyError {
                id: self.reply_id(id)?,
                code,
            });
        }
        if result.is_some() {
            return Ok(Parsed::Reply {
                id: self.reply_id(id)?,
            });
        }
        self.tally.unknown += 1;
        Ok(Parsed::Unknown)
    }

    fn reply_id(&self, id: Option<usize>) -> Res<Option<u64>> {
        match id {
            None => Ok(None),
            Some(i) if matches!(self.node(i, "id")?, Node::Static(StaticNode::Null)) => Ok(None),
            Some(i) => self.u64(i, "id").map(Some),
        }
    }

    /// One message as the whole frame.
    fn single(&mut self, obj: usize, stream_symbol: Option<&str>) -> Res<Parsed> {
        Ok(match self.message(obj, stream_symbol)? {
            Msg::Events(events) => Parsed::Events {
                messages: 1,
                events,
            },
            Msg::Dropped => {
                self.tally.dropped += 1;
                Parsed::Dropped
            }
            Msg::Unknown => {
                self.tally.unknown += 1;
                Parsed::Unknown
            }
        })
    }

    /// An array of messages (`!markPrice@arr`).
    fn batch(&mut self, arr: usize, stream_symbol: Option<&str>) -> Res<Parsed> {
        let Node::Array { len, .. } = self.node(arr, "data")? else {
            return Err(ParseError::UnexpectedType { field: "data" });
        };
        let (mut messages, mut events) = (0u32, 0u32);
        let mut i = arr + 1;
        for _ in 0..len {
            let obj = self.object(i, "data")?;
            match self.message(obj, stream_symbol)? {
                Msg::Events(n) => {
                    messages = messages.saturating_add(1);
                    events = events.saturating_add(n);
                }
                Msg::Dropped => self.tally.dropped += 1,
                Msg::Unknown => self.tally.unknown += 1,
            }
            i += span(&self.node(i, "data")?);
        }
        Ok(Parsed::Events { messages, events })
    }

    /// One venue message object.
    fn message(&mut self, obj: usize, stream_symbol: Option<&str>) -> Res<Msg> {
        let [e, last_update_id, open_interest] =
            self.lookup(obj, ["e", "lastUpdateId", "openInterest"])?;
        if let Some(e) = e {
            return match self.str(e, "e")? {
                "depthUpdate" => self.depth(obj),
                "aggTrade" => self.agg_trade(obj),
                "trade" => self.trade(obj),
                "bookTicker" => self.book_ticker(obj),
                "markPriceUpdate" => self.mark_price(obj),
                "forceOrder" => self.force_order(obj),
                "kline" => self.kline(obj),
                _ => Ok(Msg::Unknown),
            };
        }
        if last_update_id.is_some() {
            return self.snapshot(obj, stream_symbol);
        }
        if open_interest.is_some() {
            return self.open_interest(obj);
        }
        Ok(Msg::Unknown)
    }

    /// The node index and length of a level array.
    fn level_array(&self, i: usize, field: &'static str) -> Res<(usize, usize)> {
        match self.node(i, field)? {
            Node::Array { len, .. } => Ok((i + 1, len)),
            _ => Err(ParseError::UnexpectedType { field }),
        }
    }

    /// Stages `len` `[px, qty]` levels starting at node `first`.
    fn levels(
        &mut self,
        symbol: SymbolId,
        flags: Flags,
        (first, len): (usize, usize),
        side: BookSide,
        field: &'static str,
    ) -> Res<()> {
        let mut i = first;
        for _ in 0..len {
            if !matches!(self.node(i, field)?, Node::Array { len: 2, count: 2 }) {
                return Err(ParseError::UnexpectedType { field });
            }
            let level = Level {
                px: self.px(i + 1, field)?,
                qty: self.qty(i + 2, field)?,
                side,
                _reserved: [0; 7],
            };
            self.push(symbol, flags, Body::Level(level));
            i += 3;
        }
        Ok(())
    }

    /// Flags the last staged event [`Flags::LAST`].
    fn end_message(&mut self) {
        if let Some(last) = self.stage.last_mut() {
            last.flags = last.flags.with(Flags::LAST);
        }
    }

    fn count(len: usize) -> Res<u32> {
        u32::try_from(len).map_err(|_| ParseError::InvalidNumber { field: "levels" })
    }

    fn depth(&mut self, obj: usize) -> Res<Msg> {
        let [ev, t, s, first, last, prev, b, a] =
            self.lookup(obj, ["E", "T", "s", "U", "u", "pu", "b", "a"])?;
        let missing = ParseError::MissingField;
        let bids = self.level_array(b.ok_or(missing("b"))?, "b")?;
        let asks = self.level_array(a.ok_or(missing("a"))?, "a")?;
        let head = DepthDiff {
            first_update_id: self.u64(first.ok_or(missing("U"))?, "U")?,
            final_update_id: self.u64(last.ok_or(missing("u"))?, "u")?,
            prev_final_update_id: self.u64(prev.ok_or(missing("pu"))?, "pu")?,
            event_time_ms: self.i64(ev.ok_or(missing("E"))?, "E")?,
            transact_time_ms: self.i64(t.ok_or(missing("T"))?, "T")?,
            bid_count: Self::count(bids.1)?,
            ask_count: Self::count(asks.1)?,
        };
        let symbol = self.symbol(self.str(s.ok_or(missing("s"))?, "s")?)?;
        self.push(symbol, Flags::NONE, Body::DepthDiff(head));
        self.levels(symbol, Flags::NONE, bids, BookSide::Bid, "b")?;
        self.levels(symbol, Flags::NONE, asks, BookSide::Ask, "a")?;
        self.end_message();
        Ok(Msg::Events(1 + head.bid_count + head.ask_count))
    }

    fn snapshot(&mut self, obj: usize, stream_symbol: Option<&str>) -> Res<Msg> {
        let [last, ev, t, b, a] = self.lookup(obj, ["lastUpdateId", "E", "T", "bids", "asks"])?;
        let missing = ParseError::MissingField;
        let bids = self.level_array(b.ok_or(missing("bids"))?, "bids")?;
        let asks = self.level_array(a.ok_or(missing("asks"))?, "asks")?;
        let time = |i: Option<usize>, field| i.map_or(Ok(UNDEF_TIME), |i| self.i64(i, field));
        let head = DepthSnapshot {
            last_update_id: self.u64(last.ok_or(missing("lastUpdateId"))?, "lastUpdateId")?,
            event_time_ms: time(ev, "E")?,
            transact_time_ms: time(t, "T")?,
            bid_count: Self::count(bids.1)?,
            ask_count: Self::count(asks.1)?,
        };
        let symbol = match (stream_symbol, self.hint) {
            (Some(name), _) => self.symbol(name)?,
            (None, Some(hint)) if hint.index() < self.symbols.len() => hint,
            (None, Some(hint)) => return Err(ParseError::UnknownSymbolHint { id: hint.0 }),
            (None, None) => return Err(ParseError::MissingSymbol),
        };
        self.push(symbol, Flags::NONE, Body::DepthSnapshot(head));
        self.levels(symbol, Flags::SNAPSHOT, bids, BookSide::Bid, "bids")?;
        self.levels(symbol, Flags::SNAPSHOT, asks, BookSide::Ask, "asks")?;
        self.end_message();
        Ok(Msg::Events(1 + head.bid_count + head.ask_count))
    }

    /// Stages a single-record message.
    fn one(&mut self, symbol: &str, flags: Flags, body: Body) -> Res<Msg> {
        let symbol = self.symbol(symbol)?;
        self.push(symbol, flags.with(Flags::LAST), body);
        Ok(Msg::Events(1))
    }

    fn agg_trade(&mut self, obj: usize) -> Res<Msg> {
        let [ev, a, s, p, q, nq, f, l, t, m] =
            self.lookup(obj, ["E", "a", "s", "p", "q", "nq", "f", "l", "T", "m"])?;
        let missing = ParseError::MissingField;
        let r = AggTrade {
            agg_trade_id: self.u64(a.ok_or(missing("a"))?, "a")?,
            first_trade_id: self.u64(f.ok_or(missing("f"))?, "f")?,
            last_trade_id: self.u64(l.ok_or(missing("l"))?, "l")?,
            px: self.px(p.ok_or(missing("p"))?, "p")?,
            qty: self.qty(q.ok_or(missing("q"))?, "q")?,
            normal_qty: match nq {
                Some(nq) => self.qty(nq, "nq")?,
                None => Qty::UNDEF,
            },
            transact_time_ms: self.i64(t.ok_or(missing("T"))?, "T")?,
            event_time_ms: self.i64(ev.ok_or(missing("E"))?, "E")?,
            aggressor: Side::from_buyer_is_maker(self.bool(m.ok_or(missing("m"))?, "m")?),
            _reserved: [0; 7],
        };
        let symbol = self.str(s.ok_or(missing("s"))?, "s")?;
        self.one(symbol, Flags::NONE, Body::AggTrade(r))
    }

    fn trade(&mut self, obj: usize) -> Res<Msg> {
        let [ev, t, s, id, p, q, m, x] =
            self.lookup(obj, ["E", "T", "s", "t", "p", "q", "m", "X"])?;
        let missing = ParseError::MissingField;
        let r = Trade {
            trade_id: self.u64(id.ok_or(missing("t"))?, "t")?,
            px: self.px(p.ok_or(missing("p"))?, "p")?,
            qty: self.qty(q.ok_or(missing("q"))?, "q")?,
            transact_time_ms: self.i64(t.ok_or(missing("T"))?, "T")?,
            event_time_ms: self.i64(ev.ok_or(missing("E"))?, "E")?,
            aggressor: Side::from_buyer_is_maker(self.bool(m.ok_or(missing("m"))?, "m")?),
            _reserved: [0; 7],
        };
        let symbol = self.str(s.ok_or(missing("s"))?, "s")?;
        let placeholder = match x {
            Some(x) => self.str(x, "X")? == "NA",
            None => false,
        };
        if placeholder || r.px.raw() <= 0 || r.qty.raw() <= 0 {
            return Ok(Msg::Dropped);
        }
        self.one(symbol, Flags::NONE, Body::Trade(r))
    }

    fn book_ticker(&mut self, obj: usize) -> Res<Msg> {
        let [u, s, b, bq, a, aq, t, ev] =
            self.lookup(obj, ["u", "s", "b", "B", "a", "A", "T", "E"])?;
        let missing = ParseError::MissingField;
        let r = BookTicker {
            update_id: self.u64(u.ok_or(missing("u"))?, "u")?,
            bid_px: self.px(b.ok_or(missing("b"))?, "b")?,
            bid_qty: self.qty(bq.ok_or(missing("B"))?, "B")?,
            ask_px: self.px(a.ok_or(missing("a"))?, "a")?,
            ask_qty: self.qty(aq.ok_or(missing("A"))?, "A")?,
            transact_time_ms: self.i64(t.ok_or(missing("T"))?, "T")?,
            event_time_ms: self.i64(ev.ok_or(missing("E"))?, "E")?,
        };
        let symbol = self.str(s.ok_or(missing("s"))?, "s")?;
        self.one(symbol, Flags::NONE, Body::BookTicker(r))
    }

    fn mark_price(&mut self, obj: usize) -> Res<Msg> {
        let [ev, s, p, ap, i, settle, r, t] =
            self.lookup(obj, ["E", "s", "p", "ap", "i", "P", "r", "T"])?;
        let missing = ParseError::MissingField;
        let rec = MarkPrice {
            event_time_ms: self.i64(ev.ok_or(missing("E"))?, "E")?,
            mark_px: self.px(p.ok_or(missing("p"))?, "p")?,
            index_px: Px(self.optional_decimal(Some(i.ok_or(missing("i"))?), "i")?),
            est_settle_px: Px(self.optional_decimal(Some(settle.ok_or(missing("P"))?), "P")?),
            mark_avg_px: Px(self.optional_decimal(ap, "ap")?),
            funding_rate: Qty(self.optional_decimal(Some(r.ok_or(missing("r"))?), "r")?),
            next_funding_time_ms: self.i64(t.ok_or(missing("T"))?, "T")?,
        };
        let symbol = self.str(s.ok_or(missing("s"))?, "s")?;
        self.one(symbol, Flags::NONE, Body::MarkPrice(rec))
    }

    fn force_order(&mut self, obj: usize) -> Res<Msg> {
        let missing = ParseError::MissingField;
        let [ev, o] = self.lookup(obj, ["E", "o"])?;
        let o = self.object(o.ok_or(missing("o"))?, "o")?;
        let [s, side, q, p, ap, x, l, z, t] =
            self.lookup(o, ["s", "S", "q", "p", "ap", "X", "l", "z", "T"])?;
        let side = match self.str(side.ok_or(missing("o.S"))?, "o.S")? {
            "BUY" => Side::Buy,
            "SELL" => Side::Sell,
            _ => return Err(ParseError::InvalidValue { field: "o.S" }),
        };
        let r = Liquidation {
            event_time_ms: self.i64(ev.ok_or(missing("E"))?, "E")?,
            transact_time_ms: self.i64(t.ok_or(missing("o.T"))?, "o.T")?,
            px: self.px(p.ok_or(missing("o.p"))?, "o.p")?,
            avg_px: self.px(ap.ok_or(missing("o.ap"))?, "o.ap")?,
            orig_qty: self.qty(q.ok_or(missing("o.q"))?, "o.q")?,
            last_filled_qty: self.qty(l.ok_or(missing("o.l"))?, "o.l")?,
            filled_qty: self.qty(z.ok_or(missing("o.z"))?, "o.z")?,
            side,
            status: OrderStatus::from_binance(
                self.str(x.ok_or(missing("o.X"))?, "o.X")?.as_bytes(),
            ),
            _reserved: [0; 6],
        };
        let symbol = self.str(s.ok_or(missing("o.s"))?, "o.s")?;
        self.one(symbol, Flags::NONE, Body::Liquidation(r))
    }

    /// A kline trade id: `-1` (no trade in the bar) becomes `u64::MAX`.
    fn kline_trade_id(&self, i: usize, field: &'static str) -> Res<u64> {
        match self.node(i, field)? {
            Node::Static(StaticNode::I64(-1)) => Ok(u64::MAX),
            _ => self.u64(i, field),
        }
    }

    fn kline(&mut self, obj: usize) -> Res<Msg> {
        let missing = ParseError::MissingField;
        let [ev, s, k] = self.lookup(obj, ["E", "s", "k"])?;
        let k = self.object(k.ok_or(missing("k"))?, "k")?;
        let [t, i, f, last, o, c, h, l, v, n, x, q, tv, tq, ks] = self.lookup(
            k,
            [
                "t", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "s",
            ],
        )?;
        let interval = self.str(i.ok_or(missing("k.i"))?, "k.i")?;
        let r = Kline {
            open_time_ms: self.i64(t.ok_or(missing("k.t"))?, "k.t")?,
            event_time_ms: self.i64(ev.ok_or(missing("E"))?, "E")?,
            first_trade_id: self.kline_trade_id(f.ok_or(missing("k.f"))?, "k.f")?,
            last_trade_id: self.kline_trade_id(last.ok_or(missing("k.L"))?, "k.L")?,
            open: self.px(o.ok_or(missing("k.o"))?, "k.o")?,
            high: self.px(h.ok_or(missing("k.h"))?, "k.h")?,
            low: self.px(l.ok_or(missing("k.l"))?, "k.l")?,
            close: self.px(c.ok_or(missing("k.c"))?, "k.c")?,
            volume: self.qty(v.ok_or(missing("k.v"))?, "k.v")?,
            quote_volume: self.qty(q.ok_or(missing("k.q"))?, "k.q")?,
            taker_buy_volume: self.qty(tv.ok_or(missing("k.V"))?, "k.V")?,
            taker_buy_quote_volume: self.qty(tq.ok_or(missing("k.Q"))?, "k.Q")?,
            trade_count: u32::try_from(self.u64(n.ok_or(missing("k.n"))?, "k.n")?)
                .map_err(|_| ParseError::InvalidNumber { field: "k.n" })?,
            interval: KlineInterval::from_binance(interval.as_bytes())
                .ok_or(ParseError::InvalidValue { field: "k.i" })?,
            _reserved: [0; 3],
        };
        let closed = self.bool(x.ok_or(missing("k.x"))?, "k.x")?;
        let symbol = self.str(s.or(ks).ok_or(missing("s"))?, "s")?;
        let flags = if closed { Flags::CLOSED } else { Flags::NONE };
        self.one(symbol, flags, Body::Kline(r))
    }

    fn open_interest(&mut self, obj: usize) -> Res<Msg> {
        let missing = ParseError::MissingField;
        let [s, oi, t] = self.lookup(obj, ["symbol", "openInterest", "time"])?;
        let r = OpenInterest {
            time_ms: self.i64(t.ok_or(missing("time"))?, "time")?,
            open_interest: self.qty(oi.ok_or(missing("openInterest"))?, "openInterest")?,
        };
        let symbol = self.str(s.ok_or(missing("symbol"))?, "symbol")?;
        self.one(symbol, Flags::NONE, Body::OpenInterest(r))
    }
}
