//! Binance historical CSVs (data.binance.vision, protocol doc section 6) as events.
//!
//! # Formats
//! | kind | columns | event |
//! |---|---|---|
//! | `aggTrades` | `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker` (spot adds `is_best_match`) | [`AggTrade`] |
//! | `trades` | `id,price,qty,quote_qty,time,is_buyer_maker` (spot adds `is_best_match`) | [`Trade`] |
//! | `bookTicker` | `update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time` | [`BookTicker`] |
//!
//! - **Kind and symbol** come from the file name (`BTCUSDT-aggTrades-2026-09-27.csv`, or the
//!   `.zip` Binance serves, or `.csv.gz`); the symbol can be given instead. Without a name the
//!   kind is recognised from the header or, for files without one, from the shape of the first
//!   row (which fields are `true`/`false`); a name and contents that disagree are an error.
//! - **Header**: present when the first field of line 1 is not a number (section 6.2); then its
//!   leading column names must be the documented ones.
//! - **Time unit**: futures files are in ms, spot files since 2025 in µs. Each time value is
//!   read by its magnitude (below 10^14: ms; below 10^17: µs; else ns) and converted to ns
//!   exactly; the event's `*_ms` fields are that time floored to the ms.
//! - **`is_buyer_maker`**: `true`/`false` in any letter case (older spot files write `True`).
//! - **Receive time**: a historical row has none, so `recv_ns` is the row's exchange time in ns
//!   (the trade time `T` for trades, the transaction time `T` for bookTicker), exactly, µs
//!   included. Every record is a whole venue message (flagged `LAST`); an aggTrade's `E` and
//!   `nq`, absent from the files, are `T` and [`Qty::UNDEF`]; a trade's `E` is `T`.
//!
//! # Order, in bounded memory
//! Archive rows are not always in order: monthly aggTrades files interleave rows (sort by
//! `agg_trade_id`), and bookTicker rows are out of time order (sort by `(transaction_time,
//! update_id)`); section 6.4. Trades sort by `id`. Rows pass through a min-heap of at most
//! `reorder_window` rows: once it is full, each new row pushes out the smallest. Any row that is
//! displaced by fewer than `reorder_window` positions therefore comes out in sorted order, and
//! memory stays at the window (about 150 bytes a row) whatever the file size. A row that arrives
//! after a larger key has already been written (displaced by more than the window) is reported
//! with its line number and skipped, so the log never goes backwards; run again with a larger
//! window.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{self, AtomicU64};

use orderflow_core::{
    AggTrade, Body, BookTicker, Event, Flags, Px, Qty, Side, SymbolId, SymbolName, SymbolTable,
    Trade,
};

use super::archive::{Packing, open_text};
use crate::capture::BadInput;
use crate::error::ImportError;

/// Default size of the reorder window, in rows (about 40 MiB).
pub const DEFAULT_REORDER_WINDOW: usize = 1 << 18;

/// The most fields a supported row has.
const MAX_FIELDS: usize = 8;

/// Which data set a historical CSV holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvKind {
    /// `aggTrades`.
    AggTrades,
    /// `trades` (individual fills).
    Trades,
    /// `bookTicker`.
    BookTicker,
}

impl CsvKind {
    /// The data-type name Binance uses in file names.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::AggTrades => "aggTrades",
            Self::Trades => "trades",
            Self::BookTicker => "bookTicker",
        }
    }

    /// The documented leading header columns.
    const fn header(self) -> &'static [&'static str] {
        match self {
            Self::AggTrades => &[
                "agg_trade_id",
                "price",
                "quantity",
                "first_trade_id",
                "last_trade_id",
                "transact_time",
                "is_buyer_maker",
            ],
            Self::Trades => &["id", "price", "qty", "quote_qty", "time", "is_buyer_maker"],
            Self::BookTicker => &[
                "update_id",
                "best_bid_price",
                "best_bid_qty",
                "best_ask_price",
                "best_ask_qty",
                "transaction_time",
                "event_time",
            ],
        }
    }

    /// Accepted field counts (futures, spot).
    const fn field_counts(self) -> [usize; 2] {
        match self {
            Self::AggTrades => [7, 8],
            Self::Trades => [6, 7],
            Self::BookTicker => [7, 7],
        }
    }
}

