//! Shared helpers for orderflow's cross-crate tests.
//!
//! Real-data tests read the recordings under `../shared/data` (relative to the repository root).
//! A fresh clone has no such folder: those tests then print why they were skipped and return.
#![deny(missing_docs)]
#![deny(unsafe_code)]

use std::path::PathBuf;

pub mod alloc;
pub mod events;

pub use alloc::{CountingAllocator, count_allocations};
pub use events::market_event;

/// The shared data folder, `../shared/data` beside the repository.
#[must_use]
pub fn shared_data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
}

/// `shared_data_dir()/relative` if it exists; otherwise prints `skipped: ...` naming the test
/// and returns `None`.
#[must_use]
pub fn shared_file(test: &str, relative: &str) -> Option<PathBuf> {
    let path = shared_data_dir().join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {test}: {} not found (the shared recordings are not part of the repository)",
            path.display()
        );
        None
    }
}

/// The BTCUSDT recording (`<local_ns> <json>` lines, gzip), if present.
#[must_use]
pub fn btcusdt_capture(test: &str) -> Option<PathBuf> {
    shared_file(test, "binance-usdm/btcusdt_20240808.gz")
}

/// The cryptofeed ws file (its http snapshot file sits beside it), if present.
#[must_use]
pub fn cryptofeed_ws(test: &str) -> Option<PathBuf> {
    shared_file(
        test,
        "binance-usdm/cryptofeed-2021-07-22/BINANCE_FUTURES.ws.1.0",
    )
}
