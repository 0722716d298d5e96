//! A mock Binance USD-M exchange on loopback, for tests, the demo and the latency bench
//! (feature `mock`).
//!
//! [`MockExchange::start`] binds two ephemeral ports on 127.0.0.1 and serves, from one thread
//! running a tokio current-thread runtime:
//! - **websockets** speaking the market-stream protocol of the protocol doc (sections 1, 2 and 4):
//!   the routed paths `/public` and `/market`, combined mode (`/<route>/stream?streams=a/b`,
//!   frames wrapped as `{"stream":..,"data":..}`) and raw mode (`/<route>/ws/a/b`); `SUBSCRIBE`,
//!   `UNSUBSCRIBE` and `LIST_SUBSCRIPTIONS` with their replies; a stream subscribed on the wrong
//!   path is acknowledged and then silent, as on Binance; more than 10 client messages in a
//!   second close the connection; server pings that must be answered with a pong.
//! - **REST** (a minimal HTTP/1.1 GET handler): `GET /fapi/v1/depth?symbol=&limit=` (limits 5,
//!   10, 20, 50, 100, 500, 1000 with Binance's weights and its `-4021` error otherwise, the
//!   `X-MBX-USED-WEIGHT-1M` header, 429 past the per-minute weight limit) and
//!   `GET /fapi/v1/openInterest?symbol=`.
//!
//! The market is either a seeded simulation ([`SimConfig`]: a random-walk book with level
//! changes, cancels and new levels near the touch, market orders that eat the touch and print
//! trades and aggTrades, 1 s mark prices with funding, occasional liquidations; update ids that
//! skip like Binance's, `pu` chains, bookTickers between diffs) or a raw capture re-timed
//! ([`MarketSpec::Capture`]), whose books the mock rebuilds from the capture's own snapshot.
//!
//! Faults ([`Faults`], changeable while running with [`MockExchange::set_faults`]) are drawn
//! per connection from the seed: dropped, duplicated, reordered and malformed frames,
//! disconnects, stalls, the server's connection-age cut, unanswered pings, and slow, stale or
//! failing snapshots.
//!
//! With [`MockConfig::keep_reference`] the mock keeps, for every depth diff it produced, a hash
//! of its own book after that diff ([`book_hash`]): tests compare the client's book with it at
//! the same update id ([`MockExchange::reference_hash`]).
//!
//! ```no_run
//! use orderflow_feed::mock::{MockConfig, MockExchange};
//!
//! let mock = MockExchange::start(MockConfig::default())?;
//! println!("ws {} rest {}", mock.ws_url(), mock.rest_url());
//! # Ok::<(), orderflow_feed::mock::MockError>(())
//! ```

mod market;
mod rng;
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

pub use market::{Pace, REFERENCE_LEVELS, book_hash};

use market::MarketState;

/// Why the mock exchange could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// Binding a port, reading a capture or starting the thread failed.
    #[error("mock exchange: {0}")]
    Io(#[from] std::io::Error),
}

/// The seeded simulated market.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Symbols served (upper or lower case). `BTCUSDT` and `ETHUSDT` get their real ticks.
    pub symbols: Vec<String>,
    /// Seed of the market and of the fault draws.
    pub seed: u64,
    /// Levels per side at the start (the book stays within twice that).
    pub levels: usize,
    /// Book events per second per symbol (changes, new levels, cancels, market orders).
    pub ops_per_sec: f64,
    /// Diff depth batching, ms (Binance's `@depth@100ms` is 100; 0 sends one diff per step).
    pub diff_interval_ms: i64,
    /// Share of book events that are market orders (trades).
    pub trade_share: f64,
    /// Chance per second of a liquidation (`forceOrder`).
    pub liquidation_prob: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            symbols: vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()],
            seed: 7,
            levels: 100,
            ops_per_sec: 400.0,
            diff_interval_ms: 100,
            trade_share: 0.12,
            liquidation_prob: 0.2,
        }
    }
}

/// What the mock serves.
#[derive(Clone, Debug, PartialEq)]
pub enum MarketSpec {
    /// The simulated market.
    Sim(SimConfig),
    /// Raw capture files (`<local_ns> <json>` or cryptofeed's, with their http snapshot files),
    /// paced as given. The capture's exchange times are kept; its snapshot builds the mock's
    /// book and is not sent as a frame.
    Capture {
        /// The files.
        paths: Vec<PathBuf>,
        /// How to re-time them.
        pace: Pace,
    },
}

