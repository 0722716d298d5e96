//! Frame parser: one Binance USD-M websocket text frame in, fixed-size [`Event`]s out
//! (DESIGN.md sections 2, 3 and 7). [`FrameParser`] documents what it understands.
//!
//! Two paths, one answer: `scan.rs` is the hand-written scanner for the hot message types
//! (its module docs explain the algorithm and the measurements behind it), `tape.rs` the
//! simd-json path for everything else, which also decides every error.
#![deny(clippy::indexing_slicing)]

mod error;
mod scan;
mod tape;

use orderflow_core::{
    Body, BookSide, Event, EventSink, Flags, Level, MAX_SYMBOL_LEN, SymbolError, SymbolId,
    SymbolTable,
};

pub use error::ParseError;
use scan::{Fast, PxQty};
pub(crate) use scan::{digit_run, nineteen_digits};

/// What a frame turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parsed {
    /// Venue messages became events, all pushed to the sink. A frame with an array payload
    /// counts only its converted messages; its dropped and unknown elements are in the
    /// counters.
    Events {
        /// Venue messages converted.
        messages: u32,
        /// Events pushed.
        events: u32,
    },
    /// A placeholder trade (`"X":"NA"`, or price or quantity <= 0): no event.
    Dropped,
    /// A message we do not know (an unknown `e`, or an object of no known shape): no event.
    Unknown,
    /// A subscription acknowledgement `{"result":..,"id":N}`.
    Reply {
        /// The request id (`None` when absent or `null`).
        id: Option<u64>,
    },
    /// A subscription error `{"error":{"code":C,"msg":".."},"id":N}`.
    ReplyError {
        /// The request id (`None` when the request could not be parsed).
        id: Option<u64>,
        /// Binance's error code.
        code: i64,
    },
}

/// Running totals of a [`FrameParser`], for reporting off the hot path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseCounters {
    /// Frames passed to [`FrameParser::parse`].
    pub frames: u64,
    /// Frames the fast scanner converted.
    pub fast_path: u64,
    /// Frames handed to simd-json (declined by the scanner, or [`ParseMode::SimdJsonOnly`]).
    pub fallback: u64,
    /// Venue messages converted to events.
    pub messages: u64,
    /// Events pushed to sinks.
    pub events: u64,
    /// Placeholder trades dropped.
    pub dropped: u64,
    /// Messages of an unknown type or shape.
    pub unknown: u64,
    /// Subscription acknowledgements.
    pub replies: u64,
    /// Subscription errors.
    pub reply_errors: u64,
    /// Frames that failed with a [`ParseError`].
    pub errors: u64,
}

/// Which paths [`FrameParser::parse`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseMode {
    /// The fast scanner for the hot message types, simd-json for everything else.
    #[default]
    Auto,
    /// simd-json for every frame: the reference the scanner is tested against.
    SimdJsonOnly,
}

