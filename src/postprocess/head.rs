//! What every post-processor (a meta.yaml `POST_PROCESSOR` entry) knows of itself: its
//! parameters are a serde struct in its own file, and that struct implements [`Head`].
//! A new head is one file and one line in [`super::heads!`]'s list.

use super::{Decoded, OutputTensor};
use crate::config::{ConfigError, DataFormat, Meta};
use anyhow::Result;
use std::path::Path;

pub trait Head {
    /// Layout of the main output tensor (NHWC for a vector).
    fn data_format(&self) -> DataFormat {
        DataFormat::NHWC
    }

    /// Output stride of the grid the head reads (1 for a vector).
    fn stride(&self) -> u32 {
        1
    }

    /// The score at and above which a joint is visible.
    fn confidence_threshold(&self) -> f64;

    /// Output tensors needed besides the main one (`MODEL.output`), with the meta.yaml field
    /// naming each.
    fn extra_outputs(&self) -> Vec<(&'static str, &str)> {
        vec![]
    }

    /// Whether a model with several outputs needs no `MODEL.output`, because the head picks
    /// among them (a stacked hourglass's `stack`).
    fn picks_among_outputs(&self) -> bool {
        false
    }

    /// Checks the parameters against the rest of meta.yaml, naming the field at fault.
    fn validate(&self, meta: &Meta) -> Result<(), ConfigError>;

    /// Checks the model's output shapes (in the order of the plan's outputs: the main one,
    /// then [`Head::extra_outputs`]) against meta.yaml; returns the index and shape of the
    /// main output.
    fn check_outputs(
        &self,
        meta: &Meta,
        shapes: &[Vec<usize>],
        path: &Path,
    ) -> Result<(usize, Vec<usize>)>;

    /// Decodes one image's outputs.
    fn decode(&self, meta: &Meta, outputs: &[OutputTensor]) -> Result<Decoded>;
}

/// The main output of a head whose main output is the first: its index (0) and shape.
pub(super) fn main_output(shapes: &[Vec<usize>], path: &Path) -> Result<(usize, Vec<usize>)> {
    match shapes.first() {
        Some(shape) => Ok((0, shape.clone())),
        None => anyhow::bail!("model {} has no output", path.display()),
    }
}