/// Faults injected by the mock; all off by default. Probabilities are per frame (or per
/// snapshot request) and drawn per connection from the seed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Chance a depth diff is not sent (the client sees a `pu` gap).
    pub drop_diff_prob: f64,
    /// Chance a frame is sent twice.
    pub duplicate_prob: f64,
    /// Chance a depth diff is held back and sent after the next diff of the same symbol.
    pub reorder_prob: f64,
    /// Chance a frame is replaced by a truncated, unparsable copy.
    pub malformed_prob: f64,
    /// Each connection is dropped (TCP closed, no close frame) after about this long
    /// (±25 %).
    pub disconnect_every: Option<Duration>,
    /// Each connection stops sending for [`Faults::stall_for`] after about this long, and then
    /// again after as long.
    pub stall_every: Option<Duration>,
    /// Length of a stall.
    pub stall_for: Duration,
    /// The server pings every this long and closes the connection when no pong arrives within
    /// [`Faults::pong_timeout`].
    pub ping_every: Option<Duration>,
    /// See [`Faults::ping_every`].
    pub pong_timeout: Duration,
    /// The server closes each connection (with a close frame) at this age: Binance's 24 h cut.
    pub max_connection_age: Option<Duration>,
    /// Every REST snapshot answer waits this long.
    pub snapshot_delay: Duration,
    /// Chance a snapshot is one to two seconds old.
    pub stale_snapshot_prob: f64,
    /// Chance a snapshot request fails with HTTP 503.
    pub snapshot_error_prob: f64,
    /// Stream kinds acknowledged but never sent on connections opened while this is set, as
    /// Binance does for a stream subscribed on the wrong routed path.
    pub silent: Vec<crate::streams::StreamKind>,
}

/// Mock exchange settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MockConfig {
    /// The market.
    pub market: MarketSpec,
    /// Faults at start (see [`MockExchange::set_faults`]).
    pub faults: Faults,
    /// Keep a reference book hash after every diff ([`MockExchange::reference_hash`]).
    pub keep_reference: bool,
    /// How often the market advances.
    pub step: Duration,
    /// Messages a connection may fall behind before the mock drops it (a slow consumer).
    pub queue: usize,
    /// REST request weight allowed per minute (Binance: 2400).
    pub weight_limit_per_min: u32,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            market: MarketSpec::Sim(SimConfig::default()),
            faults: Faults::default(),
            keep_reference: false,
            step: Duration::from_millis(5),
            queue: 1 << 16,
            weight_limit_per_min: 2_400,
        }
    }
}

