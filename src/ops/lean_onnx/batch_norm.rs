//! ONNX `BatchNormalization` (inference, NCHW, f32) → `x · slope + intercept`.
//!
//! The constants are computed in f32 in the order tract-onnx uses
//! (`slope = γ / √(var + ε)`, `intercept = β − (mean · γ) / √(var + ε)`) and
//! wired as `Mul(slope, x)` then `Add(intercept, ·)`, the shape the fusion
//! passes match.

use super::Parsed;
use crate::onnx::{proto::NodeProto, ParseContext};
use tract_hir::internal::*;

pub fn parse(_ctx: &ParseContext, node: &NodeProto) -> Parsed {
    let epsilon = node.attr_f32("epsilon")?.unwrap_or(1e-5);
    let spatial = node.attr_i64("spatial")?.unwrap_or(1);
    ensure!(
        spatial == 1,
        "{}: `spatial` = {spatial} is not supported",
        node.describe()
    );
    Ok(expand(BatchNorm { epsilon }))
}

#[derive(Debug, Clone)]
pub(crate) struct BatchNorm {
    pub(crate) epsilon: f32,
}

impl BatchNorm {
    /// Per-channel slope and intercept from γ, β, mean and variance.
    fn slope_and_intercept(&self, params: [&Tensor; 4]) -> TractResult<(Vec<f32>, Vec<f32>)> {
        let views = params
            .iter()
            .map(|t| t.try_as_plain_ram())
            .collect::<TractResult<Vec<_>>>()?;
        let gamma = views[0].as_slice::<f32>()?;
        let beta = views[1].as_slice::<f32>()?;
        let mean = views[2].as_slice::<f32>()?;
        let var = views[3].as_slice::<f32>()?;
        let c = gamma.len();
        ensure!(
            [beta.len(), mean.len(), var.len()] == [c; 3],
            "BatchNormalization parameters of different lengths"
        );
        let mut slope = Vec::with_capacity(c);
        let mut intercept = Vec::with_capacity(c);
        for i in 0..c {
            let denominator = (var[i] + self.epsilon).sqrt();
            slope.push(gamma[i] / denominator);
            intercept.push(beta[i] - (mean[i] * gamma[i]) / denominator);
        }
        Ok((slope, intercept))
    }
}

impl Expansion for BatchNorm {
    fn name(&self) -> StaticName {
        "BatchNorm".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 5)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        for input in &inputs[1..] {
            s.equals(&input.datum_type, f32::datum_type())?;
            s.equals(&input.rank, 1)?;
            s.equals(&input.shape[0], &inputs[0].shape[1])?;
        }
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let mut params = vec![];
        for (ix, what) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
            params.push(
                model
                    .outlet_fact(inputs[ix])?
                    .konst
                    .clone()
                    .with_context(|| format!("{prefix}: {what} must be a constant"))?,
            );
        }
        let (slope, intercept) =
            self.slope_and_intercept([&params[0], &params[1], &params[2], &params[3]])?;
        let rank = model.outlet_fact(inputs[0])?.rank();
        let mut shape = vec![1; rank];
        shape[1] = slope.len();
        let slope = tract_ndarray::ArrayD::from_shape_vec(shape.clone(), slope)?;
        let intercept = tract_ndarray::ArrayD::from_shape_vec(shape, intercept)?;
        let slope = model.add_const(format!("{prefix}.slope"), slope.into_tensor())?;
        let intercept = model.add_const(format!("{prefix}.inter"), intercept.into_tensor())?;
        let mul = model.wire_node(
            format!("{prefix}.mul"),
            tract_hir::ops::math::mul(),
            &[slope, inputs[0]],
        )?;
        model.wire_node(prefix, tract_hir::ops::math::add(), &[intercept, mul[0]])
    }
}
