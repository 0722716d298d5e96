//! Bars as Parquet: `DIR/{SYMBOL}/{RES}/{YYYY}/{MM}/{DD}/hour={HH}/data.parquet` (DESIGN.md
//! section 5.5), one file per symbol, resolution and UTC hour, snappy-compressed, one row group.
//!
//! # Columns
//! The CSV bars' columns, in the same order and with the same names ([`csv::BARS_HEADER`]),
//! typed so that pyarrow, Polars and DuckDB read them without conversion:
//!
//! | CSV value | Parquet type | reads as (pyarrow / Polars / DuckDB) |
//! |---|---|---|
//! | `timestamp` (bar open) | `INT64` `TIMESTAMP(MILLIS, isAdjustedToUTC=true)` | `timestamp[ms, tz=UTC]` / `Datetime(ms, UTC)` / `TIMESTAMP WITH TIME ZONE` |
//! | prices, single quantities (`open`..`close`, `mark_px`, `index_px`, `funding_rate`, `open_interest`) | `INT64` `DECIMAL(18, 8)`, optional: null where the CSV says `NaN` (no price yet) | `decimal128(18, 8)` / `Decimal(18, 8)` / `DECIMAL(18,8)` |
//! | quantity sums (`vol_*`, `cvd`, `taker_buy_volume`, `large_trade_volume`, `liq_*_vol`) | `FIXED_LEN_BYTE_ARRAY(16)` `DECIMAL(38, 8)` | `decimal128(38, 8)` / ... |
//! | notionals (`quote_volume`, `taker_buy_quote_volume`) | `FIXED_LEN_BYTE_ARRAY(16)` `DECIMAL(38, 16)` | `decimal128(38, 16)` / ... |
//! | counts | `INT64` | `int64` |
//! | float features | `DOUBLE`, `NaN` where the CSV says `NaN` | `double` |
//! | `synced` | `BOOLEAN` | `bool` |
//!
//! Exact values stay exact: DECIMAL holds the same integer the engine computed (the CSV prints
//! the same number as text), where a DOUBLE would round sums and notionals. Readers that want
//! floats cast (`pl.col(...).cast(pl.Float64)`, `CAST(x AS DOUBLE)`). A price beyond
//! DECIMAL(18, 8) (10^10 or more) would be written as null; none exists.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;

