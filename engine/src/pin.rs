//! Opt-in core pinning (DESIGN.md section 2; STYLE.md section 3: a failed pin is an error,
//! not a panic as in disruptor-rs `src/affinity.rs`).
//!
//! The cores are enumerated once, by [`Cores::detect`] when the engine is built, on the thread
//! that builds it and before any engine thread pins itself: `core_affinity::get_core_ids`
//! returns the *calling thread's* affinity mask, so asked from a pinned thread (or from a
//! thread spawned by one) it would see a single core. A requested core that is not in that
//! list is [`crate::EngineError::MissingCore`] at build time; a pin the OS refuses is
//! [`crate::EngineError::PinFailed`] when the thread starts, and the engine does not start.

use crate::error::EngineError;

/// Which core each engine thread is pinned to; `None` (the default) leaves it unpinned.
///
/// Cores are the OS's CPU numbers, as `core_affinity::CoreId::id` and `taskset` show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinConfig {
    /// The feed thread (runs the [`crate::EventSource`]).
    pub feed: Option<usize>,
    /// The engine thread (book, features, strategy).
    pub engine: Option<usize>,
    /// The recorder thread.
    pub recorder: Option<usize>,
}

/// The cores this process may run on, enumerated once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cores {
    ids: Vec<usize>,
}

impl Cores {
    /// The cores the calling thread may run on (empty when the platform does not say).
    #[must_use]
    pub fn detect() -> Self {
        let mut ids: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        Self { ids }
    }

    /// The cores found, ascending.
    #[must_use]
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// Checks that `core` was found.
    ///
    /// # Errors
    /// [`EngineError::MissingCore`] when it was not.
    pub fn check(&self, core: usize) -> Result<(), EngineError> {
        if self.ids.contains(&core) {
            Ok(())
        } else {
            Err(EngineError::MissingCore {
                requested: core,
                available: self.ids.clone(),
            })
        }
    }

    /// Pins the calling thread to `core` (the executor's own thread, for example).
    ///
    /// # Errors
    /// [`EngineError::MissingCore`] when `core` was not found, [`EngineError::PinFailed`]
    /// when the OS refuses.
    pub fn pin_current(&self, core: usize, thread: &'static str) -> Result<(), EngineError> {
        self.check(core)?;
        if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            Ok(())
        } else {
            Err(EngineError::PinFailed { thread, core })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_core_is_an_error() {
        let cores = Cores { ids: vec![0, 1] };
        assert!(cores.check(1).is_ok());
        let err = cores.check(7).unwrap_err();
        assert!(
            matches!(&err, EngineError::MissingCore { requested: 7, available } if available == &[0, 1]),
            "{err}"
        );
        assert!(err.to_string().contains("core 7"), "{err}");
    }
}
