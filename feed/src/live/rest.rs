//! A small HTTP/1.1 GET client over tokio (plain TCP or rustls), and the REST weight budget.
//!
//! The engine makes few REST calls (a depth snapshot per resync, an open-interest poll every
//! few seconds), so each request opens its own connection with `Connection: close`: no pool,
//! no keep-alive state machine, and a few dozen lines instead of a client crate. Responses are
//! read until their `Content-Length` or last chunk (or the end of the stream) and capped at
//! [`MAX_BODY`].
//!
//! [`WeightBudget`] keeps the request weight of the last minute (protocol doc section 1.4:
//! 2400 per minute per IP, shared with everything else on the IP) under a configured share, takes
//! the server's `X-MBX-USED-WEIGHT-1M` into account, and stops every request until the
//! server's `Retry-After` on a 429 or 418.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Largest response body accepted (a 1000-level snapshot is about 45 KB).
pub(crate) const MAX_BODY: usize = 8 << 20;

/// A parsed `http(s)://host[:port][/prefix]` or `ws(s)://...` base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path prefix without a trailing slash (usually empty).
    pub(crate) prefix: String,
}

impl Endpoint {
    /// Parses a base URL; `secure`/`plain` are the accepted schemes.
    pub(crate) fn parse(url: &str, plain: &str, secure: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} has no scheme"))?;
        let tls = if scheme.eq_ignore_ascii_case(secure) {
            true
        } else if scheme.eq_ignore_ascii_case(plain) {
            false
        } else {
            return Err(format!("{url:?}: scheme must be {plain} or {secure}"));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.to_owned(),
                p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            ),
            _ => (authority.to_owned(), if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let prefix = path.trim_end_matches('/');
        Ok(Self {
            tls,
            host,
            port,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            },
        })
    }
}

/// An HTTP response.
#[derive(Clone, Debug, Default)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// `X-MBX-USED-WEIGHT-1M`.
    pub(crate) used_weight: Option<u32>,
    /// `Retry-After`, seconds.
    pub(crate) retry_after_s: Option<u64>,
    pub(crate) body: Vec<u8>,
}

/// GETs from one REST endpoint.
#[derive(Clone)]
pub(crate) struct RestClient {
    endpoint: Endpoint,
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    pub(crate) fn new(
        endpoint: Endpoint,
        tls: Option<Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Self {
        Self {
            endpoint,
            tls: tls.map(tokio_rustls::TlsConnector::from),
            timeout,
        }
    }

    /// `GET {prefix}{path_and_query}`.
    pub(crate) async fn get(&self, path_and_query: &str) -> Result<Response, String> {
        match tokio::time::timeout(self.timeout, self.get_inner(path_and_query)).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {:?}", self.timeout)),
        }
    }

    async fn get_inner(&self, path_and_query: &str) -> Result<Response, String> {
        let e = &self.endpoint;
        let tcp = TcpStream::connect((e.host.as_str(), e.port))
            .await
            .map_err(|err| format!("connecting to {}:{}: {err}", e.host, e.port))?;
        let _ = tcp.set_nodelay(true);
        let host_header = if (e.tls && e.port == 443) || (!e.tls && e.port == 80) {
            e.host.clone()
        } else {
            format!("{}:{}", e.host, e.port)
        };
        let request = format!(
            "GET {}{} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: orderflow/{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            e.prefix,
            path_and_query,
            env!("CARGO_PKG_VERSION")
        );
        match &self.tls {
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(e.host.clone())
                    .map_err(|err| format!("bad TLS name {:?}: {err}", e.host))?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|err| format!("TLS handshake with {}: {err}", e.host))?;
                exchange(stream, request.as_bytes()).await
            }
            None => exchange(tcp, request.as_bytes()).await,
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
) -> Result<Response, String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(done) = parse_response(&buf, false)? {
            return Ok(done);
        }
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            // A TLS peer that closes without close_notify: what we have may be complete.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("reading the response: {e}")),
        }
        if buf.len() > MAX_BODY + 64 * 1024 {
            return Err(format!("response larger than {MAX_BODY} bytes"));
        }
    }
    parse_response(&buf, true)?.ok_or_else(|| "connection closed mid-response".to_owned())
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