use orderflow_core::{Px, Qty, SymbolId, SymbolTable};
use orderflow_engine::PipelineSink;
use orderflow_features::{Bar, EventFeatures, FeatureSink};
use orderflow_recorder::UtcDay;
use parquet::basic::Compression;
use parquet::data_type::{
    BoolType, ByteArray, DoubleType, FixedLenByteArray, FixedLenByteArrayType, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::csv;
use crate::drive::Driven;

const HOUR_MS: i64 = 3_600_000;

/// How one column is read from a bar and stored.
#[derive(Clone, Copy)]
enum Col {
    /// Bar open time, ms.
    Time(fn(&Bar) -> i64),
    /// A [`Px`] or [`Qty`] raw value ([`i64::MIN`] for undefined): `DECIMAL(18, 8)`, optional.
    Fixed(fn(&Bar) -> i64),
    /// An `i128` sum at 10^-8: `DECIMAL(38, 8)`.
    Sum(fn(&Bar) -> i128),
    /// An `i128` notional at 10^-16: `DECIMAL(38, 16)`.
    Notional(fn(&Bar) -> i128),
    /// A count.
    Count(fn(&Bar) -> u64),
    /// A float.
    Float(fn(&Bar) -> f64),
    /// A flag.
    Flag(fn(&Bar) -> bool),
}

fn px(p: Px) -> i64 {
    p.raw()
}

fn qty(q: Qty) -> i64 {
    q.raw()
}

/// Every column, in the CSV's order (a test checks the names against [`csv::BARS_HEADER`]).
const COLUMNS: &[(&str, Col)] = &[
    ("timestamp", Col::Time(|b| b.timestamp_ms)),
    ("open", Col::Fixed(|b| px(b.open))),
    ("high", Col::Fixed(|b| px(b.high))),
    ("low", Col::Fixed(|b| px(b.low))),
    ("close", Col::Fixed(|b| px(b.close))),
    ("vwap", Col::Float(|b| b.vwap)),
    ("vol_total", Col::Sum(|b| b.vol_total.raw())),
    ("vol_buy", Col::Sum(|b| b.vol_buy.raw())),
    ("vol_sell", Col::Sum(|b| b.vol_sell.raw())),
    ("vol_delta", Col::Sum(|b| b.vol_delta.raw())),
    ("trade_count", Col::Count(|b| b.trade_count)),
    ("avg_spread", Col::Float(|b| b.avg_spread)),
    ("avg_bid_qty", Col::Float(|b| b.avg_bid_qty)),
    ("avg_ask_qty", Col::Float(|b| b.avg_ask_qty)),
    ("quote_volume", Col::Notional(|b| b.quote_volume.raw())),
    ("raw_trade_count", Col::Count(|b| b.raw_trade_count)),
    ("taker_buy_volume", Col::Sum(|b| b.taker_buy_volume.raw())),
    (
        "taker_buy_quote_volume",
        Col::Notional(|b| b.taker_buy_quote_volume.raw()),
    ),
    ("cvd", Col::Sum(|b| b.cvd.raw())),
    ("buy_pressure", Col::Float(|b| b.buy_pressure)),
    ("tw_spread", Col::Float(|b| b.tw_spread)),
    ("spread_std", Col::Float(|b| b.spread_std)),
    ("imbalance_5", Col::Float(|b| b.imbalance_5)),
    ("imbalance_10", Col::Float(|b| b.imbalance_10)),
    ("imbalance_20", Col::Float(|b| b.imbalance_20)),
    ("bid_slope", Col::Float(|b| b.bid_slope)),
    ("ask_slope", Col::Float(|b| b.ask_slope)),
    ("large_trade_count", Col::Count(|b| b.large_trade_count)),
    (
        "large_trade_volume",
        Col::Sum(|b| b.large_trade_volume.raw()),
    ),
    ("realized_vol", Col::Float(|b| b.realized_vol)),
    ("volume_cv", Col::Float(|b| b.volume_cv)),
    ("mark_px", Col::Fixed(|b| px(b.mark_px))),
    ("index_px", Col::Fixed(|b| px(b.index_px))),
    ("funding_rate", Col::Fixed(|b| qty(b.funding_rate))),
    ("premium", Col::Float(|b| b.premium)),
    ("open_interest", Col::Fixed(|b| qty(b.open_interest))),
    ("oi_change_pct", Col::Float(|b| b.oi_change_pct)),
    ("liq_long_vol", Col::Sum(|b| b.liq_long_vol.raw())),
    ("liq_short_vol", Col::Sum(|b| b.liq_short_vol.raw())),
    ("book_updates", Col::Count(|b| b.book_updates)),
    ("synced", Col::Flag(|b| b.synced)),
    ("late_events", Col::Count(|b| b.late_events)),
];

/// Largest magnitude DECIMAL(18, _) holds.
const MAX_DECIMAL_18: i64 = 999_999_999_999_999_999;

/// The Parquet schema of [`COLUMNS`], in Parquet's message syntax.
fn schema_text() -> String {
    let mut out = String::from("message bar {\n");
    for (name, col) in COLUMNS {
        let field = match col {
            Col::Time(_) => "required int64 {} (TIMESTAMP(MILLIS,true))",
            Col::Fixed(_) => "optional int64 {} (DECIMAL(18,8))",
            Col::Sum(_) => "required fixed_len_byte_array(16) {} (DECIMAL(38,8))",
            Col::Notional(_) => "required fixed_len_byte_array(16) {} (DECIMAL(38,16))",
            Col::Count(_) => "required int64 {}",
            Col::Float(_) => "required double {}",
            Col::Flag(_) => "required boolean {}",
        };
        out.push_str("  ");
        out.push_str(&field.replace("{}", name));
        out.push_str(";\n");
    }
    out.push('}');
    out
}

fn parquet_error(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e)
}

