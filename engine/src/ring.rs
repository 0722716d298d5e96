//! A bounded single-producer/single-consumer ring of `Copy` values (DESIGN.md section 2;
//! STYLE.md section 3).
//!
//! # Algorithm
//! The ring is a preallocated array of `capacity` slots, `capacity` a power of two, and two
//! counters that only grow (wrapping): `tail`, the next position the [`Producer`] writes, and
//! `head`, the next position the [`Consumer`] reads. Position `p` lives in slot `p & mask`. The
//! ring holds `tail - head` values; it is empty when they are equal and full when they differ
//! by `capacity`. Each counter has one writer, so neither needs a read-modify-write: the
//! producer stores `tail`, the consumer stores `head`, each with Release, and each reads the
//! other's with Acquire.
//!
//! The two counters sit in separate [`CachePadded`] lines, and each side keeps a private copy
//! of the other side's counter (`cached_head`, `cached_tail`, as rtrb's `src/lib.rs` and
//! disruptor-rs's `src/cursor.rs` do). The producer re-reads `head` only when its cached copy
//! says the ring is full, the consumer re-reads `tail` only when its copy says it is empty, so a
//! streaming producer and consumer touch each other's cache line once per lap, not once per
//! value.
//!
//! Both ends publish their counter only when it matters to the other side, each keeping its
//! private position (`tail`, `head`) ahead of the shared one:
//!
//! - The producer can stage values ([`Producer::try_write`]) and publish them at once
//!   ([`Producer::publish`]; [`Producer::try_push`] does both). The engine's feed stages every
//!   record of a venue message and publishes at its last one, so a 20-level depth diff costs
//!   the consumer one fetch of the `tail` line instead of 21.
//! - The consumer stores `head` after every `release_every` values (a sixteenth of the ring,
//!   at most 64, at least one) and always before it reports the ring empty. When the producer
//!   runs ahead and fills the ring, it re-reads `head` on every push; were `head` stored on
//!   every pop, each of those reads would pull the consumer's line away and its next store
//!   would fetch it back, one line round trip per value. A producer therefore sees at most
//!   `release_every - 1` slots fewer free than there are, and none fewer once the consumer is
//!   idle (an idle consumer has found the ring empty, so has published).
//!
//! Slots are aligned to 64 bytes, so a slot never shares a cache line with its neighbours
//! (the producer writing one slot would otherwise steal the line the consumer is reading).
//!
//! All memory is allocated and touched when the ring is made: one byte written in every slot
//! (and every 4 KiB of a larger value), so the OS maps every page then, not at the producer's
//! first write to it on the first lap.
//! On this VM a first write costs a page fault of about 2 us (fresh memory in the
//! `a_new_ring_takes_no_page_fault_on_its_first_lap` test) and was seen stalling the live feed
//! for 2 to 16 us once per 32 events, the first lap of the default engine ring lasting seconds.
//!
//! Values are `Copy`: a slot is written by a plain copy and read by a plain copy, nothing is
//! ever dropped, and a value left in the ring when both ends are gone is simply forgotten.
//!
//! A full ring returns the value ([`PushError::Full`]); what to do then (wait, or count and
//! skip) is the caller's policy, never a silent drop. Each side can see when the other end was
//! dropped or closed ([`Producer::is_abandoned`], [`Consumer::is_abandoned`]); a consumer that
//! sees the producer gone and then finds the ring empty has received every value.
//!
//! # Safety
//! This is the engine's only `unsafe` module. The invariant every block relies on, with `head`
//! and `tail` the shared (published) counters: slots at positions `head..tail` are initialised
//! and owned by the consumer, every other slot is owned by the producer; the producer
//! publishes slots by storing `tail` (Release) after writing them, the consumer releases slots
//! by storing `head` (Release) after reading them, and each side reads the other's counter
//! with Acquire before touching a slot. `Producer` and `Consumer` are the only handles and
//! their methods take `&mut self`, so each side is one thread at a time. The atomics come from
//! the `crate::loom` shim and are model-checked by `engine/tests/loom.rs` under `--cfg loom`.
//!
//! # Measurements
//! Why hand-written rather than crossbeam's `ArrayQueue`: see the crate docs, "Rings", for the
//! numbers from `benches/benches/ring.rs` and how to reproduce them.

