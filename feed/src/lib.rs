//! `orderflow-feed`: turns Binance USD-M websocket frames into [`orderflow_core::Event`]s.
//!
//! Sans-I/O: the parser is a plain function over byte slices, usable without tokio, so replay,
//! fuzzing and benches need no runtime (STYLE.md section 1). The capture readers turn recorded
//! files back into the frames the live socket delivered.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod capture;
mod parser;

pub use parser::*;
