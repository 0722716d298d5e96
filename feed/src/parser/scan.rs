//! The schema-specialised fast path: one forward pass over the frame bytes for the four hot
//! message types (`depthUpdate`, `aggTrade`, `trade`, `bookTicker`).
//!
//! # What it accepts
//! The scanner is a small recursive-descent JSON validator that knows, per message type, which
//! keys it wants and what each value must be. It never reports errors: anything it is not sure
//! about (an escape or a non-ASCII byte in a string, a float where an id belongs, a missing or
//! repeated known key, a message type it does not specialise, more than [`MAX_SKIP_DEPTH`]
//! nested levels in an ignored value) makes it [`Decline`] the frame, and the simd-json path
//! (`tape.rs`) parses it again and gives the authoritative answer. So whenever the scanner
//! accepts a frame, the simd-json path accepts it too and produces the same events: the unit
//! tests run every frame through both paths, `feed/tests/real_data.rs` does so for both
//! recordings, `feed/tests/proptest_frames.rs` for truncated, mutated and random frames, and
//! the `parse_frame` fuzz target for whatever libFuzzer finds.
//!
//! The subset of JSON it takes:
//! - strings are printable ASCII without escapes (every Binance market-data string is);
//! - ignored numbers are integers of at most 18 digits (Binance sends decimals as strings, and
//!   `st` and ids are integers); ids and times are integers of at most 19 digits in range;
//! - decimals are `-?[0-9]+(\.[0-9]{1,8})?` with at most 18 digits, parsed from the bytes
//!   between the quotes straight to 10^-8 units.
//!
//! Keys may come in any order: if the payload does not start with `"e"`, a first pass skips
//! to the `"e"` member to learn the type and a second pass reads the fields. A key is read into
//! a `u64` tag (length in the top byte, up to seven bytes below), so each member dispatches on
//! integer compares; one- and two-byte keys followed by their colon are matched as a literal.
//! Levels go to the caller's reusable vectors and single records stay in registers, so
//! nothing is allocated after warm-up and nothing reaches the sink before the whole frame,
//! closing braces included, has been validated.
//!
//! # How it is fast (measured with `cargo bench -p orderflow-benches --bench parse`)
//! Reading JSON token by token is a chain: where the next token starts depends on how long
//! the current one is, which depends on bytes just loaded. The scanner keeps that chain short:
//! - SWAR ("SIMD within a register", portable): eight bytes at a time in a `u64`, classified
//!   with a few integer operations ([`non_digits`], [`string_stops`], [`quote_bits`]); digit
//!   runs are converted eight at a time by [`parse_eight`]. A symbol ends after one step, a
//!   stream name after at most three whose loads do not wait for each other, a 13-digit time
//!   after one.
//! - One- and two-byte keys are matched together with the comma before them and the colon
//!   after them as one literal, so no whitespace is skipped byte by byte between members.
//! - A decimal's closing quote is located first and the digits converted afterwards
//!   ([`word_decimal`]), so the cursor does not wait for the conversion.
//! - Levels, the bulk of a depth frame, take their quote positions from 64-byte bitmaps built
//!   independently of the cursor ([`Quotes`]): the cursor moves once per level and the two
//!   decimals of a level convert in parallel. This alone took the 593-byte, 20-level diff of
//!   the bench from about 1.9x to about 2.5x faster than sonic-rs. The bitmap of a whole
//!   64-byte block comes from four 16-byte compares (`wide`: `pcmpeqb` and `pmovmskb` on the
//!   x86-64 baseline) rather than eight SWAR words: 11 % off the 20-level diff and off the
//!   whole BTCUSDT mix (criterion `--baseline`, same session).
//! - A bookTicker, trade or aggTrade whose members come in Binance's own order (as they all
//!   do) is read by a straight sequence of literal compares and value reads
//!   (`*_in_order`), with no key dispatch and no record of the keys seen; any other layout
//!   falls back to the keyed loop from the same place. Instructions per frame (cachegrind):
//!   bookTicker 2,006 -> 1,779, trade 1,789 -> 1,554 on the BTCUSDT recording; on current
//!   frames with `"ps"`/`"st"` 2,199 -> 2,075 and 1,905 -> 1,715, aggTrade 2,322 -> 2,085.
//!   Best of eight alternating runs: bookTicker 134 -> 125 ns, trade 113 -> 104 ns, the whole
//!   BTCUSDT mix 268 -> 252 ns per frame.
//! - Likewise the head of a combined-stream frame, `{"stream":"<name>","data":{`, is two
//!   literal compares around the stream name (`envelope_in_order`) instead of two keyed
//!   members. With it, and the live frames' unknown members (`"ps"`, `"st"`) skipped without
//!   the general value walk: bookTicker 1,733 -> 1,501 instructions, trade 1,552 -> 1,308, a
//!   live bookTicker 2,076 -> 1,771; best of six alternating runs, bookTicker 119 -> 103 ns, the
//!   BTCUSDT mix 252 -> 230 ns and a live-format mix 149 -> 123 ns per frame.
//! - The readers are `#[inline(always)]` into one function: out of line, the records went
//!   back through the stack in overlapping pieces (a `[u8; 7]` pad copies as two 4-byte moves)
//!   and the reloads stalled on store forwarding, which perf showed as 15-30 % of a frame.
//!   Events are likewise pushed as struct literals (see `emit_fast`).
//!
//! Reproduce: `cargo bench -p orderflow-benches --bench parse` (figures in its docs); for
//! where the time goes, `perf record` on the bench binary with `--profile-time 5`.

use orderflow_core::{AggTrade, BookTicker, DepthDiff, Px, Qty, Side, Trade};
use wide::i8x16;

/// The scanner does not handle this frame; the simd-json path must.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decline;

type Scan<T> = Result<T, Decline>;

/// Deepest nesting the scanner follows inside an ignored value before declining.
pub(crate) const MAX_SKIP_DEPTH: u32 = 32;

/// A message the scanner accepted. Levels of a depth message are in the `bids`/`asks`
/// vectors passed to [`scan`]. The symbol is the raw `s` text.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fast<'a> {
    /// A `depthUpdate`; `bid_count`/`ask_count` are not filled yet.
    Depth(DepthDiff, &'a [u8]),
    /// An `aggTrade`.
    AggTrade(AggTrade, &'a [u8]),
    /// A `trade` worth keeping.
    Trade(Trade, &'a [u8]),
    /// A placeholder `trade` (`"X":"NA"`, or price or quantity <= 0): no event.
    TradeDropped,
    /// A `bookTicker`.
    BookTicker(BookTicker, &'a [u8]),
}

impl<'a> Fast<'a> {
    /// A trade read whole: dropped when it is a placeholder (`"X":"NA"`, `placeholder`) or its
    /// price or quantity is not positive.
    #[inline(always)]
    fn trade(r: Trade, symbol: &'a [u8], placeholder: bool) -> Self {
        if placeholder || r.px.raw() <= 0 || r.qty.raw() <= 0 {
            Self::TradeDropped
        } else {
            Self::Trade(r, symbol)
        }
    }
}

/// Packs a key of up to seven bytes into a tag: bytes little-endian, length in the top byte.
const fn key_tag(key: &[u8]) -> u64 {
    let mut tag = (key.len() as u64) << 56;
    let mut i = 0;
    while i < key.len() && i < 7 {
        #[allow(clippy::indexing_slicing, reason = "const fn over a literal, i < len")]
        let b = key[i];
        tag |= (b as u64) << (8 * i);
        i += 1;
    }
    tag
}

/// A price level as the scanner stages it (the side is the vector it is in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PxQty {
    pub(crate) px: Px,
    pub(crate) qty: Qty,
}

/// Tag of every key longer than seven bytes: ignored, never equal to a known key.
const LONG_KEY: u64 = u64::MAX;

const K_STREAM: u64 = key_tag(b"stream");
const K_DATA: u64 = key_tag(b"data");
const K_E: u64 = key_tag(b"e");
const K_EVENT_TIME: u64 = key_tag(b"E");
const K_TIME: u64 = key_tag(b"T");
const K_SYMBOL: u64 = key_tag(b"s");
const K_FIRST_ID: u64 = key_tag(b"U");
const K_ID: u64 = key_tag(b"u");
const K_PREV_ID: u64 = key_tag(b"pu");
const K_B: u64 = key_tag(b"b");
const K_A: u64 = key_tag(b"a");
const K_BID_QTY: u64 = key_tag(b"B");
const K_ASK_QTY: u64 = key_tag(b"A");
const K_PRICE: u64 = key_tag(b"p");
const K_QTY: u64 = key_tag(b"q");
const K_NORMAL_QTY: u64 = key_tag(b"nq");
const K_FIRST_TRADE: u64 = key_tag(b"f");
const K_LAST_TRADE: u64 = key_tag(b"l");
const K_MAKER: u64 = key_tag(b"m");
const K_TRADE_ID: u64 = key_tag(b"t");
const K_TRADE_TYPE: u64 = key_tag(b"X");

/// Byte classes inside a string: 0 plain, 1 closing quote, 2 decline (escape, control byte,
/// non-ASCII).
static STRING_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let class = if i == b'"' as usize {
            1
        } else if i == b'\\' as usize || i < 0x20 || i >= 0x80 {
            2
        } else {
            0
        };
        #[allow(clippy::indexing_slicing, reason = "const evaluation, i < 256")]
        {
            table[i] = class;
        }
        i += 1;
    }
    table
};

