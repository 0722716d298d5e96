//! The mock's tasks: the market hub, one task per websocket connection, one per HTTP request.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::market::{Market, Outbound};
use super::rng::Rng;
use super::{Counters, Faults, Shared, lock};
use crate::streams::{Route, StreamKind, StreamName};

pub(super) struct Run {
    pub(super) ws: std::net::TcpListener,
    pub(super) rest: std::net::TcpListener,
    pub(super) shared: Arc<Shared>,
    pub(super) market: Box<dyn Market>,
    pub(super) step: Duration,
    pub(super) queue: usize,
    pub(super) shutdown: watch::Receiver<bool>,
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

pub(super) async fn run(run: Run) {
    let Run {
        ws,
        rest,
        shared,
        mut market,
        step,
        queue,
        mut shutdown,
    } = run;
    let (Ok(ws), Ok(rest)) = (TcpListener::from_std(ws), TcpListener::from_std(rest)) else {
        return;
    };
    let (btx, _) = broadcast::channel::<Arc<Outbound>>(queue.max(16));

    // The market hub.
    let hub = {
        let (shared, btx, mut shutdown) = (Arc::clone(&shared), btx.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(step.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut out = Vec::new();
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tick.tick() => {
                        market.step(wall_ms(), &mut lock(&shared.state), &mut out);
                        for o in out.drain(..) {
                            let _ = btx.send(Arc::new(o));
                        }
                    }
                }
            }
        })
    };

    let mut session_id = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = ws.accept() => {
                if let Ok((tcp, _)) = accepted {
                    session_id += 1;
                    let _ = tcp.set_nodelay(true);
                    Counters::bump(&shared.counters.connections);
                    tokio::spawn(session(tcp, Arc::clone(&shared), btx.subscribe(), session_id, shutdown.clone()));
                }
            }
            accepted = rest.accept() => {
                if let Ok((tcp, _)) = accepted {
                    tokio::spawn(http(tcp, Arc::clone(&shared)));
                }
            }
        }
    }
    let _ = hub.await;
}

// ---- websocket sessions -------------------------------------------------------------------

#[derive(Debug)]
struct Sub {
    name: String,
    symbol: String,
    kind: Option<StreamKind>,
    /// Subscribed on the path that serves it.
    live: bool,
}

struct Session {
    route: Option<Route>,
    combined: bool,
    subs: Vec<Sub>,
    rng: Rng,
    faults: Faults,
    /// A depth diff held back, with its symbol: it is sent after that symbol's next diff.
    held: Option<(Arc<str>, String)>,
}

impl Session {
    fn subscribe(&mut self, name: &str) {
        if self.subs.iter().any(|s| s.name == name) {
            return;
        }
        let parsed = StreamName::parse(name);
        let kind = parsed.map(|p| p.kind());
        // A legacy (unrouted) connection serves `/public`-class streams only.
        let route = self.route.unwrap_or(Route::Public);
        self.subs.push(Sub {
            name: name.to_owned(),
            symbol: parsed
                .map(|p| p.symbol().to_ascii_lowercase())
                .unwrap_or_default(),
            kind,
            live: kind.is_some_and(|k| k.route() == route && !self.faults.silent.contains(&k)),
        });
    }

    fn unsubscribe(&mut self, name: &str) {
        self.subs.retain(|s| s.name != name);
    }
}