use core::fmt;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::loom::{Arc, AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// The state both ends share.
struct Shared<T> {
    /// Next position the consumer will read, as last published (every `release_every` values,
    /// and before the ring is reported empty). Stored by the consumer only (Release).
    head: CachePadded<AtomicUsize>,
    /// Next position the producer writes. Stored by the producer only (Release).
    tail: CachePadded<AtomicUsize>,
    /// `capacity - 1`; positions map to slots by `position & mask`.
    mask: usize,
    /// Set (Release) once the producer is closed or dropped.
    producer_closed: AtomicBool,
    /// Set (Release) once the consumer is closed or dropped.
    consumer_closed: AtomicBool,
    slots: Box<[Slot<T>]>,
}

#[repr(align(64))]
struct Slot<T>(UnsafeCell<MaybeUninit<T>>);

// SAFETY: the slots are the only non-`Sync` part. Access to them is partitioned by the
// head/tail protocol in the module docs: a slot is written only by the single `Producer`
// while it is outside `head..tail` and read only by the single `Consumer` while it is inside,
// with Release/Acquire on the counters ordering the accesses. Values cross threads, so
// `T: Send` is required.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: as above; `Shared` owns `T`s that are moved between threads, hence `T: Send`.
unsafe impl<T: Send> Send for Shared<T> {}

/// Creates a ring of at least `capacity` slots (rounded up to a power of two) and returns its
/// two ends. All memory is allocated here.
///
/// # Panics
/// When `capacity` is zero or its next power of two overflows `usize` (a programmer error).
#[must_use]
pub fn ring<T: Copy + Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(capacity > 0, "ring capacity must be positive");
    let capacity = capacity
        .checked_next_power_of_two()
        .unwrap_or_else(|| panic!("ring capacity {capacity} has no power of two"));
    ring_releasing_every(capacity, (capacity / 16).clamp(1, 64))
}

/// A [`ring`] of exactly `capacity` slots (a power of two) whose consumer publishes its
/// position every `release_every` values: the loom model checks batched releases on a ring
/// small enough to explore.
#[cfg(loom)]
#[doc(hidden)]
#[must_use]
pub fn ring_with_release<T: Copy + Send>(
    capacity: usize,
    release_every: usize,
) -> (Producer<T>, Consumer<T>) {
    assert!(capacity.is_power_of_two() && (1..=capacity).contains(&release_every));
    ring_releasing_every(capacity, release_every)
}

fn ring_releasing_every<T: Copy + Send>(
    capacity: usize,
    release_every: usize,
) -> (Producer<T>, Consumer<T>) {
    let slots = new_slots::<T>(capacity);
    prefault(&slots);
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        mask: capacity - 1,
        producer_closed: AtomicBool::new(false),
        consumer_closed: AtomicBool::new(false),
        slots,
    });
    (
        Producer {
            shared: Arc::clone(&shared),
            tail: 0,
            published: 0,
            cached_head: 0,
        },
        Consumer {
            shared,
            head: 0,
            released: 0,
            release_every,
            cached_tail: 0,
        },
    )
}

/// `capacity` empty slots, allocated without writing them.
#[cfg(not(loom))]
fn new_slots<T>(capacity: usize) -> Box<[Slot<T>]> {
    let slots = Box::<[Slot<T>]>::new_uninit_slice(capacity);
    // SAFETY: a `Slot<T>` is an `UnsafeCell<MaybeUninit<T>>` (and padding): any bytes,
    // initialised or not, are a valid value of it.
    unsafe { slots.assume_init() }
}

/// `capacity` empty slots (loom's cells carry state of their own, so each is made).
#[cfg(loom)]
fn new_slots<T>(capacity: usize) -> Box<[Slot<T>]> {
    (0..capacity)
        .map(|_| Slot(UnsafeCell::new(MaybeUninit::uninit())))
        .collect()
}

