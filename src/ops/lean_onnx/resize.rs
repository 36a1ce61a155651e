//! ONNX `Resize` (opsets 10–18) in nearest mode → our [`NearestResize`], with
//! constant scales or sizes. Linear and cubic modes, `axes`, antialiasing,
//! aspect-ratio policies and `tf_crop_and_resize` are refused by name.

use super::Parsed;
use crate::onnx::{proto::NodeProto, ParseContext};
use crate::ops::nearest_resize::{NearestMode, NearestResize};
use tract_core::ops::nn::resize::CoordTransformer;
use tract_hir::internal::*;

pub fn parse(ctx: &ParseContext, node: &NodeProto) -> Parsed {
    let what = node.describe();
    let opset = ctx.opset;
    ensure!(opset >= 10, "{what}: operator set {opset} < 10");
    let mode = node.attr_str("mode")?.unwrap_or("nearest");
    ensure!(
        mode == "nearest",
        "{what}: mode {mode:?} is not supported by this build (nearest only)"
    );
    ensure!(
        node.attr_ints("axes")?.is_none()
            && node.attr_i64("antialias")?.unwrap_or(0) == 0
            && node
                .attr_str("keep_aspect_ratio_policy")?
                .unwrap_or("stretch")
                == "stretch",
        "{what}: `axes`, `antialias` and `keep_aspect_ratio_policy` are not supported \
         by this build"
    );
    // Where scales / sizes sit among the node's non-empty inputs (the loader drops the
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
    let (scales, sizes) = (position("scales"), position("sizes"));
    ensure!(
        scales.is_some() || sizes.is_some(),
        "{what}: neither scales nor sizes"
    );
    let coord = if opset == 10 {
        "asymmetric"
    } else {
        node.attr_str("coordinate_transformation_mode")?
            .unwrap_or("half_pixel")
    };
    let coord = CoordTransformer::parse(coord)
        .with_context(|| format!("{what}: coordinate transformation not supported"))?;
    let nearest = NearestMode::parse(
        node.attr_str("nearest_mode")?
            .unwrap_or("round_prefer_floor"),
    )
    .with_context(|| what.clone())?;
    Ok(expand(ResizeInference {
        coord,
        nearest,
        scales,
        sizes,
    }))
}

#[derive(Clone, Debug)]
struct ResizeInference {
    coord: CoordTransformer,
    nearest: NearestMode,
    /// Input positions of the scales and of the sizes, when given.
    scales: Option<usize>,
    sizes: Option<usize>,
}

/// What gives the output shape: the input index of the scales or of the sizes.
#[derive(Clone, Copy, Debug)]
enum Target {
    Scales(usize),
    Sizes(usize),
}

impl Target {
    /// The input index of the constant that gives the output shape.
    fn input(self) -> usize {
        match self {
            Target::Scales(ix) | Target::Sizes(ix) => ix,
        }
    }
}

impl ResizeInference {
    /// Scales and sizes are both optional; an empty `scales` tensor means "use
    /// sizes" (opsets 11–12 always pass one).
    fn target(&self, scales_len: Option<usize>) -> TractResult<Target> {
        match (self.scales, self.sizes) {
            (Some(s), sizes) if scales_len != Some(0) || sizes.is_none() => Ok(Target::Scales(s)),
            (_, Some(sizes)) => Ok(Target::Sizes(sizes)),
            _ => bail!("Resize with neither scales nor sizes"),
        }
    }
}

/// Per-axis scales and the output shape, from the input shape and the constant
/// scales (output = input × scale, truncated) or sizes (scale = output / input).
fn resolve<D: DimLike>(
    input: &[D],
    target: Target,
    value: &Tensor,
) -> TractResult<(TVec<f32>, TVec<D>)> {
    ensure!(
        value.len() == input.len(),
        "Resize: {} {target:?} values for an input of rank {}",
        value.len(),
        input.len()
    );
    let mut scales = tvec!();
    let mut shape = tvec!();
    match target {
        Target::Scales(_) => {
            let v = value.cast_to::<f32>()?;
            for (d, &s) in input.iter().zip(v.try_as_plain_ram()?.as_slice::<f32>()?) {
                ensure!(s > 0.0, "Resize: scale {s} is not positive");
                shape.push(if s.round() == s {
                    d.clone() * (s as usize)
                } else {
                    ((d.to_usize()? as f32 * s) as usize).into()
                });
                scales.push(s);
            }
        }
        Target::Sizes(_) => {
            let v = value.cast_to::<i64>()?;
            for (d, &n) in input.iter().zip(v.try_as_plain_ram()?.as_slice::<i64>()?) {
                let n = usize::try_from(n).map_err(|_| format_err!("Resize: size {n} < 0"))?;
                scales.push(n as f32 / d.to_usize()? as f32);
                shape.push(n.into());
            }
        }
    }
    Ok((scales, shape))
}

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
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].rank, &outputs[0].rank)?;
        let rule = move |s: &mut Solver<'r>, target: Target| -> InferenceResult {
            let ix = target.input();
            s.equals(&inputs[ix].rank, 1)?;
            s.given_2(
                &inputs[0].shape,
                &inputs[ix].value,
                move |s, shape, value| {
                    let (_, out) = resolve(&shape, target, &value)?;
                    for (i, d) in out.into_iter().enumerate() {
                        s.equals(&outputs[0].shape[i], d)?;
                    }
                    Ok(())
                },
            )
        };
        match self.scales {
            Some(ix) => s.given(&inputs[ix].shape[0], move |s, len| {
                let target = self.target(Some(len.to_usize()?))?;
                rule(s, target)
            }),
            None => rule(s, self.target(None)?),
        }
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let scales_len = match self.scales {
            Some(ix) => Some(model.outlet_fact(inputs[ix])?.shape.volume().to_usize()?),
            None => None,
        };
        let target = self.target(scales_len)?;
        let value = model
            .outlet_fact(inputs[target.input()])?
            .konst
            .clone()
            .with_context(|| format!("{name}: {target:?} must be a constant"))?;
        let shape = model
            .outlet_fact(inputs[0])?
            .shape
            .as_concrete()
            .with_context(|| format!("{name}: the input shape must be known"))?
            .to_vec();
        let (scales, output_shape) = resolve(&shape, target, &value)?;
        let op = NearestResize {
            coord: self.coord.clone(),
            nearest: self.nearest,
            scale_bits: scales.iter().map(|s| s.to_bits()).collect(),
            output_shape,
        };
        model.wire_node(name, op, &inputs[..1])
    }
}
