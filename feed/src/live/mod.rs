//! The live Binance USD-M feed (feature `live`): websockets in, [`Event`]s out, as an
//! [`EventSource`] the engine's feed thread runs (DESIGN.md sections 2 and 9; protocol doc
//! sections 1 to 4).
//!
//! # Shape
//! [`LiveSource::start`] builds a tokio **current-thread** runtime and spawns on it, without
//! running anything yet:
//! - one task per routed path (`/public` for diff depth, bookTicker and trades, `/market` for
//!   aggTrades, `markPrice@1s`, `forceOrder` and klines), each keeping one combined-stream
//!   connection alive: reconnects with exponential backoff and full jitter, a stall timeout, a
//!   rotation before the 24 h cut that overlaps the new connection with the old one
//!   (`session.rs`);
//! - an open-interest poller (REST only on Binance) and a ticker.
//!
//! The runtime runs only inside [`EventSource::poll_events`], on the engine's feed thread: each
//! call waits (at most [`LiveConfig::poll_wait`]) for the next frame of any connection, or the
//! next item of the source's inbox (connects, disconnects, REST bodies, ticks), and
//! turns it into events with the sans-I/O [`FrameParser`]. One frame per call, so the engine's
//! per-batch stamp stays honest.
//!
//! The connections' readers are streams this call polls itself, not tasks: a frame goes from
//! the socket to the parser within one poll of the `block_on` future. When readers were tasks
//! sending frames through the inbox, every frame also crossed the scheduler, which polls the
//! I/O driver (an `epoll_wait`) between a task and the `block_on` future. Two alternating pairs
//! of 5 s runs of `orderflow bench latency --executor callback --wait yield --pin
//! mock=0,feed=0,engine=1`: receive->parsed p50 2.0 and 2.1 us with reader tasks, 1.0 and
//! 1.3 us with the readers polled here in a `SelectAll`. Then, polling them in turn from a
//! `Vec` (no task node allocated per frame) and re-arming the readers' stall timers and the
//! wait's timer only when they fire (not a timer registered and cancelled per frame), three
//! alternating pairs of the same runs: 1.3, 1.4, 1.3 us before, 1.2, 1.1, 1.2 us after (p90
//! 3.7-3.8 us before, 3.1-3.2 us after).
//!
//! # Snapshots and sync
//! The engine's sync book asks for a snapshot through [`EventSource::request_snapshot`]; the
//! source fetches `GET /fapi/v1/depth?symbol=&limit=` on the runtime (one fetch in flight per
//! symbol, later requests fold into it; retries with backoff until it succeeds), keeping the
//! request weight under [`LiveConfig::weight_budget_per_min`] and honouring 429/418
//! `Retry-After` (`rest.rs`). The body is pushed, in receive order with the frames, wrapped as
//! `{"stream":"<symbol>@depthSnapshot","data":<body>}`, the form captures use.
//!
//! # Status events
//! Every connect and disconnect becomes a `Status` event per symbol of that path
//! (`Connected`/`Disconnected`, `expected_id` = the route, 0 for `/public` and 1 for `/market`,
//! `actual_id` = the connection's number, no exchange time), pushed into the engine, which
//! records it. Gaps and resyncs are the engine's sync machine's own `Status` events, recorded
//! too. A reconnect does not by itself invalidate a book: the first diff on the new
//! connection either continues the `pu` chain (nothing was missed) or is a gap, and the sync
//! machine resyncs (protocol doc section 3.3, "Reconnects").
//!
//! # Rotation overlap
//! While two connections of a path are live, both deliver the same messages. The source
//! remembers the last id of every (symbol, stream) it passed on (diff `u`, bookTicker `u`,
//! trade `t`, aggTrade `a`, else the event time) and, during an overlap only, drops a
//! message whose id is not newer; the copies are counted ([`LiveStats::overlap_duplicates`]).
//! Outside an overlap nothing is dropped, duplicates included: the sync machine decides.
//!
//! # Watchdogs
//! A subscription on the wrong path is acknowledged and then silent (protocol doc 4.3). For
//! every steady stream (diff depth, bookTicker, markPrice) the source checks that a first
//! message arrived within [`LiveConfig::first_message_timeout`] of the connection; if not it
//! counts the stream as silent, notes it in the [`LiveMonitor`], and asks for a reconnect (at
//! most [`LiveConfig::watchdog_reconnects`] times per path).
//!
//! # Timers
//! Every [`LiveConfig::timer_every`] the source pushes a `Timer` per symbol at its estimate of
//! the exchange clock (local time plus the largest `exchange time − receive time` seen in the
//! last interval, so never ahead of the exchange), so bars close on time in a quiet market;
//! timers are recorded and replay closes bars where live did.
//!
//! # Raw capture
//! With [`LiveConfig::capture`], every frame passed to the engine (and every REST snapshot and
//! open-interest body, wrapped with a stream name) is appended as a `<local_ns> <json>` line.
//! Frames that do not parse, and the rotation-overlap copies, are not written, so a capture
//! replays to what the engine saw.