/// `10^(8 - fraction digits)`, indexed by the number of fraction digits.
const SCALE_FOR_FRACTION: [u64; 9] = [
    100_000_000,
    10_000_000,
    1_000_000,
    100_000,
    10_000,
    1_000,
    100,
    10,
    1,
];

/// One whole unit in 10^-8 units.
const UNIT: u64 = 100_000_000;

/// `10^n` for `n` digits of one SWAR chunk.
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

// SWAR ("SIMD within a register"): eight frame bytes are loaded little-endian into a `u64`, so
// byte `i` of the chunk is frame byte `pos + i`. Each classifier below sets the high bit of
// every byte it flags; the lowest flagged byte is always exact (a borrow or carry between
// bytes only disturbs bytes above the first real hit), which is all the scanner uses.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Flags the bytes of `x` that are not zero.
#[inline]
const fn nonzero_bytes(x: u64) -> u64 {
    (((x & !HIGHS).wrapping_add(!HIGHS)) | x) & HIGHS
}

/// Flags the bytes of `x` that are zero (lowest flag exact).
#[inline]
const fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Flags the bytes of `x` that are not ASCII digits: a digit has high nibble 3 both as is and
/// plus 6 (`0x3A..=0x3F` become `0x40..`).
#[inline]
const fn non_digits(x: u64) -> u64 {
    let nibble = (x & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030;
    let plus6 =
        (x.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030;
    nonzero_bytes(nibble | plus6)
}

/// Flags the bytes that end or spoil a plain string: `"`, `\`, control bytes and non-ASCII.
#[inline]
const fn string_stops(x: u64) -> u64 {
    let quote = zero_bytes(x ^ (ONES * b'"' as u64));
    let backslash = zero_bytes(x ^ (ONES * b'\\' as u64));
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    quote | backslash | control | (x & HIGHS)
}

/// Index of the first flagged byte, 8 when none is.
#[inline]
const fn first_flagged(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// One bit per byte of `x` that is a `"` (bit `i` for byte `i`, exact for every byte).
#[inline(always)]
const fn quote_bits(x: u64) -> u32 {
    let flags = !nonzero_bytes(x ^ (ONES * b'"' as u64)) & HIGHS;
    // Gathers the high bit of byte i into bit 56 + i.
    ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// A decimal held in the low `len` bytes of `x` (no sign, at most eight bytes), as 10^-8
/// units: digits, or digits, a point and digits. `None` for anything else.
#[inline(always)]
fn word_decimal(x: u64, len: usize) -> Option<i64> {
    if len == 0 || len > 8 {
        return None;
    }
    let in_len = HIGHS & (u64::MAX >> (64 - 8 * len));
    // Exact for every byte here unless a byte >= 0xFA precedes, which is declined anyway.
    let stops = non_digits(x) & in_len;
    if stops == 0 {
        // At most eight digits: below 10^16.
        return i64::try_from(parse_eight(x << (64 - 8 * len)) * UNIT).ok();
    }
    let point = first_flagged(stops);
    let single = stops & stops.wrapping_sub(1) == 0;
    if !single || point == 0 || point + 1 >= len || (x >> (8 * point)) as u8 != b'.' {
        return None;
    }
    // Drop the point: the bytes above it move down one, leaving len - 1 digits.
    let below = (1u64 << (8 * point)) - 1;
    let digits = (x & below) | ((x >> 8) & !below);
    let scale = SCALE_FOR_FRACTION.get(len - point - 1)?;
    // At most seven digits, scaled by at most 10^7: no overflow.
    i64::try_from(parse_eight(digits << (64 - 8 * (len - 1))) * scale).ok()
}

/// The value of eight ASCII digits, the first in the low byte (zero bytes count as leading
/// zeros): three multiply-and-shift steps combine digit pairs, then pairs of pairs.
#[inline]
const fn parse_eight(x: u64) -> u64 {
    let x = x & 0x0F0F_0F0F_0F0F_0F0F;
    let x = (x.wrapping_mul(10).wrapping_add(x >> 8)) & 0x00FF_00FF_00FF_00FF;
    let x = (x.wrapping_mul(100).wrapping_add(x >> 16)) & 0x0000_FFFF_0000_FFFF;
    (x.wrapping_mul(10_000).wrapping_add(x >> 32)) & 0xFFFF_FFFF
}

/// One bit per `"` among the 64 bytes of `block` (bit `i` for byte `i`): four 16-byte
/// compares and byte masks through `wide` (`pcmpeqb`, `pmovmskb` on the x86-64 baseline, a
/// portable fallback elsewhere).
#[inline(always)]
fn quote_block_simd(block: &[u8; 64]) -> u64 {
    let quote = i8x16::splat(b'"' as i8);
    let mut bits = 0u64;
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        let mut lanes = [0i8; 16];
        for (lane, &b) in lanes.iter_mut().zip(chunk) {
            *lane = b as i8;
        }
        let mask = i8x16::new(lanes).simd_eq(quote).to_bitmask();
        bits |= u64::from(mask) << (16 * k);
    }
    bits
}

/// The run of ASCII digits of `buf` from `start`: its value and length, at most 19 so the value
/// never wraps (`None` for a longer run). Eight digits at a time with SWAR, the last few of the
/// buffer one by one. The scanner's integers and the capture reader's receive times use it.
#[inline(always)]
pub(crate) fn digit_run(buf: &[u8], start: usize) -> Option<(u64, usize)> {
    if let Some(run) = digit_run_wide(buf, start) {
        return run;
    }
    let word = |at: usize| {
        let bytes = buf.get(at..at.checked_add(8)?)?;
        bytes.try_into().ok().map(u64::from_le_bytes)
    };
    let mut pos = start;
    let mut acc: u64 = 0;
    loop {
        let Some(x) = word(pos) else {
            while let Some(&b) = buf.get(pos) {
                let d = b.wrapping_sub(b'0');
                if d >= 10 {
                    break;
                }
                acc = acc.wrapping_mul(10).wrapping_add(u64::from(d));
                pos += 1;
            }
            break;
        };
        let n = first_flagged(non_digits(x));
        if n == 0 {
            break;
        }
        let scale = POW10.get(n).copied()?;
        // Shift the n digits to the top bytes: the zero bytes below read as leading zeros.
        acc = acc
            .wrapping_mul(scale)
            .wrapping_add(parse_eight(x << (64 - 8 * n)));
        pos += n;
        if n < 8 {
            break;
        }
    }
    let count = pos - start;
    (count <= 19).then_some((acc, count))
}

/// The three little-endian words of `buf` from `start`; `None` with fewer than 24 bytes there.
#[inline(always)]
fn three_words(buf: &[u8], start: usize) -> Option<(u64, u64, u64)> {
    let bytes = buf.get(start..start.checked_add(24)?)?;
    match bytes.as_chunks::<8>() {
        (&[a, b, c], []) => Some((
            u64::from_le_bytes(a),
            u64::from_le_bytes(b),
            u64::from_le_bytes(c),
        )),
        _ => None,
    }
}

/// [`digit_run`] for a run with at least 24 bytes after its start (`None` otherwise): the
/// three words are loaded and classified independently, then the run's length picks how many
/// digits of each count. A word-at-a-time loop instead makes each load wait for the previous
/// word's digit count: a capture line's 19-digit receive time took three such steps. Its share
/// of a capture replay's perf samples (`orderflow bench throughput --only capture`) went from
/// 4.4 % to 3.6 %.
#[inline(always)]
fn digit_run_wide(buf: &[u8], start: usize) -> Option<Option<(u64, usize)>> {
    let (x0, x1, x2) = three_words(buf, start)?;
    // Digits at the start of each word, 8 when it holds only digits.
    let (n0, n1, n2) = (
        first_flagged(non_digits(x0)),
        first_flagged(non_digits(x1)),
        first_flagged(non_digits(x2)),
    );
    let count = n0
        + if n0 == 8 {
            n1 + if n1 == 8 { n2 } else { 0 }
        } else {
            0
        };
    if count > 19 {
        return Some(None);
    }
    // Digits taken from each word: the first `count` bytes, eight per word.
    let d0 = count.min(8);
    let d1 = count.saturating_sub(8).min(8);
    let d2 = count.saturating_sub(16);
    // The low `n` bytes of `x` as a number (`n <= 8`; none when `n == 0`).
    let low = |x: u64, n: usize| parse_eight(x.checked_shl(64 - 8 * n as u32).unwrap_or(0));
    let pow = |n: usize| POW10.get(n).copied().unwrap_or(0);
    // At most 19 digits: `low(x0) * 10^11 < 10^19`, no wrap.
    let value = low(x0, d0) * pow(d1) * pow(d2) + low(x1, d1) * pow(d2) + low(x2, d2);
    Some(Some((value, count)))
}

/// The value of the 19 digits at the start of `buf` when `stop` follows them: a capture line's
/// receive time in ns (nanoseconds since 2001-09-09 have 19 digits) and its space. Three word
/// loads and no loop or table; [`digit_run`] serves every other shape (`None` here). Less than
/// 10^19, so it never wraps.
#[inline(always)]
pub(crate) fn nineteen_digits(buf: &[u8], stop: u8) -> Option<u64> {
    let (x0, x1, x2) = three_words(buf, 0)?;
    // Digits in all of `x0` and `x1` and in the low three bytes of `x2`, `stop` in its fourth.
    let spoilt = non_digits(x0) | non_digits(x1) | (non_digits(x2) & 0x0080_8080);
    if spoilt != 0 || (x2 >> 24) as u8 != stop {
        return None;
    }
    // Three digits moved to the top bytes: the zero bytes below read as leading zeros.
    Some(parse_eight(x0) * 100_000_000_000 + parse_eight(x1) * 1_000 + parse_eight(x2 << 40))
}

/// Message types the scanner specialises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Depth,
    AggTrade,
    Trade,
    BookTicker,
}

impl Kind {
    #[inline]
    fn from_type(ty: &[u8]) -> Scan<Self> {
        match ty {
            b"depthUpdate" => Ok(Self::Depth),
            b"bookTicker" => Ok(Self::BookTicker),
            b"trade" => Ok(Self::Trade),
            b"aggTrade" => Ok(Self::AggTrade),
            _ => Err(Decline),
        }
    }
}

/// Scans one frame. On success the frame was valid JSON of a shape the scanner knows, and
/// `bids`/`asks` hold a depth message's levels (they are cleared first).
///
/// # Errors
/// [`Decline`] for anything the simd-json path must handle, valid or not.
#[inline(always)]
pub(crate) fn scan<'a>(
    frame: &'a [u8],
    bids: &mut Vec<PxQty>,
    asks: &mut Vec<PxQty>,
) -> Scan<Fast<'a>> {
    if u32::try_from(frame.len()).is_err() {
        return Err(Decline);
    }
    bids.clear();
    asks.clear();
    let mut s = Scanner { buf: frame, pos: 0 };
    let mut first = true;
    let mut has_stream = false;
    let envelope = if s.envelope_in_order() {
        first = false;
        has_stream = true;
        true
    } else {
        s.pos = 0;
        s.eat(b'{')?;
        let start = s.pos;
        let mut key = s.next_key(&mut first)?.ok_or(Decline)?;
        let envelope = key == K_STREAM || key == K_DATA;
        if envelope {
            // Envelope members up to `data`, whose value is the payload.
            while key != K_DATA {
                s.envelope_member(key, &mut has_stream)?;
                key = s.next_key(&mut first)?.ok_or(Decline)?;
            }
            s.eat(b'{')?;
        } else {
            s.pos = start;
        }
        envelope
    };
    let fast = s.payload(!envelope, bids, asks)?;
    if envelope {
        while let Some(key) = s.next_key(&mut first)? {
            s.envelope_member(key, &mut has_stream)?;
        }
        if !has_stream {
            return Err(Decline);
        }
    }
    s.ws();
    if s.pos == frame.len() {
        Ok(fast)
    } else {
        Err(Decline)
    }
}