/// What the mock did, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockStats {
    /// Websocket connections accepted.
    pub connections: u64,
    /// Market frames sent (duplicates included).
    pub frames_sent: u64,
    /// Depth diffs dropped by the fault injector.
    pub diffs_dropped: u64,
    /// Frames sent twice.
    pub duplicated: u64,
    /// Depth diffs sent after the next diff of their own symbol.
    pub reordered: u64,
    /// Frames replaced by a malformed copy.
    pub malformed: u64,
    /// Connections dropped by [`Faults::disconnect_every`].
    pub disconnects: u64,
    /// Stalls begun.
    pub stalls: u64,
    /// Pings sent.
    pub pings: u64,
    /// Connections closed because no pong came in time.
    pub pong_timeouts: u64,
    /// Connections closed at [`Faults::max_connection_age`].
    pub age_closes: u64,
    /// Connections closed because they fell [`MockConfig::queue`] messages behind.
    pub lagged_closes: u64,
    /// Connections closed for sending more than 10 messages in a second.
    pub rate_closes: u64,
    /// Control requests (`SUBSCRIBE`...) answered.
    pub control_requests: u64,
    /// Depth snapshots served (stale ones included).
    pub snapshots: u64,
    /// Stale snapshots served.
    pub stale_snapshots: u64,
    /// Snapshot requests failed on purpose (503).
    pub snapshot_errors: u64,
    /// Requests refused with 429 (weight limit).
    pub rate_limited: u64,
    /// Open interest answers.
    pub open_interest: u64,
}

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        #[derive(Debug, Default)]
        struct Counters { $($name: AtomicU64,)* }
        impl Counters {
            fn get(&self) -> MockStats {
                MockStats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters!(
    connections,
    frames_sent,
    diffs_dropped,
    duplicated,
    reordered,
    malformed,
    disconnects,
    stalls,
    pings,
    pong_timeouts,
    age_closes,
    lagged_closes,
    rate_closes,
    control_requests,
    snapshots,
    stale_snapshots,
    snapshot_errors,
    rate_limited,
    open_interest,
);

impl Counters {
    fn bump(counter: &AtomicU64) {
        // Relaxed: plain statistics, read after the fact.
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// State shared between the mock's tasks and its handle.
#[derive(Debug)]
struct Shared {
    state: Mutex<MarketState>,
    faults: Mutex<Faults>,
    counters: Counters,
    seed: u64,
    weight_limit: u32,
    /// REST weight used: (minute since the epoch, weight in it).
    weight: Mutex<(i64, u32)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running mock exchange; dropping it stops the server thread.
#[derive(Debug)]
pub struct MockExchange {
    ws_addr: SocketAddr,
    rest_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl MockExchange {
    /// Binds 127.0.0.1 ports and starts serving on a new thread.
    ///
    /// # Errors
    /// [`MockError::Io`] when a port cannot be bound, a capture cannot be opened, or the
    /// thread cannot start.
    pub fn start(config: MockConfig) -> Result<Self, MockError> {
        let ws = std::net::TcpListener::bind("127.0.0.1:0")?;
        let rest = std::net::TcpListener::bind("127.0.0.1:0")?;
        ws.set_nonblocking(true)?;
        rest.set_nonblocking(true)?;
        let (ws_addr, rest_addr) = (ws.local_addr()?, rest.local_addr()?);
        let mut state = MarketState::new(config.keep_reference);
        let (market, seed): (Box<dyn market::Market>, u64) = match &config.market {
            MarketSpec::Sim(sim) => (Box::new(market::SimMarket::new(sim, &mut state)), sim.seed),
            MarketSpec::Capture { paths, pace } => {
                (Box::new(market::CaptureMarket::open(paths, *pace)?), 7)
            }
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(config.faults.clone()),
            counters: Counters::default(),
            seed,
            weight_limit: config.weight_limit_per_min,
            weight: Mutex::new((0, 0)),
        });
        let (tx, rx) = tokio::sync::watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared_ = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("orderflow-mock".to_owned())
            .spawn(move || {
                runtime.block_on(server::run(server::Run {
                    ws,
                    rest,
                    shared: shared_,
                    market,
                    step: config.step,
                    queue: config.queue,
                    shutdown: rx,
                }));
            })?;
        Ok(Self {
            ws_addr,
            rest_addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The websocket base URL (`ws://127.0.0.1:PORT`), for `--ws-url`.
    #[must_use]
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    /// The REST base URL (`http://127.0.0.1:PORT`), for `--rest-url`.
    #[must_use]
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr)
    }

    /// Replaces the faults; connections pick the change up at their next frame.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// The faults in force.
    #[must_use]
    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).clone()
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> MockStats {
        self.shared.counters.get()
    }

    /// Upper-case names of the symbols the market holds (a capture adds them as they appear).
    #[must_use]
    pub fn symbols(&self) -> Vec<String> {
        lock(&self.shared.state)
            .symbols
            .iter()
            .map(|s| s.upper.clone())
            .collect()
    }

    /// `false` once a capture market is exhausted (a simulation runs until stopped).
    #[must_use]
    pub fn is_running(&self) -> bool {
        lock(&self.shared.state).running
    }

    /// The reference hash of `symbol`'s book right after the diff with final update id `u`
    /// ([`book_hash`] over the mock's book), when [`MockConfig::keep_reference`] is on.
    #[must_use]
    pub fn reference_hash(&self, symbol: &str, u: u64) -> Option<u64> {
        let state = lock(&self.shared.state);
        let lower: Arc<str> = Arc::from(symbol.to_ascii_lowercase());
        state.reference.as_ref()?.get(&(lower, u)).copied()
    }

    /// Every `(u, hash)` kept for `symbol`, in id order.
    #[must_use]
    pub fn reference(&self, symbol: &str) -> Vec<(u64, u64)> {
        let state = lock(&self.shared.state);
        let lower = symbol.to_ascii_lowercase();
        let mut v: Vec<(u64, u64)> = state
            .reference
            .as_ref()
            .map(|r: &HashMap<(Arc<str>, u64), u64>| {
                r.iter()
                    .filter(|((s, _), _)| **s == *lower)
                    .map(|((_, u), h)| (*u, *h))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MockExchange {
    fn drop(&mut self) {
        self.stop();
    }
}