/// A complete response from `buf`, `None` when more bytes are needed. With `eof`, a body
/// without length runs to the end of `buf`.
pub(crate) fn parse_response(buf: &[u8], eof: bool) -> Result<Option<Response>, String> {
    let Some(head_len) = find(buf, b"\r\n\r\n") else {
        return if eof {
            Err("incomplete response head".to_owned())
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(buf.get(..head_len).unwrap_or_default())
        .map_err(|_| "response head is not UTF-8".to_owned())?;
    let body = buf.get(head_len + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut response = Response {
        status,
        ..Response::default()
    };
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(
                v.parse::<usize>()
                    .map_err(|_| format!("bad content-length {v:?}"))?,
            );
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        } else if k.eq_ignore_ascii_case("x-mbx-used-weight-1m") {
            response.used_weight = v.parse().ok();
        } else if k.eq_ignore_ascii_case("retry-after") {
            response.retry_after_s = v.parse().ok();
        }
    }
    if chunked {
        return match dechunk(body)? {
            Some(b) => {
                response.body = b;
                Ok(Some(response))
            }
            None if eof => Err("connection closed mid-chunk".to_owned()),
            None => Ok(None),
        };
    }
    match length {
        Some(n) if n > MAX_BODY => Err(format!("response larger than {MAX_BODY} bytes")),
        Some(n) if body.len() >= n => {
            response.body = body.get(..n).unwrap_or_default().to_vec();
            Ok(Some(response))
        }
        Some(_) if eof => Err("connection closed before content-length".to_owned()),
        Some(_) => Ok(None),
        None if eof => {
            response.body = body.to_vec();
            Ok(Some(response))
        }
        None => Ok(None),
    }
}

/// Decodes a chunked body; `None` until the last chunk is in.
fn dechunk(mut b: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(b, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(b.get(..eol).unwrap_or_default())
            .map_err(|_| "bad chunk size".to_owned())?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        let rest = b.get(eol + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(Some(out));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(rest.get(..size).unwrap_or_default());
        if out.len() > MAX_BODY {
            return Err(format!("response larger than {MAX_BODY} bytes"));
        }
        b = rest.get(size + 2..).unwrap_or_default();
    }
}

/// The request weight of the last minute, kept under a budget (module docs).
#[derive(Debug)]
pub(crate) struct WeightBudget {
    inner: Mutex<BudgetState>,
    budget: u32,
}

#[derive(Debug)]
struct BudgetState {
    spent: VecDeque<(Instant, u32)>,
    /// No request before this (a 429/418's Retry-After, or the server's count at the budget).
    blocked_until: Option<Instant>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl WeightBudget {
    pub(crate) fn new(budget_per_min: u32) -> Self {
        Self {
            inner: Mutex::new(BudgetState {
                spent: VecDeque::new(),
                blocked_until: None,
            }),
            budget: budget_per_min.max(1),
        }
    }

    /// Waits until `weight` fits in the budget, then spends it.
    pub(crate) async fn acquire(&self, weight: u32) {
        loop {
            let wait = {
                let mut s = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                while s.spent.front().is_some_and(|(t, _)| now - *t >= WINDOW) {
                    s.spent.pop_front();
                }
                let used: u32 = s.spent.iter().map(|(_, w)| w).sum();
                match s.blocked_until {
                    Some(until) if until > now => Some(until - now),
                    _ if used + weight > self.budget => s
                        .spent
                        .front()
                        .map(|(t, _)| WINDOW.saturating_sub(now - *t) + Duration::from_millis(1)),
                    _ => {
                        s.spent.push_back((now, weight));
                        None
                    }
                }
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Takes a response's headers into account: the server's weight count and Retry-After.
    pub(crate) fn observe(&self, response: &Response) {
        let mut s = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let block = if matches!(response.status, 429 | 418) {
            Some(Duration::from_secs(
                response.retry_after_s.unwrap_or(60).max(1),
            ))
        } else if response.used_weight.is_some_and(|u| u >= self.budget) {
            // Binance counts per calendar minute: wait for the next one.
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Some(Duration::from_secs(60 - secs % 60))
        } else {
            None
        };
        if let Some(d) = block {
            let until = now + d;
            s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("https://fapi.binance.com", "http", "https").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port),
            (true, "fapi.binance.com", 443)
        );
        let e = Endpoint::parse("ws://127.0.0.1:9000/x/", "ws", "wss").unwrap();
        assert_eq!((e.tls, e.port, e.prefix.as_str()), (false, 9000, "/x"));
        assert!(Endpoint::parse("ftp://x", "http", "https").is_err());
        assert!(Endpoint::parse("http://:80", "http", "https").is_err());
    }

    #[test]
    fn responses_parse_by_length_chunks_or_eof() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-MBX-USED-WEIGHT-1M: 25\r\n\r\n{}";
        let r = parse_response(r, false).unwrap().unwrap();
        assert_eq!(
            (r.status, r.used_weight, r.body.as_slice()),
            (200, Some(25), &b"{}"[..])
        );
        let partial = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}";
        assert!(parse_response(partial, false).unwrap().is_none());
        assert!(parse_response(partial, true).is_err());
        let chunked =
            b"HTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n";
        let r = parse_response(chunked, false).unwrap().unwrap();
        assert_eq!(
            (r.status, r.retry_after_s, r.body.as_slice()),
            (429, Some(7), &b"abcde"[..])
        );
        let eof = b"HTTP/1.0 200 OK\r\n\r\nbody";
        assert!(parse_response(eof, false).unwrap().is_none());
        assert_eq!(parse_response(eof, true).unwrap().unwrap().body, b"body");
        assert!(parse_response(b"garbage\r\n\r\n", true).is_err());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn budget_waits_for_the_window() {
        let b = WeightBudget::new(40);
        let t0 = Instant::now();
        b.acquire(20).await;
        b.acquire(20).await;
        assert!(t0.elapsed() < Duration::from_secs(1));
        b.acquire(20).await; // must wait for the first to leave the minute
        assert!(t0.elapsed() >= Duration::from_secs(60));
        b.observe(&Response {
            status: 429,
            retry_after_s: Some(5),
            ..Response::default()
        });
        let t1 = Instant::now();
        b.acquire(1).await;
        assert!(t1.elapsed() >= Duration::from_secs(5));
    }
}
