//! Every `unsafe` block of the crate: mapping segment files, the committed-length atomic,
//! zero-copy views of records that were validated when their segment was opened, serialising
//! into the mapping in place, and the short CRC-32C (STYLE.md section 4).
//!
//! Invariants the blocks below rely on, established by the rest of the crate:
//! - We map only segment files this crate created (or a caller pointed us at) and nothing
//!   truncates or rewrites them while mapped. The writer only appends past the committed
//!   length; a reader only looks below the committed length it loaded once at open.
//! - A [`RecordArea`] is immutable after [`RecordArea::validate`] walked every record in it with
//!   the checked rkyv API; a [`Pos`] is only ever made by that area's own walk, and carries the
//!   area's id so it cannot be used with another area.

use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use memmap2::{Mmap, MmapMut};
use orderflow_core::{
    AggTrade, Body, BookTicker, DepthDiff, DepthSnapshot, Event, EventKind, Flags, Kline, Level,
    Liquidation, MarkPrice, OpenInterest, Status, SymbolId, Timer, Trade,
};
use rkyv::api::low::LowSerializer;
use rkyv::rancor::{Failure, Infallible, ResultExt, Strategy};
use rkyv::ser::allocator::SubAllocator;
use rkyv::ser::writer::Buffer;
use rkyv::ser::{Positional, Serializer};
use rkyv::{Archive, Archived, Place, Portable, Serialize};

use crate::error::Corruption;
use crate::format::{COMMITTED_OFFSET, RecordHeader, Scanned, scan};
use crate::payload::{ArchivedBodyRef, Stamped, with_kinds};

/// A read-only mapping of a whole segment file.
#[derive(Debug)]
pub(crate) struct ReadMap {
    map: Mmap,
}

impl ReadMap {
    /// Maps `file` read-only.
    pub(crate) fn new(file: &File) -> io::Result<Self> {
        // SAFETY: the file is a segment (module docs): committed bytes are never modified or
        // truncated while mapped. The only bytes a writer in another process may change while
        // we hold the map are the committed-length word, which we only load atomically
        // (`committed`), and bytes past the committed length, which only the torn-tail probe
        // reads, as plain bytes compared with zero, never through a typed view.
        // Populated: opening validates every record, so every page is read at once anyway;
        // faulting them in one call (`MAP_POPULATE`) rather than one fault per 4 KiB page cut
        // the open of the BTCUSDT log by a third (`orderflow bench throughput`).
        let map = unsafe { memmap2::MmapOptions::new().populate().map(file)? };
        Ok(Self { map })
    }

    /// Length of the mapping (the file length at map time).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// `start..end` of the file, or `None` when out of bounds. Never covers the committed
    /// length word unless asked to.
    #[inline]
    pub(crate) fn bytes(&self, start: usize, end: usize) -> Option<&[u8]> {
        if start > end || end > self.map.len() {
            return None;
        }
        // SAFETY: `start..end` lies within the mapping (checked above), which lives as long as
        // `self`; the bytes are initialised file contents.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(start), end - start) })
    }

    /// The committed length stored in the header, loaded once with Acquire semantics; `None`
    /// when the file is too short to hold it.
    pub(crate) fn committed(&self) -> Option<u64> {
        if self.map.len() < COMMITTED_OFFSET + 8 {
            return None;
        }
        // SAFETY: the word lies within the mapping (checked above) and is 8-byte aligned (the
        // mapping is page aligned, the offset is 64). The mapping is read-only: std permits
        // Relaxed atomic loads of register width on read-only memory ("Atomic accesses to
        // read-only memory" in `core::sync::atomic`), and the fence turns it into an Acquire
        // that pairs with the writer's Release store in `WriteMap::store_committed`.
        let word = unsafe {
            AtomicU64::from_ptr(self.map.as_ptr().add(COMMITTED_OFFSET).cast_mut().cast())
        };
        let committed = word.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        Some(u64::from_le(committed))
    }
}

/// A writable shared mapping of the active segment.
///
/// Slices handed out borrow `self` mutably, so none is alive while the committed-length word
/// is stored through its atomic.
#[derive(Debug)]
pub(crate) struct WriteMap {
    map: MmapMut,
}