/// Writes one byte in every slot, and every 4 KiB of a larger value, so that the OS maps all
/// of `slots` now. A large allocation is mapped lazily, page by page, at its first write: left
/// alone, a new ring would take a page fault every 4 KiB on its first lap, on the producer's
/// hot path (every 32 events of 128 bytes; the engine ring's first lap is seconds to minutes
/// of a live feed). A byte per page instead of per slot saved nothing measurable: the faults
/// are the cost (a scratch loop over a fresh 32 MiB allocation took 16 ms either way).
fn prefault<T>(slots: &[Slot<T>]) {
    const PAGE: usize = 4096;
    for slot in slots {
        // Within the value, not the slot's padding (a zero-sized value has no byte to write;
        // padding is never touched, so it needs no mapping of its own).
        for offset in (0..size_of::<T>()).step_by(PAGE) {
            // SAFETY: no other handle exists yet; `offset` is inside the value, and a byte
            // written into `MaybeUninit` storage needs no initialised value around it.
            slot.0
                .with_mut(|p| unsafe { p.cast::<u8>().add(offset).write_volatile(0) });
        }
    }
}

/// The writing end of a [`ring`].
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Next position we write (`shared.tail` lags it by the values staged with `try_write`).
    tail: usize,
    /// The value of `shared.tail` we last stored.
    published: usize,
    /// The consumer's `head` as last read; may lag the real one, never lead it.
    cached_head: usize,
}

/// The reading end of a [`ring`].
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Next position we read (`shared.head` lags it by less than `release_every`).
    head: usize,
    /// The value of `shared.head` we last stored.
    released: usize,
    /// Publish `head` once this many values were read since the last store.
    release_every: usize,
    /// The producer's `tail` as last read; may lag the real one, never lead it.
    cached_tail: usize,
}

/// Why [`Producer::try_push`] failed: the ring is full. The value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// Every slot holds a value the consumer has not read yet.
    Full(T),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    #[inline]
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(v) => v,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring is full")
    }
}

impl<T> std::error::Error for PushError<T> {}

/// Why [`Consumer::try_pop`] failed: the ring is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PopError {
    /// No value is waiting.
    #[error("ring is empty")]
    Empty,
}

impl<T: Copy + Send> Producer<T> {
    /// Appends `value` and publishes it (with everything [`Producer::try_write`] staged
    /// before it), or returns it when the ring is full. Never blocks, never allocates.
    ///
    /// # Errors
    /// [`PushError::Full`] with `value` when every slot is taken.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), PushError<T>> {
        self.try_write(value)?;
        self.publish();
        Ok(())
    }

    /// Writes `value` into the next slot without publishing it: the consumer sees it, and
    /// everything written before it, at the next [`Producer::publish`] or
    /// [`Producer::try_push`]. A batch written this way costs the consumer one look at the
    /// producer's position instead of one per value. Never blocks, never allocates.
    ///
    /// A producer that finds the ring full must publish before it waits for room, or it waits
    /// for a consumer that cannot see the values filling the ring.
    ///
    /// # Errors
    /// [`PushError::Full`] with `value` when every slot is taken (staged values included).
    #[inline]
    pub fn try_write(&mut self, value: T) -> Result<(), PushError<T>> {
        let capacity = self.shared.mask + 1;
        if self.tail.wrapping_sub(self.cached_head) == capacity {
            // Acquire pairs with the consumer's Release store of `head` in `release`: its read
            // of every slot below the new `head` happens-before we overwrite that slot below.
            self.cached_head = self.shared.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.cached_head) == capacity {
                return Err(PushError::Full(value));
            }
        }
        let slot = &self.shared.slots[self.tail & self.shared.mask].0;
        // SAFETY: position `tail` is at or above the published `tail`, so its slot belongs to
        // the producer (module docs): the consumer reads only below the `tail` it loaded, and
        // its last read of this slot (position `tail - capacity < head`) happened-before the
        // Acquire load of `head` above or an earlier one. We are the only producer
        // (`&mut self`). `MaybeUninit<T>` has the layout of `T`, so the cast pointer is valid
        // and aligned.
        slot.with_mut(|p| unsafe { p.cast::<T>().write(value) });
        self.tail = self.tail.wrapping_add(1);
        Ok(())
    }

    /// Free slots right now (re-reads the consumer's position).
    #[must_use]
    pub fn free_slots(&mut self) -> usize {
        // Acquire: as in `try_write`, the slots counted free have been read.
        self.cached_head = self.shared.head.load(Ordering::Acquire);
        self.capacity() - self.tail.wrapping_sub(self.cached_head)
    }

    /// `true` when the ring is full as far as the consumer's last published position shows.
    #[must_use]
    pub fn is_full(&mut self) -> bool {
        self.free_slots() == 0
    }
}