mod capture;
mod monitor;
mod rest;
mod session;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use orderflow_core::{
    Body, Event, EventSink, EventSource, Flags, RecvClock, SourcePoll, Status, StatusCode,
    SymbolId, SymbolTable, Timer, UNDEF_TIME,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

pub use monitor::{KEPT_MESSAGES, LiveMonitor, LiveStats};

use self::capture::CaptureWriter;
use self::monitor::Monitor;
use self::rest::{Endpoint, RestClient, WeightBudget};
use self::session::{Backoff, Control, Inbound, Reader, RouteTask, realtime_ns};
use crate::streams::{Route, StreamKind};
use crate::{FrameParser, ParseError, Parsed};

/// Binance USD-M production websocket base.
pub const BINANCE_WS_URL: &str = "wss://fstream.binance.com";
/// Binance USD-M production REST base.
pub const BINANCE_REST_URL: &str = "https://fapi.binance.com";

/// Settings of a [`LiveSource`]. `LiveConfig::new(symbols)` gives production endpoints and the
/// defaults below.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveConfig {
    /// Symbols, in the order that gives their ids (the engine's order).
    pub symbols: Vec<String>,
    /// Websocket base, without path (`wss://fstream.binance.com`; testnet
    /// `wss://fstream.binancefuture.com`; the mock's `ws://127.0.0.1:PORT`).
    pub ws_url: String,
    /// REST base (`https://fapi.binance.com`; testnet `https://demo-fapi.binance.com` or
    /// `https://testnet.binancefuture.com`; the mock's `http://127.0.0.1:PORT`).
    pub rest_url: String,
    /// Diff depth speed: `"100ms"` (default), `"250ms"` (plain `@depth`), `"500ms"` or `"0ms"`.
    pub depth_speed: String,
    /// Subscribe `@bookTicker` (default on).
    pub book_ticker: bool,
    /// Subscribe `@trade` (individual trades, undocumented on USD-M; default off).
    pub trades: bool,
    /// Subscribe `@aggTrade` (default on).
    pub agg_trades: bool,
    /// Subscribe `@markPrice@1s` (default on).
    pub mark_price: bool,
    /// Subscribe `@forceOrder` (default on).
    pub liquidations: bool,
    /// Subscribe `@kline_<interval>` (default none).
    pub kline: Option<String>,
    /// Snapshot depth: 5, 10, 20, 50, 100, 500 or 1000 (default; weight 20).
    pub snapshot_limit: u32,
    /// Open interest poll interval (default 10 s; `None`: off).
    pub open_interest_every: Option<Duration>,
    /// REST request weight per minute this process may use (default 1200, half of Binance's
    /// 2400 per IP).
    pub weight_budget_per_min: u32,
    /// First reconnect delay (default 250 ms).
    pub reconnect_min: Duration,
    /// Largest reconnect delay (default 30 s).
    pub reconnect_max: Duration,
    /// Connect (TCP + TLS + websocket handshake) timeout (default 10 s).
    pub connect_timeout: Duration,
    /// A connection with no frame for this long is dead (default 10 s).
    pub stall_timeout: Duration,
    /// A steady stream must deliver its first message within this (default 30 s).
    pub first_message_timeout: Duration,
    /// Reconnects the watchdog may ask per path (default 2).
    pub watchdog_reconnects: u32,
    /// Age at which a connection is rotated (default 23 h 50 min; Binance cuts at 24 h).
    pub max_connection_age: Duration,
    /// How long the old and new connections overlap on rotation (default 10 s).
    pub rotation_overlap: Duration,
    /// `Timer` event interval (default 1 s; `None`: off).
    pub timer_every: Option<Duration>,
    /// REST request timeout (default 10 s).
    pub rest_timeout: Duration,
    /// Raw capture file (appended).
    pub capture: Option<PathBuf>,
    /// Longest wait inside one [`EventSource::poll_events`] call (default 20 ms).
    pub poll_wait: Duration,
    /// Items the source's tasks may queue ahead of the feed thread: connects, disconnects, REST
    /// bodies, ticks (default 65 536). Frames are not queued: they wait in the socket until the
    /// feed thread reads them.
    pub inbox: usize,
}

impl LiveConfig {
    /// Production endpoints and defaults for `symbols`.
    #[must_use]
    pub fn new<I, T>(symbols: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        Self {
            symbols: symbols
                .into_iter()
                .map(|s| s.as_ref().to_ascii_uppercase())
                .collect(),
            ws_url: BINANCE_WS_URL.to_owned(),
            rest_url: BINANCE_REST_URL.to_owned(),
            depth_speed: "100ms".to_owned(),
            book_ticker: true,
            trades: false,
            agg_trades: true,
            mark_price: true,
            liquidations: true,
            kline: None,
            snapshot_limit: 1000,
            open_interest_every: Some(Duration::from_secs(10)),
            weight_budget_per_min: 1_200,
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            first_message_timeout: Duration::from_secs(30),
            watchdog_reconnects: 2,
            max_connection_age: Duration::from_secs(23 * 3_600 + 50 * 60),
            rotation_overlap: Duration::from_secs(10),
            timer_every: Some(Duration::from_secs(1)),
            rest_timeout: Duration::from_secs(10),
            capture: None,
            poll_wait: Duration::from_millis(20),
            inbox: 1 << 16,
        }
    }

