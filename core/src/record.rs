//! Fixed-size event records (DESIGN.md section 3).
//!
//! Every venue message becomes one or more [`Event`]s: a common header (local receive time,
//! symbol id, [`Flags`]) and a [`Body`] holding one `#[repr(C)]`, `Copy` record. Nothing here
//! owns heap memory, so events move through rings and logs as plain bytes.
//!
//! A depth message of any size is a header record ([`DepthDiff`] or [`DepthSnapshot`]) followed
//! by one [`Level`] record per price level, bids first, then asks. The record that ends the venue
//! message carries [`Flags::LAST`]; for a depth message without levels that is the header itself.
//! A 1000-level snapshot is therefore 2001 records, never truncated, and never a `Vec`.
//!
//! Units: prices and quantities are [`Px`]/[`Qty`] (10^-8 units), exchange times are milliseconds
//! since the UNIX epoch as Binance sends them (`*_ms`), local times nanoseconds (`*_ns`). All ids
//! are `u64`. Field docs name the Binance key each field comes from.

use crate::fixed::{Px, Qty};
use crate::symbol::SymbolId;

/// Sentinel for an absent time (for example a spot snapshot has no `E`/`T`).
pub const UNDEF_TIME: i64 = i64::MIN;

/// Bit set carried by every event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(transparent)]
pub struct Flags(pub u8);

impl Flags {
    /// This record ends its venue message (the last level of a depth message, or any
    /// single-record message).
    pub const LAST: Self = Self(1 << 7);
    /// This [`Level`] belongs to a REST snapshot rather than a diff.
    pub const SNAPSHOT: Self = Self(1 << 6);
    /// The kline is final (`"x":true`).
    pub const CLOSED: Self = Self(1 << 5);

    /// No flag set.
    pub const NONE: Self = Self(0);

