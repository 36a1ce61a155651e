//! Running a compiled [`Model`]: the input tensor laid out from a pre-processed image, one
//! run (or one timed node by node), the outputs copied out.

use super::Model;
use crate::config::DataFormat;
use crate::postprocess::{Heatmaps, OutputTensor};
use crate::preprocess::InputImage;
use anyhow::{ensure, Context, Result};
use std::time::{Duration, Instant};
use tract_core::plan::SimpleState;
use tract_hir::prelude::*;

impl Model {
    /// Lays a pre-processed image out as the model's input tensor.
    pub fn input_tensor(&self, image: &InputImage) -> Result<Tensor> {
        let (h, w) = (image.height, image.width);
        let want = match self.input_format {
            DataFormat::NHWC => [1, h, w, 3],
            DataFormat::NCHW => [1, 3, h, w],
        };
        ensure!(
            want.as_slice() == self.input_shape,
            "image {h}×{w} does not fit input {:?}",
            self.input_shape
        );
        let data: Vec<f32> = match self.input_format {
            DataFormat::NHWC => image.data.clone(),
            DataFormat::NCHW => {
                let mut chw = vec![0f32; image.data.len()];
                for p in 0..h * w {
                    for c in 0..3 {
                        chw[c * h * w + p] = image.data[p * 3 + c];
                    }
                }
                chw
            }
        };
        let t = tract_ndarray::ArrayD::from_shape_vec(want.to_vec(), data)?.into_tensor();
        Ok(match self.input_type {
            DatumType::F32 => t,
            // Integer inputs (0..255 pixels): round to nearest before casting.
            dt => {
                let rounded = t
                    .into_plain_array::<f32>()?
                    .mapv(|v| v.round())
                    .into_tensor();
                rounded.cast_to_dt(dt)?.into_owned()
            }
        })
    }

    /// Runs the network on one input tensor and returns its heatmaps.
    pub fn run(&self, input: Tensor) -> Result<Heatmaps> {
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .context("model run failed")?;
        self.heatmaps(&outputs[0])
    }

    /// Runs the network and returns every selected output (the heatmaps
    /// first, then the post-processor's extra outputs), for
    /// [`crate::postprocess::decode`].
    pub fn run_outputs(&self, input: Tensor) -> Result<Vec<OutputTensor>> {
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .context("model run failed")?;
        outputs.iter().map(output_tensor).collect()
    }

    fn heatmaps(&self, out: &TValue) -> Result<Heatmaps> {
        let t = output_tensor(out)?;
        Heatmaps::from_tensor(&t.shape, &t.data, self.output_format)
    }

    /// Runs once while timing every node; returns the outputs (as
    /// [`Model::run_outputs`]) and per-node (name, op, time) in plan order.
    pub fn run_profiled(&self, input: Tensor) -> Result<(Vec<OutputTensor>, Vec<NodeTime>)> {
        let mut state = SimpleState::new(&self.plan)?;
        let mut times: Vec<NodeTime> = vec![];
        let outputs =
            state.run_plan_with_eval(tvec!(input.into()), |ctx, op_state, node, inputs| {
                let start = Instant::now();
                let r = tract_core::plan::eval(ctx, op_state, node, inputs);
                times.push(NodeTime {
                    name: node.name.clone(),
                    op: node.op().name().to_string(),
                    time: start.elapsed(),
                });
                r
            })?;
        Ok((
            outputs.iter().map(output_tensor).collect::<Result<_>>()?,
            times,
        ))
    }
}

/// One f32 output of the plan, copied out.
fn output_tensor(out: &TValue) -> Result<OutputTensor> {
    let view = out.to_plain_array_view::<f32>()?;
    Ok(OutputTensor {
        shape: view.shape().to_vec(),
        // The plan's outputs are contiguous: one copy (element by element, ~1 % of a frame).
        data: match view.as_slice() {
            Some(s) => s.to_vec(),
            None => view.iter().copied().collect(),
        },
    })
}

/// Time spent in one node of the plan.
#[derive(Debug, Clone)]
pub struct NodeTime {
    pub name: String,
    pub op: String,
    pub time: Duration,
}
