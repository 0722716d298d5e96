//! Loads the real recordings in `shared/data/binance-usdm` (see its README) as frames.
//!
//! The line formats are split here by hand, independently of the crate's capture readers.
#![allow(dead_code, reason = "each test binary uses part of this module")]

use std::io::Read;
use std::path::PathBuf;

/// One recorded frame.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    /// Local receive time, ns.
    pub(crate) recv_ns: i64,
    /// The websocket text frame (or REST body).
    pub(crate) json: String,
    /// The symbol a frame without its own belongs to (the file's symbol, or the URL's).
    pub(crate) hint: Option<String>,
}

/// The recordings, or `None` after printing why they are skipped.
pub(crate) struct Recordings {
    /// `btcusdt_20240808.gz`, in file order.
    pub(crate) btcusdt: Vec<Frame>,
    /// `cryptofeed-2021-07-22/BINANCE_FUTURES.ws.1.0`, in file order.
    pub(crate) cryptofeed_ws: Vec<Frame>,
    /// `cryptofeed-2021-07-22/BINANCE_FUTURES.http.0.0`: the REST snapshots.
    pub(crate) cryptofeed_http: Vec<Frame>,
}

impl Recordings {
    /// Every frame of every file.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Frame> {
        self.btcusdt
            .iter()
            .chain(&self.cryptofeed_http)
            .chain(&self.cryptofeed_ws)
    }
}

pub(crate) fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/binance-usdm"
    ))
}

/// The recordings, loaded once per test binary; prints `skipped: <reason>` and returns `None`
/// when they are absent.
pub(crate) fn recordings() -> Option<&'static Recordings> {
    static LOADED: std::sync::OnceLock<Option<Recordings>> = std::sync::OnceLock::new();
    let loaded = LOADED.get_or_init(load).as_ref();
    if loaded.is_none() {
        eprintln!("skipped: no recordings at {}", data_dir().display());
    }
    loaded
}

fn load() -> Option<Recordings> {
    let dir = data_dir();
    if !dir.is_dir() {
        return None;
    }
    let loaded = (|| -> Result<Recordings, String> {
        Ok(Recordings {
            btcusdt: btcusdt(&read_gz(&dir.join("btcusdt_20240808.gz"))?)?,
            cryptofeed_ws: cryptofeed_ws(&read(
                &dir.join("cryptofeed-2021-07-22/BINANCE_FUTURES.ws.1.0"),
            )?)?,
            cryptofeed_http: cryptofeed_http(&read(
                &dir.join("cryptofeed-2021-07-22/BINANCE_FUTURES.http.0.0"),
            )?)?,
        })
    })();
    match loaded {
        Ok(r) => Some(r),
        Err(e) => panic!("recordings present but unreadable: {e}"),
    }
}

fn read(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_gz(path: &std::path::Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text)
}

/// `<local_ns> <json>` lines; the file holds only BTCUSDT.
fn btcusdt(text: &str) -> Result<Vec<Frame>, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (ns, json) = line.split_once(' ').ok_or("no space")?;
            Ok(Frame {
                recv_ns: ns.parse().map_err(|e| format!("{ns}: {e}"))?,
                json: json.to_owned(),
                hint: Some("BTCUSDT".to_owned()),
            })
        })
        .collect()
}

/// Seconds with a fraction (`1626992741.06217`) to ns, exactly.
fn seconds_to_ns(s: &str) -> Result<i64, String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 9 {
        return Err(format!("{s}: sub-ns digits"));
    }
    let int: i64 = int.parse().map_err(|e| format!("{s}: {e}"))?;
    let frac: i64 = format!("{frac:0<9}")
        .parse()
        .map_err(|e| format!("{s}: {e}"))?;
    Ok(int * 1_000_000_000 + frac)
}

/// A URL line, then `<seconds>: <json>` lines.
fn cryptofeed_ws(text: &str) -> Result<Vec<Frame>, String> {
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (ts, json) = line.split_once(": ").ok_or("no `: `")?;
            Ok(Frame {
                recv_ns: seconds_to_ns(ts)?,
                json: json.to_owned(),
                hint: None,
            })
        })
        .collect()
}

/// `<url> -> <seconds>: <json>` lines; the symbol is the URL's `symbol=` parameter.
fn cryptofeed_http(text: &str) -> Result<Vec<Frame>, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (url, rest) = line.split_once(" -> ").ok_or("no ` -> `")?;
            let (ts, json) = rest.split_once(": ").ok_or("no `: `")?;
            let symbol = url
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("symbol="))
                .ok_or("no symbol= in URL")?;
            Ok(Frame {
                recv_ns: seconds_to_ns(ts)?,
                json: json.to_owned(),
                hint: Some(symbol.to_owned()),
            })
        })
        .collect()
}
