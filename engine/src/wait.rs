//! Wait strategies: what a thread does when its input ring is empty or its output ring full
//! (DESIGN.md section 2; STYLE.md section 3, after disruptor-rs `src/wait_strategies.rs`).
//!
//! A strategy is a small `Copy` type implementing [`WaitStrategy`]: given how many times in a
//! row the thread found nothing to do, it answers [`WaitAction::Spin`] (a `spin_loop` hint),
//! [`WaitAction::Yield`] (`thread::yield_now`) or [`WaitAction::Park`] (sleep until woken, or
//! until a timeout). The engine performs the action; strategies hold no state.
//!
//! | strategy | empty ring | use |
//! | --- | --- | --- |
//! | [`Spin`] | spins forever | one pinned core per thread and nothing else on it |
//! | [`SpinYield`] | spins, then yields forever | dedicated cores shared with a few threads |
//! | [`SpinYieldPark`] (default) | spins, yields, then parks | anything else; the only safe choice on 2 cores |
//!
//! # Waking a parked thread
//! Each ring end that can wait has a [`Signal`]: a `parked` flag on its own cache line and the
//! waiting thread's handle. A thread about to park sets the flag, issues a SeqCst fence, checks
//! its ring once more and only then parks (with the strategy's timeout). The other side, after
//! every push (or pop, for a producer waiting for space), loads the flag with Relaxed ordering
//! and unparks only when it is set: one load of a line that stays shared while nobody parks.
//!
//! That per-value check has no fence, so on its own it can miss a thread that is parking at that
//! very moment (the store of `tail` and the load of `parked` may pass each other). The miss is
//! repaired by the next value, and before a thread itself goes idle it calls
//! [`Signal::wake_fenced`], whose fence pairs with the parking thread's fence (a Dekker pair:
//! one of the two sees the other's store). The park timeout bounds what is left, a race with
//! a producer that pushes one last value and then stops for good without going idle.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Thread};
use std::time::Duration;

use crossbeam_utils::CachePadded;

/// What to do after finding the ring empty (or full) `step + 1` times in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitAction {
    /// Issue one `spin_loop` hint and poll again.
    Spin,
    /// Give the core to another thread (`thread::yield_now`) and poll again.
    Yield,
    /// Park the thread until the other side wakes it, or for at most this long.
    Park(Duration),
}

/// Maps the number of consecutive empty polls to a [`WaitAction`]. Implementations are small
/// `Copy` values picked in configuration ([`crate::EngineBuilder::wait`]).
pub trait WaitStrategy: Copy + Send + Sync + fmt::Debug + 'static {
    /// The action after `step` consecutive empty polls (0 after the first).
    fn action(&self, step: u32) -> WaitAction;
}

/// Busy-spin: lowest latency, burns its core. Only for a thread pinned to a core of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spin;

impl WaitStrategy for Spin {
    #[inline]
    fn action(&self, _step: u32) -> WaitAction {
        WaitAction::Spin
    }
}

/// Spin `spins` times, then yield on every poll. Never sleeps, but lets other threads run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpinYield {
    /// Spins before the first yield.
    pub spins: u32,
}

impl Default for SpinYield {
    fn default() -> Self {
        Self { spins: 128 }
    }
}

impl WaitStrategy for SpinYield {
    #[inline]
    fn action(&self, step: u32) -> WaitAction {
        if step < self.spins {
            WaitAction::Spin
        } else {
            WaitAction::Yield
        }
    }
}

/// Spin `spins` times, yield `yields` times, then park for at most `park` per wait (woken as
/// soon as the other side pushes). The default: it cannot starve a 2-core machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpinYieldPark {
    /// Spins before the first yield.
    pub spins: u32,
    /// Yields before the first park.
    pub yields: u32,
    /// Longest single park. A parked consumer is woken by its producer, so this only bounds a
    /// missed wake-up (see the module docs) and the poll period of a producer waiting for
    /// space in a full ring whose consumer is itself parked elsewhere.
    pub park: Duration,
}