/// `(kind, symbol)` from a Binance file name `SYMBOL-KIND-DATE.{csv,zip,csv.gz}`, when the
/// name has that form.
#[must_use]
pub fn kind_from_file_name(path: &Path) -> Option<(CsvKind, Option<SymbolName>)> {
    let name = path.file_name()?.to_str()?;
    let mut parts = name.split('-');
    let symbol = parts.next()?;
    let kind = match parts.next()? {
        "aggTrades" => CsvKind::AggTrades,
        "trades" => CsvKind::Trades,
        "bookTicker" => CsvKind::BookTicker,
        _ => return None,
    };
    Some((kind, SymbolName::new(symbol.as_bytes())))
}

/// Counters of a [`HistoricalCsv`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvStats {
    /// Data rows read (header and blank lines excluded).
    pub rows: u64,
    /// Rows that could not be parsed (reported and skipped).
    pub bad_rows: u64,
    /// Rows displaced by more than the reorder window (reported and skipped).
    pub late_rows: u64,
    /// Rows whose time was in µs or ns rather than ms.
    pub sub_ms_rows: u64,
    /// The file had a header line.
    pub has_header: bool,
}

/// Sort key within a file: `(time ns or 0, id)`.
type SortKey = (i64, u64);

#[derive(Debug)]
struct Pending {
    key: SortKey,
    line: u64,
    event: Event,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.key, self.line).cmp(&(other.key, other.line))
    }
}

/// One historical CSV file, read as events in sorted order (module docs).
pub struct HistoricalCsv {
    path: PathBuf,
    kind: CsvKind,
    symbols: SymbolTable,
    input: Box<dyn BufRead + Send>,
    packing: Packing,
    bytes_read: Arc<AtomicU64>,
    file_len: u64,
    line: Vec<u8>,
    line_no: u64,
    /// The first line, when it was data (read at open to recognise the file).
    first_row: Option<(u64, Vec<u8>)>,
    heap: BinaryHeap<Reverse<Pending>>,
    window: usize,
    last_key: Option<SortKey>,
    eof: bool,
    stats: CsvStats,
}

