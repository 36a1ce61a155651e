//! `QConv2d`: one fused quantised block — binary-weight convolution,
//! BatchNorm and the next 2-bit quantiser — computed with integer
//! bit-serial arithmetic (see [`crate::kernels`]).
//!
//! Shape rule: packed 2-bit activations in and out (`u32 [H, W, G, 2]`, see
//! [`super::pack`]): input `C_in` channels, output `C_out`, same `H × W`. The
//! convolution and the three per-channel thresholds run on an [`Executor`]
//! (CPU kernels, the FPGA). Float ops around it meet it through
//! `PackLevels` / `UnpackLevels`, which the packing pass removes wherever the
//! data between two quantised convs only changes layout.
//!
//! The op built by [`crate::passes::fuse_qconv`]; its thresholds carry the
//! folded weight scale, BatchNorm and quantiser (see that pass for how ties
//! are resolved).

use super::pack::{from_packed, packed_fact, packed_hw, to_packed};
use crate::kernels::{self, KernelKind, PackedActivations, PackedWeights, Thresholds};
use std::fmt;
use tract_hir::internal::*;

/// Where fused quantised convolutions run.
pub trait Executor: fmt::Debug + Send + Sync {
    /// Short name for logs and `lm bench`.
    fn name(&self) -> String;
    /// One layer with its constants prepared once, when the graph is built (weight re-layout
    /// for the CPU kernels). `None`: nothing to prepare, [`Executor::conv`] runs every frame.
    fn prepare(
        &self,
        _layer: &str,
        _weights: &PackedWeights,
        _thresholds: &Thresholds,
    ) -> anyhow::Result<Option<Arc<dyn LayerRunner>>> {
        Ok(None)
    }
    /// Thresholded convolution of one layer (`layer` names it in errors).
    fn conv(
        &self,
        layer: &str,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: &Thresholds,
    ) -> anyhow::Result<PackedActivations>;
}

/// A prepared layer (see [`Executor::prepare`]).
pub trait LayerRunner: fmt::Debug + Send + Sync {
    fn run(&self, input: &PackedActivations) -> anyhow::Result<PackedActivations>;
}

/// A layer prepared for the CPU kernels.
#[derive(Debug)]
struct CpuLayer {
    layer: String,
    prepared: kernels::PreparedConv,
    threads: usize,
}

impl LayerRunner for CpuLayer {
    fn run(&self, input: &PackedActivations) -> anyhow::Result<PackedActivations> {
        self.prepared
            .run(input, self.threads)
            .map_err(|e| anyhow::anyhow!("layer {}: {e}", self.layer))
    }
}

/// The bit-serial CPU kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuExecutor {
    pub kernel: KernelKind,
    /// Threads each layer is split over (0 = all cores; see [`crate::parallel`]).
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

    fn prepare(
        &self,
        layer: &str,
        weights: &PackedWeights,
        thresholds: &Thresholds,
    ) -> anyhow::Result<Option<Arc<dyn LayerRunner>>> {
        let prepared = kernels::PreparedConv::new(self.kernel, weights, thresholds)
            .map_err(|e| anyhow::anyhow!("layer {layer}: {e}"))?;
        Ok(Some(Arc::new(CpuLayer {
            layer: layer.to_string(),
            prepared,
            threads: self.threads,
        })))
    }
}

/// The fused operator.
#[derive(Clone, Debug)]
pub struct QConv2d {
    /// Name of the float Conv it replaces.
    pub layer: String,
    pub weights: Arc<PackedWeights>,
    pub thresholds: Arc<Thresholds>,
    pub executor: Arc<dyn Executor>,
    /// The executor's prepared form of this layer, if it has one.
    pub runner: Option<Arc<dyn LayerRunner>>,
}

impl PartialEq for QConv2d {
    fn eq(&self, other: &Self) -> bool {
        self.layer == other.layer
            && Arc::ptr_eq(&self.weights, &other.weights)
            && Arc::ptr_eq(&self.thresholds, &other.thresholds)
            && Arc::ptr_eq(&self.executor, &other.executor)
            && match (&self.runner, &other.runner) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

impl Eq for QConv2d {}

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
        let packed = to_packed(&inputs[0], self.weights.in_channels(), &self.layer)?;
        let out = match &self.runner {
            Some(r) => r.run(&packed)?,
            None => self
                .executor
                .conv(&self.layer, &packed, &self.weights, &self.thresholds)?,
        };
        Ok(tvec!(from_packed(out)?.into_tvalue()))
    }
}

impl TypedOp for QConv2d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (h, w) = packed_hw(inputs[0], self.weights.in_channels(), &self.layer)?;
        Ok(tvec!(packed_fact(h, w, self.weights.out_channels())))
    }

    as_op!();
}