/// Turns websocket text frames into [`Event`]s.
///
/// [`FrameParser::parse`] is sans-I/O: it takes the frame's bytes, its receive time and an
/// [`EventSink`], and owns everything else it needs (a [`SymbolTable`], counters and reusable
/// buffers), so after warm-up it allocates nothing.
///
/// # What it understands
/// - the combined-stream envelope `{"stream":"btcusdt@depth@0ms","data":{...}}` (keys in any
///   order, `data` an object or an array such as `!markPrice@arr`) and the bare payload;
/// - `depthUpdate` → one [`Body::DepthDiff`] header, then one [`Body::Level`] per level, bids
///   first in message order, then asks; the record that ends the message carries
///   [`Flags::LAST`] (the header itself when there are no levels);
/// - a REST depth snapshot body `{"lastUpdateId":..,"bids":..,"asks":..}` (`E`/`T` optional,
///   [`UNDEF_TIME`](orderflow_core::UNDEF_TIME) when absent), bare or wrapped as
///   `{"stream":"<symbol>@depthSnapshot","data":{..}}` → [`Body::DepthSnapshot`] header, then
///   levels flagged [`Flags::SNAPSHOT`]. The symbol is the stream name's prefix; a bare body
///   takes the caller's symbol hint, and without one the frame is
///   [`ParseError::MissingSymbol`];
/// - `aggTrade`, `trade`, `bookTicker`, `markPriceUpdate`, `forceOrder` (fields in `o`),
///   `kline` (fields in `k`, [`Flags::CLOSED`] when `x` is true) and the REST open-interest body,
///   each one record flagged [`Flags::LAST`]. A placeholder `trade` (`"X":"NA"`, or price or
///   quantity <= 0) becomes [`Parsed::Dropped`] and no event;
/// - subscription replies `{"result":..,"id":N}` → [`Parsed::Reply`] and errors
///   `{"error":{"code":C,"msg":".."},"id":N}` → [`Parsed::ReplyError`];
/// - unknown event types → [`Parsed::Unknown`], counted, not an error. Unknown fields, whatever
///   their value (`"st":1`, `"ps":"BTCUSDT"`, nested objects), are ignored.
///
/// Fields Binance documents as always present are required ([`ParseError::MissingField`]);
/// fields added later are optional: `nq` ([`Qty::UNDEF`](orderflow_core::Qty::UNDEF) when
/// absent) and markPrice `ap`. In a markPrice update an empty string in `i`, `P`, `r` or `ap`
/// (delivery contracts) is `UNDEF`. A kline trade id of `-1` (no trade) is stored as `u64::MAX`.
///
/// # How: a fast scanner with simd-json behind it
/// Most frames are one of four hot types (diff depth, bookTicker, trade, aggTrade). For those
/// a hand-written, schema-specialised byte scanner reads the frame once, left to right,
/// validating it as JSON and parsing ids, times and decimals straight into the record, eight
/// bytes at a time in portable SWAR code. It handles keys in any order and skips unknown values
/// of any shape. Whatever it is not certain
/// about, including every malformed frame and every JSON string escape, it declines, and
/// simd-json parses the frame into a reused tape, which a second walker converts. That path
/// handles every message type, so it alone decides errors, and it is the reference the
/// scanner is tested against: for every frame the scanner accepts, the simd-json path gives
/// the same result. [`ParseMode::SimdJsonOnly`] turns the scanner off, for tests and benches.
///
/// Either path writes nothing to the sink until the whole frame has been converted: the
/// scanner keeps levels in reusable vectors, the simd-json path stages events in one. A frame
/// that fails pushes no event (it may have interned a symbol name it contained).
///
/// Measured with criterion (`cargo bench -p orderflow-benches --bench parse`, figures in the
/// bench's docs): the scanner converts a 593-byte, 20-level depth diff about 3x faster than
/// sonic-rs deserialises it into borrowed structs, and a trade, aggTrade or bookTicker in well
/// under 100 ns.
///
/// ```
/// use orderflow_core::{Body, Event};
/// use orderflow_feed::{FrameParser, Parsed};
///
/// let mut parser = FrameParser::new();
/// let mut events: Vec<Event> = Vec::new();
/// let frame = br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,
///     "T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006",
///     "X":"MARKET","m":false}}"#;
/// let parsed = parser.parse(1_723_161_255_088_176_367, frame, None, &mut events)?;
/// assert_eq!(parsed, Parsed::Events { messages: 1, events: 1 });
/// let Body::Trade(trade) = events[0].body else { panic!("a trade") };
/// assert_eq!(trade.px.to_string(), "61800.3");
/// assert!(events[0].is_last());
/// assert_eq!(parser.symbols().name(events[0].symbol), "BTCUSDT");
/// # Ok::<(), orderflow_feed::ParseError>(())
/// ```
pub struct FrameParser {
    symbols: SymbolTable,
    counters: ParseCounters,
    mode: ParseMode,
    /// Levels of the depth message the scanner is reading.
    bids: Vec<PxQty>,
    asks: Vec<PxQty>,
    fallback: tape::Fallback,
    /// The symbol of the last frame the scanner converted.
    last_symbol: Option<LastSymbol>,
}