impl WriteMap {
    /// Maps `file` read-write and shared.
    pub(crate) fn new(file: &File) -> io::Result<Self> {
        // SAFETY: the file is the writer's own segment (module docs); no other process
        // truncates it, and within this process only this `WriteMap` touches it.
        let map = unsafe { MmapMut::map_mut(file)? };
        Ok(Self { map })
    }

    /// Asks for large page-cache folios (`MADV_HUGEPAGE`): one page fault then allocates and
    /// zeroes up to 2 MiB of the file instead of 4 KiB, where the filesystem supports it
    /// (ext4 on Linux 6.x). Elsewhere it is a no-op, or EINVAL with transparent huge pages
    /// off, which is ignored. Writeback then works in whole folios, so the writer only asks
    /// when it does not msync small ranges often.
    pub(crate) fn advise_large_folios(&self) {
        #[cfg(target_os = "linux")]
        let _ = self.map.advise(memmap2::Advice::HugePage);
    }

    /// Length of the mapping.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// `start..end` for reading, or `None` when out of bounds.
    #[inline]
    pub(crate) fn bytes(&self, start: usize, end: usize) -> Option<&[u8]> {
        self.map.get(start..end)
    }

    /// `start..end` for writing, or `None` when out of bounds.
    #[inline]
    pub(crate) fn bytes_mut(&mut self, start: usize, end: usize) -> Option<&mut [u8]> {
        self.map.get_mut(start..end)
    }

    /// Publishes `committed` with a Release store: every byte written before (the record) is
    /// visible to a reader that loads this value with Acquire.
    #[inline]
    pub(crate) fn store_committed(&mut self, committed: u64) {
        debug_assert!(self.map.len() >= COMMITTED_OFFSET + 8);
        if self.map.len() < COMMITTED_OFFSET + 8 {
            return;
        }
        // SAFETY: in bounds (checked above) and 8-byte aligned (page-aligned mapping, offset
        // 64). `&mut self` guarantees no slice of this mapping is alive in this process, so the
        // atomic does not alias a non-atomic reference; other processes only read it
        // atomically (`ReadMap::committed`).
        let word =
            unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(COMMITTED_OFFSET).cast()) };
        word.store(committed.to_le(), Ordering::Release);
    }

    /// Flushes `offset..offset + len` to disk and waits (`msync(MS_SYNC)`).
    pub(crate) fn sync_range(&self, offset: usize, len: usize) -> io::Result<()> {
        self.map.flush_range(offset, len)
    }

    /// Starts writeback of `offset..offset + len` without waiting (`msync(MS_ASYNC)`).
    pub(crate) fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
        self.map.flush_async_range(offset, len)
    }

    /// Faults in `offset..offset + len` for writing ahead of use (`MADV_POPULATE_WRITE`).
    #[cfg(target_os = "linux")]
    pub(crate) fn prefault(&self, offset: usize, len: usize) -> io::Result<()> {
        self.map
            .advise_range(memmap2::Advice::PopulateWrite, offset, len)
    }

    /// Faulting ahead is a Linux-only optimisation.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn prefault(&self, _offset: usize, _len: usize) -> io::Result<()> {
        Ok(())
    }
}

/// Position of a record inside one [`RecordArea`]; made only by that area's walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    area: u64,
    offset: usize,
}

/// The validated records `start..end` of a read-only segment mapping.
#[derive(Debug)]
pub(crate) struct RecordArea {
    id: u64,
    map: ReadMap,
    start: usize,
    end: usize,
}

