//! ONNX `Resize` (opsets 10–18 without `axes`, antialiasing or aspect-ratio
//! policies) → tract-onnx-opl's typed `Resize`.

use super::Parsed;
use tract_hir::internal::*;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::nn::resize::Interpolator;
use tract_onnx_opl::resize::{AspectRatio, CoordTransform, Nearest, Resize};

pub fn parse(ctx: &ParsingContext, node: &NodeProto) -> Parsed {
    let opset = ctx.onnx_operator_set_version;
    ensure!(
        opset >= 10,
        "Resize {:?}: operator set {opset} < 10",
        node.name
    );
    ensure!(
        node.get_attr_opt_vec::<i64>("axes")?.is_none()
            && node.get_attr_opt::<i64>("antialias")?.unwrap_or(0) == 0
            && node
                .get_attr_opt::<&str>("keep_aspect_ratio_policy")?
                .unwrap_or("stretch")
                == "stretch",
        "Resize {:?}: `axes`, `antialias` and `keep_aspect_ratio_policy` are not supported \
         by this build",
        node.name
    );
    // Where roi / scales / sizes sit among the node's non-empty inputs (tract drops the
    // empty ones when wiring). Operator set 10 has only `scales`, and an asymmetric grid.
    let slots: &[&str] = if opset == 10 {
        &["scales"]
    } else {
        &["roi", "scales", "sizes"]
    };
    let position = |slot: &str| {
        let ix = slots.iter().position(|s| *s == slot)? + 1;
        node.input.get(ix).filter(|n| !n.is_empty())?;
        Some(node.input[1..ix].iter().filter(|n| !n.is_empty()).count() + 1)
    };
    let (roi, scales, sizes) = (position("roi"), position("scales"), position("sizes"));
    let coord_transformer = if opset == 10 {
        CoordTransform::parse("asymmetric")?
    } else {
        CoordTransform::parse(
            node.get_attr_opt("coordinate_transformation_mode")?
                .unwrap_or("half_pixel"),
        )?
    };
    let op = Resize {
        axes: None,
        antialias: false,
        keep_aspect_ratio_policy: AspectRatio::Stretch,
        coord_transformer,
        interpolator: Interpolator::parse(node.get_attr_opt("mode")?.unwrap_or("nearest"))?,
        nearest: Nearest::parse(
            node.get_attr_opt("nearest_mode")?
                .unwrap_or("round_prefer_floor"),
        )?,
        cubic_coeff_a_bits: node
            .get_attr_opt::<f32>("cubic_coeff_a")?
            .unwrap_or(-0.75)
            .to_bits(),
        exclude_outside: node.get_attr_opt::<i64>("exclude_outside")?.unwrap_or(0) != 0,
        extrapolation_value_bits: node
            .get_attr_opt::<f32>("extrapolation_value")?
            .unwrap_or(0.0)
            .to_bits(),
        optional_roi_input: roi,
        optional_scales_input: scales,
        optional_sizes_input: sizes,
    };
    ensure!(
        scales.is_some() || sizes.is_some(),
        "Resize {:?}: neither scales nor sizes",
        node.name
    );
    Ok((expand(ResizeInference(op)), vec![]))
}

#[derive(Clone, Debug)]
struct ResizeInference(Resize);

impl Expansion for ResizeInference {
    fn name(&self) -> StaticName {
        "Resize".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        let op = &self.0;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].rank, &outputs[0].rank)?;
        // An empty `scales` tensor means "use sizes" (opsets 11–12 always pass one).
        match (op.optional_scales_input, op.optional_sizes_input) {
            (Some(scales), sizes) => s.given(&inputs[scales].shape[0], move |s, len| {
                if len == TDim::Val(0) {
                    let sizes = sizes.context("Resize: empty scales and no sizes")?;
                    output_shape_rule(op, s, inputs, outputs, Target::Sizes(sizes))
                } else {
                    output_shape_rule(op, s, inputs, outputs, Target::Scales(scales))
                }
            }),
            (None, Some(sizes)) => output_shape_rule(op, s, inputs, outputs, Target::Sizes(sizes)),
            (None, None) => bail!("Resize with neither scales nor sizes"),
        }
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(name, self.0.clone(), inputs)
    }
}

/// What gives the output shape: the input index of the scales or of the sizes.
#[derive(Clone, Copy)]
enum Target {
    Scales(usize),
    Sizes(usize),
}

/// The output shape once the input shape and the scales (or sizes) are known.
fn output_shape_rule<'r, 'p: 'r, 's: 'r>(
    op: &'s Resize,
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
    target: Target,
) -> InferenceResult {
    let ix = match target {
        Target::Scales(ix) => {
            s.equals(&inputs[ix].datum_type, f32::datum_type())?;
            ix
        }
        Target::Sizes(ix) => ix,
    };
    s.equals(&inputs[ix].rank, 1)?;
    s.given(&inputs[0].rank, move |s, rank| {
        s.equals(
            &inputs[ix].shape[0],
            op.resized_axes(rank as usize)?.len().to_dim(),
        )
    })?;
    s.given_2(
        &inputs[0].shape,
        &inputs[ix].value,
        move |s, shape, value| {
            let out = match target {
                Target::Scales(_) => op.compute_output_shape(&shape, Some(value.as_ref()), None)?,
                Target::Sizes(_) => op.compute_output_shape(&shape, None, Some(value.as_ref()))?,
            };
            for (i, d) in out.iter().enumerate() {
                s.equals(&outputs[0].shape[i], d.to_dim())?;
            }
            Ok(())
        },
    )
}
