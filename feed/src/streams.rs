//! Binance USD-M stream names and the routed path each one lives on (protocol doc section 1.1).
//!
//! Since 2026 USD-M market data is split over two routed websocket paths: book data
//! (`@depth*`, `@bookTicker`, and the undocumented `@trade`) on `/public`, everything else
//! (`@aggTrade`, `@markPrice[@1s]`, `@forceOrder`, `@kline_*`) on `/market`. A subscription on the
//! wrong path is acknowledged and then silent, so the live client routes every stream with
//! [`StreamKind::route`] and the mock exchange serves a stream only on its own path.
//!
//! ```
//! use orderflow_feed::streams::{Route, StreamKind, StreamName};
//!
//! let s = StreamName::parse("btcusdt@depth@100ms").unwrap();
//! assert_eq!((s.symbol(), s.kind()), ("btcusdt", StreamKind::Depth));
//! assert_eq!(s.kind().route(), Route::Public);
//! assert_eq!(StreamName::parse("ethusdt@markPrice@1s").unwrap().kind().route(), Route::Market);
//! assert!(StreamName::parse("btcusdt@depth5").is_none()); // partial depth: not a diff stream
//! ```

use core::fmt;

/// A routed websocket path of the USD-M market streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// `/public`: `@depth*`, `@bookTicker`, `@trade`.
    Public = 0,
    /// `/market`: `@aggTrade`, `@markPrice*`, `@forceOrder`, `@kline_*`.
    Market = 1,
}

impl Route {
    /// Both routes, in index order.
    pub const ALL: [Self; 2] = [Self::Public, Self::Market];

    /// The path segment (`"public"`, `"market"`).
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Market => "market",
        }
    }

    /// The route of a path segment.
    #[must_use]
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            "public" => Some(Self::Public),
            "market" => Some(Self::Market),
            _ => None,
        }
    }

    /// `0` for `/public`, `1` for `/market`.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.path())
    }
}

/// The per-symbol market streams the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    /// `<s>@depth`, `<s>@depth@100ms`, `@500ms`, `@0ms`: diff depth.
    Depth = 0,
    /// `<s>@bookTicker`.
    BookTicker = 1,
    /// `<s>@trade` (undocumented on USD-M, served on `/public`).
    Trade = 2,
    /// `<s>@aggTrade`.
    AggTrade = 3,
    /// `<s>@markPrice` (3 s) or `<s>@markPrice@1s`.
    MarkPrice = 4,
    /// `<s>@forceOrder`: the largest liquidation per second, when there is one.
    ForceOrder = 5,
    /// `<s>@kline_<interval>`.
    Kline = 6,
}

impl StreamKind {
    /// Every kind, in index order.
    pub const ALL: [Self; 7] = [
        Self::Depth,
        Self::BookTicker,
        Self::Trade,
        Self::AggTrade,
        Self::MarkPrice,
        Self::ForceOrder,
        Self::Kline,
    ];

    /// The routed path this stream is served on.
    #[must_use]
    pub const fn route(self) -> Route {
        match self {
            Self::Depth | Self::BookTicker | Self::Trade => Route::Public,
            Self::AggTrade | Self::MarkPrice | Self::ForceOrder | Self::Kline => Route::Market,
        }
    }

    /// Index in [`StreamKind::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// `true` for streams that never go quiet for long on a listed symbol (diff depth,
    /// bookTicker, markPrice): a first-message watchdog applies to them. Trades and
    /// liquidations can be silent for minutes.
    #[must_use]
    pub const fn is_steady(self) -> bool {
        matches!(self, Self::Depth | Self::BookTicker | Self::MarkPrice)
    }
}

/// A parsed stream name `<symbol>@<kind>[@<speed>]`: the symbol (lower case, as in the name)
/// and the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamName<'a> {
    symbol: &'a str,
    kind: StreamKind,
}

impl<'a> StreamName<'a> {
    /// Parses a per-symbol stream name; `None` for names of other streams (`!markPrice@arr`,
    /// partial depth `@depth5`, unknown kinds) or a malformed name.
    #[must_use]
    pub fn parse(name: &'a str) -> Option<Self> {
        let (symbol, rest) = name.split_once('@')?;
        if symbol.is_empty()
            || !symbol
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return None;
        }
        let (head, speed) = match rest.split_once('@') {
            Some((h, s)) => (h, Some(s)),
            None => (rest, None),
        };
        let kind = match (head, speed) {
            ("depth", None | Some("100ms" | "250ms" | "500ms" | "0ms")) => StreamKind::Depth,
            ("bookTicker", None) => StreamKind::BookTicker,
            ("trade", None) => StreamKind::Trade,
            ("aggTrade", None) => StreamKind::AggTrade,
            ("markPrice", None | Some("1s")) => StreamKind::MarkPrice,
            ("forceOrder", None) => StreamKind::ForceOrder,
            (k, None) if k.starts_with("kline_") && k.len() > "kline_".len() => StreamKind::Kline,
            _ => return None,
        };
        Some(Self { symbol, kind })
    }

    /// The symbol as the name spells it (lower case on Binance).
    #[must_use]
    pub fn symbol(&self) -> &'a str {
        self.symbol
    }

    /// The stream kind.
    #[must_use]
    pub fn kind(&self) -> StreamKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_route() {
        let cases = [
            ("btcusdt@depth", StreamKind::Depth, Route::Public),
            ("btcusdt@depth@0ms", StreamKind::Depth, Route::Public),
            ("btcusdt@bookTicker", StreamKind::BookTicker, Route::Public),
            ("btcusdt@trade", StreamKind::Trade, Route::Public),
            ("btcusdt@aggTrade", StreamKind::AggTrade, Route::Market),
            ("btcusdt@markPrice", StreamKind::MarkPrice, Route::Market),
            ("btcusdt@markPrice@1s", StreamKind::MarkPrice, Route::Market),
            ("btcusdt@forceOrder", StreamKind::ForceOrder, Route::Market),
            ("btcusdt@kline_1m", StreamKind::Kline, Route::Market),
        ];
        for (name, kind, route) in cases {
            let s = StreamName::parse(name).unwrap();
            assert_eq!(
                (s.symbol(), s.kind(), s.kind().route()),
                ("btcusdt", kind, route)
            );
        }
        for bad in [
            "btcusdt",
            "@depth",
            "btcusdt@depth@1s",
            "btcusdt@depth20@100ms",
            "!markPrice@arr",
            "btc-usdt@trade",
            "btcusdt@kline_",
        ] {
            assert!(StreamName::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(Route::from_path("market"), Some(Route::Market));
        assert_eq!(Route::Public.to_string(), "/public");
    }
}