impl RecordArea {
    /// Validates every record in `start..end` of `map` (length, kind, flags, CRC and checked rkyv
    /// access, see [`scan`]), calling `visit` with each record's position; the first invalid
    /// record is an error with its file offset.
    pub(crate) fn validate(
        map: ReadMap,
        start: usize,
        end: usize,
        mut visit: impl FnMut(Pos, &Scanned),
    ) -> Result<Self, (u64, Corruption)> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let area = map.bytes(start, end).ok_or((
            start as u64,
            Corruption::Truncated {
                len: map.len() as u64,
            },
        ))?;
        let outcome = scan(area, start, |s| {
            let pos = Pos {
                area: id,
                offset: s.offset as usize,
            };
            visit(pos, s);
        });
        if let Some(err) = outcome.error {
            return Err(err);
        }
        Ok(Self {
            id,
            map,
            start,
            end,
        })
    }

    /// The first record, if any.
    pub(crate) fn first(&self) -> Option<Pos> {
        (self.start < self.end).then_some(Pos {
            area: self.id,
            offset: self.start,
        })
    }

    /// Calls `visit` with every record of the area in order: the records the walk of
    /// [`RecordArea::first`] and [`RecordArea::read`] yields, without checking again what
    /// [`RecordArea::validate`] established (every frame and payload within `start..end`, a
    /// known kind). For the replay's loop, where those checks were a fifth of reading a record.
    #[inline(always)]
    pub(crate) fn for_each<'a>(&'a self, mut visit: impl FnMut(RecordRef<'a>)) {
        let Some(area) = self.map.bytes(self.start, self.end) else {
            return;
        };
        let mut at = 0;
        while at < area.len() {
            // SAFETY: `validate` walked exactly these frames from `start` to `end`: each one's
            // 16-byte header and its payload lie within the area, and the next frame starts
            // where the payload ends. `at` is `0` or the end of the previous payload.
            let head = unsafe { area.get_unchecked(at..at + RecordHeader::LEN) };
            let Some(header) = RecordHeader::parse(head) else {
                return;
            };
            let Some(kind) = header.kind() else {
                return;
            };
            prefetch(area, at + PREFETCH_AHEAD);
            let payload_start = at + RecordHeader::LEN;
            at = payload_start + header.len as usize;
            // SAFETY: as above, the payload lies within the area.
            let payload = unsafe { area.get_unchecked(payload_start..at) };
            visit(RecordRef {
                kind,
                flags: Flags(header.flags as u8),
                offset: (self.start + payload_start - RecordHeader::LEN) as u64,
                payload,
                _validated: PhantomData,
            });
        }
    }

    /// The record at `pos` and the position of the one after it. `None` when `pos` belongs to
    /// another area. Inlined into the replay's loop, so the record comes back in registers.
    #[inline]
    pub(crate) fn read(&self, pos: Pos) -> Option<(RecordRef<'_>, Option<Pos>)> {
        if pos.area != self.id {
            return None;
        }
        let header = self
            .map
            .bytes(pos.offset, pos.offset + RecordHeader::LEN)
            .and_then(RecordHeader::parse)?;
        let kind = header.kind()?;
        let payload_start = pos.offset + RecordHeader::LEN;
        let next = payload_start + header.len as usize;
        let payload = self.map.bytes(payload_start, next)?;
        let record = RecordRef {
            kind,
            flags: Flags(header.flags as u8),
            offset: pos.offset as u64,
            payload,
            _validated: PhantomData,
        };
        let next = (next < self.end).then_some(Pos {
            area: self.id,
            offset: next,
        });
        Some((record, next))
    }
}

/// One validated record of a segment, borrowed from its mapping: kind, flags and the rkyv
/// payload, readable without copying.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    kind: EventKind,
    flags: Flags,
    offset: u64,
    payload: &'a [u8],
    _validated: PhantomData<&'a RecordArea>,
}

impl<'a> RecordRef<'a> {
    /// The event kind (the record's `kind` field).
    #[inline]
    #[must_use]
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The event flags (the record's `flags` field).
    #[inline]
    #[must_use]
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Byte offset of the record in its segment file.
    #[inline]
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The payload bytes: the rkyv archive of the stamped record (module docs of the crate).
    #[inline]
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The payload viewed as the archived stamped record of type `T`, without checks.
    ///
    /// # Safety
    /// `T` must be the record type of `self.kind()`.
    #[inline]
    unsafe fn stamped<T>(&self) -> &'a Archived<Stamped<T>>
    where
        T: Archive,
        Archived<Stamped<T>>: Portable,
    {
        debug_assert_eq!(self.payload.len(), size_of::<Archived<Stamped<T>>>());
        debug_assert_eq!(self.payload.as_ptr().align_offset(8), 0);
        // SAFETY: a `RecordRef` is only made by `RecordArea::read` at a `Pos` of that area's
        // own walk, and `RecordArea::validate` checked every record there with
        // `rkyv::api::low::access` for its kind (`payload::validate`), over memory that stays
        // mapped and unchanged for `'a` (module docs); the caller guarantees `T` is that kind.
        unsafe { rkyv::access_unchecked::<Archived<Stamped<T>>>(self.payload) }
    }

    /// Zero-copy view of the record body.
    #[must_use]
    pub fn body(&self) -> ArchivedBodyRef<'a> {
        macro_rules! view {
            ($($kind:ident),*) => {
                match self.kind {
                    $(EventKind::$kind => {
                        // SAFETY: this arm's type is the record's kind.
                        let stamped = unsafe { self.stamped::<$kind>() };
                        ArchivedBodyRef::$kind(&stamped.record)
                    })*
                }
            };
        }
        with_kinds!(view)
    }

