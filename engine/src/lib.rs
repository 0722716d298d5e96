//! `orderflow-engine`: what an executor links.
//!
//! Today this is the single-threaded [`Pipeline`]: per symbol, the L2 book with its sync state
//! machine and the order-flow features, driven one [`orderflow_core::Event`] at a time. Live
//! and replay run this same code (STYLE.md section 1), so a replay reproduces what live computed.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod pipeline;

pub use pipeline::{BookUpdate, Pipeline, PipelineConfig, PipelineSink};
