//! The atomics and cells the ring is built from: `std`'s normally, loom's under `--cfg loom`
//! (STYLE.md section 6; the same shim as tokio-rs/bytes `src/loom.rs`).
//!
//! Only [`crate::ring`] uses this module. Under loom every atomic access and every slot access
//! goes through loom's model, which explores the interleavings and reports data races on the
//! slots (`engine/tests/loom.rs`).

#[cfg(loom)]
pub(crate) use ::loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use ::loom::sync::Arc;
#[cfg(loom)]
pub(crate) use ::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// `core::cell::UnsafeCell` with loom's closure API, so the ring reads the same under both.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Calls `f` with a shared pointer to the contents.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable pointer to the contents.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