    /// The depth level this record holds, `None` when it is of another kind.
    #[inline(always)]
    #[must_use]
    pub fn level(&self) -> Option<LevelRecord> {
        if self.kind != EventKind::Level {
            return None;
        }
        // SAFETY: the record's kind is `Level`, checked just above.
        let stamped = unsafe { self.stamped::<Level>() };
        Some(LevelRecord {
            recv_ns: stamped.recv_ns.to_native(),
            symbol: SymbolId(stamped.symbol.0.to_native()),
            flags: self.flags,
            level: rkyv::api::low::deserialize::<Level, Infallible>(&stamped.record).always_ok(),
        })
    }

    /// The owned event (a copy out of the mapping).
    ///
    /// Decoded in one pass: one match on the kind, and the event built where it is returned.
    /// Going through [`RecordRef::body`] and `to_body` built the body, then the event, as two
    /// stack copies; the second read back the first one's narrow stores with wide loads, which
    /// cannot be store-forwarded and stalled the replay's read loop.
    ///
    /// `inline(always)`: called out of line from the replay's loop, the kind was dispatched
    /// through a jump table in here and again by the pipeline. Inlined, a log replay of the
    /// BTCUSDT recording went from 6.67 to 7.0 M messages/s through book + features + bars
    /// and from about 19 to 22 M read only (medians of alternating `orderflow bench
    /// throughput --only log` runs).
    #[inline(always)]
    #[must_use]
    pub fn to_event(&self) -> Event {
        macro_rules! decode {
            ($($kind:ident),*) => {
                match self.kind {
                    $(EventKind::$kind => {
                        // SAFETY: this arm's type is the record's kind.
                        let stamped = unsafe { self.stamped::<$kind>() };
                        Event {
                            recv_ns: stamped.recv_ns.to_native(),
                            symbol: SymbolId(stamped.symbol.0.to_native()),
                            flags: self.flags,
                            _reserved: [0; 5],
                            body: Body::$kind(
                                rkyv::api::low::deserialize::<$kind, Infallible>(&stamped.record)
                                    .always_ok(),
                            ),
                        }
                    })*
                }
            };
        }
        with_kinds!(decode)
    }
}

/// A depth level record read without building its [`Event`]: the event
/// [`RecordRef::to_event`] returns for a record of kind [`EventKind::Level`], field by field.
/// Levels are most of a depth log, so a replay hands these on instead of 128-byte events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelRecord {
    /// [`Event::recv_ns`].
    pub recv_ns: i64,
    /// [`Event::symbol`].
    pub symbol: SymbolId,
    /// [`Event::flags`].
    pub flags: Flags,
    /// The level.
    pub level: Level,
}

impl LevelRecord {
    /// The event this record stands for.
    #[inline]
    #[must_use]
    pub fn to_event(&self) -> Event {
        Event::new(self.recv_ns, self.symbol, Body::Level(self.level)).with_flags(self.flags)
    }
}

/// Serialises `value` straight into `out`, which must be exactly the archived size and aligned
/// for it: rkyv's `serialize` for the resolver, then `resolve` into a [`Place`] over `out`.
///
/// This skips the stack copy `rkyv::api::low::to_bytes_in_with_alloc` makes (it resolves into
/// a zeroed temporary and copies it out): about 6 ns of a ~20 ns append. Only for types
/// without out-of-line data (checked: the serializer must not have written a byte) and whose
/// archived form has no padding (every byte is written by `resolve`; checked by
/// `payload::tests::encode_writes_every_byte`).
#[inline]
pub(crate) fn serialize_into<T>(value: &T, out: &mut [u8]) -> Result<(), Failure>
where
    T: Archive + for<'a> Serialize<LowSerializer<Buffer<'a>, SubAllocator<'a>, Failure>>,
{
    if out.len() != size_of::<T::Archived>()
        || out.as_ptr().align_offset(align_of::<T::Archived>()) != 0
    {
        return Err(Failure);
    }
    let mut nothing: [u8; 0] = [];
    let mut serializer = Serializer::new(Buffer::from(&mut nothing[..]), SubAllocator::empty(), ());
    let resolver = value.serialize(Strategy::wrap(&mut serializer))?;
    if serializer.pos() != 0 {
        return Err(Failure);
    }
    // SAFETY: `out` is exactly `size_of::<T::Archived>()` bytes and aligned for it (checked
    // above), dereferenceable and writable for the borrow, and its bytes are initialised (file
    // contents or a zeroed buffer). Position 0 is only used for relative pointers, and `T` has
    // none: serialising wrote nothing out of line (checked above).
    let place = unsafe { Place::new_unchecked(0, out.as_mut_ptr().cast::<T::Archived>()) };
    value.resolve(resolver, place);
    Ok(())
}

