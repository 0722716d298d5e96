//! One task per routed path: connect, hand each connection's reader to the source, reconnect with
//! backoff, rotate before 24 h.
//!
//! A route task owns the connection(s) of its path. Each connection has a reader: a stream of
//! its text frames, each stamped with `CLOCK_REALTIME` right after the read. The route task
//! hands the reader to the source, which polls it for the next frame only when the feed thread
//! asks for one (when the feed thread falls behind, nothing is read and TCP pushes back;
//! nothing is dropped), and learns through a oneshot why it ended. Pings are answered by
//! tungstenite while the reader polls the socket. A connection that delivers nothing for
//! [`LiveConfig::stall_timeout`] is taken for dead.
//!
//! Reconnects wait an exponential backoff with full jitter (`rand(0, min(max, base * 2^n))`,
//! at least `base`), reset once a connection has lived a minute. Before the server's 24 h cut
//! ([`LiveConfig::max_connection_age`]) a second connection is opened and subscribed; both run
//! side by side for [`LiveConfig::rotation_overlap`] while the source drops the frames the
//! second copy delivers (by id, see `mod.rs`), then the old one is closed: nothing is missed.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep, sleep, sleep_until};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::LiveConfig;
use super::monitor::Monitor;
use crate::streams::Route;

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection's reader, as the route task hands it to the source to poll: the connection's
/// frames, stamped as they are read (see [`reader`]).
pub(crate) type Reader = Pin<Box<dyn Stream<Item = Inbound> + Send>>;

/// What the readers (frames) and the source's tasks (the rest) hand the source.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A text frame, stamped right after the read.
    Frame {
        route: Route,
        recv_ns: i64,
        text: tokio_tungstenite::tungstenite::Utf8Bytes,
    },
    /// Connection `conn` of `route` is open and subscribed.
    Connected { route: Route, conn: u32 },
    /// Connection `conn` of `route` is gone (the reason went to the monitor).
    Disconnected { route: Route, conn: u32 },
    /// Two connections of `route` are live (`true`) or one again (`false`).
    Overlap { route: Route, active: bool },
    /// A REST depth snapshot body for symbol index `symbol`.
    Snapshot {
        symbol: u16,
        recv_ns: i64,
        body: Vec<u8>,
    },
    /// A REST open-interest body for symbol index `symbol`.
    OpenInterest {
        symbol: u16,
        recv_ns: i64,
        body: Vec<u8>,
    },
    /// A periodic tick (timers, watchdog, capture flush).
    Tick,
}

/// Asks a route task to act.
#[derive(Debug)]
pub(crate) enum Control {
    /// Drop the current connection and connect again (the watchdog found a silent stream).
    Reconnect(String),
}

pub(crate) fn realtime_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Exponential backoff with full jitter.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    state: u64,
}

impl Backoff {
    pub(crate) fn new(base: Duration, max: Duration, seed: u64) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
            state: seed | 1,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay: uniform in `[base, min(max, base * 2^attempt)]`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let span = cap.saturating_sub(self.base).as_micros() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.state % (span + 1)
        };
        self.base + Duration::from_micros(jitter)
    }
}

/// The URL of a combined-stream connection carrying `streams`.
pub(crate) fn stream_url(config: &LiveConfig, route: Route, streams: &[String]) -> String {
    format!(
        "{}/{}/stream?streams={}",
        config.ws_url.trim_end_matches('/'),
        route.path(),
        streams.join("/")
    )
}

/// Streams put in the URL; the rest are subscribed with `SUBSCRIBE` messages (URLs stay short).
const URL_STREAMS: usize = 50;
/// Streams per `SUBSCRIBE` message.
const SUBSCRIBE_BATCH: usize = 100;
/// Spacing of `SUBSCRIBE` messages: 4 per second, under Binance's 10 messages per second.
const SUBSCRIBE_SPACING: Duration = Duration::from_millis(250);

