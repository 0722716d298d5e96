//! Real frames for benches: the BTCUSDT recording and the cryptofeed capture described in
//! `shared/data/README.md`, read with plain line splitting, or embedded samples when the data
//! folder is absent.

use std::io::Read;
use std::path::PathBuf;

/// One recorded frame.
#[derive(Clone, Debug)]
pub struct RecordedFrame {
    /// Local receive time, ns since the UNIX epoch.
    pub recv_ns: i64,
    /// The frame's JSON text.
    pub json: Vec<u8>,
    /// The symbol a frame without its own belongs to (a bare REST snapshot's file symbol).
    pub hint: Option<&'static str>,
}

/// `shared/data/binance-usdm`, relative to the workspace.
#[must_use]
pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/binance-usdm"
    ))
}

/// Every frame of `btcusdt_20240808.gz` (`<local_ns> <json>` lines).
///
/// # Errors
/// A message naming the file when it is absent or unreadable.
pub fn btcusdt() -> Result<Vec<RecordedFrame>, String> {
    let path = data_dir().join("btcusdt_20240808.gz");
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (ns, json) = line.split_once(' ').ok_or("line without a space")?;
            Ok(RecordedFrame {
                recv_ns: ns.parse().map_err(|e| format!("{ns}: {e}"))?,
                json: json.as_bytes().to_vec(),
                hint: Some("BTCUSDT"),
            })
        })
        .collect()
}

/// Every frame of the cryptofeed websocket capture (a URL line, then `<seconds>: <json>`).
///
/// # Errors
/// A message naming the file when it is absent or unreadable.
pub fn cryptofeed_ws() -> Result<Vec<RecordedFrame>, String> {
    let path = data_dir().join("cryptofeed-2021-07-22/BINANCE_FUTURES.ws.1.0");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (ts, json) = line.split_once(": ").ok_or("line without `: `")?;
            let (int, frac) = ts.split_once('.').unwrap_or((ts, ""));
            let secs: i64 = int.parse().map_err(|e| format!("{ts}: {e}"))?;
            let nanos: i64 = format!("{:0<9.9}", frac)
                .parse()
                .map_err(|e| format!("{ts}: {e}"))?;
            Ok(RecordedFrame {
                recv_ns: secs * 1_000_000_000 + nanos,
                json: json.as_bytes().to_vec(),
                hint: None,
            })
        })
        .collect()
}

/// One frame per hot message type.
#[derive(Clone, Debug)]
pub struct Samples {
    /// A BTCUSDT `depthUpdate` with 20 levels, as close to 570 bytes as the recording has
    /// (593 bytes).
    pub depth: Vec<u8>,
    /// A BTCUSDT `trade`.
    pub trade: Vec<u8>,
    /// A BTCUSDT `bookTicker`.
    pub book_ticker: Vec<u8>,
    /// An `aggTrade` from the cryptofeed capture.
    pub agg_trade: Vec<u8>,
    /// `"recordings"` or `"embedded"`.
    pub source: &'static str,
}

/// The 20-level BTCUSDT diff the recording gives (593 bytes), used when it is absent.
pub const EMBEDDED_DEPTH: &str = r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161264818,"T":1723161264818,"s":"BTCUSDT","U":5123108433427,"u":5123108436093,"pu":5123108433366,"b":[["5000.00","2.301"],["60457.70","2.457"],["61614.70","0.016"],["61754.30","0.002"],["61769.00","0.008"],["61771.40","0.910"],["61771.80","0.083"],["61790.50","0.006"],["61800.10","0.185"]],"a":[["61812.50","0.649"],["61812.60","0.402"],["61858.00","0.195"],["61860.20","0.030"],["61883.60","0.089"],["61926.10","0.000"],["61939.30","0.023"],["61988.70","0.032"],["62401.10","5.932"],["63232.30","0.000"],["63779.70","0.783"]]}}"#;
/// A BTCUSDT trade from the recording.
pub const EMBEDDED_TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}"#;
/// A BTCUSDT bookTicker from the recording.
pub const EMBEDDED_BOOK_TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}"#;
/// An aggTrade from the cryptofeed capture.
pub const EMBEDDED_AGG_TRADE: &str = r#"{"stream":"sushiusdt@aggTrade","data":{"e":"aggTrade","E":1626992741080,"a":88262163,"s":"SUSHIUSDT","p":"7.6110","q":"4","f":174116455,"l":174116455,"T":1626992741031,"m":true}}"#;

/// Number of `[px, qty]` levels in a depth frame's text.
fn level_count(json: &[u8]) -> usize {
    json.windows(2).filter(|w| w == b"[\"").count()
}

fn first(frames: &[RecordedFrame], needle: &str) -> Option<Vec<u8>> {
    frames
        .iter()
        .find(|f| f.json.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|f| f.json.clone())
}

impl Samples {
    /// Samples from the recordings, or the embedded frames (with the reason printed) when
    /// they cannot be read.
    #[must_use]
    pub fn load() -> Self {
        match Self::from_recordings() {
            Ok(s) => s,
            Err(reason) => {
                eprintln!("using embedded frames: {reason}");
                Self::embedded()
            }
        }
    }

    /// The embedded frames.
    #[must_use]
    pub fn embedded() -> Self {
        Self {
            depth: EMBEDDED_DEPTH.as_bytes().to_vec(),
            trade: EMBEDDED_TRADE.as_bytes().to_vec(),
            book_ticker: EMBEDDED_BOOK_TICKER.as_bytes().to_vec(),
            agg_trade: EMBEDDED_AGG_TRADE.as_bytes().to_vec(),
            source: "embedded",
        }
    }

    fn from_recordings() -> Result<Self, String> {
        let btc = btcusdt()?;
        let cf = cryptofeed_ws()?;
        let depth = btc
            .iter()
            .filter(|f| f.json.starts_with(br#"{"stream":"btcusdt@depth"#))
            .filter(|f| level_count(&f.json) == 20)
            .min_by_key(|f| f.json.len().abs_diff(570))
            .map(|f| f.json.clone())
            .ok_or("no 20-level depthUpdate")?;
        Ok(Self {
            depth,
            trade: first(&btc, r#""e":"trade""#).ok_or("no trade")?,
            book_ticker: first(&btc, r#""e":"bookTicker""#).ok_or("no bookTicker")?,
            agg_trade: first(&cf, r#""e":"aggTrade""#).ok_or("no aggTrade")?,
            source: "recordings",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_depth_has_20_levels() {
        assert_eq!(level_count(EMBEDDED_DEPTH.as_bytes()), 20);
    }

    #[test]
    fn embedded_frames_take_the_fast_path() {
        let s = Samples::embedded();
        let mut parser = orderflow_feed::FrameParser::new();
        let mut out = Vec::new();
        for frame in [&s.depth, &s.trade, &s.book_ticker, &s.agg_trade] {
            assert!(parser.parse(0, frame, None, &mut out).is_ok());
        }
        assert_eq!(parser.counters().fast_path, 4);
        assert_eq!(out.len(), 21 + 3);
    }
}
