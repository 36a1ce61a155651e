//! The integration tests: one binary (one link of lm and tract instead of one per file), one
//! module per area. Run one area with `cargo test --test integration cli::`.

// Helpers that not every feature combination uses.
#[allow(dead_code)]
mod common;

mod accel_model;
#[cfg(feature = "verilator")]
mod accel_verilator;
mod cli;
mod config;
#[cfg(feature = "eval")]
mod eval;
mod fpga_backend;
// Compare with (or load through) tract-onnx's full loader.
#[cfg(feature = "all-onnx-ops")]
mod lean_onnx;
mod packed_pipeline;
mod peers;
mod pipeline;
mod qconv_fusion;
#[cfg(feature = "all-onnx-ops")]
mod qonnx_ops;
#[cfg(feature = "all-onnx-ops")]
mod shared_models;
mod stream_cli;
mod stream_http;
mod stream_sources;
mod stream_temporal;
#[cfg(feature = "tensorflow")]
mod tf_graphs;