async fn connect(
    config: &LiveConfig,
    tls: &Option<Arc<rustls::ClientConfig>>,
    route: Route,
    streams: &[String],
) -> Result<Ws, String> {
    let (in_url, rest) = streams.split_at(streams.len().min(URL_STREAMS));
    let url = stream_url(config, route, in_url);
    let mut ws_config = WebSocketConfig::default();
    ws_config.max_message_size = Some(16 << 20);
    ws_config.max_frame_size = Some(16 << 20);
    let connector = tls.as_ref().map(|c| Connector::Rustls(Arc::clone(c)));
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        Some(ws_config),
        true,
        connector,
    );
    let (mut ws, _) = tokio::time::timeout(config.connect_timeout, connecting)
        .await
        .map_err(|_| format!("connecting to {url}: timed out"))?
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    for (i, batch) in rest.chunks(SUBSCRIBE_BATCH).enumerate() {
        if i > 0 {
            sleep(SUBSCRIBE_SPACING).await;
        }
        let params: Vec<String> = batch.iter().map(|s| format!("\"{s}\"")).collect();
        let msg = format!(
            r#"{{"method":"SUBSCRIBE","params":[{}],"id":{}}}"#,
            params.join(","),
            i + 1
        );
        ws.send(Message::text(msg))
            .await
            .map_err(|e| format!("subscribing on {url}: {e}"))?;
    }
    Ok(ws)
}

/// What a reader needs between two frames.
struct ReaderState {
    ws: Ws,
    route: Route,
    stall_timeout: Duration,
    /// Fires `stall_timeout` after it was last set, which is not after every message: see
    /// [`next_frame`].
    stall: Pin<Box<Sleep>>,
    /// When the last message (of any kind) was read.
    last_message: Instant,
    close: oneshot::Receiver<()>,
    ended: oneshot::Sender<String>,
}

/// The text frames of `ws`, each stamped right after its read. When the connection ends
/// (closed through `close`, by the server, silent for `stall_timeout`, or failed) the reason
/// goes to `ended` and the stream ends.
fn reader(
    ws: Ws,
    route: Route,
    stall_timeout: Duration,
    close: oneshot::Receiver<()>,
    ended: oneshot::Sender<String>,
) -> Reader {
    let state = ReaderState {
        ws,
        route,
        stall_timeout,
        stall: Box::pin(sleep(stall_timeout)),
        last_message: Instant::now(),
        close,
        ended,
    };
    Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            match next_frame(&mut state).await {
                Ok(frame) => Some((frame, state)),
                Err(reason) => {
                    let _ = state.ended.send(reason);
                    None
                }
            }
        },
    ))
}

/// The next text frame of a reader's connection, or why the connection ended.
///
/// The stall timer is not set again after every message, which would register and cancel a
/// timer per frame: when it fires, a connection that read something since it was set gets the
/// rest of its `stall_timeout` from that message.
async fn next_frame(s: &mut ReaderState) -> Result<Inbound, String> {
    loop {
        tokio::select! {
            biased;
            _ = &mut s.close => {
                let _ = tokio::time::timeout(Duration::from_secs(1), s.ws.close(None)).await;
                return Err("closed by us".to_owned());
            }
            next = s.ws.next() => {
                let recv_ns = realtime_ns();
                s.last_message = Instant::now();
                let msg = match next {
                    None => return Err("connection closed".to_owned()),
                    Some(Err(e)) => return Err(format!("read error: {e}")),
                    Some(Ok(msg)) => msg,
                };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Binary(b) => match tokio_tungstenite::tungstenite::Utf8Bytes::try_from(b) {
                        Ok(t) => t,
                        Err(_) => continue,
                    },
                    // tungstenite queues the pong and flushes it on this same read loop.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                    Message::Close(frame) => {
                        return Err(match frame {
                            Some(f) => format!("close frame {} {}", f.code, f.reason),
                            None => "close frame".to_owned(),
                        });
                    }
                };
                return Ok(Inbound::Frame { route: s.route, recv_ns, text });
            }
            () = &mut s.stall => {
                let deadline = s.last_message + s.stall_timeout;
                if Instant::now() >= deadline {
                    return Err(format!("no frame for {:?}", s.stall_timeout));
                }
                s.stall.as_mut().reset(deadline);
            }
        }
    }
}

struct Live {
    conn: u32,
    started: Instant,
    close: Option<oneshot::Sender<()>>,
    /// Why the reader ended; closed without a value if the source dropped it.
    ended: oneshot::Receiver<String>,
}

impl Live {
    fn close(&mut self) {
        if let Some(c) = self.close.take() {
            let _ = c.send(());
        }
    }

    /// The reader has ended (its reason, if any, is dropped).
    fn is_finished(&mut self) -> bool {
        !matches!(
            self.ended.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )
    }
}

