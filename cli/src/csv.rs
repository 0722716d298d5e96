//! CSV layouts of the feature outputs (DESIGN.md section 5.5).
//!
//! Exact values (prices, quantities, sums, notionals) are written as exact decimals; floats use
//! Rust's shortest round-trip form, and `NaN` where a value is undefined, which pandas, Polars
//! and DuckDB all read as a float NaN.

use std::io::{self, Write};

use orderflow_features::{Bar, EventFeatures};

/// `2024-08-08T23:54:16.500Z` from ms since the UNIX epoch (proleptic Gregorian, UTC).
pub(crate) struct IsoTime(pub(crate) i64);

impl std::fmt::Display for IsoTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (days, ms) = (self.0.div_euclid(86_400_000), self.0.rem_euclid(86_400_000));
        let (y, m, d) = civil_from_days(days);
        let (h, min, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
    }
}

/// `YYYY-MM-DD` of the UTC day holding `ms`.
pub(crate) fn utc_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `500ms`, `1s`, `1m`, `1h`, `1d` or `1500ms`: the shortest exact name of a resolution.
pub(crate) fn resolution_label(ms: i64) -> String {
    for (unit_ms, unit) in [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ] {
        if ms % unit_ms == 0 {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{ms}ms")
}

/// Parses `500ms`, `1s`, `1m`, `1h` into ms.
pub(crate) fn parse_resolution(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}`: missing unit (ms, s, m or h)"))?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| format!("`{s}`: not a number"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m or h)")),
    };
    n.checked_mul(unit_ms)
        .filter(|ms| *ms > 0)
        .ok_or_else(|| format!("`{s}`: out of range"))
}

/// Header of the per-event features file.
pub(crate) const FEATURES_HEADER: &str = "symbol,trigger,time_ms,synced,best_bid,best_ask,\
bid_qty_1,ask_qty_1,mid,spread,spread_bps,microprice,l1_imbalance,bid_vol_5,ask_vol_5,\
bid_vol_10,ask_vol_10,bid_vol_20,ask_vol_20,imbalance_5,imbalance_10,imbalance_20,bid_slope,\
ask_slope,microprice_vs_last_bps,last_trade_px,cvd,trade_intensity_1s,trade_intensity_5s,\
trade_intensity_10s,buy_pressure_60s,large_trade,mark_px,index_px,funding_rate,premium\n";

/// One per-event features row.
pub(crate) fn write_features(
    out: &mut impl Write,
    symbol: &str,
    f: &EventFeatures,
) -> io::Result<()> {
    writeln!(
        out,
        "{symbol},{:?},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        f.trigger,
        f.time_ms,
        f.synced,
        f.best_bid,
        f.best_ask,
        f.bid_qty_1,
        f.ask_qty_1,
        f.mid,
        f.spread,
        f.spread_bps,
        f.microprice,
        f.l1_imbalance,
        f.bid_vol_5,
        f.ask_vol_5,
        f.bid_vol_10,
        f.ask_vol_10,
        f.bid_vol_20,
        f.ask_vol_20,
        f.imbalance_5,
        f.imbalance_10,
        f.imbalance_20,
        f.bid_slope,
        f.ask_slope,
        f.microprice_vs_last_bps,
        f.last_trade_px,
        f.cvd,
        f.trade_intensity_1s,
        f.trade_intensity_5s,
        f.trade_intensity_10s,
        f.buy_pressure_60s,
        f.large_trade,
        f.mark_px,
        f.index_px,
        f.funding_rate,
        f.premium,
    )
}

/// Header of a bars file: the seed layout's first columns, then the rest of DESIGN 5.2.
pub(crate) const BARS_HEADER: &str = "timestamp,open,high,low,close,vwap,vol_total,vol_buy,\
vol_sell,vol_delta,trade_count,avg_spread,avg_bid_qty,avg_ask_qty,quote_volume,raw_trade_count,\
taker_buy_volume,taker_buy_quote_volume,cvd,buy_pressure,tw_spread,spread_std,imbalance_5,\
imbalance_10,imbalance_20,bid_slope,ask_slope,large_trade_count,large_trade_volume,\
realized_vol,volume_cv,mark_px,index_px,funding_rate,premium,open_interest,oi_change_pct,\
liq_long_vol,liq_short_vol,book_updates,synced,late_events\n";

/// One bar row.
pub(crate) fn write_bar(out: &mut impl Write, b: &Bar) -> io::Result<()> {
    writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        IsoTime(b.timestamp_ms),
        b.open,
        b.high,
        b.low,
        b.close,
        b.vwap,
        b.vol_total,
        b.vol_buy,
        b.vol_sell,
        b.vol_delta,
        b.trade_count,
        b.avg_spread,
        b.avg_bid_qty,
        b.avg_ask_qty,
        b.quote_volume,
        b.raw_trade_count,
        b.taker_buy_volume,
        b.taker_buy_quote_volume,
        b.cvd,
        b.buy_pressure,
        b.tw_spread,
        b.spread_std,
        b.imbalance_5,
        b.imbalance_10,
        b.imbalance_20,
        b.bid_slope,
        b.ask_slope,
        b.large_trade_count,
        b.large_trade_volume,
        b.realized_vol,
        b.volume_cv,
        b.mark_px,
        b.index_px,
        b.funding_rate,
        b.premium,
        b.open_interest,
        b.oi_change_pct,
        b.liq_long_vol,
        b.liq_short_vol,
        b.book_updates,
        b.synced,
        b.late_events,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_and_dates() {
        assert_eq!(IsoTime(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            IsoTime(1_723_161_256_500).to_string(),
            "2024-08-08T23:54:16.500Z"
        );
        assert_eq!(
            IsoTime(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(utc_date(1_723_161_600_000), "2024-08-09");
        assert_eq!(IsoTime(-1).to_string(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn resolutions_round_trip() {
        for (text, ms) in [
            ("500ms", 500),
            ("1s", 1000),
            ("1m", 60_000),
            ("1h", 3_600_000),
        ] {
            assert_eq!(parse_resolution(text), Ok(ms));
            assert_eq!(resolution_label(ms), text);
        }
        assert_eq!(resolution_label(1500), "1500ms");
        assert!(parse_resolution("5").is_err());
        assert!(parse_resolution("0s").is_err());
        assert!(parse_resolution("1y").is_err());
    }

    #[test]
    fn headers_match_row_widths() {
        let features = EventFeatures::default();
        let mut row = Vec::new();
        write_features(&mut row, "X", &features).unwrap();
        let commas = |s: &[u8]| s.iter().filter(|&&b| b == b',').count();
        assert_eq!(commas(&row), commas(FEATURES_HEADER.as_bytes()));
        let mut row = Vec::new();
        write_bar(&mut row, &Bar::default()).unwrap();
        assert_eq!(commas(&row), commas(BARS_HEADER.as_bytes()));
        assert!(BARS_HEADER.starts_with(
            "timestamp,open,high,low,close,vwap,vol_total,vol_buy,vol_sell,vol_delta,\
             trade_count,avg_spread,avg_bid_qty,avg_ask_qty,"
        ));
    }
}
