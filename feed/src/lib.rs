//! `orderflow-feed`: turns Binance USD-M websocket frames into [`orderflow_core::Event`]s.
//!
//! Sans-I/O: the parser is a plain function over byte slices, usable without tokio, so replay,
//! fuzzing and benches need no runtime (STYLE.md section 1). The capture readers turn recorded
//! files back into the frames the live socket delivered. [`streams`] names the streams and the
//! routed path each one lives on.
//!
//! The I/O sits in two optional modules around that core, both thin tokio shells that hand
//! frames to the same [`FrameParser`]:
//!
//! # Feature flags
//! - `live` (off by default; the CLI enables it): `live::LiveSource`, the Binance USD-M
//!   websocket + REST client as an [`orderflow_core::EventSource`] for the engine's feed thread
//!   (tokio current-thread runtime, tokio-tungstenite and rustls with the `ring` provider).
//! - `mock` (off by default): `mock::MockExchange`, a loopback websocket + HTTP server that
//!   speaks the same protocol with a simulated market or a re-timed capture, and injects faults;
//!   for tests, `orderflow demo` and `orderflow bench latency`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod capture;
#[cfg(feature = "live")]
pub mod live;
#[cfg(feature = "mock")]
pub mod mock;
mod parser;
mod read_ahead;
pub mod streams;

pub use parser::*;