/// Sets `bit` in `seen`, declining if it was already set (a repeated known key).
#[inline]
fn mark(seen: &mut u32, bit: u32) -> Scan<()> {
    if *seen & bit != 0 {
        return Err(Decline);
    }
    *seen |= bit;
    Ok(())
}

/// The positions of the `"` bytes of a frame from some offset on, found 64 bytes at a time
/// (a bit per byte, taken lowest first).
struct Quotes {
    base: usize,
    bits: u64,
}

impl Quotes {
    /// Quotes from frame offset `at` on.
    #[inline(always)]
    fn new(s: &Scanner<'_>, at: usize) -> Self {
        Self {
            base: at,
            bits: s.quote_block(at),
        }
    }

    /// The offset of the next quote; `None` past the end of the frame.
    #[inline(always)]
    fn next(&mut self, s: &Scanner<'_>) -> Option<usize> {
        while self.bits == 0 {
            self.base += 64;
            if self.base >= s.buf.len() {
                return None;
            }
            self.bits = s.quote_block(self.base);
        }
        let at = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(at)
    }
}

/// A cursor over the frame. Every read goes through `get`, so no input can make it panic.
struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// The byte under the cursor.
    #[inline(always)]
    fn byte(&self) -> Scan<u8> {
        self.buf.get(self.pos).copied().ok_or(Decline)
    }

    /// Skips JSON whitespace.
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if b > b' ' || !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return;
            }
            self.pos += 1;
        }
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline(always)]
    fn peek(&mut self) -> Scan<u8> {
        self.ws();
        self.byte()
    }

    /// Skips whitespace and consumes `c`.
    #[inline(always)]
    fn eat(&mut self, c: u8) -> Scan<()> {
        if self.buf.get(self.pos) == Some(&c) {
            self.pos += 1;
            return Ok(());
        }
        if self.peek()? == c {
            self.pos += 1;
            Ok(())
        } else {
            Err(Decline)
        }
    }

    /// Eight frame bytes from `at`, little-endian; `None` near the end of the frame.
    #[inline(always)]
    fn chunk(&self, at: usize) -> Option<u64> {
        let bytes = self.buf.get(at..at.checked_add(8)?)?;
        bytes.try_into().ok().map(u64::from_le_bytes)
    }

    /// Eight frame bytes from `at`, little-endian, zero past the end of the frame (a zero
    /// byte is neither a quote nor a digit, so it ends whatever it follows).
    #[inline(always)]
    fn word_at(&self, at: usize) -> u64 {
        match self.chunk(at) {
            Some(x) => x,
            None => self.padded_word(at),
        }
    }

    /// [`Self::word_at`] within eight bytes of the end: the frame's last eight bytes shifted
    /// down, so the bytes from `at` on come first and zeros follow. The last value of a frame
    /// (a bookTicker's `E`, say) is read from here. Out of line: inlined into the level loop it
    /// cost the depth diff about 3 % more instructions.
    #[cold]
    #[inline(never)]
    fn padded_word(&self, at: usize) -> u64 {
        let len = self.buf.len();
        if at >= len {
            return 0;
        }
        if let Some(last) = len
            .checked_sub(8)
            .and_then(|from| self.buf.get(from..))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
        {
            // `at + 8 > len` (else `chunk` would have served it) and `at < len`: a shift of
            // 8 to 56 bits.
            return u64::from_le_bytes(last) >> (8 * (at + 8 - len));
        }
        let mut bytes = [0u8; 8];
        let tail = self.buf.get(at..).unwrap_or_default();
        let n = tail.len().min(8);
        if let (Some(dst), Some(src)) = (bytes.get_mut(..n), tail.get(..n)) {
            dst.copy_from_slice(src);
        }
        u64::from_le_bytes(bytes)
    }

    /// One bit per `"` among the 64 frame bytes from `at` (bit `i` for byte `at + i`).
    #[inline(always)]
    fn quote_block(&self, at: usize) -> u64 {
        if let Some(block) = at
            .checked_add(64)
            .and_then(|end| self.buf.get(at..end))
            .and_then(|b| <&[u8; 64]>::try_from(b).ok())
        {
            return quote_block_simd(block);
        }
        let mut bits = 0;
        for k in 0..8 {
            bits |= u64::from(quote_bits(self.word_at(at + 8 * k))) << (8 * k);
        }
        bits
    }

    /// One level `["px","qty"]` written without whitespace, its four quotes taken from
    /// `quotes`. Both decimals are converted from words loaded at the offsets the quotes give,
    /// so neither waits for the other. `None` for anything else (the caller then reads the
    /// level token by token and re-seats `quotes`); the cursor only moves on success.
    #[inline(always)]
    fn level_fast(&mut self, quotes: &mut Quotes) -> Option<(i64, i64)> {
        let p = self.pos;
        if self.buf.get(p..p + 2) != Some(b"[\"") || quotes.next(self)? != p + 1 {
            return None;
        }
        let px_end = quotes.next(self)?;
        let qty_open = quotes.next(self)?;
        let qty_end = quotes.next(self)?;
        if qty_open != px_end + 2
            || self.buf.get(px_end + 1) != Some(&b',')
            || self.buf.get(qty_end + 1) != Some(&b']')
        {
            return None;
        }
        let px = word_decimal(self.word_at(p + 2), px_end.saturating_sub(p + 2))?;
        let qty = word_decimal(
            self.word_at(qty_open + 1),
            qty_end.saturating_sub(qty_open + 1),
        )?;
        self.pos = qty_end + 2;
        Some((px, qty))
    }

    /// The rest of a string whose opening quote was consumed; consumes the closing quote.
    #[inline(always)]
    fn str_body(&mut self) -> Scan<&'a [u8]> {
        let start = self.pos;
        // Strings up to 23 bytes (symbols, stream names) end after at most three word steps,
        // whose loads do not wait for each other. Past the frame the words read zero, a
        // control byte, which stops the string without being its closing quote.
        let x = self.word_at(start);
        let sx = string_stops(x);
        let (word, end) = if sx != 0 {
            (x, first_flagged(sx))
        } else {
            let y = self.word_at(start + 8);
            let sy = string_stops(y);
            if sy != 0 {
                (y, 8 + first_flagged(sy))
            } else {
                let z = self.word_at(start + 16);
                (z, 16 + first_flagged(string_stops(z)))
            }
        };
        if end < 24 {
            if (word >> (8 * (end % 8))) as u8 != b'"' {
                return Err(Decline);
            }
            let s = self.buf.get(start..start + end).ok_or(Decline)?;
            self.pos = start + end + 1;
            return Ok(s);
        }
        loop {
            if let Some(x) = self.chunk(self.pos) {
                let stops = string_stops(x);
                let n = first_flagged(stops);
                self.pos += n;
                if n == 8 {
                    continue;
                }
            }
            // At a stop byte, or in the last seven bytes of the frame.
            let b = self.byte()?;
            match STRING_CLASS.get(usize::from(b)) {
                Some(0) => self.pos += 1,
                Some(1) => break,
                _ => return Err(Decline),
            }
        }
        let s = self.buf.get(start..self.pos).ok_or(Decline)?;
        self.pos += 1;
        Ok(s)
    }

    /// A string value.
    #[inline(always)]
    fn string(&mut self) -> Scan<&'a [u8]> {
        self.eat(b'"')?;
        self.str_body()
    }

    /// A member key and its colon, as a tag (see [`key_tag`]).
    #[inline(always)]
    fn key(&mut self) -> Scan<u64> {
        self.eat(b'"')?;
        // Binance keys are one or two bytes followed directly by the colon.
        let plain = |b: u8| STRING_CLASS.get(usize::from(b)) == Some(&0);
        match self.buf.get(self.pos..self.pos + 4) {
            Some(&[k, b'"', b':', _]) if plain(k) => {
                self.pos += 3;
                return Ok(u64::from(k) | (1 << 56));
            }
            Some(&[k0, k1, b'"', b':']) if plain(k0) && plain(k1) => {
                self.pos += 4;
                return Ok(u64::from(k0) | (u64::from(k1) << 8) | (2 << 56));
            }
            _ => {}
        }
        if let Some(x) = self.chunk(self.pos) {
            let n = first_flagged(string_stops(x));
            if n < 8 {
                if (x >> (8 * n)) as u8 != b'"' {
                    return Err(Decline);
                }
                self.pos += n + 1;
                self.eat(b':')?;
                // n < 8: the key is the low n bytes.
                let low = (1u64 << (8 * n)) - 1;
                return Ok((x & low) | ((n as u64) << 56));
            }
        }
        let mut tag = 0u64;
        let mut len = 0u64;
        loop {
            let b = self.byte()?;
            match STRING_CLASS.get(usize::from(b)) {
                Some(0) => {
                    if len < 7 {
                        tag |= u64::from(b) << (8 * len);
                    }
                    len += 1;
                    self.pos += 1;
                }
                Some(1) => break,
                _ => return Err(Decline),
            }
        }
        self.pos += 1;
        self.eat(b':')?;
        Ok(if len <= 7 {
            tag | (len << 56)
        } else {
            LONG_KEY
        })
    }

    /// The next member key of an object whose `{` was consumed, with its colon; `None` at
    /// the closing `}`. `first` is true until the first member was read.
    #[inline(always)]
    fn next_key(&mut self, first: &mut bool) -> Scan<Option<u64>> {
        // The common case: `,"k":` or `,"kk":` with no whitespace, checked as one literal.
        if !*first {
            let plain = |b: u8| STRING_CLASS.get(usize::from(b)) == Some(&0);
            match self.buf.get(self.pos..self.pos + 6) {
                Some(&[b',', b'"', k, b'"', b':', _]) if plain(k) => {
                    self.pos += 5;
                    return Ok(Some(u64::from(k) | (1 << 56)));
                }
                Some(&[b',', b'"', k0, k1, b'"', b':']) if plain(k0) && plain(k1) => {
                    self.pos += 6;
                    return Ok(Some(u64::from(k0) | (u64::from(k1) << 8) | (2 << 56)));
                }
                _ => {}
            }
        }
        match self.peek()? {
            b'}' => {
                self.pos += 1;
                return Ok(None);
            }
            b',' if !*first => self.pos += 1,
            _ if *first => {}
            _ => return Err(Decline),
        }
        *first = false;
        self.key().map(Some)
    }

    /// A run of ASCII digits from the cursor: its value and length (at most 19, so the value
    /// never wraps). Eight digits at a time with SWAR, the last few of the frame one by one.
    #[inline(always)]
    fn digits(&mut self) -> Scan<(u64, usize)> {
        let (value, count) = digit_run(self.buf, self.pos).ok_or(Decline)?;
        self.pos += count;
        Ok((value, count))
    }

    /// An unsigned integer of at most 19 digits, without sign, fraction or exponent.
    #[inline(always)]
    fn u64(&mut self) -> Scan<u64> {
        self.ws();
        // Up to 15 digits (Binance ids and ms times have 10 to 13) from two words.
        if let Some(x) = self.chunk(self.pos) {
            // Past the end of the frame the second word reads zeros, which are not digits.
            let y = self.word_at(self.pos + 8);
            let n = first_flagged(non_digits(x));
            let m = first_flagged(non_digits(y));
            let leading_zero = x as u8 == b'0';
            if n > 0 && n < 8 && !(leading_zero && n > 1) {
                self.pos += n;
                return Ok(parse_eight(x << (64 - 8 * n)));
            }
            if n == 8 && m < 8 && !leading_zero {
                self.pos += 8 + m;
                let low = y.checked_shl(64 - 8 * m as u32).unwrap_or(0);
                let scale = POW10.get(m).copied().ok_or(Decline)?;
                return Ok(parse_eight(x) * scale + parse_eight(low));
            }
        }
        let start = self.pos;
        let (value, count) = self.digits()?;
        // A leading zero is only valid alone.
        if count == 0 || (count > 1 && self.buf.get(start) == Some(&b'0')) {
            return Err(Decline);
        }
        Ok(value)
    }

    /// A non-negative integer that fits an `i64` (times).
    #[inline]
    fn time(&mut self) -> Scan<i64> {
        i64::try_from(self.u64()?).map_err(|_| Decline)
    }

    /// `true` or `false`.
    #[inline]
    fn bool(&mut self) -> Scan<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => Err(Decline),
        }
    }

    /// The bytes `word` right under the cursor (no whitespace before them), consumed; the
    /// cursor does not move otherwise.
    #[inline]
    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        let end = self.pos + word.len();
        if self.buf.get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(Decline)
        }
    }

    /// A quoted decimal, as 10^-8 units.
    #[inline(always)]
    fn decimal(&mut self) -> Scan<i64> {
        self.eat(b'"')?;
        self.decimal_body()
    }

    /// The rest of a decimal string whose opening quote was consumed, parsed in the pass that
    /// finds the closing quote. Accepts exactly what `Px::parse_bytes` accepts, up to 18
    /// digits; longer input is declined rather than parsed (the `decimal` proptest checks
    /// both against `Px::parse_bytes`).
    #[inline(always)]
    fn decimal_body(&mut self) -> Scan<i64> {
        // The common case: a non-negative decimal of at most eight bytes, whose closing quote
        // is found in the same word (or right after it) before any digit is looked at, so
        // the cursor does not wait for the conversion.
        let x = self.word_at(self.pos);
        let quote = (quote_bits(x) | 0x100).trailing_zeros() as usize;
        let len = if quote < 8 || self.buf.get(self.pos + 8) == Some(&b'"') {
            quote
        } else {
            return self.long_decimal();
        };
        match word_decimal(x, len) {
            Some(v) => {
                self.pos += len + 1;
                Ok(v)
            }
            None => self.long_decimal(),
        }
    }

    /// [`Self::decimal_body`] for every other shape: signs, more than eight bytes, and
    /// everything it must decline.
    #[inline(never)]
    fn long_decimal(&mut self) -> Scan<i64> {
        let negative = self.byte()? == b'-';
        if negative {
            self.pos += 1;
        }
        let (int, int_digits) = self.digits()?;
        let mut b = self.byte()?;
        let (frac, frac_digits) = if b == b'.' {
            self.pos += 1;
            let (frac, frac_digits) = self.digits()?;
            if frac_digits == 0 {
                return Err(Decline);
            }
            b = self.byte()?;
            (frac, frac_digits)
        } else {
            (0, 0)
        };
        if b != b'"' || int_digits == 0 || int_digits + frac_digits > 18 {
            return Err(Decline);
        }
        self.pos += 1;
        let shift = POW10.get(frac_digits).ok_or(Decline)?;
        let scale = SCALE_FOR_FRACTION.get(frac_digits).ok_or(Decline)?;
        // At most 18 digits: `digits` stays below 10^18.
        let digits = int.wrapping_mul(*shift).wrapping_add(frac);
        let magnitude = digits.checked_mul(*scale).ok_or(Decline)?;
        let magnitude = i64::try_from(magnitude).map_err(|_| Decline)?;
        Ok(if negative { -magnitude } else { magnitude })
    }

    /// Skips any JSON value the scanner accepts (see the module docs).
    fn skip_value(&mut self, depth: u32) -> Scan<()> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                self.str_body().map(|_| ())
            }
            b'{' => {
                if depth >= MAX_SKIP_DEPTH {
                    return Err(Decline);
                }
                self.pos += 1;
                let mut first = true;
                while self.next_key(&mut first)?.is_some() {
                    self.skip_value(depth + 1)?;
                }
                Ok(())
            }
            b'[' => {
                if depth >= MAX_SKIP_DEPTH {
                    return Err(Decline);
                }
                self.pos += 1;
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(Decline),
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' => {
                self.pos += 1;
                self.skip_integer()
            }
            _ => self.skip_integer(),
        }
    }

    /// Digits of an integer of at most 18 digits (so simd-json reads it as an exact `i64`).
    fn skip_integer(&mut self) -> Scan<()> {
        let start = self.pos;
        while self.byte().is_ok_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 || digits > 18 || (digits > 1 && self.buf.get(start) == Some(&b'0')) {
            return Err(Decline);
        }
        Ok(())
    }

    /// An ignored member of a payload: at the top level a `stream` or `data` key means the
    /// frame might be an envelope, which the simd-json path decides.
    #[inline]
    fn ignore(&mut self, key: u64, top: bool) -> Scan<()> {
        if top && (key == K_STREAM || key == K_DATA) {
            return Err(Decline);
        }
        self.skip_value(0)
    }

    /// A member of a combined-stream envelope other than the payload: `stream` once,
    /// anything unknown; a second `data` declines.
    fn envelope_member(&mut self, key: u64, has_stream: &mut bool) -> Scan<()> {
        match key {
            K_STREAM if !*has_stream => {
                *has_stream = true;
                self.string().map(|_| ())
            }
            K_STREAM | K_DATA => Err(Decline),
            _ => self.skip_value(0),
        }
    }

    /// A payload object whose `{` was consumed. `top` when it is the whole frame.
    #[inline(always)]
    fn payload(
        &mut self,
        top: bool,
        bids: &mut Vec<PxQty>,
        asks: &mut Vec<PxQty>,
    ) -> Scan<Fast<'a>> {
        let start = self.pos;
        if self.peek()? == b'}' {
            return Err(Decline);
        }
        let (kind, resume) = if self.key()? == K_E {
            (Kind::from_type(self.string()?)?, true)
        } else {
            // Keys in another order: find `e` first, then read the members from the start.
            self.pos = start;
            let mut ty = None;
            let mut first = true;
            while let Some(key) = self.next_key(&mut first)? {
                if key == K_E {
                    if ty.is_some() {
                        return Err(Decline);
                    }
                    ty = Some(self.string()?);
                } else {
                    self.skip_value(0)?;
                }
            }
            self.pos = start;
            (Kind::from_type(ty.ok_or(Decline)?)?, false)
        };
        if resume {
            let members = self.pos;
            let in_order = match kind {
                Kind::BookTicker => self.book_ticker_in_order(top),
                Kind::Trade => self.trade_in_order(top),
                Kind::AggTrade => self.agg_trade_in_order(top),
                Kind::Depth => None,
            };
            if let Some(fast) = in_order {
                return Ok(fast);
            }
            self.pos = members;
        }
        match kind {
            Kind::Depth => self.depth(resume, top, bids, asks),
            Kind::BookTicker => self.book_ticker(resume, top),
            Kind::Trade => self.trade(resume, top),
            Kind::AggTrade => self.agg_trade(resume, top),
        }
    }

    // Binance writes each message's members in one fixed order. The `*_in_order` readers below
    // take the rest of a payload after `"e"` in that order: each expected member `,"k":` is one
    // literal compare, with no key dispatch and no bookkeeping of the keys seen (the general
    // readers spend about an eighth of a bookTicker or trade on those). Members of keys the
    // message type does not know (`"ps"`, `"st"`) are skipped wherever they are. Anything
    // else (whitespace between members, a known key out of order or repeated, a missing
    // member) returns `None`, and the general reader takes the payload from the same place.
    // The values go through the same readers, so an accepted payload gives what the general
    // reader gives.

    /// `{"stream":"<name>","data":{`, the head of every combined-stream frame as Binance writes
    /// it, consumed with the cursor at the start of the frame: two literal compares around the
    /// stream name, read as the general path reads it. `false` for any other start (the cursor
    /// is then anywhere; the caller starts over).
    #[inline(always)]
    fn envelope_in_order(&mut self) -> bool {
        self.literal(b"{\"stream\":\"").is_ok()
            && self.str_body().is_ok()
            && self.literal(b",\"data\":{").is_ok()
    }

    /// The member `,"k":` (no whitespace) with `literal` as its bytes (or the closing `}`),
    /// after any members of keys not in `known`; `None` when another member of a `known` key
    /// (or the end of the object, when a member was expected) comes first. It compares the
    /// bytes itself rather than through [`Self::literal`]: that cost a bookTicker about 2 %
    /// more instructions.
    #[inline(always)]
    fn member<const N: usize, const K: usize>(
        &mut self,
        literal: &[u8; N],
        known: &[u64; K],
        top: bool,
    ) -> Option<()> {
        loop {
            let end = self.pos + N;
            if self.buf.get(self.pos..end)? == literal {
                self.pos = end;
                return Some(());
            }
            self.unknown_member(known, top)?;
        }
    }

    /// Skips one member whose key is not in `known`; `None` for a member of a known key or
    /// anything that is not a member (the closing brace included). Out of line: Binance's
    /// current bookTicker and trade carry one or two such members (`"ps"`, `"st"`).
    #[inline(never)]
    fn unknown_member<const K: usize>(&mut self, known: &[u64; K], top: bool) -> Option<()> {
        self.eat(b',').ok()?;
        let key = self.key().ok()?;
        if known.contains(&key) || (top && (key == K_STREAM || key == K_DATA)) {
            return None;
        }
        // The values Binance adds are a string or a small integer: skipped directly, anything
        // else through the general skip.
        match self.buf.get(self.pos) {
            Some(b'"') => {
                self.pos += 1;
                self.str_body().ok().map(|_| ())
            }
            Some(b'1'..=b'9') => self.skip_integer().ok(),
            _ => self.skip_value(0).ok(),
        }
    }

    /// The `}` closing a payload, after any members of keys not in `known`.
    #[inline(always)]
    fn close<const K: usize>(&mut self, known: &[u64; K], top: bool) -> Option<()> {
        self.member(b"}", known, top)
    }

    /// A bookTicker after `"e"`: `u s b B a A T E`.
    #[inline(always)]
    fn book_ticker_in_order(&mut self, top: bool) -> Option<Fast<'a>> {
        const KNOWN: [u64; 9] = [
            K_E,
            K_ID,
            K_SYMBOL,
            K_B,
            K_BID_QTY,
            K_A,
            K_ASK_QTY,
            K_TIME,
            K_EVENT_TIME,
        ];
        let mut r = BookTicker::default();
        self.member(b",\"u\":", &KNOWN, top)?;
        r.update_id = self.u64().ok()?;
        self.member(b",\"s\":", &KNOWN, top)?;
        let symbol = self.string().ok()?;
        self.member(b",\"b\":", &KNOWN, top)?;
        r.bid_px = Px(self.decimal().ok()?);
        self.member(b",\"B\":", &KNOWN, top)?;
        r.bid_qty = Qty(self.decimal().ok()?);
        self.member(b",\"a\":", &KNOWN, top)?;
        r.ask_px = Px(self.decimal().ok()?);
        self.member(b",\"A\":", &KNOWN, top)?;
        r.ask_qty = Qty(self.decimal().ok()?);
        self.member(b",\"T\":", &KNOWN, top)?;
        r.transact_time_ms = self.time().ok()?;
        self.member(b",\"E\":", &KNOWN, top)?;
        r.event_time_ms = self.time().ok()?;
        self.close(&KNOWN, top)?;
        Some(Fast::BookTicker(r, symbol))
    }

    /// A trade after `"e"`: `E T s t p q X m`; placeholders are dropped as in [`Self::trade`].
    #[inline(always)]
    fn trade_in_order(&mut self, top: bool) -> Option<Fast<'a>> {
        const KNOWN: [u64; 9] = [
            K_E,
            K_EVENT_TIME,
            K_TIME,
            K_SYMBOL,
            K_TRADE_ID,
            K_PRICE,
            K_QTY,
            K_TRADE_TYPE,
            K_MAKER,
        ];
        let mut r = Trade::default();
        self.member(b",\"E\":", &KNOWN, top)?;
        r.event_time_ms = self.time().ok()?;
        self.member(b",\"T\":", &KNOWN, top)?;
        r.transact_time_ms = self.time().ok()?;
        self.member(b",\"s\":", &KNOWN, top)?;
        let symbol = self.string().ok()?;
        self.member(b",\"t\":", &KNOWN, top)?;
        r.trade_id = self.u64().ok()?;
        self.member(b",\"p\":", &KNOWN, top)?;
        r.px = Px(self.decimal().ok()?);
        self.member(b",\"q\":", &KNOWN, top)?;
        r.qty = Qty(self.decimal().ok()?);
        self.member(b",\"X\":", &KNOWN, top)?;
        let placeholder = self.string().ok()? == b"NA";
        self.member(b",\"m\":", &KNOWN, top)?;
        r.aggressor = Side::from_buyer_is_maker(self.bool().ok()?);
        self.close(&KNOWN, top)?;
        Some(Fast::trade(r, symbol, placeholder))
    }

    /// An aggTrade after `"e"`: `E a s p q [nq] f l T m`.
    #[inline(always)]
    fn agg_trade_in_order(&mut self, top: bool) -> Option<Fast<'a>> {
        const KNOWN: [u64; 11] = [
            K_E,
            K_EVENT_TIME,
            K_A,
            K_SYMBOL,
            K_PRICE,
            K_QTY,
            K_NORMAL_QTY,
            K_FIRST_TRADE,
            K_LAST_TRADE,
            K_TIME,
            K_MAKER,
        ];
        let mut r = AggTrade {
            normal_qty: Qty::UNDEF,
            ..AggTrade::default()
        };
        self.member(b",\"E\":", &KNOWN, top)?;
        r.event_time_ms = self.time().ok()?;
        self.member(b",\"a\":", &KNOWN, top)?;
        r.agg_trade_id = self.u64().ok()?;
        self.member(b",\"s\":", &KNOWN, top)?;
        let symbol = self.string().ok()?;
        self.member(b",\"p\":", &KNOWN, top)?;
        r.px = Px(self.decimal().ok()?);
        self.member(b",\"q\":", &KNOWN, top)?;
        r.qty = Qty(self.decimal().ok()?);
        // Optional. An unknown member before it is left to the next `member`, which then
        // meets `nq` out of place and gives up.
        if self.literal(b",\"nq\":").is_ok() {
            r.normal_qty = Qty(self.decimal().ok()?);
        }
        self.member(b",\"f\":", &KNOWN, top)?;
        r.first_trade_id = self.u64().ok()?;
        self.member(b",\"l\":", &KNOWN, top)?;
        r.last_trade_id = self.u64().ok()?;
        self.member(b",\"T\":", &KNOWN, top)?;
        r.transact_time_ms = self.time().ok()?;
        self.member(b",\"m\":", &KNOWN, top)?;
        r.aggressor = Side::from_buyer_is_maker(self.bool().ok()?);
        self.close(&KNOWN, top)?;
        Some(Fast::AggTrade(r, symbol))
    }

    /// `"e"` met while reading fields from the start of the payload (its value was already
    /// classified by the first pass).
    #[inline]
    fn type_again(&mut self, seen: &mut u32) -> Scan<()> {
        mark(seen, 1)?;
        self.string().map(|_| ())
    }

    /// A level array: `[["px","qty"],...]`.
    ///
    /// Levels are the bulk of a depth frame. Reading them token by token makes every
    /// position depend on the length of the value before it, a chain of dependent loads. Here
    /// the quote positions come from 64-byte blocks found independently of the cursor
    /// ([`Quotes`]), and each level is one step ([`Self::level_fast`]); a level in any other
    /// layout is read token by token.
    #[inline]
    fn levels(&mut self, into: &mut Vec<PxQty>) -> Scan<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(());
        }
        let mut quotes = Quotes::new(self, self.pos);
        loop {
            let (px, qty) = match self.level_fast(&mut quotes) {
                Some(level) => level,
                None => {
                    let level = self.level_tokens()?;
                    quotes = Quotes::new(self, self.pos);
                    level
                }
            };
            into.push(PxQty {
                px: Px(px),
                qty: Qty(qty),
            });
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Decline),
            }
        }
    }

    /// One level read token by token: `[ "px" , "qty" ]` with any whitespace.
    fn level_tokens(&mut self) -> Scan<(i64, i64)> {
        self.eat(b'[')?;
        let px = self.decimal()?;
        self.eat(b',')?;
        let qty = self.decimal()?;
        self.eat(b']')?;
        Ok((px, qty))
    }

    #[inline(always)]
    fn depth(
        &mut self,
        resume: bool,
        top: bool,
        bids: &mut Vec<PxQty>,
        asks: &mut Vec<PxQty>,
    ) -> Scan<Fast<'a>> {
        const ALL: u32 = (1 << 9) - 1;
        let mut seen = u32::from(resume);
        let mut head = DepthDiff::default();
        let mut symbol: &[u8] = &[];
        let mut first = !resume;
        while let Some(key) = self.next_key(&mut first)? {
            let s = &mut *self;
            let step: Scan<()> = match key {
                K_EVENT_TIME => {
                    mark(&mut seen, 1 << 1)?;
                    head.event_time_ms = s.time()?;
                    Ok(())
                }
                K_TIME => {
                    mark(&mut seen, 1 << 2)?;
                    head.transact_time_ms = s.time()?;
                    Ok(())
                }
                K_SYMBOL => {
                    mark(&mut seen, 1 << 3)?;
                    symbol = s.string()?;
                    Ok(())
                }
                K_FIRST_ID => {
                    mark(&mut seen, 1 << 4)?;
                    head.first_update_id = s.u64()?;
                    Ok(())
                }
                K_ID => {
                    mark(&mut seen, 1 << 5)?;
                    head.final_update_id = s.u64()?;
                    Ok(())
                }
                K_PREV_ID => {
                    mark(&mut seen, 1 << 6)?;
                    head.prev_final_update_id = s.u64()?;
                    Ok(())
                }
                K_B => {
                    mark(&mut seen, 1 << 7)?;
                    s.levels(bids)
                }
                K_A => {
                    mark(&mut seen, 1 << 8)?;
                    s.levels(asks)
                }
                K_E => s.type_again(&mut seen),
                _ => s.ignore(key, top),
            };
            step?;
        }
        if seen == ALL {
            Ok(Fast::Depth(head, symbol))
        } else {
            Err(Decline)
        }
    }

    #[inline(always)]
    fn book_ticker(&mut self, resume: bool, top: bool) -> Scan<Fast<'a>> {
        const ALL: u32 = (1 << 9) - 1;
        let mut seen = u32::from(resume);
        let mut r = BookTicker::default();
        let mut symbol: &[u8] = &[];
        let mut first = !resume;
        while let Some(key) = self.next_key(&mut first)? {
            let s = &mut *self;
            let step: Scan<()> = match key {
                K_ID => {
                    mark(&mut seen, 1 << 1)?;
                    r.update_id = s.u64()?;
                    Ok(())
                }
                K_SYMBOL => {
                    mark(&mut seen, 1 << 2)?;
                    symbol = s.string()?;
                    Ok(())
                }
                K_B => {
                    mark(&mut seen, 1 << 3)?;
                    r.bid_px = Px(s.decimal()?);
                    Ok(())
                }
                K_BID_QTY => {
                    mark(&mut seen, 1 << 4)?;
                    r.bid_qty = Qty(s.decimal()?);
                    Ok(())
                }
                K_A => {
                    mark(&mut seen, 1 << 5)?;
                    r.ask_px = Px(s.decimal()?);
                    Ok(())
                }
                K_ASK_QTY => {
                    mark(&mut seen, 1 << 6)?;
                    r.ask_qty = Qty(s.decimal()?);
                    Ok(())
                }
                K_TIME => {
                    mark(&mut seen, 1 << 7)?;
                    r.transact_time_ms = s.time()?;
                    Ok(())
                }
                K_EVENT_TIME => {
                    mark(&mut seen, 1 << 8)?;
                    r.event_time_ms = s.time()?;
                    Ok(())
                }
                K_E => s.type_again(&mut seen),
                _ => s.ignore(key, top),
            };
            step?;
        }
        if seen == ALL {
            Ok(Fast::BookTicker(r, symbol))
        } else {
            Err(Decline)
        }
    }

    #[inline(always)]
    fn trade(&mut self, resume: bool, top: bool) -> Scan<Fast<'a>> {
        const ALL: u32 = (1 << 8) - 1;
        let mut seen = u32::from(resume);
        let mut r = Trade::default();
        let mut symbol: &[u8] = &[];
        let mut placeholder = false;
        let mut first = !resume;
        while let Some(key) = self.next_key(&mut first)? {
            let s = &mut *self;
            let step: Scan<()> = match key {
                K_EVENT_TIME => {
                    mark(&mut seen, 1 << 1)?;
                    r.event_time_ms = s.time()?;
                    Ok(())
                }
                K_TIME => {
                    mark(&mut seen, 1 << 2)?;
                    r.transact_time_ms = s.time()?;
                    Ok(())
                }
                K_SYMBOL => {
                    mark(&mut seen, 1 << 3)?;
                    symbol = s.string()?;
                    Ok(())
                }
                K_TRADE_ID => {
                    mark(&mut seen, 1 << 4)?;
                    r.trade_id = s.u64()?;
                    Ok(())
                }
                K_PRICE => {
                    mark(&mut seen, 1 << 5)?;
                    r.px = Px(s.decimal()?);
                    Ok(())
                }
                K_QTY => {
                    mark(&mut seen, 1 << 6)?;
                    r.qty = Qty(s.decimal()?);
                    Ok(())
                }
                K_MAKER => {
                    mark(&mut seen, 1 << 7)?;
                    r.aggressor = Side::from_buyer_is_maker(s.bool()?);
                    Ok(())
                }
                K_TRADE_TYPE => {
                    mark(&mut seen, 1 << 8)?;
                    placeholder = s.string()? == b"NA";
                    Ok(())
                }
                K_E => s.type_again(&mut seen),
                _ => s.ignore(key, top),
            };
            step?;
        }
        if seen & ALL != ALL {
            return Err(Decline);
        }
        Ok(Fast::trade(r, symbol, placeholder))
    }

    #[inline(always)]
    fn agg_trade(&mut self, resume: bool, top: bool) -> Scan<Fast<'a>> {
        const ALL: u32 = (1 << 10) - 1;
        let mut seen = u32::from(resume);
        let mut r = AggTrade {
            normal_qty: Qty::UNDEF,
            ..AggTrade::default()
        };
        let mut symbol: &[u8] = &[];
        let mut first = !resume;
        while let Some(key) = self.next_key(&mut first)? {
            let s = &mut *self;
            let step: Scan<()> = match key {
                K_EVENT_TIME => {
                    mark(&mut seen, 1 << 1)?;
                    r.event_time_ms = s.time()?;
                    Ok(())
                }
                K_A => {
                    mark(&mut seen, 1 << 2)?;
                    r.agg_trade_id = s.u64()?;
                    Ok(())
                }
                K_SYMBOL => {
                    mark(&mut seen, 1 << 3)?;
                    symbol = s.string()?;
                    Ok(())
                }
                K_PRICE => {
                    mark(&mut seen, 1 << 4)?;
                    r.px = Px(s.decimal()?);
                    Ok(())
                }
                K_QTY => {
                    mark(&mut seen, 1 << 5)?;
                    r.qty = Qty(s.decimal()?);
                    Ok(())
                }
                K_FIRST_TRADE => {
                    mark(&mut seen, 1 << 6)?;
                    r.first_trade_id = s.u64()?;
                    Ok(())
                }
                K_LAST_TRADE => {
                    mark(&mut seen, 1 << 7)?;
                    r.last_trade_id = s.u64()?;
                    Ok(())
                }
                K_TIME => {
                    mark(&mut seen, 1 << 8)?;
                    r.transact_time_ms = s.time()?;
                    Ok(())
                }
                K_MAKER => {
                    mark(&mut seen, 1 << 9)?;
                    r.aggressor = Side::from_buyer_is_maker(s.bool()?);
                    Ok(())
                }
                K_NORMAL_QTY => {
                    mark(&mut seen, 1 << 10)?;
                    r.normal_qty = Qty(s.decimal()?);
                    Ok(())
                }
                K_E => s.type_again(&mut seen),
                _ => s.ignore(key, top),
            };
            step?;
        }
        if seen & ALL == ALL {
            Ok(Fast::AggTrade(r, symbol))
        } else {
            Err(Decline)
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index known fixtures")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decimal(text: &[u8]) -> Scan<i64> {
        let mut quoted = text.to_vec();
        quoted.push(b'"');
        let mut s = Scanner {
            buf: &quoted,
            pos: 0,
        };
        let v = s.decimal_body()?;
        if s.pos == quoted.len() {
            Ok(v)
        } else {
            Err(Decline)
        }
    }

    #[test]
    fn key_tags_are_distinct() {
        let keys = [
            K_STREAM,
            K_DATA,
            K_E,
            K_EVENT_TIME,
            K_TIME,
            K_SYMBOL,
            K_FIRST_ID,
            K_ID,
            K_PREV_ID,
            K_B,
            K_A,
            K_BID_QTY,
            K_ASK_QTY,
            K_PRICE,
            K_QTY,
            K_NORMAL_QTY,
            K_FIRST_TRADE,
            K_LAST_TRADE,
            K_MAKER,
            K_TRADE_ID,
            K_TRADE_TYPE,
            LONG_KEY,
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in keys.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
        // A key that starts like a known one but is longer is a different tag.
        assert_ne!(key_tag(b"pu"), key_tag(b"p"));
        assert_ne!(key_tag(b"stream_"), K_STREAM);
    }

    #[test]
    fn decimal_examples() {
        assert_eq!(decimal(b"61800.20"), Ok(6_180_020_000_000));
        assert_eq!(decimal(b"0.014"), Ok(1_400_000));
        assert_eq!(decimal(b"-0.00010000"), Ok(-10_000));
        assert_eq!(decimal(b"0"), Ok(0));
        assert_eq!(decimal(b"007.5"), Ok(750_000_000));
        assert_eq!(decimal(b"1.123456789"), Err(Decline));
        assert_eq!(decimal(b"5."), Err(Decline));
        assert_eq!(decimal(b".5"), Err(Decline));
        assert_eq!(decimal(b""), Err(Decline));
        assert_eq!(decimal(b"-"), Err(Decline));
        assert_eq!(decimal(b"1e5"), Err(Decline));
        assert_eq!(decimal(b"92233720368.54775807"), Err(Decline)); // 19 digits: declined
        assert_eq!(decimal(b"9223372036.85477580"), Ok(922_337_203_685_477_580));
        assert_eq!(decimal(b"99999999999.9999999"), Err(Decline)); // overflows i64
    }

    /// Bytes the SWAR classifiers care about, and a few they must not confuse with them.
    fn swar_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            4 => proptest::sample::select(&b"0123456789.\"\\-,:]} \x00\x1f\x7f\x80\xfa\xff/:"[..]),
            1 => any::<u8>(),
        ]
    }

    fn word(bytes: [u8; 8]) -> u64 {
        u64::from_le_bytes(bytes)
    }

    /// Index of the first byte matching `pred`, 8 when none does.
    fn naive_first(bytes: [u8; 8], pred: impl Fn(u8) -> bool) -> usize {
        bytes.iter().position(|&b| pred(b)).unwrap_or(8)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn swar_classifiers_match_naive_models(bytes in proptest::array::uniform8(swar_byte())) {
            let x = word(bytes);
            prop_assert_eq!(
                first_flagged(non_digits(x)),
                naive_first(bytes, |b| !b.is_ascii_digit())
            );
            prop_assert_eq!(
                first_flagged(string_stops(x)),
                naive_first(bytes, |b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
            );
            let quotes = (0..8).filter(|&i| bytes[i] == b'"').fold(0u32, |m, i| m | 1 << i);
            prop_assert_eq!(quote_bits(x), quotes);
        }

        /// Both ways through `digit_run` (three words at once with 24 bytes to read, the
        /// word-at-a-time loop nearer the end) agree with a byte-by-byte model.
        #[test]
        fn digit_run_matches_naive(
            digits in "[0-9]{0,24}",
            rest in proptest::collection::vec(swar_byte(), 0..30),
            start in 0usize..3,
        ) {
            let mut buf = b"12".to_vec();
            buf.extend_from_slice(digits.as_bytes());
            buf.extend_from_slice(&rest);
            let run = buf[start..].iter().take_while(|b| b.is_ascii_digit()).count();
            let naive = buf[start..start + run]
                .iter()
                .try_fold(0u64, |v, &b| v.checked_mul(10)?.checked_add(u64::from(b - b'0')));
            let expected = if run <= 19 { naive.map(|v| (v, run)) } else { None };
            prop_assert_eq!(digit_run(&buf, start), expected);
        }

        /// `nineteen_digits` reads exactly the 19-digit runs followed by the stop byte, with
        /// the value a byte-by-byte model gives, and declines everything else.
        #[test]
        fn nineteen_digits_matches_naive(
            digits in "[0-9]{16,21}",
            spoil in proptest::option::of((0usize..21, swar_byte())),
            stop in proptest::sample::select(vec![b' ', b' ', b'x', b'0']),
            rest in proptest::collection::vec(swar_byte(), 2..8),
        ) {
            let mut buf = digits.into_bytes();
            if let Some((at, byte)) = spoil
                && let Some(b) = buf.get_mut(at)
            {
                *b = byte;
            }
            buf.push(stop);
            buf.extend_from_slice(&rest);
            let run = buf.iter().take_while(|b| b.is_ascii_digit()).count();
            let expected = (run == 19 && buf.get(19) == Some(&b' ') && buf.len() >= 24)
                .then(|| buf[..19].iter().fold(0u64, |v, &b| v * 10 + u64::from(b - b'0')));
            prop_assert_eq!(nineteen_digits(&buf, b' '), expected);
        }

        #[test]
        fn parse_eight_matches_naive(digits in "[0-9]{1,8}") {
            let n = digits.len();
            let mut bytes = [0u8; 8];
            bytes[..n].copy_from_slice(digits.as_bytes());
            let value = parse_eight(word(bytes) << (64 - 8 * n));
            prop_assert_eq!(value, digits.parse::<u64>().unwrap());
        }

        #[test]
        fn word_decimal_matches_parse_bytes(
            text in "[0-9]{0,8}(\\.[0-9]{0,7})?|[-0-9.e ]{0,8}",
            tail in proptest::array::uniform8(swar_byte()),
        ) {
            prop_assume!(text.len() <= 8);
            let mut bytes = tail;
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            match word_decimal(word(bytes), text.len()) {
                Some(v) => prop_assert_eq!(Ok(Px(v)), Px::parse_bytes(text.as_bytes())),
                // Only signs are left to the long path; everything else declined is invalid.
                None => prop_assert!(
                    text.starts_with('-') || Px::parse_bytes(text.as_bytes()).is_err(),
                    "{text:?} declined"
                ),
            }
        }

        /// Whatever the inlined parser accepts equals `Px::parse_bytes`; whatever
        /// `parse_bytes` accepts with at most 18 digits, the inlined parser accepts too.
        #[test]
        fn decimal_matches_parse_bytes(text in "-?[0-9]{0,12}(\\.[0-9]{0,10})?|[-0-9.e+ ]{0,6}") {
            let fast = decimal(text.as_bytes());
            let slow = Px::parse_bytes(text.as_bytes());
            match fast {
                Ok(v) => prop_assert_eq!(Ok(Px(v)), slow),
                Err(Decline) => {
                    let digits = text.bytes().filter(u8::is_ascii_digit).count();
                    prop_assert!(slow.is_err() || digits > 18, "{text:?} declined, parse_bytes: {slow:?}");
                }
            }
        }
    }
}
