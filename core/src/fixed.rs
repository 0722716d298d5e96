//! Exact fixed-point decimals: [`Px`] and [`Qty`] (DESIGN.md section 3).
//!
//! Binance sends every price and quantity as a decimal string (`"61800.20"`, `"0.014"`,
//! `"-0.00010000"`). We parse those bytes straight into an `i64` count of 10^-8 units: the digits
//! are accumulated as an integer and the result is scaled by the power of ten the fraction is
//! missing. No float is involved, so `"0.1"` is exactly `10_000_000` and never `0.1000000000000000055`.
//!
//! Input with more than [`SCALE_DIGITS`] fraction digits is rejected rather than rounded: a value
//! we cannot hold exactly is an error in the data, not something to hide.

use core::fmt;

/// Number of decimal fraction digits held by [`Px`] and [`Qty`].
pub const SCALE_DIGITS: u32 = 8;
/// One whole unit in fixed-point: `Px(SCALE)` is a price of 1.
pub const SCALE: i64 = 100_000_000;

/// Why a decimal string could not be turned into a fixed-point value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecimalError {
    /// The input was empty, or only a sign.
    Empty,
    /// A byte that is not a digit, or a misplaced sign or point, at this position.
    InvalidByte {
        /// Zero-based byte offset of the offending byte.
        pos: u16,
    },
    /// More than [`SCALE_DIGITS`] digits after the point.
    TooManyFractionDigits,
    /// The value does not fit in an `i64` of 10^-8 units.
    Overflow,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty decimal"),
            Self::InvalidByte { pos } => write!(f, "invalid byte in decimal at offset {pos}"),
            Self::TooManyFractionDigits => {
                write!(f, "more than {SCALE_DIGITS} fraction digits")
            }
            Self::Overflow => f.write_str("decimal out of range for 1e-8 fixed point"),
        }
    }
}

impl std::error::Error for DecimalError {}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Parses `[-]digits[.digits]` into 10^-8 units.
///
/// Digits are required on both sides of a point; no exponent, no `+`, no whitespace.
#[inline]
fn parse_scaled(s: &[u8]) -> Result<i64, DecimalError> {
    let (negative, digits) = match s.first() {
        None => return Err(DecimalError::Empty),
        Some(b'-') => (true, &s[1..]),
        Some(_) => (false, s),
    };
    if digits.is_empty() {
        return Err(DecimalError::Empty);
    }
    let offset = s.len() - digits.len();
    let invalid = |i: usize| DecimalError::InvalidByte {
        pos: u16::try_from(offset + i).unwrap_or(u16::MAX),
    };

    let mut acc: u64 = 0;
    let mut point: Option<usize> = None;
    for (i, &b) in digits.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            acc = acc
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d)))
                .ok_or(DecimalError::Overflow)?;
        } else if b == b'.' && point.is_none() && i > 0 {
            point = Some(i);
        } else {
            return Err(invalid(i));
        }
    }
    let frac_digits = match point {
        None => 0,
        Some(p) if p + 1 == digits.len() => return Err(invalid(p)),
        Some(p) => digits.len() - p - 1,
    };
    let missing = (SCALE_DIGITS as usize)
        .checked_sub(frac_digits)
        .ok_or(DecimalError::TooManyFractionDigits)?;
    let scaled = acc
        .checked_mul(POW10[missing])
        .ok_or(DecimalError::Overflow)?;
    let magnitude = i64::try_from(scaled).map_err(|_| DecimalError::Overflow)?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Writes `units` as an exact decimal with `fraction_digits` implied fraction digits, trailing
/// fraction zeros trimmed (`write_fixed(f, -150, 2)` writes `-1.5`). [`Px`] and [`Qty`] print
/// through it with 8 digits; wider exact sums (an `i128` of 10^-16 notional units) use it too.
///
/// # Errors
/// Only those of the writer.
///
/// # Panics
/// When `fraction_digits > 38` (10^39 does not fit in a `u128`).
pub fn write_fixed(f: &mut impl fmt::Write, units: i128, fraction_digits: u32) -> fmt::Result {
    let scale = 10u128.pow(fraction_digits);
    let magnitude = units.unsigned_abs();
    let int = magnitude / scale;
    let mut frac = magnitude % scale;
    if units < 0 {
        f.write_str("-")?;
    }
    write!(f, "{int}")?;
    if frac != 0 {
        let mut width = fraction_digits as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        write!(f, ".{frac:0width$}")?;
    }
    Ok(())
}

