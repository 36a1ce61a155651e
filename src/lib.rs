//! `lm`: quantised single-person pose estimation for edge boards.
//!
//! Image → [`preprocess`] (meta.yaml's PRE_PROCESSOR) → [`model`] (tract, with
//! the QONNX operators of [`ops`]) → [`postprocess`] (GaussianHeatmapToJoints,
//! HeatmapOffsetToJoints)
//! → [`output`] (Blueoil's output.json and an overlay picture).
//! [`pipeline`] ties them together; the `lm` binary is a thin CLI over it.

pub mod accel;
pub mod backend;
pub mod bench;
pub mod board;
pub mod config;
#[cfg(feature = "eval")]
pub mod eval;
pub mod heap;
pub mod image_file;
pub mod kernels;
pub mod model;
pub mod onnx;
pub mod ops;
pub mod output;
pub mod parallel;
pub mod passes;
pub mod pipeline;
pub mod pose;
pub mod postprocess;
pub mod preprocess;
pub mod run;
pub mod stream;
pub mod sys;
pub mod tf;