/// A symbol name exactly as a frame spelled it, and its id.
#[derive(Clone, Copy, Debug)]
struct LastSymbol {
    bytes: [u8; MAX_SYMBOL_LEN],
    len: usize,
    id: SymbolId,
}

impl LastSymbol {
    fn name(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl core::fmt::Debug for FrameParser {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameParser")
            .field("symbols", &self.symbols)
            .field("counters", &self.counters)
            .field("mode", &self.mode)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl Default for FrameParser {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameParser {
    /// A parser with an empty symbol table: symbols are interned on first sight.
    #[must_use]
    pub fn new() -> Self {
        Self::with_symbols(SymbolTable::new())
    }

    /// A parser that starts from `symbols` (interned at subscribe time, so ids are stable).
    #[must_use]
    pub fn with_symbols(symbols: SymbolTable) -> Self {
        Self {
            symbols,
            counters: ParseCounters::default(),
            mode: ParseMode::Auto,
            bids: Vec::new(),
            asks: Vec::new(),
            fallback: tape::Fallback::new(),
            last_symbol: None,
        }
    }

    /// The parser with `mode` selected.
    #[must_use]
    pub fn with_mode(mut self, mode: ParseMode) -> Self {
        self.mode = mode;
        self
    }

    /// The paths in use.
    #[must_use]
    pub fn mode(&self) -> ParseMode {
        self.mode
    }

    /// Symbols seen so far (or given at construction), by id.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Running totals.
    #[must_use]
    pub fn counters(&self) -> &ParseCounters {
        &self.counters
    }

    /// Interns `name` in the parser's table, for callers that pass symbol hints.
    ///
    /// # Errors
    /// [`SymbolError`] for an invalid name or a full table.
    pub fn intern(&mut self, name: &[u8]) -> Result<SymbolId, SymbolError> {
        self.symbols.intern(name)
    }

    /// Parses one frame received at `recv_ns` (ns since the UNIX epoch) and pushes its events
    /// to `out`.
    ///
    /// `symbol_hint`: the symbol a frame without its own symbol belongs to (a bare REST depth
    /// snapshot body from a single-symbol capture, or a snapshot whose symbol came from a
    /// URL). Frames that name their symbol ignore it.
    ///
    /// # Errors
    /// [`ParseError`] when the frame is not valid JSON, a field is missing or of the wrong
    /// type, a decimal is not exact at 10^-8, a symbol cannot be interned, or a bare snapshot
    /// comes without a hint. Nothing is pushed to `out` then, and `counters().errors` grows.
    pub fn parse<S: EventSink>(
        &mut self,
        recv_ns: i64,
        frame: &[u8],
        symbol_hint: Option<SymbolId>,
        out: &mut S,
    ) -> Result<Parsed, ParseError> {
        self.counters.frames += 1;
        let fast = match self.mode {
            ParseMode::Auto => scan::scan(frame, &mut self.bids, &mut self.asks).ok(),
            ParseMode::SimdJsonOnly => None,
        };
        let result = match fast {
            Some(fast) => {
                self.counters.fast_path += 1;
                self.emit_fast(recv_ns, fast, out)
            }
            None => {
                self.counters.fallback += 1;
                self.parse_tape(recv_ns, frame, symbol_hint, out)
            }
        };
        match result {
            Ok(Parsed::Events { messages, events }) => {
                self.counters.messages += u64::from(messages);
                self.counters.events += u64::from(events);
            }
            Ok(Parsed::Reply { .. }) => self.counters.replies += 1,
            Ok(Parsed::ReplyError { .. }) => self.counters.reply_errors += 1,
            // Dropped and unknown messages are counted where they are found, since an
            // array frame can hold several.
            Ok(Parsed::Dropped | Parsed::Unknown) => {}
            Err(_) => self.counters.errors += 1,
        }
        result
    }

    /// Interns a symbol the scanner read, through a one-entry cache of the last name (exact
    /// bytes), since consecutive frames mostly carry the same symbol.
    #[inline]
    fn intern_checked(&mut self, name: &[u8]) -> Result<SymbolId, ParseError> {
        if let Some(last) = &self.last_symbol
            && last.name() == name
        {
            return Ok(last.id);
        }
        let id = self
            .symbols
            .intern(name)
            .map_err(ParseError::InvalidSymbol)?;
        let mut bytes = [0; MAX_SYMBOL_LEN];
        if let Some(dst) = bytes.get_mut(..name.len()) {
            dst.copy_from_slice(name);
            self.last_symbol = Some(LastSymbol {
                bytes,
                len: name.len(),
                id,
            });
        }
        Ok(id)
    }

    /// Pushes what the scanner accepted.
    #[inline]
    fn emit_fast<S: EventSink>(
        &mut self,
        recv_ns: i64,
        fast: Fast<'_>,
        out: &mut S,
    ) -> Result<Parsed, ParseError> {
        // Events are written as struct literals: building them with `Event::new(..)
        // .with_flags(..)` made the compiler copy the header bytes in overlapping pieces,
        // and the reloads stalled on store forwarding (seen with perf, ~15% of a bookTicker).
        let single = |symbol, body| Event {
            recv_ns,
            symbol,
            flags: Flags::LAST,
            _reserved: [0; 5],
            body,
        };
        let event = match fast {
            Fast::Depth(mut head, name) => {
                let symbol = self.intern_checked(name)?;
                let too_many = |_| ParseError::InvalidNumber { field: "levels" };
                head.bid_count = u32::try_from(self.bids.len()).map_err(too_many)?;
                head.ask_count = u32::try_from(self.asks.len()).map_err(too_many)?;
                let events = head
                    .bid_count
                    .checked_add(head.ask_count)
                    .and_then(|n| n.checked_add(1))
                    .ok_or(ParseError::InvalidNumber { field: "levels" })?;
                let levels = self.bids.len() + self.asks.len();
                let head_flags = if levels == 0 {
                    Flags::LAST
                } else {
                    Flags::NONE
                };
                out.push(Event {
                    recv_ns,
                    symbol,
                    flags: head_flags,
                    _reserved: [0; 5],
                    body: Body::DepthDiff(head),
                });
                let sides = [(BookSide::Bid, &self.bids), (BookSide::Ask, &self.asks)];
                let mut left = levels;
                for (side, staged) in sides {
                    for &PxQty { px, qty } in staged {
                        left -= 1;
                        out.push_level(
                            recv_ns,
                            symbol,
                            if left == 0 { Flags::LAST } else { Flags::NONE },
                            Level {
                                px,
                                qty,
                                side,
                                _reserved: [0; 7],
                            },
                        );
                    }
                }
                return Ok(Parsed::Events {
                    messages: 1,
                    events,
                });
            }
            Fast::BookTicker(r, name) => single(self.intern_checked(name)?, Body::BookTicker(r)),
            Fast::Trade(r, name) => single(self.intern_checked(name)?, Body::Trade(r)),
            Fast::AggTrade(r, name) => single(self.intern_checked(name)?, Body::AggTrade(r)),
            Fast::TradeDropped => {
                self.counters.dropped += 1;
                return Ok(Parsed::Dropped);
            }
        };
        out.push(event);
        Ok(Parsed::Events {
            messages: 1,
            events: 1,
        })
    }

    /// The simd-json path: stage, then flush on success.
    fn parse_tape<S: EventSink>(
        &mut self,
        recv_ns: i64,
        frame: &[u8],
        symbol_hint: Option<SymbolId>,
        out: &mut S,
    ) -> Result<Parsed, ParseError> {
        let mut tally = tape::Tally::default();
        let result =
            self.fallback
                .parse(recv_ns, frame, symbol_hint, &mut self.symbols, &mut tally);
        self.counters.dropped += tally.dropped;
        self.counters.unknown += tally.unknown;
        if result.is_ok() {
            for event in self.fallback.stage.drain(..) {
                out.push(event);
            }
        } else {
            self.fallback.stage.clear();
        }
        result
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index known fixtures")]
mod tests;
