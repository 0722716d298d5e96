//! Shared helpers for the orderflow benches (`benches/benches/*.rs`).
//!
//! [`frames`] loads real Binance frames from `shared/data` beside the repository, falling back
//! to frames embedded here so that every bench builds and runs without the recordings.

pub mod frames;