impl Default for SpinYieldPark {
    /// 128 spins, 16 yields, parks of at most 1 ms.
    fn default() -> Self {
        Self {
            spins: 128,
            yields: 16,
            park: Duration::from_millis(1),
        }
    }
}

impl WaitStrategy for SpinYieldPark {
    #[inline]
    fn action(&self, step: u32) -> WaitAction {
        if step < self.spins {
            WaitAction::Spin
        } else if step - self.spins < self.yields {
            WaitAction::Yield
        } else {
            WaitAction::Park(self.park)
        }
    }
}

/// A parked-thread flag and the handle of the thread that parks on it (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Signal {
    parked: CachePadded<AtomicBool>,
    /// The thread that parked last. Locked only to park and to unpark a parked thread, never
    /// on the per-value path; an end may move to another thread between waits.
    thread: Mutex<Option<Thread>>,
}

impl Signal {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Performs `action` on the calling thread; a park re-checks `ready` after announcing
    /// itself and skips parking when it holds.
    pub(crate) fn wait(&self, action: WaitAction, ready: impl FnOnce() -> bool) {
        match action {
            WaitAction::Spin => std::hint::spin_loop(),
            WaitAction::Yield => thread::yield_now(),
            WaitAction::Park(timeout) => {
                *self.thread.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(thread::current());
                self.parked.store(true, Ordering::Relaxed);
                // SeqCst fence: pairs with the one in `wake_fenced`. Either the waker sees
                // `parked` or our `ready()` below sees what the waker published.
                fence(Ordering::SeqCst);
                if !ready() {
                    thread::park_timeout(timeout);
                }
                self.parked.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Unparks the waiter if it announced a park. One Relaxed load when it did not.
    #[inline]
    pub(crate) fn wake(&self) {
        if self.parked.load(Ordering::Relaxed) {
            self.wake_slow();
        }
    }

    /// As [`Signal::wake`], after a SeqCst fence that pairs with the waiter's: call it before
    /// the calling thread goes idle, so a value it published is never left unannounced.
    pub(crate) fn wake_fenced(&self) {
        fence(Ordering::SeqCst);
        self.wake();
    }

    #[cold]
    fn wake_slow(&self) {
        if self.parked.swap(false, Ordering::Relaxed) {
            let waiter = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(t) = waiter.as_ref() {
                // An unpark before the park makes the park return at once: nothing is lost.
                t.unpark();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::time::Instant;

    #[test]
    fn strategies_escalate() {
        let s = SpinYieldPark {
            spins: 2,
            yields: 1,
            park: Duration::from_micros(5),
        };
        let actions: Vec<_> = (0..5).map(|i| s.action(i)).collect();
        assert_eq!(
            actions,
            [
                WaitAction::Spin,
                WaitAction::Spin,
                WaitAction::Yield,
                WaitAction::Park(Duration::from_micros(5)),
                WaitAction::Park(Duration::from_micros(5)),
            ]
        );
        assert_eq!(SpinYield { spins: 1 }.action(0), WaitAction::Spin);
        assert_eq!(SpinYield { spins: 1 }.action(7), WaitAction::Yield);
        assert_eq!(Spin.action(u32::MAX), WaitAction::Spin);
    }

    #[test]
    fn a_wake_ends_a_long_park() {
        let signal = Signal::new();
        let flag = Arc::new(AtomicU32::new(0));
        let (s, f) = (Arc::clone(&signal), Arc::clone(&flag));
        let start = Instant::now();
        let waiter = thread::spawn(move || {
            while f.load(Ordering::Acquire) == 0 {
                s.wait(WaitAction::Park(Duration::from_secs(60)), || {
                    f.load(Ordering::Acquire) != 0
                });
            }
        });
        thread::sleep(Duration::from_millis(20));
        flag.store(1, Ordering::Release);
        signal.wake_fenced();
        waiter.join().unwrap();
        // A lost wake would sleep out the 60 s park; 30 s leaves room for a loaded machine.
        assert!(start.elapsed() < Duration::from_secs(30));
    }
}
