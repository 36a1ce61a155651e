//! `QConv2d`: one fused quantised block — binary-weight convolution,
//! BatchNorm and the next 2-bit quantiser — computed with integer
//! bit-serial arithmetic (see [`crate::kernels`]).
//!
//! Shape rule: input f32 `[1, C_in, H, W]` (NCHW) whose values are 2-bit
//! levels times `in_scale`; output f32 `[1, C_out, H, W]`, levels times
//! `out_scale` — exactly the values the float fake-quant graph it replaces
//! produces, so the ops around it (SpaceToDepth, Resize, Concat, the float
//! convs) are untouched. Inside, activations are packed, the convolution and
//! the three per-channel thresholds run on an [`Executor`] (CPU kernels, the
//! FPGA), and the packed result is unpacked.
//!
//! The op built by [`crate::passes::fuse_qconv`]; its thresholds carry the
//! folded weight scale, BatchNorm and quantiser (see that pass for how ties
//! are resolved).

use crate::kernels::{self, KernelKind, PackedActivations, PackedWeights, Thresholds};
use std::fmt;
use tract_hir::internal::*;

/// Where fused quantised convolutions run.
pub trait Executor: fmt::Debug + Send + Sync {
    /// Short name for logs and `lm bench`.
    fn name(&self) -> String;
    /// Thresholded convolution of one layer (`layer` names it in errors).
    fn conv(
        &self,
        layer: &str,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: &Thresholds,
    ) -> anyhow::Result<PackedActivations>;
}

/// The bit-serial CPU kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuExecutor {
    pub kernel: KernelKind,
    /// Output-row bands run in parallel (0 = all cores).
    pub threads: usize,
}

impl Default for CpuExecutor {
    fn default() -> Self {
        CpuExecutor {
            kernel: KernelKind::best(),
            threads: 1,
        }
    }
}

impl Executor for CpuExecutor {
    fn name(&self) -> String {
        format!("cpu-{}", self.kernel.name())
    }

    fn conv(
        &self,
        layer: &str,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: &Thresholds,
    ) -> anyhow::Result<PackedActivations> {
        kernels::qconv2d_threshold(self.kernel, input, weights, thresholds, self.threads)
            .map_err(|e| anyhow::anyhow!("layer {layer}: {e}"))
    }
}

/// The fused operator.
#[derive(Clone, Debug)]
pub struct QConv2d {
    /// Name of the float Conv it replaces.
    pub layer: String,
    pub weights: Arc<PackedWeights>,
    pub thresholds: Arc<Thresholds>,
    pub in_scale: f32,
    pub out_scale: f32,
    pub executor: Arc<dyn Executor>,
}

impl PartialEq for QConv2d {
    fn eq(&self, other: &Self) -> bool {
        self.layer == other.layer
            && Arc::ptr_eq(&self.weights, &other.weights)
            && Arc::ptr_eq(&self.thresholds, &other.thresholds)
            && Arc::ptr_eq(&self.executor, &other.executor)
    }
}

impl Eq for QConv2d {}

impl QConv2d {
    /// Float NCHW levels·in_scale → packed activations; refuses values that
    /// are not exactly a 2-bit level, which would otherwise give silently
    /// wrong results.
    pub fn pack_input(&self, x: &[f32], shape: &[usize]) -> TractResult<PackedActivations> {
        ensure!(
            shape.len() == 4 && shape[0] == 1,
            "QConv2d {}: input must be [1, C, H, W], got {shape:?}",
            self.layer
        );
        let (c, h, w) = (shape[1], shape[2], shape[3]);
        let hw = h * w;
        let groups = kernels::groups(c);
        let mut words = vec![0u32; hw * groups * 2];
        let inv = 1.0 / self.in_scale;
        // The values a level can have, exactly as the quantiser produced them.
        let value = [0.0, self.in_scale, 2.0 * self.in_scale, 3.0 * self.in_scale];
        for ci in 0..c {
            let (g, bit) = (ci / 32, ci % 32);
            for (p, &v) in x[ci * hw..(ci + 1) * hw].iter().enumerate() {
                // Nearest level by truncation (cheap; libm's round is a call on
                // baseline x86_64), then an exact check against the table.
                let q = ((v * inv + 0.5) as i32).clamp(0, 3) as usize;
                if value[q] != v {
                    bail!(
                        "QConv2d {}: input value {v} at (c={ci}, y={}, x={}) is not a 2-bit level of scale {}",
                        self.layer,
                        p / w,
                        p % w,
                        self.in_scale
                    );
                }
                let q = q as u32;
                let base = (p * groups + g) * 2;
                words[base] |= (q & 1) << bit;
                words[base + 1] |= (q >> 1) << bit;
            }
        }
        Ok(PackedActivations::from_words(h, w, c, words)?)
    }

    /// Packed levels → float NCHW levels·out_scale.
    pub fn unpack_output(&self, out: &PackedActivations) -> Tensor {
        let (c, h, w) = (out.channels(), out.height(), out.width());
        let hw = h * w;
        let groups = out.groups();
        let words = out.words();
        let value = [
            0.0,
            self.out_scale,
            2.0 * self.out_scale,
            3.0 * self.out_scale,
        ];
        let mut data = vec![0f32; c * hw];
        for ci in 0..c {
            let (g, bit) = (ci / 32, ci % 32);
            for (p, d) in data[ci * hw..(ci + 1) * hw].iter_mut().enumerate() {
                let base = (p * groups + g) * 2;
                let q = ((words[base] >> bit) & 1) | (((words[base + 1] >> bit) & 1) << 1);
                *d = value[q as usize];
            }
        }
        tract_ndarray::Array4::from_shape_vec((1, c, h, w), data)
            .expect("shape matches buffer")
            .into_tensor()
    }
}

impl Op for QConv2d {
    fn name(&self) -> StaticName {
        "QConv2d".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} {}→{} on {}",
            self.weights.kernel(),
            self.weights.kernel(),
            self.weights.in_channels(),
            self.weights.out_channels(),
            self.executor.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QConv2d {
    // Never evaluated ahead of time: an executor may be hardware.
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].to_plain_array_view::<f32>()?;
        let shape = x.shape().to_vec();
        let x = x.as_slice().context("QConv2d input is not contiguous")?;
        let packed = self.pack_input(x, &shape)?;
        let out = self
            .executor
            .conv(&self.layer, &packed, &self.weights, &self.thresholds)?;
        Ok(tvec!(self.unpack_output(&out).into_tvalue()))
    }
}

impl TypedOp for QConv2d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = inputs[0].shape.to_tvec();
        ensure!(
            shape.len() == 4,
            "QConv2d {}: input must be 4-D NCHW",
            self.layer
        );
        ensure!(
            shape[1] == self.weights.in_channels().to_dim(),
            "QConv2d {}: input has {} channels, weights expect {}",
            self.layer,
            shape[1],
            self.weights.in_channels()
        );
        Ok(tvec!(f32::fact([
            shape[0].clone(),
            self.weights.out_channels().to_dim(),
            shape[2].clone(),
            shape[3].clone()
        ])))
    }

    as_op!();
}
