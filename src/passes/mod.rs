//! Graph rewrites applied to the typed tract model between loading and
//! optimisation. Each pass is its own file; [`PASSES`] is their order, and
//! [`rewrite`] runs them.

pub mod fold_weights;
pub mod fuse_conv_quant_pack;
pub mod fuse_packed_float_conv;
pub mod fuse_qconv;
pub mod packed_layout;

use crate::ops::qconv2d::Executor;
use anyhow::{Context, Result};
use fuse_qconv::FusionReport;
use std::path::Path;
use std::sync::Arc;
use tract_core::internal::*;

/// What the passes share: the backend's executor of fused layers (`None`: the float
/// reference, which runs no quantised pass), its CPU threads, and what fusion found.
pub struct PassState {
    pub executor: Option<Arc<dyn Executor>>,
    pub threads: usize,
    pub fusion: FusionReport,
}

/// One rewrite, with what it does (for errors: "cannot {does} of {model}").
pub struct Pass {
    pub name: &'static str,
    pub does: &'static str,
    /// Runs only for a backend with fused layers.
    pub quantised: bool,
    pub run: fn(&mut TypedModel, &mut PassState) -> TractResult<()>,
}

/// The passes, in order: each later one expects what the earlier ones made.
pub const PASSES: [Pass; 5] = [
    Pass {
        name: "fuse_qconv",
        does: "fuse the quantised layers",
        quantised: true,
        run: |model, state| {
            let executor = state.executor.clone().expect("quantised passes have one");
            state.fusion = fuse_qconv::fuse_qconv(model, executor)?;
            let f = &state.fusion;
            tracing::debug!(fused = ?f.fused, skipped = ?f.skipped, "quantised-conv fusion");
            Ok(())
        },
    },
    Pass {
        name: "packed_layout",
        does: "pack the activations",
        quantised: true,
        run: |model, state| {
            let packing = packed_layout::packed_layout(model, state.threads)?;
            tracing::debug!(packed = ?packing.packed, float = ?packing.float, "packed layout");
            Ok(())
        },
    },
    Pass {
        name: "fuse_conv_quant_pack",
        does: "fuse the float input blocks",
        quantised: true,
        run: |model, state| {
            let blocks = fuse_conv_quant_pack::fuse_conv_quant_pack(model, state.threads)?;
            tracing::debug!(?blocks, "float input blocks writing packed activations");
            Ok(())
        },
    },
    Pass {
        name: "fuse_packed_float_conv",
        does: "fuse the float convs reading packed activations",
        quantised: true,
        run: |model, state| {
            let heads = fuse_packed_float_conv::fuse_packed_float_conv(model, state.threads)?;
            tracing::debug!(?heads, "float convs reading packed activations");
            Ok(())
        },
    },
    Pass {
        name: "fold_weights",
        does: "fold the binary weights",
        quantised: false,
        run: |model, _| {
            let folded = fold_weights::fold_weights(model)?;
            tracing::debug!(folded, "binary weights left to tract, folded");
            Ok(())
        },
    },
];

/// Runs [`PASSES`] on the model loaded from `path`; returns what fusion found (empty for the
/// float reference).
pub fn rewrite(
    model: &mut TypedModel,
    executor: Option<Arc<dyn Executor>>,
    threads: usize,
    path: &Path,
) -> Result<FusionReport> {
    let mut state = PassState {
        executor,
        threads,
        fusion: FusionReport::default(),
    };
    for pass in &PASSES {
        if pass.quantised && state.executor.is_none() {
            continue;
        }
        (pass.run)(model, &mut state)
            .with_context(|| format!("cannot {} of {}", pass.does, path.display()))?;
    }
    Ok(state.fusion)
}