impl std::fmt::Debug for HistoricalCsv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoricalCsv")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("packing", &self.packing)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl HistoricalCsv {
    /// Opens `path` (plain, `.gz` or Binance `.zip`) and recognises its kind and symbol.
    /// `symbol` overrides the file name's; `reorder_window` is in rows (0 means 1).
    ///
    /// # Errors
    /// [`ImportError::Io`] when the file cannot be read; [`ImportError::Format`] when the kind
    /// or symbol cannot be told, or the name and the contents disagree.
    pub fn open(
        path: &Path,
        symbol: Option<&str>,
        reorder_window: usize,
    ) -> Result<Self, ImportError> {
        let file_len = std::fs::metadata(path)
            .map_err(|e| ImportError::io("reading", path, e))?
            .len();
        let (mut input, bytes_read, packing) =
            open_text(path).map_err(|e| ImportError::io("opening", path, e))?;
        let named = kind_from_file_name(path);
        let symbol = match symbol {
            Some(s) => Some(
                SymbolName::new(s.as_bytes())
                    .ok_or_else(|| ImportError::format(path, format!("invalid symbol `{s}`")))?,
            ),
            None => named.and_then(|(_, s)| s),
        }
        .ok_or_else(|| {
            ImportError::format(
                path,
                "cannot tell the symbol: name the file SYMBOL-KIND-DATE.csv as Binance does, \
                 or give the symbol",
            )
        })?;

        // Find the first non-blank line: a header, or the first data row.
        let mut first = Vec::new();
        let mut line_no = 0;
        loop {
            first.clear();
            let n = input
                .read_until(b'\n', &mut first)
                .map_err(|e| ImportError::io("reading", path, e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            trim_eol(&mut first);
            if !first.is_empty() {
                break;
            }
        }
        let mut stats = CsvStats::default();
        let mut first_row = None;
        let kind = if first.is_empty() {
            // An empty file: nothing to read, any kind will do.
            named.map_or(CsvKind::AggTrades, |(k, _)| k)
        } else {
            let (fields, n) = split(&first);
            let is_header = fields
                .first()
                .is_none_or(|f| !f.first().is_some_and(u8::is_ascii_digit));
            let found = if is_header {
                stats.has_header = true;
                kind_of_header(&fields[..n])
            } else {
                first_row = Some((line_no, first.clone()));
                kind_of_row(&fields[..n])
            };
            match (named.map(|(k, _)| k), found) {
                (Some(a), Some(b)) if a != b => {
                    return Err(ImportError::format(
                        path,
                        format!(
                            "the name says {} but the contents are {}",
                            a.name(),
                            b.name()
                        ),
                    ));
                }
                (_, Some(k)) => k,
                (Some(_), None) if is_header => {
                    return Err(ImportError::format(
                        path,
                        format!("unknown header `{}`", String::from_utf8_lossy(&first)),
                    ));
                }
                (Some(k), None) => k,
                (None, None) => {
                    return Err(ImportError::format(
                        path,
                        "not a Binance aggTrades, trades or bookTicker CSV",
                    ));
                }
            }
        };
        let mut symbols = SymbolTable::new();
        symbols
            .intern(symbol.as_str().as_bytes())
            .map_err(|_| ImportError::TooManySymbols)?;
        let window = reorder_window.max(1);
        Ok(Self {
            path: path.to_path_buf(),
            kind,
            symbols,
            input,
            packing,
            bytes_read,
            file_len,
            line: Vec::with_capacity(256),
            line_no,
            first_row,
            heap: BinaryHeap::with_capacity(window.min(1 << 16)),
            window,
            last_key: None,
            eof: false,
            stats,
        })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds.
    #[must_use]
    pub fn kind(&self) -> CsvKind {
        self.kind
    }

    /// The file's one symbol, id 0.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> CsvStats {
        self.stats
    }

    /// Size of the file on disk, bytes.
    #[must_use]
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Bytes of the file read so far (compressed bytes for `.gz`/`.zip`), shared so another
    /// thread can show progress.
    #[must_use]
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes_read)
    }

    /// Bytes of the file read so far.
    #[must_use]
    pub fn bytes_read_now(&self) -> u64 {
        self.bytes_read.load(atomic::Ordering::Relaxed)
    }

    /// The next event in sorted order, `None` at the end.
    ///
    /// # Errors
    /// A bad or late row, with its line number; calling again continues after it.
    pub fn next_event(&mut self) -> Option<Result<Event, BadInput>> {
        loop {
            if !self.eof && self.heap.len() < self.window {
                match self.read_row() {
                    None => self.eof = true,
                    Some(Err(bad)) => return Some(Err(bad)),
                    Some(Ok(pending)) => {
                        if self.last_key.is_some_and(|last| pending.key < last) {
                            self.stats.late_rows += 1;
                            return Some(Err(self.bad(
                                pending.line,
                                format!(
                                    "row out of order by more than the reorder window of {} \
                                     rows: skipped (import again with a larger window)",
                                    self.window
                                ),
                            )));
                        }
                        self.heap.push(Reverse(pending));
                    }
                }
                continue;
            }
            let Reverse(next) = self.heap.pop()?;
            self.last_key = Some(next.key);
            return Some(Ok(next.event));
        }
    }

    fn bad(&self, line: u64, reason: String) -> BadInput {
        BadInput {
            path: self.path.clone(),
            line,
            reason,
        }
    }

    /// The next data row parsed, `None` at the end of the file.
    fn read_row(&mut self) -> Option<Result<Pending, BadInput>> {
        let (line_no, parsed) = if let Some((line_no, row)) = self.first_row.take() {
            (line_no, parse_row(self.kind, &row))
        } else {
            loop {
                self.line.clear();
                match self.input.read_until(b'\n', &mut self.line) {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) => {
                        self.stats.bad_rows += 1;
                        self.eof = true;
                        return Some(Err(self.bad(self.line_no + 1, format!("read error: {e}"))));
                    }
                }
                self.line_no += 1;
                trim_eol(&mut self.line);
                if !self.line.is_empty() {
                    break;
                }
            }
            (self.line_no, parse_row(self.kind, &self.line))
        };
        self.stats.rows += 1;
        match parsed {
            Ok((key, event, sub_ms)) => {
                self.stats.sub_ms_rows += u64::from(sub_ms);
                Some(Ok(Pending {
                    key,
                    line: line_no,
                    event,
                }))
            }
            Err(reason) => {
                self.stats.bad_rows += 1;
                Some(Err(self.bad(line_no, reason)))
            }
        }
    }
}

fn trim_eol(line: &mut Vec<u8>) {
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
}

/// Splits a row at commas: the first [`MAX_FIELDS`] + 1 fields and how many there are (capped
/// at `MAX_FIELDS + 1`, so a too-long row is seen as such).
fn split(row: &[u8]) -> ([&[u8]; MAX_FIELDS + 1], usize) {
    let mut fields: [&[u8]; MAX_FIELDS + 1] = [&[]; MAX_FIELDS + 1];
    let mut n = 0;
    for (slot, field) in fields.iter_mut().zip(row.split(|&b| b == b',')) {
        *slot = field;
        n += 1;
    }
    (fields, n)
}