/// `/public/stream?streams=a/b`, `/public/ws/a/b`, `/stream?streams=..` (legacy).
fn parse_path(uri: &str) -> (Option<Route>, bool, Vec<String>) {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut parts = path.trim_start_matches('/').split('/');
    let first = parts.next().unwrap_or("");
    let route = Route::from_path(first);
    let mode = if route.is_some() {
        parts.next().unwrap_or("")
    } else {
        first
    };
    let combined = mode == "stream";
    let mut streams: Vec<String> = Vec::new();
    if combined {
        for kv in query.split('&') {
            if let Some(v) = kv.strip_prefix("streams=") {
                streams.extend(v.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
            }
        }
    } else {
        streams.extend(parts.filter(|s| !s.is_empty()).map(str::to_owned));
    }
    (route, combined, streams)
}

fn jitter(rng: &mut Rng, d: Duration) -> Instant {
    #[allow(clippy::cast_possible_truncation, reason = "test durations")]
    let ms = d.as_millis() as i64;
    Instant::now() + Duration::from_millis(rng.range(ms * 3 / 4, ms * 5 / 4).max(1) as u64)
}

async fn session(
    tcp: TcpStream,
    shared: Arc<Shared>,
    mut rx: broadcast::Receiver<Arc<Outbound>>,
    id: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut uri = String::new();
    #[allow(
        clippy::result_large_err,
        reason = "tungstenite's callback signature; the error is never built"
    )]
    let callback = |req: &Request, resp: Response| {
        uri = req.uri().to_string();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    let (route, combined, streams) = parse_path(&uri);
    let faults = lock(&shared.faults).clone();
    let mut s = Session {
        route,
        combined,
        subs: Vec::new(),
        rng: Rng::new(shared.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        faults,
        held: None,
    };
    for name in &streams {
        s.subscribe(name);
    }
    let (mut tx, mut inbound) = ws.split();
    let c = &shared.counters;
    let connected = Instant::now();
    let mut disconnect_at = s
        .faults
        .disconnect_every
        .map_or_else(far, |d| jitter(&mut s.rng, d));
    let mut stall_at = s
        .faults
        .stall_every
        .map_or_else(far, |d| jitter(&mut s.rng, d));
    let mut age_at = s
        .faults
        .max_connection_age
        .map_or_else(far, |d| connected + d);
    let mut ping_at = s.faults.ping_every.map_or_else(far, |d| connected + d);
    let mut pong_due = far();
    let mut ping_seq = 0u64;
    let (mut window_start, mut window_msgs) = (Instant::now(), 0u32);
    let mut market_open = true;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            msg = inbound.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => Some(t.to_string()),
                    Some(Ok(Message::Pong(_))) => { pong_due = far(); None }
                    Some(Ok(Message::Ping(_) | Message::Binary(_) | Message::Frame(_))) => None,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                if window_start.elapsed() >= Duration::from_secs(1) {
                    window_start = Instant::now();
                    window_msgs = 0;
                }
                window_msgs += 1;
                if window_msgs > 10 {
                    Counters::bump(&c.rate_closes);
                    break;
                }
                if let Some(text) = text {
                    Counters::bump(&c.control_requests);
                    let reply = control(&mut s, &text);
                    if tx.send(Message::text(reply)).await.is_err() {
                        break;
                    }
                }
            }
            r = rx.recv(), if market_open => match r {
                Ok(o) => {
                    if let Ok(f) = shared.faults.try_lock() && *f != s.faults {
                        s.faults.clone_from(&f);
                        // Timers follow the new faults: switched off, they disarm.
                        if s.faults.disconnect_every.is_none() {
                            disconnect_at = far();
                        }
                        if s.faults.stall_every.is_none() {
                            stall_at = far();
                        }
                        if s.faults.max_connection_age.is_none() {
                            age_at = far();
                        }
                        if s.faults.ping_every.is_none() {
                            ping_at = far();
                            pong_due = far();
                        }
                    }
                    if deliver(&mut s, &o, &mut tx, c).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Counters::bump(&c.lagged_closes);
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => market_open = false,
            },
            () = sleep_until(disconnect_at) => {
                // Dropped without a close frame, like a dead link.
                Counters::bump(&c.disconnects);
                break;
            }
            () = sleep_until(stall_at) => {
                Counters::bump(&c.stalls);
                tokio::time::sleep(s.faults.stall_for).await;
                stall_at = s.faults.stall_every.map_or_else(far, |d| jitter(&mut s.rng, d));
            }
            () = sleep_until(age_at) => {
                Counters::bump(&c.age_closes);
                let _ = tx.send(Message::Close(None)).await;
                break;
            }
            () = sleep_until(ping_at) => {
                ping_seq += 1;
                Counters::bump(&c.pings);
                if tx.send(Message::Ping(ping_seq.to_string().into_bytes().into())).await.is_err() {
                    break;
                }
                if pong_due > Instant::now() + Duration::from_secs(86_400) {
                    pong_due = Instant::now() + s.faults.pong_timeout;
                }
                ping_at = s.faults.ping_every.map_or_else(far, |d| Instant::now() + d);
            }
            () = sleep_until(pong_due) => {
                Counters::bump(&c.pong_timeouts);
                let _ = tx.send(Message::Close(None)).await;
                break;
            }
        }
    }
}

type WsTx = futures_util::stream::SplitSink<tokio_tungstenite::WebSocketStream<TcpStream>, Message>;

