//! Record payloads: the rkyv archive of a *stamped* record, and the schema hash.
//!
//! An [`Event`] is 128 bytes in memory because its [`Body`] is as large as the largest record
//! (a kline). On disk each kind keeps only its own size: the payload is the rkyv archive of
//! `Stamped<T> { recv_ns, symbol, _reserved: [u8; 6], record: T }` for the record type `T` the
//! frame's `kind` names, and the frame's `flags` carry [`Event::flags`]. A depth level, the most
//! common record, takes 56 bytes with its frame instead of 144, which is most of what the
//! append rate is made of: page faults cost per byte (see the crate docs, "Performance").
//!
//! Serialisation resolves straight into the mapped slot (`raw::serialize_into`, rkyv's
//! low-level API with an empty [`Buffer`] and [`SubAllocator`]): no heap, no arena, no copy.

use std::sync::OnceLock;

use orderflow_core::{
    AggTrade, Body, BookSide, BookTicker, DepthDiff, DepthSnapshot, Event, EventKind, Kline,
    KlineInterval, Level, Liquidation, MarkPrice, OpenInterest, OrderStatus, Px, Qty, Side, Status,
    StatusCode, SymbolId, Timer, Trade,
};
use rkyv::api::low::{LowDeserializer, LowSerializer, LowValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor::{Failure, Infallible, ResultExt};
use rkyv::ser::allocator::SubAllocator;
use rkyv::ser::writer::Buffer;
use rkyv::{Archive, Archived, Deserialize, Portable, Serialize};

use crate::error::Corruption;
use crate::words::{RecordWords, Words, words_match_archive};

/// What a payload holds: the event header fields and one record.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Stamped<T> {
    /// [`Event::recv_ns`].
    pub(crate) recv_ns: i64,
    /// [`Event::symbol`].
    pub(crate) symbol: SymbolId,
    /// Zero.
    pub(crate) reserved: [u8; 6],
    /// The record.
    pub(crate) record: T,
}

/// Expands `$m!(DepthDiff, DepthSnapshot, ..., Status)`: every record kind, in [`EventKind`]
/// discriminant order. The per-kind matches of this crate (encode, decode, zero-copy view) are
/// local macros called through this one list, so a new kind is added here once.
macro_rules! with_kinds {
    ($m:ident) => {
        $m!(
            DepthDiff,
            DepthSnapshot,
            Level,
            AggTrade,
            Trade,
            BookTicker,
            MarkPrice,
            Liquidation,
            OpenInterest,
            Kline,
            Timer,
            Status
        )
    };
}
pub(crate) use with_kinds;

const fn len<T: Archive>() -> u32 {
    size_of::<Archived<Stamped<T>>>() as u32
}

/// Payload length per kind, indexed by the [`EventKind`] discriminant.
pub(crate) const PAYLOAD_LEN: [u32; 12] = {
    macro_rules! lens {
        ($($kind:ident),*) => {
            [$(len::<$kind>()),*]
        };
    }
    with_kinds!(lens)
};

const _: () = {
    let mut i = 0;
    while i < PAYLOAD_LEN.len() {
        // 8-byte multiples keep every frame 8-byte aligned with no padding.
        assert!(PAYLOAD_LEN[i].is_multiple_of(8));
        i += 1;
    }
    assert!(align_of::<Archived<Stamped<Kline>>>() <= 8);
};

/// Largest payload, in bytes.
pub(crate) const MAX_PAYLOAD_LEN: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < PAYLOAD_LEN.len() {
        if PAYLOAD_LEN[i] > max {
            max = PAYLOAD_LEN[i];
        }
        i += 1;
    }
    max as usize
};

#[inline]
fn stamp<T>(event: &Event, record: T) -> Stamped<T> {
    Stamped {
        recv_ns: event.recv_ns,
        symbol: event.symbol,
        reserved: [0; 6],
        record,
    }
}

#[inline]
fn put<T>(value: &Stamped<T>, seed: u32, out: &mut [u8]) -> Result<u32, Failure>
where
    T: Archive + RecordWords,
    Stamped<T>: for<'a> Serialize<LowSerializer<Buffer<'a>, SubAllocator<'a>, Failure>>,
{
    crate::raw::serialize_into(value, out)?;
    if !words_match_archive() {
        return Ok(crate::raw::crc32c_append(seed, out));
    }
    let mut words = Words::stamp(value.recv_ns, value.symbol.0);
    value.record.push_words(&mut words);
    let crc = crate::raw::crc32c_words(seed, words.as_slice());
    debug_assert_eq!(crc, crate::raw::crc32c_append(seed, out));
    Ok(crc)
}

