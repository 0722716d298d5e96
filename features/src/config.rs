//! [`FeatureConfig`]: bar resolutions, trade source, timer grace and window bucket widths.

use thiserror::Error;

/// The bar grid unit: every resolution is a multiple of it, and late events are judged
/// against the open period of this grid (DESIGN.md section 5.2).
pub const BASE_PERIOD_MS: i64 = 100;

/// Most bar resolutions one [`crate::SymbolFeatures`] keeps.
pub const MAX_BAR_RESOLUTIONS: usize = 8;

/// Longest bar resolution accepted: one week.
pub const MAX_BAR_RESOLUTION_MS: i64 = 7 * 86_400_000;

/// Trailing window of [`crate::EventFeatures::buy_pressure_60s`], ms.
pub const BUY_PRESSURE_WINDOW_MS: i64 = 60_000;

/// Trailing window of the mean trade quantity behind [`crate::EventFeatures::large_trade`], ms.
pub const LARGE_TRADE_WINDOW_MS: i64 = 900_000;

/// Which trade stream feeds the trade features, so a symbol subscribed to both `aggTrade` and
/// `trade` is not counted twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TradeSource {
    /// The first trade-type message seen for the symbol (aggTrade or trade) fixes the source;
    /// deterministic in replay because it depends only on the event order.
    #[default]
    Auto,
    /// Only `aggTrade` messages.
    AggTrade,
    /// Only individual `trade` messages.
    Trade,
}

/// Settings of [`crate::SymbolFeatures`]; every value is checked by [`FeatureConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureConfig {
    /// Bar resolutions, ms: each a positive multiple of [`BASE_PERIOD_MS`], at most
    /// [`MAX_BAR_RESOLUTION_MS`], no duplicates, at most [`MAX_BAR_RESOLUTIONS`] of them (any
    /// order; bars closing at the same instant are emitted shortest first). Empty disables bars.
    ///
    /// Default `[500, 1_000, 60_000, 3_600_000]`: the 1 h bar is the merge of the same 100 ms
    /// periods its 1 min bars hold, so it equals a bar derived from its 60 one-minute bars, with
    /// `realized_vol` from the 1 min closes and `volume_cv` from the 60 one-minute volumes.
    pub bar_resolutions_ms: Vec<i64>,
    /// Which trade stream feeds the trade features.
    pub trade_source: TradeSource,
    /// A `Timer` at `now_ms` closes the bars ending at or before `now_ms - timer_grace_ms`
    /// (DESIGN.md section 5.3), so late messages of the last moments still land in their bar.
    /// Must be `>= 0`. Default 1000.
    pub timer_grace_ms: i64,
    /// Bucket width of the 60 s buy-pressure window, ms: must divide 60 000. The window holds
    /// the `60_000 / width` most recent buckets aligned to UTC, so it spans between
    /// `60_000 - width + 1` and `60_000` ms; 1 makes it exact (at 24 bytes per bucket of
    /// ring: 1.4 MiB). Default 10: 6 000 buckets, 141 KiB.
    pub buy_pressure_bucket_ms: i64,
    /// Bucket width of the 15 min window of the large-trade mean, ms: must divide 900 000.
    /// As for `buy_pressure_bucket_ms`. Default 100: 9 000 buckets, 211 KiB.
    pub large_trade_bucket_ms: i64,
    /// A clock jump longer than this does not emit every bar of the gap: the bar grid restarts
    /// at the new time and [`crate::FeatureCounters::grid_restarts`] counts it. A guard against
    /// a corrupt timestamp turning into billions of bars; a week by default, so real outages
    /// are still gap-filled bar by bar (DESIGN.md section 5.4). Must be `>= 0`.
    pub max_gap_fill_ms: i64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            bar_resolutions_ms: vec![500, 1_000, 60_000, 3_600_000],
            trade_source: TradeSource::Auto,
            timer_grace_ms: 1_000,
            buy_pressure_bucket_ms: 10,
            large_trade_bucket_ms: 100,
            max_gap_fill_ms: 7 * 86_400_000,
        }
    }
}

/// Why a [`FeatureConfig`] was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A bar resolution is not a positive multiple of 100 ms or exceeds a week.
    #[error("bar resolution {0} ms is not a positive multiple of 100 ms of at most a week")]
    BadResolution(i64),
    /// The same bar resolution appears twice.
    #[error("bar resolution {0} ms is listed twice")]
    DuplicateResolution(i64),
    /// More than [`MAX_BAR_RESOLUTIONS`] resolutions.
    #[error("{0} bar resolutions, at most {MAX_BAR_RESOLUTIONS} supported")]
    TooManyResolutions(usize),
    /// A window bucket width does not divide its window.
    #[error("bucket width {width_ms} ms does not divide the {window_ms} ms window")]
    BadBucket {
        /// The configured width.
        width_ms: i64,
        /// The window it must divide.
        window_ms: i64,
    },
    /// A negative timer grace or gap-fill limit.
    #[error("negative duration {0} ms")]
    NegativeDuration(i64),
}

impl FeatureConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let res = &self.bar_resolutions_ms;
        if res.len() > MAX_BAR_RESOLUTIONS {
            return Err(ConfigError::TooManyResolutions(res.len()));
        }
        for (i, &r) in res.iter().enumerate() {
            if r <= 0 || r % BASE_PERIOD_MS != 0 || r > MAX_BAR_RESOLUTION_MS {
                return Err(ConfigError::BadResolution(r));
            }
            if res[..i].contains(&r) {
                return Err(ConfigError::DuplicateResolution(r));
            }
        }
        for (width_ms, window_ms) in [
            (self.buy_pressure_bucket_ms, BUY_PRESSURE_WINDOW_MS),
            (self.large_trade_bucket_ms, LARGE_TRADE_WINDOW_MS),
        ] {
            if width_ms <= 0 || window_ms % width_ms != 0 {
                return Err(ConfigError::BadBucket {
                    width_ms,
                    window_ms,
                });
            }
        }
        for d in [self.timer_grace_ms, self.max_gap_fill_ms] {
            if d < 0 {
                return Err(ConfigError::NegativeDuration(d));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(FeatureConfig::default().validate(), Ok(()));
    }

    #[test]
    fn rejects_bad_settings() {
        let with_res = |r: Vec<i64>| FeatureConfig {
            bar_resolutions_ms: r,
            ..FeatureConfig::default()
        };
        assert_eq!(with_res(vec![]).validate(), Ok(()));
        assert_eq!(
            with_res(vec![250]).validate(),
            Err(ConfigError::BadResolution(250))
        );
        assert_eq!(
            with_res(vec![0]).validate(),
            Err(ConfigError::BadResolution(0))
        );
        assert_eq!(
            with_res(vec![1000, 1000]).validate(),
            Err(ConfigError::DuplicateResolution(1000))
        );
        assert_eq!(
            with_res((1..=9).map(|i| i * 100).collect()).validate(),
            Err(ConfigError::TooManyResolutions(9))
        );
        let bad_bucket = FeatureConfig {
            buy_pressure_bucket_ms: 7,
            ..FeatureConfig::default()
        };
        assert_eq!(
            bad_bucket.validate(),
            Err(ConfigError::BadBucket {
                width_ms: 7,
                window_ms: 60_000
            })
        );
        let bad_grace = FeatureConfig {
            timer_grace_ms: -1,
            ..FeatureConfig::default()
        };
        assert_eq!(bad_grace.validate(), Err(ConfigError::NegativeDuration(-1)));
    }
}