/// Sends `o` to this connection if it subscribed to it, applying the faults.
async fn deliver(
    s: &mut Session,
    o: &Outbound,
    tx: &mut WsTx,
    c: &Counters,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let Some(sub) = s
        .subs
        .iter()
        .find(|sub| sub.live && sub.kind == Some(o.kind) && *sub.symbol == *o.symbol)
    else {
        return Ok(());
    };
    let text = if s.combined {
        format!(r#"{{"stream":"{}","data":{}}}"#, sub.name, o.payload)
    } else {
        o.payload.clone()
    };
    let depth = o.kind == StreamKind::Depth;
    if depth && s.rng.chance(s.faults.drop_diff_prob) {
        Counters::bump(&c.diffs_dropped);
        return Ok(());
    }
    if s.rng.chance(s.faults.malformed_prob) {
        Counters::bump(&c.malformed);
        let cut = text.len() / 2;
        let bad = text.get(..cut).unwrap_or("{").to_owned();
        return send(tx, bad, c).await;
    }
    if depth && s.held.is_none() && s.rng.chance(s.faults.reorder_prob) {
        Counters::bump(&c.reordered);
        s.held = Some((Arc::clone(&o.symbol), text));
        return Ok(());
    }
    let twice = s.rng.chance(s.faults.duplicate_prob);
    if twice {
        Counters::bump(&c.duplicated);
        send(tx, text.clone(), c).await?;
    }
    send(tx, text, c).await?;
    // Swapping diffs of two different symbols would break no chain: release the held diff
    // only after the next one of its own stream.
    if depth
        && s.held
            .as_ref()
            .is_some_and(|(symbol, _)| *symbol == o.symbol)
        && let Some((_, held)) = s.held.take()
    {
        send(tx, held, c).await?;
    }
    Ok(())
}

async fn send(
    tx: &mut WsTx,
    text: String,
    c: &Counters,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    Counters::bump(&c.frames_sent);
    tx.send(Message::text(text)).await
}

/// Answers a control request (protocol doc section 4.2).
fn control(s: &mut Session, text: &str) -> String {
    let id = text
        .find("\"id\":")
        .map(|i| &text[i + 5..])
        .map(|r| {
            r.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or("")
        })
        .filter(|d| !d.is_empty())
        .unwrap_or("null")
        .to_owned();
    let method = text
        .find("\"method\":\"")
        .map(|i| &text[i + 10..])
        .and_then(|r| r.split('"').next())
        .unwrap_or("");
    let params: Vec<String> = text
        .find("\"params\":[")
        .map(|i| &text[i + 10..])
        .and_then(|r| r.split(']').next())
        .map(|p| {
            p.split(',')
                .map(|x| x.trim().trim_matches('"').to_owned())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    match method {
        "SUBSCRIBE" => {
            for p in &params {
                s.subscribe(p);
            }
            format!(r#"{{"result":null,"id":{id}}}"#)
        }
        "UNSUBSCRIBE" => {
            for p in &params {
                s.unsubscribe(p);
            }
            format!(r#"{{"result":null,"id":{id}}}"#)
        }
        "LIST_SUBSCRIPTIONS" => {
            let names: Vec<String> = s.subs.iter().map(|x| format!("\"{}\"", x.name)).collect();
            format!(r#"{{"result":[{}],"id":{id}}}"#, names.join(","))
        }
        _ => format!(
            r#"{{"error":{{"code":2,"msg":"Invalid request: unknown variant, expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY"}},"id":{id}}}"#
        ),
    }
}

// ---- REST ---------------------------------------------------------------------------------

async fn http(mut tcp: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut chunk)).await;
        let Ok(Ok(n)) = read else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 16 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("")
        .to_owned();
    let (status, body, used, retry) = respond(&target, &shared).await;
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-MBX-USED-WEIGHT-1M: {used}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(r) = retry {
        out.push_str(&format!("Retry-After: {r}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    let _ = tcp.write_all(out.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

fn query<'a>(q: &'a str, key: &str) -> Option<&'a str> {
    q.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Binance's body for a request naming a symbol it does not list.
const INVALID_SYMBOL: &str = r#"{"code":-1121,"msg":"Invalid symbol."}"#;

/// `(status, body, used weight, retry-after seconds)`.
async fn respond(target: &str, shared: &Shared) -> (u16, String, u32, Option<i64>) {
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let weight = match path {
        "/fapi/v1/depth" => match query(q, "limit").unwrap_or("500") {
            "5" | "10" | "20" | "50" => Some(2),
            "100" => Some(5),
            "500" => Some(10),
            "1000" => Some(20),
            _ => None,
        },
        "/fapi/v1/openInterest" | "/fapi/v1/ping" => Some(1),
        _ => return (404, r#"{"code":-1,"msg":"not found"}"#.to_owned(), 0, None),
    };
    let Some(weight) = weight else {
        let limit = query(q, "limit").unwrap_or("");
        return (
            400,
            format!(r#"{{"code":-4021,"msg":"{limit} is not valid depth limit"}}"#),
            0,
            None,
        );
    };
    let now = wall_ms();
    let used = {
        let mut w = lock(&shared.weight);
        if w.0 != now / 60_000 {
            *w = (now / 60_000, 0);
        }
        w.1 += weight;
        w.1
    };
    if used > shared.weight_limit {
        Counters::bump(&shared.counters.rate_limited);
        let retry = 60 - (now / 1_000) % 60;
        return (
            429,
            r#"{"code":-1003,"msg":"Too many requests"}"#.to_owned(),
            used,
            Some(retry),
        );
    }
    let symbol = query(q, "symbol").unwrap_or("");
    match path {
        "/fapi/v1/depth" => {
            let faults = lock(&shared.faults).clone();
            if !faults.snapshot_delay.is_zero() {
                tokio::time::sleep(faults.snapshot_delay).await;
            }
            let (error, stale) = {
                let mut rng = Rng::new(shared.seed ^ now.unsigned_abs() ^ u64::from(used));
                (
                    rng.chance(faults.snapshot_error_prob),
                    rng.chance(faults.stale_snapshot_prob),
                )
            };
            if error {
                Counters::bump(&shared.counters.snapshot_errors);
                return (
                    503,
                    r#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#.to_owned(),
                    used,
                    None,
                );
            }
            let limit = query(q, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(500usize);
            let state = lock(&shared.state);
            match state.slot(symbol) {
                Some(slot) if slot.book.ready => {
                    Counters::bump(&shared.counters.snapshots);
                    if stale {
                        Counters::bump(&shared.counters.stale_snapshots);
                    }
                    (
                        200,
                        slot.snapshot_book(stale).snapshot_json(limit),
                        used,
                        None,
                    )
                }
                Some(_) => (
                    503,
                    r#"{"code":-1001,"msg":"book not ready"}"#.to_owned(),
                    used,
                    None,
                ),
                None => (400, INVALID_SYMBOL.to_owned(), used, None),
            }
        }
        "/fapi/v1/openInterest" => {
            let state = lock(&shared.state);
            match state.slot(symbol) {
                Some(slot) => {
                    Counters::bump(&shared.counters.open_interest);
                    (
                        200,
                        format!(
                            r#"{{"symbol":"{}","openInterest":"{}","time":{}}}"#,
                            slot.upper,
                            orderflow_core::Qty(slot.open_interest),
                            slot.last_time_ms.max(slot.book.time_ms)
                        ),
                        used,
                        None,
                    )
                }
                None => (400, INVALID_SYMBOL.to_owned(), used, None),
            }
        }
        _ => (200, "{}".to_owned(), used, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let (r, c, s) = parse_path("/public/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker");
        assert_eq!((r, c), (Some(Route::Public), true));
        assert_eq!(s, ["btcusdt@depth@100ms", "btcusdt@bookTicker"]);
        let (r, c, s) = parse_path("/market/ws/btcusdt@aggTrade");
        assert_eq!((r, c, s.len()), (Some(Route::Market), false, 1));
        let (r, c, _) = parse_path("/stream?streams=btcusdt@trade");
        assert_eq!((r, c), (None, true));
    }

    #[test]
    fn control_replies() {
        let mut s = Session {
            route: Some(Route::Market),
            combined: true,
            subs: Vec::new(),
            rng: Rng::new(1),
            faults: Faults::default(),
            held: None,
        };
        let r = control(
            &mut s,
            r#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":3}"#,
        );
        assert_eq!(r, r#"{"result":null,"id":3}"#);
        // The depth stream belongs to /public: acknowledged, but silent here.
        assert!(s.subs[0].live && !s.subs[1].live);
        let r = control(&mut s, r#"{"method":"LIST_SUBSCRIPTIONS","id":4}"#);
        assert_eq!(
            r,
            r#"{"result":["btcusdt@aggTrade","btcusdt@depth"],"id":4}"#
        );
        assert!(
            control(&mut s, r#"{"method":"NOPE","id":5}"#).starts_with(r#"{"error":{"code":2"#)
        );
    }
}