/// Serialises `event`'s payload into `out`, which must be exactly
/// `PAYLOAD_LEN[event.kind()]` bytes at an 8-byte aligned address, and returns its CRC-32C
/// continued from `seed` (see `format::record_crc`).
#[inline]
pub(crate) fn encode(event: &Event, seed: u32, out: &mut [u8]) -> Result<u32, Failure> {
    macro_rules! put_kind {
        ($($kind:ident),*) => {
            match event.body {
                $(Body::$kind(r) => put(&stamp(event, r), seed, out),)*
            }
        };
    }
    with_kinds!(put_kind)
}

/// The payload of `event` as words (stamp, then record).
fn words_of(event: &Event) -> Words {
    let mut w = Words::stamp(event.recv_ns, event.symbol.0);
    macro_rules! push_kind {
        ($($kind:ident),*) => {
            match &event.body {
                $(Body::$kind(r) => r.push_words(&mut w),)*
            }
        };
    }
    with_kinds!(push_kind);

    w
}

/// Whether [`Words`] equal the archived bytes for one sample of every kind, each field
/// distinct (see `words.rs`).
pub(crate) fn check_words_against_archive() -> bool {
    #[repr(C, align(8))]
    struct Slot([u8; MAX_PAYLOAD_LEN]);
    schema_samples().iter().all(|event| {
        let len = PAYLOAD_LEN[event.kind() as usize] as usize;
        let mut slot = Slot([0; MAX_PAYLOAD_LEN]);
        let Some(bytes) = slot.0.get_mut(..len) else {
            return false;
        };
        macro_rules! archive_kind {
            ($($kind:ident),*) => {
                match event.body {
                    $(Body::$kind(r) => crate::raw::serialize_into(&stamp(event, r), bytes),)*
                }
            };
        }
        let archived = with_kinds!(archive_kind);
        let words = words_of(event);
        archived.is_ok()
            && words.as_slice().len() * 8 == len
            && words
                .as_slice()
                .iter()
                .zip(bytes.chunks_exact(8))
                .all(|(w, b)| w.to_le_bytes() == b)
    })
}

fn view<T>(payload: &[u8]) -> Result<Stamped<T>, Corruption>
where
    T: Archive,
    Archived<Stamped<T>>: Portable
        + for<'a> CheckBytes<LowValidator<'a, Failure>>
        + Deserialize<Stamped<T>, LowDeserializer<Infallible>>,
{
    let archived = rkyv::api::low::access::<Archived<Stamped<T>>, Failure>(payload)
        .map_err(|_| Corruption::BadPayload)?;
    Ok(rkyv::api::low::deserialize::<Stamped<T>, Infallible>(archived).always_ok())
}

/// The stamp's reserved bytes are zero.
#[inline]
fn check_reserved(payload: &[u8]) -> Result<(), Corruption> {
    if payload
        .get(10..16)
        .is_none_or(|r| r.iter().any(|&b| b != 0))
    {
        return Err(Corruption::ReservedBits);
    }
    Ok(())
}

/// Validates a payload of `kind` with the checked rkyv API (lengths were checked by the
/// caller) and returns its receive time and exchange time ([`Body::exchange_time_ms`]): all
/// a segment walk keeps. Two integers come back in registers; returning the decoded body made
/// the walk copy it twice, reading narrow stores back with wide loads.
#[inline]
pub(crate) fn validate(kind: EventKind, payload: &[u8]) -> Result<(i64, i64), Corruption> {
    check_reserved(payload)?;
    macro_rules! times {
        ($($kind:ident),*) => {
            match kind {
                $(EventKind::$kind => {
                    let s = view::<$kind>(payload)?;
                    (s.recv_ns, Body::$kind(s.record).exchange_time_ms())
                })*
            }
        };
    }
    Ok(with_kinds!(times))
}