impl<T> Producer<T> {
    /// Publishes every value written since the last publish. One store, none when there is
    /// nothing new.
    #[inline]
    pub fn publish(&mut self) {
        if self.has_unpublished() {
            self.published = self.tail;
            // Release pairs with the consumer's Acquire load of `tail` in `try_pop`/`len`: the
            // slot writes below `tail` happen-before the consumer reads those slots.
            self.shared.tail.store(self.tail, Ordering::Release);
        }
    }

    /// `true` when values were written with [`Producer::try_write`] and not yet published.
    #[must_use]
    pub fn has_unpublished(&self) -> bool {
        self.unpublished() != 0
    }

    /// Values written with [`Producer::try_write`] and not yet published.
    #[must_use]
    pub fn unpublished(&self) -> usize {
        self.tail.wrapping_sub(self.published)
    }

    /// Number of slots (a power of two).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }

    /// `true` once the [`Consumer`] was closed or dropped: nothing pushed will be read.
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        // Acquire pairs with the Release in `Consumer::close`.
        self.shared.consumer_closed.load(Ordering::Acquire)
    }

    /// Publishes anything staged and marks this end closed; the consumer still reads what was
    /// written before. Idempotent, and done by `Drop` as well.
    pub fn close(&mut self) {
        self.publish();
        // Release: every `tail` store before this one is visible to a consumer that sees the
        // flag with Acquire, so "abandoned, then empty" means everything was read.
        self.shared.producer_closed.store(true, Ordering::Release);
    }
}

impl<T: Copy + Send> Consumer<T> {
    /// Takes the oldest value, or returns [`PopError::Empty`]. Never blocks, never allocates.
    ///
    /// # Errors
    /// [`PopError::Empty`] when no value is waiting.
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        if self.head == self.cached_tail {
            // Acquire pairs with the producer's Release store of `tail` in `publish`: the
            // slot writes below the new `tail` happen-before our reads below.
            self.cached_tail = self.shared.tail.load(Ordering::Acquire);
            if self.head == self.cached_tail {
                self.release();
                return Err(PopError::Empty);
            }
        }
        let slot = &self.shared.slots[self.head & self.shared.mask].0;
        // SAFETY: `head < tail` (as loaded with Acquire), so the slot is initialised and owned
        // by the consumer (module docs); the producer does not write it again until our
        // Release store of a `head` above it (`release`). `T: Copy`, so reading leaves nothing
        // to drop; `MaybeUninit<T>` has the layout of `T`, so the cast pointer is valid and
        // aligned.
        let value = slot.with(|p| unsafe { p.cast::<T>().read() });
        self.head = self.head.wrapping_add(1);
        if self.head.wrapping_sub(self.released) >= self.release_every {
            self.release();
        }
        Ok(value)
    }

    /// Publishes `head`: the slots below it may be written again.
    #[inline]
    fn release(&mut self) {
        if self.has_unreleased() {
            self.released = self.head;
            // Release pairs with the producer's Acquire load of `head` in `try_write`: our
            // reads of the slots below `head` happen-before the producer overwrites them.
            self.shared.head.store(self.head, Ordering::Release);
        }
    }

    /// `true` when values were read but their slots not yet handed back to the producer (see
    /// the module docs: the consumer releases slots in batches, and whenever the ring is empty).
    #[must_use]
    pub fn has_unreleased(&self) -> bool {
        self.head != self.released
    }

    /// Values waiting right now (re-reads the producer's position).
    #[must_use]
    pub fn len(&mut self) -> usize {
        // Acquire: as in `try_pop`, the counted slots are initialised.
        self.cached_tail = self.shared.tail.load(Ordering::Acquire);
        self.cached_tail.wrapping_sub(self.head)
    }

    /// `true` when no value is waiting.
    #[must_use]
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }
}