fn kind_of_header(fields: &[&[u8]]) -> Option<CsvKind> {
    [CsvKind::AggTrades, CsvKind::Trades, CsvKind::BookTicker]
        .into_iter()
        .find(|kind| {
            let header = kind.header();
            fields.len() >= header.len()
                && header
                    .iter()
                    .zip(fields)
                    .all(|(want, got)| got.trim_ascii().eq_ignore_ascii_case(want.as_bytes()))
        })
}

fn is_bool(field: &[u8]) -> bool {
    parse_bool(field).is_some()
}

fn is_number(field: &[u8]) -> bool {
    !field.is_empty()
        && field
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-'))
}

/// Recognises a header-less file from its first row's shape.
fn kind_of_row(f: &[&[u8]]) -> Option<CsvKind> {
    let numeric =
        |r: std::ops::Range<usize>| f.get(r).is_some_and(|s| s.iter().all(|x| is_number(x)));
    let boolean = |i: usize| f.get(i).is_some_and(|x| is_bool(x));
    match f.len() {
        7 if numeric(0..6) && boolean(6) => Some(CsvKind::AggTrades),
        8 if numeric(0..6) && boolean(6) && boolean(7) => Some(CsvKind::AggTrades),
        6 if numeric(0..5) && boolean(5) => Some(CsvKind::Trades),
        7 if numeric(0..5) && boolean(5) && boolean(6) => Some(CsvKind::Trades),
        7 if numeric(0..7) => Some(CsvKind::BookTicker),
        _ => None,
    }
}

fn parse_bool(field: &[u8]) -> Option<bool> {
    if field.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if field.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

fn parse_u64(field: &[u8], what: &str) -> Result<u64, String> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "{what}: `{}` is not an unsigned integer",
            String::from_utf8_lossy(field)
        ));
    }
    field
        .iter()
        .try_fold(0u64, |acc, &b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
        .ok_or_else(|| {
            format!(
                "{what}: `{}` is out of range",
                String::from_utf8_lossy(field)
            )
        })
}

/// A timestamp in ms, µs or ns (by magnitude) as ns; `true` when it was finer than ms.
fn parse_time_ns(field: &[u8], what: &str) -> Result<(i64, bool), String> {
    let v = parse_u64(field, what)?;
    let out_of_range = || {
        format!(
            "{what}: `{}` is out of range",
            String::from_utf8_lossy(field)
        )
    };
    let v = i64::try_from(v).map_err(|_| out_of_range())?;
    if v < 100_000_000_000_000 {
        Ok((v.checked_mul(1_000_000).ok_or_else(out_of_range)?, false))
    } else if v < 100_000_000_000_000_000 {
        Ok((v.checked_mul(1_000).ok_or_else(out_of_range)?, true))
    } else {
        Ok((v, true))
    }
}

fn parse_px(field: &[u8], what: &str) -> Result<Px, String> {
    Px::parse_bytes(field).map_err(|e| format!("{what}: `{}`: {e}", String::from_utf8_lossy(field)))
}

fn parse_qty(field: &[u8], what: &str) -> Result<Qty, String> {
    Qty::parse_bytes(field)
        .map_err(|e| format!("{what}: `{}`: {e}", String::from_utf8_lossy(field)))
}

fn parse_side(field: &[u8]) -> Result<Side, String> {
    parse_bool(field)
        .map(Side::from_buyer_is_maker)
        .ok_or_else(|| {
            format!(
                "is_buyer_maker: `{}` is not true or false",
                String::from_utf8_lossy(field)
            )
        })
}