/// Writes `bars` (all of one symbol, resolution and hour) to `path` as one row group.
fn write_file(path: &std::path::Path, bars: &[Bar]) -> io::Result<()> {
    let schema = Arc::new(parse_message_type(&schema_text()).map_err(parquet_error)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("orderflow {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let file = BufWriter::new(File::create(path)?);
    let mut writer = SerializedFileWriter::new(file, schema, props).map_err(parquet_error)?;
    let mut group = writer.next_row_group().map_err(parquet_error)?;
    let mut columns = COLUMNS.iter();
    while let Some(mut column) = group.next_column().map_err(parquet_error)? {
        let Some((_, col)) = columns.next() else {
            return Err(io::Error::other(
                "schema has more columns than the bar layout",
            ));
        };
        match *col {
            Col::Time(get) => {
                let values: Vec<i64> = bars.iter().map(get).collect();
                column
                    .typed::<Int64Type>()
                    .write_batch(&values, None, None)
                    .map_err(parquet_error)?;
            }
            Col::Count(get) => {
                let values: Vec<i64> = bars
                    .iter()
                    .map(|b| i64::try_from(get(b)).unwrap_or(i64::MAX))
                    .collect();
                column
                    .typed::<Int64Type>()
                    .write_batch(&values, None, None)
                    .map_err(parquet_error)?;
            }
            Col::Fixed(get) => {
                let raw: Vec<i64> = bars.iter().map(get).collect();
                let defined = |v: &i64| *v != i64::MIN && v.abs() <= MAX_DECIMAL_18;
                let def: Vec<i16> = raw.iter().map(|v| i16::from(defined(v))).collect();
                let values: Vec<i64> = raw.into_iter().filter(defined).collect();
                column
                    .typed::<Int64Type>()
                    .write_batch(&values, Some(&def), None)
                    .map_err(parquet_error)?;
            }
            Col::Sum(get) | Col::Notional(get) => {
                let values: Vec<FixedLenByteArray> = bars
                    .iter()
                    .map(|b| {
                        FixedLenByteArray::from(ByteArray::from(get(b).to_be_bytes().to_vec()))
                    })
                    .collect();
                column
                    .typed::<FixedLenByteArrayType>()
                    .write_batch(&values, None, None)
                    .map_err(parquet_error)?;
            }
            Col::Float(get) => {
                let values: Vec<f64> = bars.iter().map(get).collect();
                column
                    .typed::<DoubleType>()
                    .write_batch(&values, None, None)
                    .map_err(parquet_error)?;
            }
            Col::Flag(get) => {
                let values: Vec<bool> = bars.iter().map(get).collect();
                column
                    .typed::<BoolType>()
                    .write_batch(&values, None, None)
                    .map_err(parquet_error)?;
            }
        }
        column.close().map_err(parquet_error)?;
    }
    group.close().map_err(parquet_error)?;
    writer.close().map_err(parquet_error)?;
    Ok(())
}

/// `--format parquet`: buffers each (symbol, resolution)'s bars of the current UTC hour and
/// writes them as one file when the hour ends (bars arrive in time order per pair).
pub(crate) struct ParquetBarsWriter {
    dir: PathBuf,
    resolutions: Vec<i64>,
    symbols: SymbolTable,
    open: BTreeMap<(SymbolId, i64), (i64, Vec<Bar>)>,
    pub(crate) files: usize,
    pub(crate) rows: u64,
    error: Option<io::Error>,
}

impl ParquetBarsWriter {
    pub(crate) fn new(dir: PathBuf, resolutions: Vec<i64>) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            resolutions,
            symbols: SymbolTable::new(),
            open: BTreeMap::new(),
            files: 0,
            rows: 0,
            error: None,
        })
    }

    /// Writes the hours still buffered; files and rows written, or the first error.
    pub(crate) fn finish(mut self) -> io::Result<(usize, u64)> {
        let open = std::mem::take(&mut self.open);
        for ((symbol, res), (hour, bars)) in open {
            self.flush(symbol, res, hour, &bars)?;
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok((self.files, self.rows)),
        }
    }

    fn flush(&mut self, symbol: SymbolId, res: i64, hour_ms: i64, bars: &[Bar]) -> io::Result<()> {
        if bars.is_empty() {
            return Ok(());
        }
        let (y, m, d) = UtcDay(i32::try_from(hour_ms.div_euclid(86_400_000)).unwrap_or(0)).ymd();
        let folder = self
            .dir
            .join(self.symbols.name(symbol))
            .join(csv::resolution_label(res))
            .join(format!("{y:04}"))
            .join(format!("{m:02}"))
            .join(format!("{d:02}"))
            .join(format!(
                "hour={:02}",
                hour_ms.rem_euclid(86_400_000) / HOUR_MS
            ));
        fs::create_dir_all(&folder)?;
        write_file(&folder.join("data.parquet"), bars)?;
        self.files += 1;
        self.rows += bars.len() as u64;
        Ok(())
    }

    fn add(&mut self, symbol: SymbolId, bar: &Bar) -> io::Result<()> {
        let hour = bar.timestamp_ms - bar.timestamp_ms.rem_euclid(HOUR_MS);
        let key = (symbol, bar.resolution_ms);
        let done = match self.open.get_mut(&key) {
            Some((h, bars)) if *h == hour => {
                bars.push(*bar);
                None
            }
            Some(slot) => Some(std::mem::replace(slot, (hour, vec![*bar]))),
            None => {
                self.open.insert(key, (hour, vec![*bar]));
                None
            }
        };
        if let Some((h, bars)) = done {
            self.flush(symbol, bar.resolution_ms, h, &bars)?;
        }
        Ok(())
    }
}

impl FeatureSink for ParquetBarsWriter {
    fn event_features(&mut self, _: SymbolId, _: &EventFeatures) {}

    fn bar(&mut self, symbol: SymbolId, bar: &Bar) {
        if self.error.is_none()
            && self.resolutions.contains(&bar.resolution_ms)
            && let Err(e) = self.add(symbol, bar)
        {
            self.error = Some(e);
        }
    }
}

impl PipelineSink for ParquetBarsWriter {}

impl Driven for ParquetBarsWriter {
    fn symbols_seen(&mut self, symbols: &SymbolTable) {
        if symbols.len() != self.symbols.len() {
            self.symbols = symbols.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_the_csv_columns_in_order() {
        let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.join(",") + "\n", csv::BARS_HEADER);
        parse_message_type(&schema_text()).unwrap();
    }
}