    /// The stream names subscribed on `route`, per symbol in order.
    #[must_use]
    pub fn streams(&self, route: Route) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.symbols {
            let s = s.to_ascii_lowercase();
            for kind in self.kinds(route) {
                out.push(match kind {
                    StreamKind::Depth if self.depth_speed == "250ms" => format!("{s}@depth"),
                    StreamKind::Depth => format!("{s}@depth@{}", self.depth_speed),
                    StreamKind::BookTicker => format!("{s}@bookTicker"),
                    StreamKind::Trade => format!("{s}@trade"),
                    StreamKind::AggTrade => format!("{s}@aggTrade"),
                    StreamKind::MarkPrice => format!("{s}@markPrice@1s"),
                    StreamKind::ForceOrder => format!("{s}@forceOrder"),
                    StreamKind::Kline => {
                        format!("{s}@kline_{}", self.kline.as_deref().unwrap_or("1m"))
                    }
                });
            }
        }
        out
    }

    /// The stream kinds subscribed on `route`.
    fn kinds(&self, route: Route) -> Vec<StreamKind> {
        let on = [
            (StreamKind::Depth, true),
            (StreamKind::BookTicker, self.book_ticker),
            (StreamKind::Trade, self.trades),
            (StreamKind::AggTrade, self.agg_trades),
            (StreamKind::MarkPrice, self.mark_price),
            (StreamKind::ForceOrder, self.liquidations),
            (StreamKind::Kline, self.kline.is_some()),
        ];
        on.into_iter()
            .filter(|(k, on)| *on && k.route() == route)
            .map(|(k, _)| k)
            .collect()
    }

    fn validate(&self) -> Result<(), String> {
        if self.symbols.is_empty() {
            return Err("no symbols".to_owned());
        }
        if !matches!(
            self.depth_speed.as_str(),
            "100ms" | "250ms" | "500ms" | "0ms"
        ) {
            return Err(format!(
                "depth speed {:?} is not 100ms, 250ms, 500ms or 0ms",
                self.depth_speed
            ));
        }
        if snapshot_weight(self.snapshot_limit).is_none() {
            return Err(format!(
                "snapshot limit {} is not 5, 10, 20, 50, 100, 500 or 1000",
                self.snapshot_limit
            ));
        }
        if self.weight_budget_per_min < 20 {
            return Err("the REST weight budget must allow one snapshot (20)".to_owned());
        }
        Ok(())
    }
}

/// Request weight of `GET /fapi/v1/depth` with `limit` (protocol doc section 1.4).
#[must_use]
pub fn snapshot_weight(limit: u32) -> Option<u32> {
    match limit {
        5 | 10 | 20 | 50 => Some(2),
        100 => Some(5),
        500 => Some(10),
        1000 => Some(20),
        _ => None,
    }
}

/// Why the live feed failed to start, or what went wrong with one input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// An invalid [`LiveConfig`].
    #[error("invalid live configuration: {0}")]
    Config(String),
    /// The runtime or the TLS setup could not start.
    #[error("starting the live feed: {0}")]
    Start(String),
    /// The capture file could not be opened.
    #[error("opening the capture {path}: {source}")]
    CaptureOpen {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A frame did not parse; it was dropped (and not captured).
    #[error("{route} frame did not parse: {error}")]
    Parse {
        /// Where it came from.
        route: Route,
        /// Why.
        error: ParseError,
    },
    /// A REST body did not parse.
    #[error("REST {what} for {symbol} did not parse: {error}")]
    Rest {
        /// `"depth snapshot"` or `"open interest"`.
        what: &'static str,
        /// The symbol.
        symbol: String,
        /// Why.
        error: ParseError,
    },
    /// The server refused a subscription.
    #[error("{route}: subscription refused, code {code}")]
    Subscribe {
        /// The path.
        route: Route,
        /// Binance's error code.
        code: i64,
    },
    /// Writing the capture failed (the frame still went to the engine).
    #[error("writing the capture: {0}")]
    Capture(std::io::Error),
}

#[derive(Debug)]
struct SymbolInfo {
    upper: String,
    lower: String,
}

/// Per-route state the source keeps for the watchdog.
#[derive(Debug, Default)]
struct RouteState {
    /// The newest connection and when it connected.
    conn: Option<(u32, Instant)>,
    overlap: bool,
    control: Option<mpsc::Sender<Control>>,
    watchdog_reconnects: u32,
    kinds: Vec<StreamKind>,
}

