//! [`ParseError`]: why a frame produced no events.

use orderflow_core::{DecimalError, SymbolError};

/// Why a frame could not be turned into events.
///
/// Small and `Copy` so the hot path can return it without allocating; field names are the
/// Binance keys (`"p"`, `"o.ap"`, `"k.c"`, `"b"` for a level of a diff's bid array).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The frame is not valid JSON; `offset` is where simd-json stopped (saturated at
    /// `u32::MAX`).
    #[error("invalid JSON near byte {offset}")]
    InvalidJson {
        /// Byte offset into the frame.
        offset: u32,
    },
    /// A field every message of its type carries is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field holds the wrong JSON type (a number where a string belongs, a frame that is
    /// not an object, ...).
    #[error("unexpected JSON type for `{field}`")]
    UnexpectedType {
        /// The field, or `"frame"`/`"data"` for the message itself.
        field: &'static str,
    },
    /// A decimal string that is not an exact 10^-8 fixed-point value.
    #[error("invalid decimal in `{field}`: {err}")]
    InvalidDecimal {
        /// The field.
        field: &'static str,
        /// What was wrong with the text.
        err: DecimalError,
    },
    /// A JSON number that is not an integer in the field's range (a float, a negative id,
    /// a value past `i64::MAX`).
    #[error("invalid number in `{field}`")]
    InvalidNumber {
        /// The field.
        field: &'static str,
    },
    /// A string field holding a value we do not know (`o.S` other than `BUY`/`SELL`, an
    /// unknown kline interval in `k.i`).
    #[error("unknown value in `{field}`")]
    InvalidValue {
        /// The field.
        field: &'static str,
    },
    /// A message that does not name its symbol (a bare REST depth snapshot) arrived without a
    /// symbol hint. The parser never guesses.
    #[error("message names no symbol and no symbol hint was given")]
    MissingSymbol,
    /// The symbol hint is not an id of this parser's [`SymbolTable`](orderflow_core::SymbolTable).
    #[error("symbol hint {id} was not issued by this parser's symbol table")]
    UnknownSymbolHint {
        /// The offending id.
        id: u16,
    },
    /// The symbol name could not be interned.
    #[error("invalid symbol: {0}")]
    InvalidSymbol(SymbolError),
}