/// Validates a payload of `kind` like [`validate`] and decodes it whole.
#[cfg(test)]
pub(crate) fn check(kind: EventKind, payload: &[u8]) -> Result<(i64, SymbolId, Body), Corruption> {
    check_reserved(payload)?;
    macro_rules! decode {
        ($($kind:ident),*) => {
            match kind {
                $(EventKind::$kind => {
                    let s = view::<$kind>(payload)?;
                    (s.recv_ns, s.symbol, Body::$kind(s.record))
                })*
            }
        };
    }
    Ok(with_kinds!(decode))
}

/// Zero-copy view of a record body inside a mapped segment: one variant per [`EventKind`],
/// each borrowing the rkyv archived record (`rkyv::Archived<Level>` and so on, whose fields
/// read with `.to_native()`).
#[derive(Clone, Copy, Debug)]
#[allow(
    missing_docs,
    reason = "each variant borrows the archived record of the same name"
)]
pub enum ArchivedBodyRef<'a> {
    DepthDiff(&'a Archived<DepthDiff>),
    DepthSnapshot(&'a Archived<DepthSnapshot>),
    Level(&'a Archived<Level>),
    AggTrade(&'a Archived<AggTrade>),
    Trade(&'a Archived<Trade>),
    BookTicker(&'a Archived<BookTicker>),
    MarkPrice(&'a Archived<MarkPrice>),
    Liquidation(&'a Archived<Liquidation>),
    OpenInterest(&'a Archived<OpenInterest>),
    Kline(&'a Archived<Kline>),
    Timer(&'a Archived<Timer>),
    Status(&'a Archived<Status>),
}

impl ArchivedBodyRef<'_> {
    /// Deserialises the record into an owned [`Body`] (a copy; never fails, never allocates).
    #[must_use]
    pub fn to_body(&self) -> Body {
        macro_rules! owned {
            ($($kind:ident),*) => {
                match *self {
                    $(Self::$kind(r) => Body::$kind(
                        rkyv::api::low::deserialize::<$kind, Infallible>(r).always_ok(),
                    ),)*
                }
            };
        }
        with_kinds!(owned)
    }
}

/// Version text folded into the schema hash: change it with any change of framing or payload
/// meaning that the layouts alone would not show.
const SCHEMA_TEXT: &[u8] = b"orderflow-recorder/1: frame[len u32|kind u16|flags u16|crc32c u32|0 u32] payload=rkyv(Stamped<T>{recv_ns i64,symbol u16,0 [u8;6],record T})";

/// Hash of the record layouts this build writes: FNV-1a 64 over a format description and, per
/// kind, its discriminant, payload length and the archived bytes of a sample whose fields all
/// hold distinct values. Any change of size, field order, endianness, enum tag or rkyv format
/// changes it, so a reader refuses segments from a build whose records it would misread.
#[must_use]
pub fn schema_hash() -> u64 {
    static HASH: OnceLock<u64> = OnceLock::new();
    *HASH.get_or_init(compute_schema_hash)
}

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn compute_schema_hash() -> u64 {
    #[repr(C, align(8))]
    struct Slot([u8; MAX_PAYLOAD_LEN]);
    let mut h = fnv1a(0xcbf2_9ce4_8422_2325, SCHEMA_TEXT);
    for event in schema_samples() {
        let kind = event.kind();
        let len = PAYLOAD_LEN[kind as usize] as usize;
        let mut slot = Slot([0; MAX_PAYLOAD_LEN]);
        let bytes = slot.0.get_mut(..len).unwrap_or_default();
        // A failure would hash an all-zero payload: still deterministic per build.
        let _ = encode(&event, 0, bytes);
        h = fnv1a(h, &[kind as u8]);
        h = fnv1a(h, &(len as u32).to_le_bytes());
        h = fnv1a(h, bytes);
    }
    h
}

/// One event per kind with every field distinct (field `n` of a record holds `n + 1` scaled
/// into its type), so reordered or retyped fields change the archived bytes.
fn schema_samples() -> [Event; 12] {
    let e = |body| Event::new(0x0102_0304_0506_0708, SymbolId(0x0A0B), body);
    [
        e(Body::DepthDiff(DepthDiff {
            first_update_id: 1,
            final_update_id: 2,
            prev_final_update_id: 3,
            event_time_ms: 4,
            transact_time_ms: 5,
            bid_count: 6,
            ask_count: 7,
        })),
        e(Body::DepthSnapshot(DepthSnapshot {
            last_update_id: 1,
            event_time_ms: 2,
            transact_time_ms: 3,
            bid_count: 4,
            ask_count: 5,
        })),
        e(Body::Level(Level {
            px: Px(1),
            qty: Qty(2),
            side: BookSide::Ask,
            _reserved: [3, 4, 5, 6, 7, 8, 9],
        })),
        e(Body::AggTrade(AggTrade {
            agg_trade_id: 1,
            first_trade_id: 2,
            last_trade_id: 3,
            px: Px(4),
            qty: Qty(5),
            normal_qty: Qty(6),
            transact_time_ms: 7,
            event_time_ms: 8,
            aggressor: Side::Sell,
            _reserved: [9, 10, 11, 12, 13, 14, 15],
        })),
        e(Body::Trade(Trade {
            trade_id: 1,
            px: Px(2),
            qty: Qty(3),
            transact_time_ms: 4,
            event_time_ms: 5,
            aggressor: Side::Sell,
            _reserved: [6, 7, 8, 9, 10, 11, 12],
        })),
        e(Body::BookTicker(BookTicker {
            update_id: 1,
            bid_px: Px(2),
            bid_qty: Qty(3),
            ask_px: Px(4),
            ask_qty: Qty(5),
            transact_time_ms: 6,
            event_time_ms: 7,
        })),
        e(Body::MarkPrice(MarkPrice {
            event_time_ms: 1,
            mark_px: Px(2),
            index_px: Px(3),
            est_settle_px: Px(4),
            mark_avg_px: Px(5),
            funding_rate: Qty(6),
            next_funding_time_ms: 7,
        })),
        e(Body::Liquidation(Liquidation {
            event_time_ms: 1,
            transact_time_ms: 2,
            px: Px(3),
            avg_px: Px(4),
            orig_qty: Qty(5),
            last_filled_qty: Qty(6),
            filled_qty: Qty(7),
            side: Side::Sell,
            status: OrderStatus::Expired,
            _reserved: [8, 9, 10, 11, 12, 13],
        })),
        e(Body::OpenInterest(OpenInterest {
            time_ms: 1,
            open_interest: Qty(2),
        })),
        e(Body::Kline(Kline {
            open_time_ms: 1,
            event_time_ms: 2,
            first_trade_id: 3,
            last_trade_id: 4,
            open: Px(5),
            high: Px(6),
            low: Px(7),
            close: Px(8),
            volume: Qty(9),
            quote_volume: Qty(10),
            taker_buy_volume: Qty(11),
            taker_buy_quote_volume: Qty(12),
            trade_count: 13,
            interval: KlineInterval::Mo1,
            _reserved: [14, 15, 16],
        })),
        e(Body::Timer(Timer { now_ms: 1 })),
        e(Body::Status(Status {
            code: StatusCode::Resynced,
            _reserved: [1, 2, 3, 4, 5, 6, 7],
            expected_id: 8,
            actual_id: 9,
            exchange_time_ms: 10,
        })),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_lengths_follow_record_sizes() {
        // 16 bytes of stamp, then the record at its native size.
        for (kind, record) in [
            (EventKind::DepthDiff, 48),
            (EventKind::DepthSnapshot, 32),
            (EventKind::Level, 24),
            (EventKind::AggTrade, 72),
            (EventKind::Trade, 48),
            (EventKind::BookTicker, 56),
            (EventKind::MarkPrice, 56),
            (EventKind::Liquidation, 64),
            (EventKind::OpenInterest, 16),
            (EventKind::Kline, 104),
            (EventKind::Timer, 8),
            (EventKind::Status, 32),
        ] {
            assert_eq!(PAYLOAD_LEN[kind as usize], 16 + record, "{kind:?}");
        }
        assert_eq!(MAX_PAYLOAD_LEN, 120);
    }

    #[test]
    fn samples_cover_every_kind_and_round_trip() {
        #[repr(C, align(8))]
        struct Slot([u8; MAX_PAYLOAD_LEN]);
        for (i, event) in schema_samples().iter().enumerate() {
            assert_eq!(event.kind() as usize, i);
            let len = PAYLOAD_LEN[i] as usize;
            let mut slot = Slot([0; MAX_PAYLOAD_LEN]);
            encode(event, 0, &mut slot.0[..len]).unwrap();
            let (recv_ns, symbol, body) = check(event.kind(), &slot.0[..len]).unwrap();
            assert_eq!(
                (recv_ns, symbol, body),
                (event.recv_ns, event.symbol, event.body)
            );
            // A short slot is an error, not a panic.
            assert!(encode(event, 0, &mut slot.0[..len - 8]).is_err());
        }
    }

    #[test]
    fn encode_writes_every_byte() {
        #[repr(C, align(8))]
        struct Slot([u8; MAX_PAYLOAD_LEN]);
        for event in schema_samples() {
            let len = PAYLOAD_LEN[event.kind() as usize] as usize;
            let mut zeroed = Slot([0; MAX_PAYLOAD_LEN]);
            let mut filled = Slot([0xA5; MAX_PAYLOAD_LEN]);
            encode(&event, 0, &mut zeroed.0[..len]).unwrap();
            encode(&event, 0, &mut filled.0[..len]).unwrap();
            assert_eq!(zeroed.0[..len], filled.0[..len], "{:?}", event.kind());
            // And the bytes are what rkyv's own writer produces.
            let mut reference = Slot([0; MAX_PAYLOAD_LEN]);
            macro_rules! reference {
                ($($kind:ident),*) => {
                    match event.body {
                        $(Body::$kind(r) => {
                            rkyv::api::low::to_bytes_in_with_alloc::<_, _, Failure>(
                                &stamp(&event, r),
                                Buffer::from(&mut reference.0[..len]),
                                SubAllocator::empty(),
                            )
                            .unwrap();
                        })*
                    }
                };
            }
            with_kinds!(reference);
            assert_eq!(zeroed.0[..len], reference.0[..len], "{:?}", event.kind());
        }
    }

    #[test]
    fn bad_enum_tags_fail_validation() {
        #[repr(C, align(8))]
        struct Slot([u8; MAX_PAYLOAD_LEN]);
        let level = schema_samples()[EventKind::Level as usize];
        let mut slot = Slot([0; MAX_PAYLOAD_LEN]);
        let len = PAYLOAD_LEN[EventKind::Level as usize] as usize;
        encode(&level, 0, &mut slot.0[..len]).unwrap();
        slot.0[16 + 16] = 2; // `side` is a two-variant enum
        assert_eq!(
            check(EventKind::Level, &slot.0[..len]),
            Err(Corruption::BadPayload)
        );
    }

    #[test]
    fn words_reproduce_the_archive() {
        assert!(check_words_against_archive());
        assert!(words_match_archive());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Random field values: the word CRC equals the CRC of the archived bytes (`put`
        /// debug-asserts it), for every kind.
        #[test]
        fn word_crc_matches_archive_for_random_values(
            v in proptest::collection::vec(proptest::prelude::any::<u64>(), 16),
            kind in 0usize..12,
        ) {
            #[repr(C, align(8))]
            struct Slot([u8; MAX_PAYLOAD_LEN]);
            // Start from the sample of `kind` (valid) and overwrite its archived bytes one by
            // one with random ones, falling back to 0 or 1 where a byte is an enum tag that
            // refuses the random value, so the payload stays valid throughout.
            let sample = schema_samples()[kind];
            let len = PAYLOAD_LEN[kind] as usize;
            let mut slot = Slot([0; MAX_PAYLOAD_LEN]);
            encode(&sample, 0, &mut slot.0[..len]).unwrap();
            for p in (0..len).filter(|p| !(10..16).contains(p)) {
                let random = v[p / 8].to_le_bytes()[p % 8];
                slot.0[p] = random;
                if check(sample.kind(), &slot.0[..len]).is_err() {
                    slot.0[p] = random % 2;
                }
            }
            let (recv_ns, symbol, body) = check(sample.kind(), &slot.0[..len]).unwrap();
            let event = Event::new(recv_ns, symbol, body);
            let mut out = Slot([0; MAX_PAYLOAD_LEN]);
            let crc = encode(&event, 0x1234, &mut out.0[..len]).unwrap();
            proptest::prop_assert_eq!(crc, crate::raw::crc32c_append(0x1234, &out.0[..len]));
            proptest::prop_assert_eq!(&out.0[..len], &slot.0[..len]);
        }
    }

    #[test]
    fn schema_hash_is_stable_within_a_build() {
        assert_eq!(schema_hash(), compute_schema_hash());
        assert_ne!(schema_hash(), 0);
    }
}