/// The arguments of [`run_route`].
pub(crate) struct RouteTask {
    pub(crate) route: Route,
    pub(crate) streams: Vec<String>,
    pub(crate) config: Arc<LiveConfig>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) tx: mpsc::Sender<Inbound>,
    /// Where the readers go: the source polls them.
    pub(crate) readers: mpsc::UnboundedSender<Reader>,
    pub(crate) control: mpsc::Receiver<Control>,
    pub(crate) monitor: Arc<Monitor>,
    pub(crate) seed: u64,
}

/// Keeps one connection of a route alive (module docs).
pub(crate) async fn run_route(task: RouteTask) {
    let RouteTask {
        route,
        streams,
        config,
        tls,
        tx,
        readers,
        mut control,
        monitor,
        seed,
    } = task;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max, seed);
    let mut next_conn = 0u32;
    let mut current: Option<Live> = None;
    let spawn_reader = |ws: Ws, conn: u32| {
        let (close_tx, close_rx) = oneshot::channel();
        let (ended_tx, ended) = oneshot::channel();
        // A source that is gone drops the reader, and `ended` closes.
        let _ = readers.send(reader(ws, route, config.stall_timeout, close_rx, ended_tx));
        Live {
            conn,
            started: Instant::now(),
            close: Some(close_tx),
            ended,
        }
    };
    loop {
        let Some(live) = current.as_mut() else {
            match connect(&config, &tls, route, &streams).await {
                Ok(ws) => {
                    next_conn += 1;
                    monitor.connected(route);
                    if tx
                        .send(Inbound::Connected {
                            route,
                            conn: next_conn,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    current = Some(spawn_reader(ws, next_conn));
                }
                Err(e) => {
                    monitor.connect_failed(&e);
                    let d = backoff.next_delay();
                    tokio::select! {
                        () = sleep(d) => {}
                        c = control.recv() => if c.is_none() { return },
                    }
                }
            }
            continue;
        };
        let rotate_at = live.started + config.max_connection_age;
        tokio::select! {
            ended = &mut live.ended => {
                let reason = ended.unwrap_or_else(|_| "reader dropped by the source".to_owned());
                let conn = live.conn;
                let lived = live.started.elapsed();
                current = None;
                monitor.disconnected(route, &reason);
                if tx.send(Inbound::Disconnected { route, conn }).await.is_err() {
                    return;
                }
                if lived >= Duration::from_secs(60) {
                    backoff.reset();
                }
                sleep(backoff.next_delay()).await;
            }
            c = control.recv() => match c {
                None => return,
                Some(Control::Reconnect(reason)) => {
                    live.close();
                    let conn = live.conn;
                    let _ = tokio::time::timeout(Duration::from_secs(2), &mut live.ended).await;
                    current = None;
                    monitor.disconnected(route, &reason);
                    if tx.send(Inbound::Disconnected { route, conn }).await.is_err() {
                        return;
                    }
                }
            },
            () = sleep_until(rotate_at) => {
                // Proactive rotation: open the next connection beside this one.
                let Ok(ws) = connect(&config, &tls, route, &streams).await else {
                    // Try again shortly; the old connection still serves.
                    live.started += Duration::from_secs(5).min(config.max_connection_age);
                    continue;
                };
                next_conn += 1;
                monitor.connected(route);
                monitor.rotation();
                let mut next = spawn_reader(ws, next_conn);
                let sends = [
                    Inbound::Overlap { route, active: true },
                    Inbound::Connected { route, conn: next_conn },
                ];
                for s in sends {
                    if tx.send(s).await.is_err() {
                        return;
                    }
                }
                let old_conn = live.conn;
                tokio::select! {
                    () = sleep(config.rotation_overlap) => {}
                    _ = &mut live.ended => {}
                    _ = &mut next.ended => {}
                }
                live.close();
                if !live.is_finished() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), &mut live.ended).await;
                }
                let mut sends = vec![
                    Inbound::Disconnected { route, conn: old_conn },
                    Inbound::Overlap { route, active: false },
                ];
                monitor.disconnected(route, "rotated");
                if next.is_finished() {
                    monitor.disconnected(route, "new connection ended during the overlap");
                    sends.push(Inbound::Disconnected { route, conn: next.conn });
                    current = None;
                } else {
                    current = Some(next);
                }
                for s in sends {
                    if tx.send(s).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 42);
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let cap = Duration::from_millis(100 * (1 << i.min(20))).min(Duration::from_secs(5));
            assert!(*d >= Duration::from_millis(100) && *d <= cap, "{i}: {d:?}");
        }
        assert!(delays[8..].iter().any(|d| *d > Duration::from_secs(1)));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