    /// `true` when every bit of `other` is set.
    #[inline]
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` added.
    #[inline]
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// `true` when [`Flags::LAST`] is set.
    #[inline]
    #[must_use]
    pub const fn is_last(self) -> bool {
        self.contains(Self::LAST)
    }
}

/// Side of the book a [`Level`] sits on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(u8)]
pub enum BookSide {
    /// Resting buy orders (`"b"`/`"bids"`).
    #[default]
    Bid = 0,
    /// Resting sell orders (`"a"`/`"asks"`).
    Ask = 1,
}

/// Side of an order or of a trade's aggressor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(u8)]
pub enum Side {
    /// Buy: for a trade, the taker bought (`"m":false`).
    #[default]
    Buy = 0,
    /// Sell: for a trade, the taker sold (`"m":true`, the buyer was the maker).
    Sell = 1,
}

impl Side {
    /// The aggressor side from Binance's `m` (buyer is maker) flag.
    #[inline]
    #[must_use]
    pub const fn from_buyer_is_maker(m: bool) -> Self {
        if m { Self::Sell } else { Self::Buy }
    }

    /// Binance's `m`: `true` when the aggressor sold.
    #[inline]
    #[must_use]
    pub const fn buyer_is_maker(self) -> bool {
        matches!(self, Self::Sell)
    }
}

macro_rules! records {
    ($($(#[$doc:meta])* $name:ident = $size:literal { $($body:tt)* })*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            #[cfg_attr(feature = "rkyv", derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize))]
            #[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
            #[repr(C)]
            pub struct $name { $($body)* }
            const _: () = assert!(size_of::<$name>() == $size);
            const _: () = assert!(align_of::<$name>() == 8);
        )*
    };
}

records! {
    /// Header of a diff depth message (`depthUpdate`); its levels follow as [`Level`] records.
    DepthDiff = 48 {
        /// `U`: first update id in the message.
        pub first_update_id: u64,
        /// `u`: final update id in the message.
        pub final_update_id: u64,
        /// `pu`: final update id of the previous message on this stream.
        pub prev_final_update_id: u64,
        /// `E`: event time, ms since the UNIX epoch.
        pub event_time_ms: i64,
        /// `T`: transaction time, ms since the UNIX epoch.
        pub transact_time_ms: i64,
        /// Number of bid [`Level`]s that follow.
        pub bid_count: u32,
        /// Number of ask [`Level`]s that follow (after the bids).
        pub ask_count: u32,
    }

    /// Header of a REST depth snapshot; its levels follow as [`Level`] records flagged
    /// [`Flags::SNAPSHOT`].
    DepthSnapshot = 32 {
        /// `lastUpdateId`.
        pub last_update_id: u64,
        /// `E`: message output time, ms ([`UNDEF_TIME`] when absent).
        pub event_time_ms: i64,
        /// `T`: transaction time, ms ([`UNDEF_TIME`] when absent).
        pub transact_time_ms: i64,
        /// Number of bid [`Level`]s that follow.
        pub bid_count: u32,
        /// Number of ask [`Level`]s that follow (after the bids).
        pub ask_count: u32,
    }

    /// One price level of a depth message: the new absolute quantity (zero deletes the level).
    Level = 24 {
        /// Price.
        pub px: Px,
        /// New absolute quantity at `px`; zero removes the level.
        pub qty: Qty,
        /// Bid or ask.
        pub side: BookSide,
        /// Padding.
        pub _reserved: [u8; 7],
    }

    /// `aggTrade`: market fills at one price and taker side, aggregated.
    AggTrade = 72 {
        /// `a`: aggregate trade id.
        pub agg_trade_id: u64,
        /// `f`: first underlying trade id.
        pub first_trade_id: u64,
        /// `l`: last underlying trade id.
        pub last_trade_id: u64,
        /// `p`: price.
        pub px: Px,
        /// `q`: quantity, RPI fills included.
        pub qty: Qty,
        /// `nq`: quantity without RPI fills ([`Qty::UNDEF`] when absent).
        pub normal_qty: Qty,
        /// `T`: trade time, ms.
        pub transact_time_ms: i64,
        /// `E`: event time, ms.
        pub event_time_ms: i64,
        /// Aggressor side, from `m`.
        pub aggressor: Side,
        /// Padding.
        pub _reserved: [u8; 7],
    }

    /// `trade`: one individual fill (placeholder `"X":"NA"` frames never become events).
    Trade = 48 {
        /// `t`: trade id.
        pub trade_id: u64,
        /// `p`: price.
        pub px: Px,
        /// `q`: quantity.
        pub qty: Qty,
        /// `T`: trade time, ms.
        pub transact_time_ms: i64,
        /// `E`: event time, ms.
        pub event_time_ms: i64,
        /// Aggressor side, from `m`.
        pub aggressor: Side,
        /// Padding.
        pub _reserved: [u8; 7],
    }

    /// `bookTicker`: best bid and ask.
    BookTicker = 56 {
        /// `u`: order-book update id (same id space as depth `U/u/pu`).
        pub update_id: u64,
        /// `b`: best bid price.
        pub bid_px: Px,
        /// `B`: best bid quantity.
        pub bid_qty: Qty,
        /// `a`: best ask price.
        pub ask_px: Px,
        /// `A`: best ask quantity.
        pub ask_qty: Qty,
        /// `T`: transaction time, ms.
        pub transact_time_ms: i64,
        /// `E`: event time, ms.
        pub event_time_ms: i64,
    }

    /// `markPriceUpdate`: mark and index price, funding.
    MarkPrice = 56 {
        /// `E`: event time, ms.
        pub event_time_ms: i64,
        /// `p`: mark price.
        pub mark_px: Px,
        /// `i`: index price.
        pub index_px: Px,
        /// `P`: estimated settle price.
        pub est_settle_px: Px,
        /// `ap`: mark price moving average ([`Px::UNDEF`] when absent).
        pub mark_avg_px: Px,
        /// `r`: funding rate as a decimal (`0.0001` is 0.01 %).
        pub funding_rate: Qty,
        /// `T`: next funding time, ms.
        pub next_funding_time_ms: i64,
    }

    /// `forceOrder`: the largest liquidation of the last second for the symbol.
    Liquidation = 64 {
        /// `E`: event time, ms.
        pub event_time_ms: i64,
        /// `o.T`: order trade time, ms.
        pub transact_time_ms: i64,
        /// `o.p`: order price.
        pub px: Px,
        /// `o.ap`: average fill price.
        pub avg_px: Px,
        /// `o.q`: original quantity.
        pub orig_qty: Qty,
        /// `o.l`: last filled quantity.
        pub last_filled_qty: Qty,
        /// `o.z`: accumulated filled quantity.
        pub filled_qty: Qty,
        /// `o.S`: side of the liquidation order (`Sell` liquidates a long).
        pub side: Side,
        /// `o.X`: order status.
        pub status: OrderStatus,
        /// Padding.
        pub _reserved: [u8; 6],
    }

    /// Open interest, polled from REST (`/fapi/v1/openInterest`).
    OpenInterest = 16 {
        /// `time`: ms.
        pub time_ms: i64,
        /// `openInterest`, in base units.
        pub open_interest: Qty,
    }

    /// `kline`: a candlestick update; [`Flags::CLOSED`] marks the final one (`"x":true`).
    Kline = 104 {
        /// `k.t`: open time, ms.
        pub open_time_ms: i64,
        /// `E`: event time, ms.
        pub event_time_ms: i64,
        /// `k.f`: first trade id.
        pub first_trade_id: u64,
        /// `k.L`: last trade id.
        pub last_trade_id: u64,
        /// `k.o`.
        pub open: Px,
        /// `k.h`.
        pub high: Px,
        /// `k.l`.
        pub low: Px,
        /// `k.c`.
        pub close: Px,
        /// `k.v`: base volume.
        pub volume: Qty,
        /// `k.q`: quote volume.
        pub quote_volume: Qty,
        /// `k.V`: taker buy base volume.
        pub taker_buy_volume: Qty,
        /// `k.Q`: taker buy quote volume.
        pub taker_buy_quote_volume: Qty,
        /// `k.n`: number of trades.
        pub trade_count: u32,
        /// `k.i`.
        pub interval: KlineInterval,
        /// Padding.
        pub _reserved: [u8; 3],
    }

    /// Engine clock tick: lets bars close on time when no market event arrives (DESIGN 5.3).
    Timer = 8 {
        /// Exchange-clock time the tick stands for, ms.
        pub now_ms: i64,
    }

    /// Connection and book-sync state changes, recorded so replay reproduces them.
    Status = 32 {
        /// What happened.
        pub code: StatusCode,
        /// Padding.
        pub _reserved: [u8; 7],
        /// For a gap: the `pu` we expected (the last applied `u`; for a crossed book or a bad
        /// diff its own `u`; for a snapshot older than the stream its `lastUpdateId`). For
        /// `Connected`/`Disconnected`: the websocket route (0 `/public`, 1 `/market`). For a
        /// resync: 0.
        pub expected_id: u64,
        /// For a gap: the `pu` we got (a crossed book or bad diff: its `u`; a stale snapshot:
        /// the first buffered diff's `U`); for a resync: the snapshot's `lastUpdateId`; for
        /// `Connected`/`Disconnected`: the connection's number on its route.
        pub actual_id: u64,
        /// Exchange time of the message that caused the change, ms ([`UNDEF_TIME`] if none).
        pub exchange_time_ms: i64,
    }
}

/// Order status of a liquidation order (`o.X`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(u8)]
pub enum OrderStatus {
    /// A status string we do not know.
    #[default]
    Other = 0,
    /// `NEW`.
    New = 1,
    /// `PARTIALLY_FILLED`.
    PartiallyFilled = 2,
    /// `FILLED`.
    Filled = 3,
    /// `CANCELED`.
    Canceled = 4,
    /// `EXPIRED`.
    Expired = 5,
}

impl OrderStatus {
    /// Maps Binance's status text; unknown text is [`OrderStatus::Other`].
    #[must_use]
    pub fn from_binance(s: &[u8]) -> Self {
        match s {
            b"NEW" => Self::New,
            b"PARTIALLY_FILLED" => Self::PartiallyFilled,
            b"FILLED" => Self::Filled,
            b"CANCELED" => Self::Canceled,
            b"EXPIRED" => Self::Expired,
            _ => Self::Other,
        }
    }

    /// Binance's status text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Other => "OTHER",
            Self::New => "NEW",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::Filled => "FILLED",
            Self::Canceled => "CANCELED",
            Self::Expired => "EXPIRED",
        }
    }
}

/// Kline interval (`k.i`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(u8)]
#[allow(missing_docs, reason = "the variants are Binance's interval names")]
pub enum KlineInterval {
    #[default]
    M1,
    M3,
    M5,
    M15,
    M30,
    H1,
    H2,
    H4,
    H6,
    H8,
    H12,
    D1,
    D3,
    W1,
    Mo1,
}

impl KlineInterval {
    const ALL: [(Self, &'static str, i64); 15] = [
        (Self::M1, "1m", 60_000),
        (Self::M3, "3m", 180_000),
        (Self::M5, "5m", 300_000),
        (Self::M15, "15m", 900_000),
        (Self::M30, "30m", 1_800_000),
        (Self::H1, "1h", 3_600_000),
        (Self::H2, "2h", 7_200_000),
        (Self::H4, "4h", 14_400_000),
        (Self::H6, "6h", 21_600_000),
        (Self::H8, "8h", 28_800_000),
        (Self::H12, "12h", 43_200_000),
        (Self::D1, "1d", 86_400_000),
        (Self::D3, "3d", 259_200_000),
        (Self::W1, "1w", 604_800_000),
        (Self::Mo1, "1M", 0),
    ];

    /// Parses Binance's interval name (`"1m"`, `"1h"`, `"1M"`...).
    #[must_use]
    pub fn from_binance(s: &[u8]) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, name, _)| name.as_bytes() == s)
            .map(|&(i, _, _)| i)
    }

    /// Binance's interval name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize].1
    }

    /// Length in ms; `None` for the calendar month.
    #[must_use]
    pub fn duration_ms(self) -> Option<i64> {
        match Self::ALL[self as usize].2 {
            0 => None,
            ms => Some(ms),
        }
    }
}

/// What a [`Status`] event reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(u8)]
pub enum StatusCode {
    /// A websocket connection was established.
    #[default]
    Connected = 0,
    /// A websocket connection was lost or closed.
    Disconnected = 1,
    /// The depth chain broke (`pu` mismatch, crossed book, stale snapshot); the book is invalid.
    Gap = 2,
    /// The book was rebuilt from a snapshot and is valid again.
    Resynced = 3,
}

/// The record inside an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(C, u8)]
#[allow(
    missing_docs,
    reason = "each variant holds the record of the same name"
)]
pub enum Body {
    DepthDiff(DepthDiff),
    DepthSnapshot(DepthSnapshot),
    Level(Level),
    AggTrade(AggTrade),
    Trade(Trade),
    BookTicker(BookTicker),
    MarkPrice(MarkPrice),
    Liquidation(Liquidation),
    OpenInterest(OpenInterest),
    Kline(Kline),
    Timer(Timer),
    Status(Status),
}

/// The kind of an event, without its payload (the recorder's `kind` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[allow(
    missing_docs,
    reason = "each variant names the record of the same name"
)]
pub enum EventKind {
    DepthDiff = 0,
    DepthSnapshot = 1,
    Level = 2,
    AggTrade = 3,
    Trade = 4,
    BookTicker = 5,
    MarkPrice = 6,
    Liquidation = 7,
    OpenInterest = 8,
    Kline = 9,
    Timer = 10,
    Status = 11,
}

impl EventKind {
    /// Every kind, in discriminant order.
    pub const ALL: [Self; 12] = [
        Self::DepthDiff,
        Self::DepthSnapshot,
        Self::Level,
        Self::AggTrade,
        Self::Trade,
        Self::BookTicker,
        Self::MarkPrice,
        Self::Liquidation,
        Self::OpenInterest,
        Self::Kline,
        Self::Timer,
        Self::Status,
    ];

    /// The `snake_case` name used in JSON output and reports (`depth_diff`, `agg_trade`...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::DepthDiff => "depth_diff",
            Self::DepthSnapshot => "depth_snapshot",
            Self::Level => "level",
            Self::AggTrade => "agg_trade",
            Self::Trade => "trade",
            Self::BookTicker => "book_ticker",
            Self::MarkPrice => "mark_price",
            Self::Liquidation => "liquidation",
            Self::OpenInterest => "open_interest",
            Self::Kline => "kline",
            Self::Timer => "timer",
            Self::Status => "status",
        }
    }

    /// The kind with discriminant `v`, if any.
    #[must_use]
    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v)).copied()
    }
}

impl Body {
    /// The payload's kind.
    #[inline]
    #[must_use]
    pub const fn kind(&self) -> EventKind {
        match self {
            Self::DepthDiff(_) => EventKind::DepthDiff,
            Self::DepthSnapshot(_) => EventKind::DepthSnapshot,
            Self::Level(_) => EventKind::Level,
            Self::AggTrade(_) => EventKind::AggTrade,
            Self::Trade(_) => EventKind::Trade,
            Self::BookTicker(_) => EventKind::BookTicker,
            Self::MarkPrice(_) => EventKind::MarkPrice,
            Self::Liquidation(_) => EventKind::Liquidation,
            Self::OpenInterest(_) => EventKind::OpenInterest,
            Self::Kline(_) => EventKind::Kline,
            Self::Timer(_) => EventKind::Timer,
            Self::Status(_) => EventKind::Status,
        }
    }

    /// The exchange time this event is ordered by (DESIGN 5.3): the transaction time `T` where
    /// the message has one, else its event time `E`; [`UNDEF_TIME`] for a [`Level`].
    #[must_use]
    pub const fn exchange_time_ms(&self) -> i64 {
        match self {
            Self::DepthDiff(r) => r.transact_time_ms,
            Self::DepthSnapshot(r) => {
                if r.transact_time_ms == UNDEF_TIME {
                    r.event_time_ms
                } else {
                    r.transact_time_ms
                }
            }
            Self::Level(_) => UNDEF_TIME,
            Self::AggTrade(r) => r.transact_time_ms,
            Self::Trade(r) => r.transact_time_ms,
            Self::BookTicker(r) => r.transact_time_ms,
            Self::MarkPrice(r) => r.event_time_ms,
            Self::Liquidation(r) => r.transact_time_ms,
            Self::OpenInterest(r) => r.time_ms,
            Self::Kline(r) => r.event_time_ms,
            Self::Timer(r) => r.now_ms,
            Self::Status(r) => r.exchange_time_ms,
        }
    }
}

/// One event: a common header and its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(C)]
pub struct Event {
    /// Local receive time of the websocket frame (or REST response), ns since the UNIX epoch
    /// (`CLOCK_REALTIME`); taken once per frame, so every record of a message shares it.
    pub recv_ns: i64,
    /// Symbol the event belongs to.
    pub symbol: SymbolId,
    /// See [`Flags`].
    pub flags: Flags,
    /// Padding.
    pub _reserved: [u8; 5],
    /// The record.
    pub body: Body,
}

const _: () = assert!(size_of::<Body>() == 112);
const _: () = assert!(size_of::<Event>() == 128);
const _: () = assert!(align_of::<Event>() == 8);

impl Event {
    /// An event with no flags.
    #[inline]
    #[must_use]
    pub const fn new(recv_ns: i64, symbol: SymbolId, body: Body) -> Self {
        Self {
            recv_ns,
            symbol,
            flags: Flags::NONE,
            _reserved: [0; 5],
            body,
        }
    }

    /// `self` with `flags` added.
    #[inline]
    #[must_use]
    pub const fn with_flags(mut self, flags: Flags) -> Self {
        self.flags = self.flags.with(flags);
        self
    }

    /// The payload's kind.
    #[inline]
    #[must_use]
    pub const fn kind(&self) -> EventKind {
        self.body.kind()
    }

    /// `true` when this record ends its venue message.
    #[inline]
    #[must_use]
    pub const fn is_last(&self) -> bool {
        self.flags.is_last()
    }
}

/// Where a parser or source writes events.
pub trait EventSink {
    /// Takes one event.
    fn push(&mut self, event: Event);

    /// Takes one depth level of the venue message whose header was pushed last: the event
    /// `Event { recv_ns, symbol, flags, body: Body::Level(level) }`. The default builds that
    /// event and pushes it. A sink that takes levels as they are (a replay handing them
    /// straight to the book) overrides it and skips building 128-byte events for what is most
    /// of a depth stream.
    #[inline]
    fn push_level(&mut self, recv_ns: i64, symbol: SymbolId, flags: Flags, level: Level) {
        self.push(Event {
            recv_ns,
            symbol,
            flags,
            _reserved: [0; 5],
            body: Body::Level(level),
        });
    }
}

impl EventSink for Vec<Event> {
    #[inline]
    fn push(&mut self, event: Event) {
        Vec::push(self, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Padding is explicit: the sum of field sizes equals the record size.
    #[test]
    fn records_have_no_implicit_padding() {
        assert_eq!(size_of::<DepthDiff>(), 5 * 8 + 2 * 4);
        assert_eq!(size_of::<DepthSnapshot>(), 3 * 8 + 2 * 4);
        assert_eq!(size_of::<Level>(), 2 * 8 + 1 + 7);
        assert_eq!(size_of::<AggTrade>(), 8 * 8 + 1 + 7);
        assert_eq!(size_of::<Trade>(), 5 * 8 + 1 + 7);
        assert_eq!(size_of::<BookTicker>(), 7 * 8);
        assert_eq!(size_of::<MarkPrice>(), 7 * 8);
        assert_eq!(size_of::<Liquidation>(), 7 * 8 + 1 + 1 + 6);
        assert_eq!(size_of::<OpenInterest>(), 2 * 8);
        assert_eq!(size_of::<Kline>(), 12 * 8 + 4 + 1 + 3);
        assert_eq!(size_of::<Timer>(), 8);
        assert_eq!(size_of::<Status>(), 1 + 7 + 3 * 8);
        assert_eq!(size_of::<Event>(), 8 + 2 + 1 + 5 + size_of::<Body>());
    }

    #[test]
    fn kinds_round_trip_and_name() {
        for (i, kind) in EventKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
            assert_eq!(EventKind::from_u8(i as u8), Some(*kind));
        }
        assert_eq!(EventKind::from_u8(12), None);
        assert_eq!(EventKind::AggTrade.name(), "agg_trade");
    }

    #[test]
    fn flags_compose() {
        let f = Flags::SNAPSHOT.with(Flags::LAST);
        assert!(f.is_last() && f.contains(Flags::SNAPSHOT) && !f.contains(Flags::CLOSED));
        assert!(!Flags::NONE.is_last());
    }

    #[test]
    fn aggressor_follows_buyer_is_maker() {
        assert_eq!(Side::from_buyer_is_maker(true), Side::Sell);
        assert_eq!(Side::from_buyer_is_maker(false), Side::Buy);
        assert!(Side::Sell.buyer_is_maker());
    }

    #[test]
    fn kline_intervals() {
        assert_eq!(KlineInterval::from_binance(b"1m"), Some(KlineInterval::M1));
        assert_eq!(KlineInterval::from_binance(b"1M"), Some(KlineInterval::Mo1));
        assert_eq!(KlineInterval::from_binance(b"2m"), None);
        assert_eq!(KlineInterval::H4.duration_ms(), Some(14_400_000));
        assert_eq!(KlineInterval::Mo1.duration_ms(), None);
        assert_eq!(KlineInterval::W1.as_str(), "1w");
    }
}