/// The live feed as an [`EventSource`]; see the module docs.
pub struct LiveSource {
    /// Declared before `runtime`, so its sockets and timer are dropped while the runtime that
    /// registered them is up.
    inlet: Inlet,
    runtime: tokio::runtime::Runtime,
    tx: mpsc::Sender<Inbound>,
    config: Arc<LiveConfig>,
    parser: FrameParser,
    stage: Vec<Event>,
    capture: Option<CaptureWriter>,
    monitor: LiveMonitor,
    rest: RestClient,
    budget: Arc<WeightBudget>,
    symbols: Vec<SymbolInfo>,
    table: SymbolTable,
    in_flight: Vec<bool>,
    /// Last id passed on per symbol and [`StreamKind`].
    last_ids: Vec<[u64; 7]>,
    /// A first message seen since the route's newest connection, per symbol and kind.
    seen: Vec<[bool; 7]>,
    flagged: Vec<[bool; 7]>,
    routes: [RouteState; 2],
    /// Largest `exchange - receive` (ms) this timer interval, and the one in force.
    offset_this_tick: Option<i64>,
    offset: Option<i64>,
    next_timer: Option<Instant>,
    snapshot_seed: u64,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("config", &self.config)
            .field("stats", &self.monitor.stats())
            .finish_non_exhaustive()
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

impl LiveSource {
    /// Checks `config`, opens the capture, builds the runtime and spawns the connection tasks
    /// (they run once the engine's feed thread polls the source).
    ///
    /// # Errors
    /// [`LiveError::Config`] for an invalid configuration, [`LiveError::CaptureOpen`] when the
    /// capture cannot be opened, [`LiveError::Start`] when the runtime or TLS cannot start.
    pub fn start(config: LiveConfig) -> Result<Self, LiveError> {
        config.validate().map_err(LiveError::Config)?;
        let ws = Endpoint::parse(&config.ws_url, "ws", "wss").map_err(LiveError::Config)?;
        let rest_ep =
            Endpoint::parse(&config.rest_url, "http", "https").map_err(LiveError::Config)?;
        let mut table = SymbolTable::new();
        let mut symbols = Vec::new();
        for name in &config.symbols {
            table
                .intern(name.as_bytes())
                .map_err(|e| LiveError::Config(format!("symbol {name:?}: {e}")))?;
            symbols.push(SymbolInfo {
                upper: name.to_ascii_uppercase(),
                lower: name.to_ascii_lowercase(),
            });
        }
        let capture = match &config.capture {
            Some(path) => {
                Some(
                    CaptureWriter::create(path).map_err(|source| LiveError::CaptureOpen {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let tls = if ws.tls || rest_ep.tls {
            Some(tls_config().map_err(LiveError::Start)?)
        } else {
            None
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LiveError::Start(format!("tokio runtime: {e}")))?;
        let config = Arc::new(config);
        let monitor = LiveMonitor::default();
        let (tx, inbox) = mpsc::channel(config.inbox.max(16));
        let (readers_tx, new_readers) = mpsc::unbounded_channel();
        let rest = RestClient::new(
            rest_ep.clone(),
            tls.clone().filter(|_| rest_ep.tls),
            config.rest_timeout,
        );
        let budget = Arc::new(WeightBudget::new(config.weight_budget_per_min));
        let seed = u64::try_from(realtime_ns()).unwrap_or(1);
        let mut routes: [RouteState; 2] = Default::default();
        for route in Route::ALL {
            let streams = config.streams(route);
            let state = &mut routes[route.index()];
            state.kinds = config.kinds(route);
            if streams.is_empty() {
                continue;
            }
            let (ctl_tx, ctl_rx) = mpsc::channel(4);
            state.control = Some(ctl_tx);
            runtime.spawn(session::run_route(RouteTask {
                route,
                streams,
                config: Arc::clone(&config),
                tls: tls.clone().filter(|_| ws.tls),
                tx: tx.clone(),
                readers: readers_tx.clone(),
                control: ctl_rx,
                monitor: Arc::clone(&monitor.inner),
                seed: seed ^ (route.index() as u64 + 1),
            }));
        }
        // The ticker: timers, watchdog, capture flushes.
        let tick_tx = tx.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if tick_tx.send(Inbound::Tick).await.is_err() {
                    return;
                }
            }
        });
        if let Some(every) = config.open_interest_every {
            let list: Vec<(u16, String)> = symbols
                .iter()
                .enumerate()
                .map(|(i, s)| (u16::try_from(i).unwrap_or(u16::MAX), s.upper.clone()))
                .collect();
            runtime.spawn(poll_open_interest(
                rest.clone(),
                Arc::clone(&budget),
                list,
                every,
                tx.clone(),
                Arc::clone(&monitor.inner),
            ));
        }
        let n = symbols.len();
        let inlet = Inlet {
            inbox,
            readers: Vec::new(),
            new_readers,
            first: 0,
            timer: {
                let _inside = runtime.enter();
                Box::pin(tokio::time::sleep(config.poll_wait))
            },
        };
        Ok(Self {
            runtime,
            inlet,
            tx,
            parser: FrameParser::with_symbols(table.clone()),
            stage: Vec::with_capacity(4_096),
            capture,
            monitor,
            rest,
            budget,
            symbols,
            table,
            in_flight: vec![false; n],
            last_ids: vec![[0; 7]; n],
            seen: vec![[false; 7]; n],
            flagged: vec![[false; 7]; n],
            routes,
            offset_this_tick: None,
            offset: None,
            next_timer: config.timer_every.map(|d| Instant::now() + d),
            config,
            snapshot_seed: seed,
        })
    }

    /// The symbols, in id order (the engine must use the same order).
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.table
    }

    /// A handle on the counters, for a status line on another thread.
    #[must_use]
    pub fn monitor(&self) -> LiveMonitor {
        self.monitor.clone()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    fn status(&self, code: StatusCode, route: Route, conn: u32, out: &mut dyn EventSink) {
        let recv_ns = realtime_ns();
        for i in 0..self.symbols.len() {
            let status = Status {
                code,
                _reserved: [0; 7],
                expected_id: route.index() as u64,
                actual_id: u64::from(conn),
                exchange_time_ms: UNDEF_TIME,
            };
            let id = SymbolId(u16::try_from(i).unwrap_or(u16::MAX));
            out.push(Event::new(recv_ns, id, Body::Status(status)).with_flags(Flags::LAST));
        }
    }

    fn capture(&mut self, recv_ns: i64, frame: &[u8]) -> Result<(), LiveError> {
        if let Some(c) = &mut self.capture {
            match c.write(recv_ns, frame) {
                Ok(()) => Monitor::bump(&self.monitor.inner.c.capture_lines),
                Err(e) => {
                    Monitor::bump(&self.monitor.inner.c.capture_errors);
                    return Err(LiveError::Capture(e));
                }
            }
        }
        Ok(())
    }

    fn handle(&mut self, item: Inbound, out: &mut dyn EventSink) -> Result<(), LiveError> {
        match item {
            Inbound::Frame {
                route,
                recv_ns,
                text,
            } => self.frame(route, recv_ns, text.as_bytes(), out),
            Inbound::Connected { route, conn } => {
                let r = &mut self.routes[route.index()];
                r.conn = Some((conn, Instant::now()));
                for (seen, flagged) in self.seen.iter_mut().zip(&mut self.flagged) {
                    for k in &r.kinds {
                        seen[k.index()] = false;
                        flagged[k.index()] = false;
                    }
                }
                self.status(StatusCode::Connected, route, conn, out);
                Ok(())
            }
            Inbound::Disconnected { route, conn } => {
                let r = &mut self.routes[route.index()];
                if r.conn.is_some_and(|(c, _)| c == conn) {
                    r.conn = None;
                }
                self.status(StatusCode::Disconnected, route, conn, out);
                Ok(())
            }
            Inbound::Overlap { route, active } => {
                self.routes[route.index()].overlap = active;
                Ok(())
            }
            Inbound::Snapshot {
                symbol,
                recv_ns,
                body,
            } => {
                let i = usize::from(symbol);
                if let Some(f) = self.in_flight.get_mut(i) {
                    *f = false;
                }
                Monitor::bump(&self.monitor.inner.c.snapshots);
                self.rest_body(i, "depthSnapshot", "depth snapshot", recv_ns, &body, out)
            }
            Inbound::OpenInterest {
                symbol,
                recv_ns,
                body,
            } => {
                Monitor::bump(&self.monitor.inner.c.open_interest);
                let i = usize::from(symbol);
                self.rest_body(i, "openInterest", "open interest", recv_ns, &body, out)
            }
            Inbound::Tick => {
                self.tick(out);
                Ok(())
            }
        }
    }

    /// A REST body, wrapped as a stream message so captures say whose it is.
    fn rest_body(
        &mut self,
        i: usize,
        stream: &str,
        what: &'static str,
        recv_ns: i64,
        body: &[u8],
        out: &mut dyn EventSink,
    ) -> Result<(), LiveError> {
        let Some(info) = self.symbols.get(i) else {
            return Ok(());
        };
        let upper = info.upper.clone();
        let mut frame = format!(r#"{{"stream":"{}@{stream}","data":"#, info.lower).into_bytes();
        frame.extend_from_slice(body);
        frame.push(b'}');
        let hint = SymbolId(u16::try_from(i).unwrap_or(u16::MAX));
        self.stage.clear();
        match self
            .parser
            .parse(recv_ns, &frame, Some(hint), &mut self.stage)
        {
            Ok(_) => {
                for e in &self.stage {
                    out.push(*e);
                }
                self.capture(recv_ns, &frame)
            }
            Err(error) => {
                if what == "depth snapshot"
                    && let Some(f) = self.in_flight.get_mut(i)
                {
                    // Ask again: the engine still waits for one.
                    *f = false;
                    self.fetch_snapshot(i);
                }
                Err(LiveError::Rest {
                    what,
                    symbol: upper,
                    error,
                })
            }
        }
    }

    fn frame(
        &mut self,
        route: Route,
        recv_ns: i64,
        bytes: &[u8],
        out: &mut dyn EventSink,
    ) -> Result<(), LiveError> {
        Monitor::bump(&self.monitor.inner.c.frames);
        self.stage.clear();
        let parsed = match self.parser.parse(recv_ns, bytes, None, &mut self.stage) {
            Ok(p) => p,
            Err(error) => {
                Monitor::bump(&self.monitor.inner.c.parse_errors);
                return Err(LiveError::Parse { route, error });
            }
        };
        match parsed {
            Parsed::Reply { .. } => {
                Monitor::bump(&self.monitor.inner.c.replies);
                return Ok(());
            }
            Parsed::ReplyError { code, .. } => {
                Monitor::bump(&self.monitor.inner.c.reply_errors);
                return Err(LiveError::Subscribe { route, code });
            }
            _ => {}
        }
        if let Some(head) = self.stage.first() {
            let (kind, id) = message_key(head);
            let s = head.symbol.index();
            if let (Some(kind), Some(last), Some(seen)) =
                (kind, self.last_ids.get_mut(s), self.seen.get_mut(s))
            {
                seen[kind.index()] = true;
                let last = &mut last[kind.index()];
                if self.routes[route.index()].overlap && id <= *last {
                    Monitor::bump(&self.monitor.inner.c.overlap_duplicates);
                    return Ok(());
                }
                *last = id.max(*last);
            }
            let t = head.body.exchange_time_ms();
            if t != UNDEF_TIME {
                let offset = t - recv_ns / 1_000_000;
                self.offset_this_tick =
                    Some(self.offset_this_tick.map_or(offset, |o| o.max(offset)));
            }
        }
        for e in &self.stage {
            out.push(*e);
        }
        self.capture(recv_ns, bytes)
    }

    fn tick(&mut self, out: &mut dyn EventSink) {
        let now = Instant::now();
        if let (Some(due), Some(every)) = (self.next_timer, self.config.timer_every)
            && now >= due
        {
            self.next_timer = Some(due.max(now - every) + every);
            if let Some(o) = self.offset_this_tick.take() {
                self.offset = Some(o);
            }
            if let Some(offset) = self.offset {
                let recv_ns = realtime_ns();
                let now_ms = recv_ns / 1_000_000 + offset;
                for i in 0..self.symbols.len() {
                    let id = SymbolId(u16::try_from(i).unwrap_or(u16::MAX));
                    out.push(
                        Event::new(recv_ns, id, Body::Timer(Timer { now_ms }))
                            .with_flags(Flags::LAST),
                    );
                    Monitor::bump(&self.monitor.inner.c.timers);
                }
            }
        }
        self.watchdog(now);
        if let Some(c) = &mut self.capture
            && c.flush().is_err()
        {
            Monitor::bump(&self.monitor.inner.c.capture_errors);
        }
    }

    fn watchdog(&mut self, now: Instant) {
        for route in Route::ALL {
            let r = &mut self.routes[route.index()];
            let Some((_, since)) = r.conn else { continue };
            if now - since < self.config.first_message_timeout {
                continue;
            }
            let mut silent = Vec::new();
            for (i, info) in self.symbols.iter().enumerate() {
                for k in r.kinds.iter().filter(|k| k.is_steady()) {
                    let (Some(seen), Some(flagged)) = (self.seen.get(i), self.flagged.get_mut(i))
                    else {
                        continue;
                    };
                    if !seen[k.index()] && !flagged[k.index()] {
                        flagged[k.index()] = true;
                        silent.push(format!("{}@{k:?}", info.lower));
                    }
                }
            }
            if silent.is_empty() {
                continue;
            }
            let m = &self.monitor.inner;
            for _ in &silent {
                Monitor::bump(&m.c.silent_streams);
            }
            let message = format!(
                "{route}: no first message within {:?} on {}",
                self.config.first_message_timeout,
                silent.join(", ")
            );
            m.note(message.clone());
            if r.watchdog_reconnects < self.config.watchdog_reconnects
                && let Some(ctl) = &r.control
            {
                r.watchdog_reconnects += 1;
                Monitor::bump(&m.c.watchdog_reconnects);
                let _ = ctl.try_send(Control::Reconnect(message));
            }
        }
    }

    fn fetch_snapshot(&mut self, i: usize) {
        let (Some(info), Some(in_flight)) = (self.symbols.get(i), self.in_flight.get_mut(i)) else {
            return;
        };
        if *in_flight {
            Monitor::bump(&self.monitor.inner.c.snapshot_requests_coalesced);
            return;
        }
        *in_flight = true;
        self.snapshot_seed = self.snapshot_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.runtime.spawn(fetch_snapshot(SnapshotTask {
            rest: self.rest.clone(),
            budget: Arc::clone(&self.budget),
            symbol: u16::try_from(i).unwrap_or(u16::MAX),
            upper: info.upper.clone(),
            limit: self.config.snapshot_limit,
            tx: self.tx.clone(),
            monitor: Arc::clone(&self.monitor.inner),
            seed: self.snapshot_seed,
        }));
    }
}

/// The (stream kind, id) a message is deduplicated by during a rotation overlap.
fn message_key(head: &Event) -> (Option<StreamKind>, u64) {
    let time = |t: i64| u64::try_from(t).unwrap_or(0);
    match &head.body {
        Body::DepthDiff(d) => (Some(StreamKind::Depth), d.final_update_id),
        Body::BookTicker(b) => (Some(StreamKind::BookTicker), b.update_id),
        Body::Trade(t) => (Some(StreamKind::Trade), t.trade_id),
        Body::AggTrade(a) => (Some(StreamKind::AggTrade), a.agg_trade_id),
        Body::MarkPrice(m) => (Some(StreamKind::MarkPrice), time(m.event_time_ms)),
        Body::Liquidation(l) => (Some(StreamKind::ForceOrder), time(l.event_time_ms)),
        Body::Kline(k) => (Some(StreamKind::Kline), time(k.event_time_ms)),
        _ => (None, 0),
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        if let Some(c) = &mut self.capture {
            let _ = c.flush();
        }
    }
}

impl EventSource for LiveSource {
    type Error = LiveError;

    fn poll_events(&mut self, out: &mut dyn EventSink) -> Result<SourcePoll, LiveError> {
        let item = match self.inlet.inbox.try_recv() {
            Ok(item) => item,
            Err(mpsc::error::TryRecvError::Disconnected) => return Ok(SourcePoll::End),
            Err(mpsc::error::TryRecvError::Empty) => {
                let wait = self.config.poll_wait;
                match self.runtime.block_on(self.inlet.next(wait)) {
                    Waited::Item(item) => item,
                    Waited::Closed => return Ok(SourcePoll::End),
                    Waited::TimedOut => return Ok(SourcePoll::Ready),
                }
            }
        };
        self.handle(item, out)?;
        Ok(SourcePoll::Ready)
    }

    fn recv_clock(&self) -> RecvClock {
        RecvClock::Live
    }

    fn request_snapshot(&mut self, symbol: SymbolId) {
        Monitor::bump(&self.monitor.inner.c.snapshot_requests);
        self.fetch_snapshot(symbol.index());
    }
}

/// What [`LiveSource::poll_events`] waits on: the inbox, the connections' readers, and the
/// timer that bounds one wait.
struct Inlet {
    inbox: mpsc::Receiver<Inbound>,
    /// One per connection: one or two per path, two during a rotation's overlap. `None` only
    /// within a poll, for a reader that ended in it.
    readers: Vec<Option<Reader>>,
    /// Readers of new connections, from the route tasks.
    new_readers: mpsc::UnboundedReceiver<Reader>,
    /// Where the next poll of `readers` starts: it moves on by one every poll, so none starves.
    first: usize,
    /// Ends a wait; set again only once it has fired (see [`Inlet::next`]).
    timer: Pin<Box<Sleep>>,
}

/// How one wait of the [`Inlet`] ended.
enum Waited {
    Item(Inbound),
    /// Every sender of the inbox is gone.
    Closed,
    TimedOut,
}

impl Inlet {
    /// The next item of the inbox, or else the next frame of any reader; `TimedOut` when the
    /// timer fires first. The timer is set to `wait` only once it has fired, so a wait may end
    /// sooner: a timer per call would be registered and cancelled for every frame.
    async fn next(&mut self, wait: Duration) -> Waited {
        if self.timer.is_elapsed() {
            self.timer.as_mut().reset(Instant::now() + wait);
        }
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Every poll uses the caller's waker for the inbox, each reader and the timer. A
    /// `SelectAll` of the readers measured slower: it allocates a task node for every item.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Waited> {
        while let Poll::Ready(Some(reader)) = self.new_readers.poll_recv(cx) {
            self.readers.push(Some(reader));
        }
        if let Poll::Ready(item) = self.inbox.poll_recv(cx) {
            return Poll::Ready(item.map_or(Waited::Closed, Waited::Item));
        }
        self.first = self.first.wrapping_add(1);
        let n = self.readers.len();
        let mut frame = None;
        for k in 0..n {
            let Some(slot) = self.readers.get_mut(self.first.wrapping_add(k) % n) else {
                continue;
            };
            if let Some(reader) = slot {
                match reader.as_mut().poll_next(cx) {
                    Poll::Ready(Some(f)) => {
                        frame = Some(f);
                        break;
                    }
                    // Ended, having told its route task why.
                    Poll::Ready(None) => *slot = None,
                    Poll::Pending => {}
                }
            }
        }
        self.readers.retain(Option::is_some);
        match frame {
            Some(f) => Poll::Ready(Waited::Item(f)),
            None => self.timer.as_mut().poll(cx).map(|()| Waited::TimedOut),
        }
    }
}

struct SnapshotTask {
    rest: RestClient,
    budget: Arc<WeightBudget>,
    symbol: u16,
    upper: String,
    limit: u32,
    tx: mpsc::Sender<Inbound>,
    monitor: Arc<Monitor>,
    seed: u64,
}

/// Fetches one snapshot, retrying with backoff until it succeeds.
async fn fetch_snapshot(task: SnapshotTask) {
    let weight = snapshot_weight(task.limit).unwrap_or(20);
    let mut backoff = Backoff::new(
        Duration::from_millis(200),
        Duration::from_secs(30),
        task.seed,
    );
    let path = format!("/fapi/v1/depth?symbol={}&limit={}", task.upper, task.limit);
    loop {
        task.budget.acquire(weight).await;
        match task.rest.get(&path).await {
            Ok(r) => {
                task.budget.observe(&r);
                if r.status == 200 {
                    let recv_ns = realtime_ns();
                    let _ = task
                        .tx
                        .send(Inbound::Snapshot {
                            symbol: task.symbol,
                            recv_ns,
                            body: r.body,
                        })
                        .await;
                    return;
                }
                if matches!(r.status, 429 | 418) {
                    Monitor::bump(&task.monitor.c.rate_limited);
                } else {
                    Monitor::bump(&task.monitor.c.snapshot_failures);
                }
                task.monitor.note(format!(
                    "depth snapshot {}: HTTP {} {}",
                    task.upper,
                    r.status,
                    String::from_utf8_lossy(&r.body)
                        .chars()
                        .take(120)
                        .collect::<String>()
                ));
            }
            Err(e) => {
                Monitor::bump(&task.monitor.c.snapshot_failures);
                task.monitor
                    .note(format!("depth snapshot {}: {e}", task.upper));
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Polls `GET /fapi/v1/openInterest` for every symbol every `every`.
async fn poll_open_interest(
    rest: RestClient,
    budget: Arc<WeightBudget>,
    symbols: Vec<(u16, String)>,
    every: Duration,
    tx: mpsc::Sender<Inbound>,
    monitor: Arc<Monitor>,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (symbol, upper) in &symbols {
            budget.acquire(1).await;
            match rest
                .get(&format!("/fapi/v1/openInterest?symbol={upper}"))
                .await
            {
                Ok(r) => {
                    budget.observe(&r);
                    if r.status == 200 {
                        let recv_ns = realtime_ns();
                        let item = Inbound::OpenInterest {
                            symbol: *symbol,
                            recv_ns,
                            body: r.body,
                        };
                        if tx.send(item).await.is_err() {
                            return;
                        }
                    } else {
                        Monitor::bump(&monitor.c.open_interest_failures);
                        if matches!(r.status, 429 | 418) {
                            Monitor::bump(&monitor.c.rate_limited);
                        }
                    }
                }
                Err(e) => {
                    Monitor::bump(&monitor.c.open_interest_failures);
                    monitor.note(format!("open interest {upper}: {e}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three readers, the middle one ending in the poll: whichever reader the poll starts at,
    /// the last one's item is found in that poll. (Removing the ended reader in place, by
    /// moving the last one into its slot, skipped the last one when the poll started at the
    /// first: it was found only at the next wake-up.)
    #[test]
    fn a_reader_ending_does_not_hide_another_in_the_same_poll() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let _inside = runtime.enter();
        for first in 0..3 {
            let (_tx, inbox) = mpsc::channel(4);
            let (_readers_tx, new_readers) = mpsc::unbounded_channel();
            let mut inlet = Inlet {
                inbox,
                readers: vec![
                    Some(Box::pin(futures_util::stream::pending())),
                    Some(Box::pin(futures_util::stream::empty())),
                    Some(Box::pin(futures_util::stream::iter([Inbound::Tick]))),
                ],
                new_readers,
                first,
                timer: Box::pin(tokio::time::sleep(Duration::from_secs(60))),
            };
            let polled = inlet.poll_next(&mut Context::from_waker(std::task::Waker::noop()));
            let found = match &polled {
                Poll::Ready(Waited::Item(item)) => format!("{item:?}"),
                Poll::Ready(Waited::Closed) => "closed".to_owned(),
                Poll::Ready(Waited::TimedOut) => "timed out".to_owned(),
                Poll::Pending => "pending".to_owned(),
            };
            assert_eq!(found, "Tick", "first {first}");
            // Next poll: both ended readers are dropped, the pending one waits.
            let polled = inlet.poll_next(&mut Context::from_waker(std::task::Waker::noop()));
            assert!(polled.is_pending(), "first {first}");
            assert_eq!(inlet.readers.len(), 1, "first {first}");
        }
    }

    #[test]
    fn streams_are_routed() {
        let mut c = LiveConfig::new(["BTCUSDT", "ethusdt"]);
        c.trades = true;
        assert_eq!(
            c.streams(Route::Public),
            [
                "btcusdt@depth@100ms",
                "btcusdt@bookTicker",
                "btcusdt@trade",
                "ethusdt@depth@100ms",
                "ethusdt@bookTicker",
                "ethusdt@trade"
            ]
        );
        assert_eq!(
            c.streams(Route::Market),
            [
                "btcusdt@aggTrade",
                "btcusdt@markPrice@1s",
                "btcusdt@forceOrder",
                "ethusdt@aggTrade",
                "ethusdt@markPrice@1s",
                "ethusdt@forceOrder"
            ]
        );
        for name in c
            .streams(Route::Public)
            .iter()
            .chain(&c.streams(Route::Market))
        {
            let parsed = crate::streams::StreamName::parse(name).unwrap();
            assert!(c.streams(parsed.kind().route()).contains(name));
        }
        c.depth_speed = "1s".to_owned();
        assert!(LiveSource::start(c.clone()).is_err());
        c.depth_speed = "0ms".to_owned();
        c.snapshot_limit = 3;
        assert!(matches!(LiveSource::start(c), Err(LiveError::Config(_))));
    }
}