/// One data row as `(sort key, event, finer than ms)`.
fn parse_row(kind: CsvKind, row: &[u8]) -> Result<(SortKey, Event, bool), String> {
    let (f, n) = split(row);
    if !kind.field_counts().contains(&n) {
        let [a, b] = kind.field_counts();
        let expected = if a == b {
            a.to_string()
        } else {
            format!("{a} or {b}")
        };
        return Err(format!(
            "{} fields, a {} row has {expected}",
            if n > MAX_FIELDS {
                format!("more than {MAX_FIELDS}")
            } else {
                n.to_string()
            },
            kind.name()
        ));
    }
    let ms = |ns: i64| ns.div_euclid(1_000_000);
    let single =
        |recv_ns: i64, body: Body| Event::new(recv_ns, SymbolId(0), body).with_flags(Flags::LAST);
    match kind {
        CsvKind::AggTrades => {
            let id = parse_u64(f[0], "agg_trade_id")?;
            let (t, fine) = parse_time_ns(f[5], "transact_time")?;
            let trade = AggTrade {
                agg_trade_id: id,
                px: parse_px(f[1], "price")?,
                qty: parse_qty(f[2], "quantity")?,
                first_trade_id: parse_u64(f[3], "first_trade_id")?,
                last_trade_id: parse_u64(f[4], "last_trade_id")?,
                normal_qty: Qty::UNDEF,
                transact_time_ms: ms(t),
                event_time_ms: ms(t),
                aggressor: parse_side(f[6])?,
                _reserved: [0; 7],
            };
            if n == 8 && !is_bool(f[7]) {
                return Err("is_best_match: not true or false".to_owned());
            }
            Ok(((0, id), single(t, Body::AggTrade(trade)), fine))
        }
        CsvKind::Trades => {
            let id = parse_u64(f[0], "id")?;
            let (t, fine) = parse_time_ns(f[4], "time")?;
            let trade = Trade {
                trade_id: id,
                px: parse_px(f[1], "price")?,
                qty: parse_qty(f[2], "qty")?,
                transact_time_ms: ms(t),
                event_time_ms: ms(t),
                aggressor: parse_side(f[5])?,
                _reserved: [0; 7],
            };
            if n == 7 && !is_bool(f[6]) {
                return Err("is_best_match: not true or false".to_owned());
            }
            Ok(((0, id), single(t, Body::Trade(trade)), fine))
        }
        CsvKind::BookTicker => {
            let id = parse_u64(f[0], "update_id")?;
            let (t, fine_t) = parse_time_ns(f[5], "transaction_time")?;
            let (e, fine_e) = parse_time_ns(f[6], "event_time")?;
            let ticker = BookTicker {
                update_id: id,
                bid_px: parse_px(f[1], "best_bid_price")?,
                bid_qty: parse_qty(f[2], "best_bid_qty")?,
                ask_px: parse_px(f[3], "best_ask_price")?,
                ask_qty: parse_qty(f[4], "best_ask_qty")?,
                transact_time_ms: ms(t),
                event_time_ms: ms(e),
            };
            Ok((
                (t, id),
                single(t, Body::BookTicker(ticker)),
                fine_t || fine_e,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn drain(csv: &mut HistoricalCsv) -> (Vec<Event>, Vec<BadInput>) {
        let (mut events, mut bad) = (Vec::new(), Vec::new());
        while let Some(next) = csv.next_event() {
            match next {
                Ok(e) => events.push(e),
                Err(b) => bad.push(b),
            }
        }
        (events, bad)
    }

    #[test]
    fn futures_agg_trades_with_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "BTCUSDT-aggTrades-2026-09-27.csv",
            "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n\
             3462281904,84551.0,0.347,8112039311,8112039316,1790526538981,true\n\
             3462281905,84551.1,0.002,8112039317,8112039317,1790526538990,false\n",
        );
        let mut csv = HistoricalCsv::open(&path, None, 16).unwrap();
        assert_eq!(csv.kind(), CsvKind::AggTrades);
        assert_eq!(csv.symbols().name(SymbolId(0)), "BTCUSDT");
        let (events, bad) = drain(&mut csv);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(events.len(), 2);
        let Body::AggTrade(t) = events[0].body else {
            panic!("{events:?}")
        };
        assert_eq!(t.agg_trade_id, 3_462_281_904);
        assert_eq!(t.px, "84551.0".parse().unwrap());
        assert_eq!(t.qty, "0.347".parse().unwrap());
        assert_eq!(
            (t.first_trade_id, t.last_trade_id),
            (8_112_039_311, 8_112_039_316)
        );
        assert_eq!(t.transact_time_ms, 1_790_526_538_981);
        assert_eq!(t.aggressor, Side::Sell);
        assert_eq!(events[0].recv_ns, 1_790_526_538_981_000_000);
        assert!(events[0].is_last());
        assert!(csv.stats().has_header);
    }

    #[test]
    fn spot_agg_trades_without_header_in_microseconds() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "BTCUSDT-aggTrades-2025-01-01.csv",
            "3,93576.0,0.00135,4,4,1735689600123456,True,True\n\
             2,93576.01,0.5,2,3,1735689600000999,False,True\n",
        );
        let mut csv = HistoricalCsv::open(&path, None, 16).unwrap();
        let (events, bad) = drain(&mut csv);
        assert!(bad.is_empty(), "{bad:?}");
        // Sorted by id; µs kept exactly in recv_ns, floored to ms in the record.
        assert_eq!(events[0].recv_ns, 1_735_689_600_000_999_000);
        assert_eq!(events[1].recv_ns, 1_735_689_600_123_456_000);
        let Body::AggTrade(t) = events[1].body else {
            panic!()
        };
        assert_eq!(t.transact_time_ms, 1_735_689_600_123);
        assert_eq!(t.aggressor, Side::Sell);
        assert_eq!(csv.stats().sub_ms_rows, 2);
        assert!(!csv.stats().has_header);
    }

    #[test]
    fn book_ticker_sorted_by_time_then_id_and_kind_sniffed() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "ticker.csv",
            "12,70512.3,3.214,70512.4,6.883,1711324800125,1711324800131\r\n\
             11,70512.3,3.1,70512.4,6.883,1711324800125,1711324800130\r\n\
             10,70512.2,1,70512.4,6.883,1711324800120,1711324800129\r\n",
        );
        let mut csv = HistoricalCsv::open(&path, Some("btcusdt"), 16).unwrap();
        assert_eq!(csv.kind(), CsvKind::BookTicker);
        let (events, bad) = drain(&mut csv);
        assert!(bad.is_empty());
        let ids: Vec<u64> = events
            .iter()
            .map(|e| match e.body {
                Body::BookTicker(t) => t.update_id,
                _ => 0,
            })
            .collect();
        assert_eq!(ids, [10, 11, 12]);
        let Body::BookTicker(t) = events[2].body else {
            panic!()
        };
        assert_eq!(
            (t.transact_time_ms, t.event_time_ms),
            (1_711_324_800_125, 1_711_324_800_131)
        );
    }

    #[test]
    fn bad_rows_are_named_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "ETHUSDT-trades-2026-09-27.csv",
            "id,price,qty,quote_qty,time,is_buyer_maker\n\
             1,2000.5,0.1,200.05,1790526538981,true\n\
             2,2000.5,x,200.05,1790526538981,true\n\
             3,2000.5,0.1,200.05,1790526538981,maybe\n\
             4,2000.5,0.1\n\
             5,2000.123456789,0.1,1,1790526538981,false\n\
             \n\
             6,2000.5,0.1,200.05,1790526538982,false\n",
        );
        let mut csv = HistoricalCsv::open(&path, None, 16).unwrap();
        let (events, bad) = drain(&mut csv);
        assert_eq!(events.len(), 2);
        let lines: Vec<u64> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5, 6]);
        assert!(bad[0].to_string().contains("qty"), "{}", bad[0]);
        assert_eq!(csv.stats().bad_rows, 4);
    }

    #[test]
    fn rows_beyond_the_window_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for id in [5u64, 6, 7, 8, 1, 9] {
            text += &format!("{id},1.0,1.0,{id},{id},1790526538981,true\n");
        }
        let path = write(dir.path(), "X-aggTrades-2026-09-27.csv", &text);
        // A window of 4: row 1 arrives after 5 was written.
        let mut csv = HistoricalCsv::open(&path, None, 4).unwrap();
        let (events, bad) = drain(&mut csv);
        assert_eq!(events.len(), 5);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 5);
        assert_eq!(csv.stats().late_rows, 1);
        // A window of 5 sorts it.
        let mut csv = HistoricalCsv::open(&path, None, 5).unwrap();
        let (events, bad) = drain(&mut csv);
        assert!(bad.is_empty());
        assert_eq!(events.len(), 6);
    }

    #[test]
    fn names_and_contents_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "BTCUSDT-bookTicker-2024-03-25.csv",
            "1,84551.0,0.347,8112039311,8112039316,1790526538981,true\n",
        );
        let err = HistoricalCsv::open(&path, None, 4).unwrap_err();
        assert!(err.to_string().contains("bookTicker"), "{err}");
        let path = write(dir.path(), "data.csv", "1,2,3\n");
        assert!(HistoricalCsv::open(&path, Some("BTCUSDT"), 4).is_err());
        let path = write(dir.path(), "nosymbol.csv", "1,2,3\n");
        assert!(HistoricalCsv::open(&path, None, 4).is_err());
    }

    #[test]
    fn empty_file_has_no_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "BTCUSDT-aggTrades-2026-09-27.csv", "");
        let mut csv = HistoricalCsv::open(&path, None, 4).unwrap();
        assert!(csv.next_event().is_none());
    }
}
