//! `orderflow-replay`: feeds recorded market data back through the engine code.
//!
//! Today it reads raw captures ([`CaptureSource`]): the files of websocket frames described in
//! `shared/data/README.md`, parsed on the fly into [`orderflow_core::Event`]s, one venue message
//! at a time, in receive order.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod capture;

pub use capture::{BadInput, CaptureSource, InputStats, Message, resolve_capture_inputs};
