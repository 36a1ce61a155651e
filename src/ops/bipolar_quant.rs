//! QONNX `BipolarQuant`: binarisation to ±scale.
//!
//! Inputs: `x`, `scale` (constant). Reference semantics (qonnx
//! `binary_quant()`), in f32: `out = (x >= 0 ? 1 : -1) * scale`.
//! So a zero weight becomes `+scale`, and a negative scale flips the sign of
//! the output (the sign test looks at `x`, not at `x / scale`).

use super::{broadcast_param, const_input};
use crate::onnx::{proto::NodeProto, ParseContext};
use tract_hir::internal::*;

/// The typed `BipolarQuant` operator; `scale` broadcasts against the input.
#[derive(Clone, Debug, PartialEq)]
pub struct BipolarQuant {
    pub scale: Arc<Tensor>,
}

impl Eq for BipolarQuant {}

impl BipolarQuant {
    /// `sign(x) · scale`, element-wise (the operator's value on a tensor).
    pub fn binarize(&self, x: &Tensor) -> TractResult<Tensor> {
        let x = x.to_plain_array_view::<f32>()?;
        let scale = self.scale.to_plain_array_view::<f32>()?;
        let scale = broadcast_param("BipolarQuant", "scale", &scale, x.shape())?;
        let mut out = tract_ndarray::ArrayD::<f32>::zeros(x.shape());
        tract_ndarray::Zip::from(&mut out)
            .and(&x)
            .and(&scale)
            .for_each(|o, &x, &s| *o = Self::sign(x) * s);
        Ok(out.into_tensor())
    }

    /// The sign (+1 or -1) that one value binarises to, before scaling.
    pub fn sign(x: f32) -> f32 {
        if x >= 0.0 {
            1.0
        } else {
            -1.0
        }
    }
}

impl Op for BipolarQuant {
    fn name(&self) -> StaticName {
        "QonnxBipolarQuant".into()
    }

    op_as_typed_op!();
}

impl EvalOp for BipolarQuant {
    // Not constant-folded by tract: folding every binarised weight tensor would hold a
    // second float copy of all weights (17.8 MB for the default model) while the model
    // loads. The fusion pass reads the weights straight from the input and packs them
    // to bits; `passes::fold_weights` folds them one at a time for the float backend.
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec!(self.binarize(&inputs[0])?.into_tvalue()))
    }
}

impl TypedOp for BipolarQuant {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == f32::datum_type(),
            "BipolarQuant: input must be f32, found {:?}",
            inputs[0].datum_type
        );
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    as_op!();
}

pub fn parse(_ctx: &ParseContext, _node: &NodeProto) -> TractResult<Box<dyn InferenceOp>> {
    Ok(expand(BipolarQuantExpansion))
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BipolarQuantExpansion;

impl Expansion for BipolarQuantExpansion {
    fn name(&self) -> StaticName {
        "BipolarQuant".into()
    }

    // No eager evaluation while tract infers types either (see `EvalOp` above).
    fn runs_out_of_plan(&self) -> bool {
        false
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
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
        let scale = const_input(model, inputs, 1, prefix, "scale")?;
        let scale = scale.cast_to::<f32>()?.into_owned().into_arc_tensor();
        ensure!(
            scale
                .to_plain_array_view::<f32>()?
                .iter()
                .all(|s| *s != 0.0 && s.is_finite()),
            "{prefix}: scale must be finite and non-zero"
        );
        model.wire_node(prefix, BipolarQuant { scale }, &inputs[0..1])
    }
}