macro_rules! fixed_point {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "rkyv", derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize))]
        #[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
        #[repr(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);
            /// Sentinel for "no value" (`i64::MIN`), never produced by parsing.
            pub const UNDEF: Self = Self(i64::MIN);

            /// Parses a decimal string (`"61800.20"`, `"-0.0001"`, `"0"`) exactly.
            ///
            /// # Errors
            /// [`DecimalError`] when the text is empty, has a stray byte, has more than eight
            /// fraction digits, or does not fit.
            #[inline]
            pub fn parse_bytes(s: &[u8]) -> Result<Self, DecimalError> {
                parse_scaled(s).map(Self)
            }

            /// Parses a decimal string; see [`Self::parse_bytes`].
            ///
            /// # Errors
            /// As [`Self::parse_bytes`].
            #[inline]
            #[allow(clippy::should_implement_trait, reason = "FromStr is implemented too")]
            pub fn from_str(s: &str) -> Result<Self, DecimalError> {
                Self::parse_bytes(s.as_bytes())
            }

            /// Builds a value from whole units (`from_units(3)` is `3.00000000`).
            ///
            /// # Panics
            /// When the value overflows `i64` (programmer error on constants).
            #[must_use]
            pub const fn from_units(units: i64) -> Self {
                match units.checked_mul(SCALE) {
                    Some(v) => Self(v),
                    None => panic!("fixed-point overflow"),
                }
            }

            /// The raw count of 10^-8 units.
            #[inline]
            #[must_use]
            pub const fn raw(self) -> i64 {
                self.0
            }

            /// `true` for the [`Self::UNDEF`] sentinel.
            #[inline]
            #[must_use]
            pub const fn is_undef(self) -> bool {
                self.0 == i64::MIN
            }

            /// `true` when exactly zero.
            #[inline]
            #[must_use]
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// Lossy conversion for feature output only.
            #[inline]
            #[must_use]
            #[allow(clippy::cast_precision_loss, reason = "features are f64 by definition")]
            pub fn to_f64(self) -> f64 {
                self.0 as f64 / SCALE as f64
            }
        }

        impl core::str::FromStr for $name {
            type Err = DecimalError;
            fn from_str(s: &str) -> Result<Self, DecimalError> {
                Self::parse_bytes(s.as_bytes())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.is_undef() {
                    return f.write_str("NaN");
                }
                write_fixed(f, i128::from(self.0), SCALE_DIGITS)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

fixed_point!(
    /// A price in 10^-8 quote units (`Px(6_180_020_000_000)` is 61800.2).
    Px
);
fixed_point!(
    /// A quantity (or any other exact decimal such as a funding rate) in 10^-8 units.
    Qty
);

/// Exact notional `px * qty` in 10^-16 quote units.
#[inline]
#[must_use]
pub fn notional(px: Px, qty: Qty) -> i128 {
    i128::from(px.0) * i128::from(qty.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_binance_strings_exactly() {
        assert_eq!(Px::from_str("61800.20"), Ok(Px(6_180_020_000_000)));
        assert_eq!(Qty::from_str("0.014"), Ok(Qty(1_400_000)));
        assert_eq!(Qty::from_str("0"), Ok(Qty(0)));
        assert_eq!(Qty::from_str("0.000"), Ok(Qty(0)));
        assert_eq!(Qty::from_str("0.00000000"), Ok(Qty(0)));
        assert_eq!(Qty::from_str("-0.00010000"), Ok(Qty(-10_000)));
        assert_eq!(Px::from_str("4529764"), Ok(Px(452_976_400_000_000)));
        assert_eq!(Px::from_str("0.00000001"), Ok(Px(1)));
    }

    #[test]
    fn rejects_bad_text_with_typed_errors() {
        assert_eq!(Px::from_str(""), Err(DecimalError::Empty));
        assert_eq!(Px::from_str("-"), Err(DecimalError::Empty));
        assert_eq!(
            Px::from_str("1.123456789"),
            Err(DecimalError::TooManyFractionDigits)
        );
        assert_eq!(Px::from_str("92233720369"), Err(DecimalError::Overflow));
        assert_eq!(
            Px::from_str("99999999999999999999999"),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            Px::from_str("1.2.3"),
            Err(DecimalError::InvalidByte { pos: 3 })
        );
        assert_eq!(
            Px::from_str("1e5"),
            Err(DecimalError::InvalidByte { pos: 1 })
        );
        assert_eq!(
            Px::from_str(" 1"),
            Err(DecimalError::InvalidByte { pos: 0 })
        );
        assert_eq!(
            Px::from_str("+1"),
            Err(DecimalError::InvalidByte { pos: 0 })
        );
        assert_eq!(
            Px::from_str(".5"),
            Err(DecimalError::InvalidByte { pos: 0 })
        );
        assert_eq!(
            Px::from_str("5."),
            Err(DecimalError::InvalidByte { pos: 1 })
        );
        assert_eq!(
            Px::from_str("--5"),
            Err(DecimalError::InvalidByte { pos: 1 })
        );
        assert_eq!(
            Px::from_str("1\"2"),
            Err(DecimalError::InvalidByte { pos: 1 })
        );
    }

    #[test]
    fn largest_values_round_trip() {
        let max = Px(i64::MAX);
        assert_eq!(max.to_string(), "92233720368.54775807");
        assert_eq!(Px::from_str("92233720368.54775807"), Ok(max));
        assert_eq!(
            Px::from_str("92233720368.54775808"),
            Err(DecimalError::Overflow)
        );
        let min = Px(-i64::MAX);
        assert_eq!(Px::from_str(&min.to_string()), Ok(min));
    }

    #[test]
    fn display_is_exact_and_trims_zeros() {
        assert_eq!(Px(6_180_020_000_000).to_string(), "61800.2");
        assert_eq!(Qty(1).to_string(), "0.00000001");
        assert_eq!(Qty(-10_000).to_string(), "-0.0001");
        assert_eq!(Qty(0).to_string(), "0");
        assert_eq!(Px::UNDEF.to_string(), "NaN");
        let mut wide = String::new();
        write_fixed(&mut wide, -1_500_000_000_000_000_000_005, 16).unwrap();
        assert_eq!(wide, "-150000.0000000000000005");
        wide.clear();
        write_fixed(&mut wide, 7, 16).unwrap();
        assert_eq!(wide, "0.0000000000000007");
    }

    /// Oracle: the decimal string, normalised by hand (strip sign, pad the fraction to eight
    /// digits, drop leading zeros), compared with the formatted integer.
    fn oracle(int: &str, frac: &str, negative: bool) -> String {
        let mut digits = format!("{int}{frac:0<8}");
        let trimmed = digits.trim_start_matches('0');
        digits = if trimmed.is_empty() {
            "0".into()
        } else {
            trimmed.into()
        };
        if negative && digits != "0" {
            format!("-{digits}")
        } else {
            digits
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn parse_matches_string_oracle(
            int in "[0-9]{1,11}", frac in proptest::option::of("[0-9]{1,8}"), negative: bool,
        ) {
            let text = match &frac {
                Some(f) => format!("{}{int}.{f}", if negative { "-" } else { "" }),
                None => format!("{}{int}", if negative { "-" } else { "" }),
            };
            let expected = oracle(&int, frac.as_deref().unwrap_or(""), negative);
            match Px::from_str(&text) {
                Ok(px) => {
                    prop_assert_eq!(px.raw().to_string(), expected);
                    // Display gives back the same decimal value.
                    prop_assert_eq!(Px::from_str(&px.to_string()), Ok(px));
                }
                Err(e) => {
                    prop_assert_eq!(e, DecimalError::Overflow);
                    prop_assert!(expected.trim_start_matches('-').len() >= 19);
                }
            }
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = Px::parse_bytes(&bytes);
        }
    }
}