impl<T> Consumer<T> {
    /// Number of slots (a power of two).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }

    /// `true` once the [`Producer`] was closed or dropped. Everything it pushed is visible:
    /// if the ring is empty after this returns `true`, every value has been read.
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        // Acquire pairs with the Release in `Producer::close`.
        self.shared.producer_closed.load(Ordering::Acquire)
    }

    /// Marks this end closed, telling the producer to stop. Idempotent, and done by `Drop`.
    pub fn close(&mut self) {
        // Release pairs with the Acquire in `Producer::is_abandoned`.
        self.shared.consumer_closed.store(true, Ordering::Release);
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn capacity_rounds_up_to_a_power_of_two() {
        assert_eq!(ring::<u8>(1).0.capacity(), 1);
        assert_eq!(ring::<u8>(3).0.capacity(), 4);
        assert_eq!(ring::<u8>(1024).1.capacity(), 1024);
    }

    #[test]
    #[should_panic(expected = "ring capacity must be positive")]
    fn zero_capacity_panics() {
        let _ = ring::<u8>(0);
    }

    #[test]
    fn fills_returns_the_value_and_drains_in_order() {
        let (mut p, mut c) = ring::<u32>(4);
        assert_eq!(c.try_pop(), Err(PopError::Empty));
        for i in 0..4 {
            p.try_push(i).unwrap();
        }
        assert!(p.is_full());
        assert_eq!(p.try_push(9).unwrap_err().into_inner(), 9);
        assert_eq!(c.len(), 4);
        assert_eq!(c.try_pop(), Ok(0));
        assert_eq!(p.free_slots(), 1);
        p.try_push(4).unwrap();
        for i in 1..5 {
            assert_eq!(c.try_pop(), Ok(i));
        }
        assert!(c.is_empty());
    }

    #[test]
    fn staged_values_appear_at_publish() {
        let (mut p, mut c) = ring::<u32>(4);
        p.try_write(1).unwrap();
        p.try_write(2).unwrap();
        assert!(p.has_unpublished());
        assert_eq!(p.unpublished(), 2);
        assert_eq!(c.try_pop(), Err(PopError::Empty));
        assert_eq!(c.len(), 0);
        p.publish();
        assert!(!p.has_unpublished());
        assert_eq!(p.unpublished(), 0);
        assert_eq!(c.len(), 2);
        // `try_push` publishes what was staged before it too.
        p.try_write(3).unwrap();
        p.try_push(4).unwrap();
        assert_eq!(
            p.try_write(5).unwrap_err().into_inner(),
            5,
            "staged values count"
        );
        for i in 1..5 {
            assert_eq!(c.try_pop(), Ok(i));
        }
        // Closing publishes a partial batch.
        p.try_write(6).unwrap();
        drop(p);
        assert_eq!(c.try_pop(), Ok(6));
        assert_eq!(c.try_pop(), Err(PopError::Empty));
    }

    #[test]
    fn the_consumer_releases_slots_in_batches_and_when_empty() {
        let (mut p, mut c) = ring::<u32>(64);
        assert_eq!(c.release_every, 4);
        for i in 0..64 {
            p.try_push(i).unwrap();
        }
        for i in 0..3 {
            assert_eq!(c.try_pop(), Ok(i));
        }
        assert_eq!(p.free_slots(), 0, "three reads are not released yet");
        assert!(c.has_unreleased());
        assert_eq!(c.try_pop(), Ok(3));
        assert_eq!(p.free_slots(), 4, "the fourth releases all four");
        assert!(!c.has_unreleased());
        for i in 4..64 {
            assert_eq!(c.try_pop(), Ok(i));
        }
        assert_eq!(p.free_slots(), 64);
        p.try_push(64).unwrap();
        assert_eq!(c.try_pop(), Ok(64));
        assert_eq!(p.free_slots(), 63, "one read, not yet released");
        assert_eq!(c.try_pop(), Err(PopError::Empty));
        assert_eq!(p.free_slots(), 64, "an empty ring releases everything read");
    }

    #[test]
    fn slots_do_not_share_cache_lines() {
        assert_eq!(align_of::<Slot<u8>>(), 64);
        assert_eq!(size_of::<Slot<[u8; 128]>>(), 128);
        assert_eq!(size_of::<Slot<[u8; 136]>>(), 192);
    }

    /// Minor page faults of the calling thread so far (Linux: `/proc/thread-self/stat`).
    #[cfg(target_os = "linux")]
    fn minor_faults() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        // Fields after the `(comm)` one, which may hold spaces: state is field 3, minflt 10.
        let after_comm = &stat[stat.rfind(')')? + 1..];
        after_comm.split_whitespace().nth(7)?.parse().ok()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_new_ring_takes_no_page_fault_on_its_first_lap() {
        // 64 MiB: above glibc's largest dynamic mmap threshold, so both allocations are fresh
        // mappings whatever the process freed before.
        const N: usize = 1 << 19;
        type Record = [u64; 16];
        let (mut p, c) = ring::<Record>(N);
        let before = minor_faults().unwrap();
        let start = std::time::Instant::now();
        for i in 0..N as u64 {
            p.try_write([i; 16]).unwrap();
        }
        let ring = (minor_faults().unwrap() - before, start.elapsed());
        drop((p, c));
        // The same writes into memory nobody touched yet: the check can see faults.
        let mut fresh: Vec<Record> = Vec::with_capacity(N);
        let before = minor_faults().unwrap();
        let start = std::time::Instant::now();
        for i in 0..N as u64 {
            fresh.push([i; 16]);
        }
        let unfaulted = (minor_faults().unwrap() - before, start.elapsed());
        std::hint::black_box(&fresh);
        println!(
            "first lap of {N} 128-byte values: ring {} page faults in {:?}, fresh Vec {} in {:?}",
            ring.0, ring.1, unfaulted.0, unfaulted.1
        );
        assert!(unfaulted.0 >= 1_000, "the fault count works: {unfaulted:?}");
        assert!(
            ring.0 < 16,
            "the ring's pages were touched when it was made: {ring:?}"
        );
    }

    #[test]
    fn positions_wrap_around_usize() {
        let (mut p, mut c) = ring::<usize>(2);
        // Start both ends just below the wrap point.
        let start = usize::MAX - 2;
        p.tail = start;
        p.published = start;
        p.cached_head = start;
        c.head = start;
        c.released = start;
        c.cached_tail = start;
        p.shared.head.store(start, Ordering::Relaxed);
        p.shared.tail.store(start, Ordering::Relaxed);
        for i in 0..10 {
            p.try_push(i).unwrap();
            p.try_push(i + 100).unwrap();
            assert!(p.try_push(0).is_err());
            assert_eq!(c.try_pop(), Ok(i));
            assert_eq!(c.try_pop(), Ok(i + 100));
            assert_eq!(c.try_pop(), Err(PopError::Empty));
        }
    }

    #[test]
    fn each_end_sees_the_other_go() {
        let (mut p, c) = ring::<u8>(2);
        assert!(!p.is_abandoned() && !c.is_abandoned());
        p.try_push(1).unwrap();
        drop(p);
        let mut c = c;
        assert!(c.is_abandoned());
        assert_eq!(c.try_pop(), Ok(1));
        let (p, c) = ring::<u8>(2);
        drop(c);
        assert!(p.is_abandoned());
    }
}