/// How far ahead of the record being read the walks of a mapped segment prefetch, in bytes.
///
/// Records are read in file order, but the CPU's own prefetcher stops at each 4 KiB page, so
/// every new page of the mapping started with a stall. A prefetch one page ahead hides it.
/// Replaying the BTCUSDT log (32 MiB of records) through book + features: 133-135 ns per
/// message without, 124-126 ns with (second-best of 15 passes, builds alternating); 2, 4 and
/// 8 KiB ahead were alike within the noise. Opening (validating) it: 8.2-8.3 ms to 6.6-6.7 ms.
pub(crate) const PREFETCH_AHEAD: usize = 4096;

/// Asks the CPU to start loading the cache line at `bytes[at]`; nothing when `at` is out of
/// bounds or the target has no prefetch hint we use.
#[inline(always)]
pub(crate) fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(line) = bytes.get(at..) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of the x86_64 baseline; a prefetch is a hint that never faults
        // and writes nothing, and the pointer is within `bytes` anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

/// CRC-32C of `data` continued from `crc` (the `crc32c` crate's convention).
///
/// Records are at most 120 bytes, where the crate's entry point (alignment split, three-way
/// interleave set-up for long inputs) costs more than the CRC itself; short inputs take one
/// `crc32` instruction per 8 bytes instead. Measured in the `recorder` bench.
#[inline]
pub(crate) fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if data.len() <= 256 && std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU supports SSE4.2, checked just above.
        return unsafe { crc32c_short_sse42(crc, data) };
    }
    crc32c::crc32c_append(crc, data)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn crc32c_short_sse42(crc: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};
    let mut state = u64::from(!crc);
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        state = _mm_crc32_u64(state, u64::from_le_bytes(w));
    }
    let mut state = state as u32;
    for &b in words.remainder() {
        state = _mm_crc32_u8(state, b);
    }
    !state
}

/// CRC-32C of the little-endian bytes of `words`, continued from `crc`.
#[inline]
pub(crate) fn crc32c_words(crc: u32, words: &[u64]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU supports SSE4.2, checked just above.
        return unsafe { crc32c_words_sse42(crc, words) };
    }
    let mut bytes = [0u8; crate::words::MAX_WORDS * 8];
    for (dst, w) in bytes.chunks_exact_mut(8).zip(words) {
        dst.copy_from_slice(&w.to_le_bytes());
    }
    crc32c::crc32c_append(crc, bytes.get(..words.len() * 8).unwrap_or_default())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn crc32c_words_sse42(crc: u32, words: &[u64]) -> u32 {
    use std::arch::x86_64::_mm_crc32_u64;
    let mut state = u64::from(!crc);
    for &w in words {
        state = _mm_crc32_u64(state, w);
    }
    !(state as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_crc_matches_the_crate() {
        let words = [1u64, u64::MAX, 0x0102_0304_0506_0708, 0, 42];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        for n in 0..=words.len() {
            assert_eq!(
                crc32c_words(7, &words[..n]),
                crc32c::crc32c_append(7, &bytes[..n * 8])
            );
        }
    }

    #[test]
    fn short_crc_matches_the_crate() {
        let data: Vec<u8> = (0..600u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for start in 0..9 {
            for len in [0, 1, 7, 8, 9, 15, 16, 40, 56, 120, 255, 256, 257, 500] {
                let slice = &data[start..start + len];
                for seed in [0, 1, 0x0005_0080, u32::MAX] {
                    assert_eq!(
                        crc32c_append(seed, slice),
                        crc32c::crc32c_append(seed, slice),
                        "start {start} len {len} seed {seed}"
                    );
                }
            }
        }
    }
}
