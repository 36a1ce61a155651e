//! `NearestResize`: nearest-neighbour resizing with constant per-axis scales,
//! the typed op of ONNX `Resize` / `Upsample` in the lean loader.
//!
//! Same index rule as tract-onnx's Resize (and the ONNX reference): output
//! coordinate `x` maps to `x_in = transform(x)`; an integral `x_in` reads
//! itself, a fractional one reads `floor(x_in)` or the next pixel by the
//! `nearest_mode`; the index is clamped into the axis. Values are copied, never
//! blended, so the op preserves quantised levels (the packed passes rely on it).

use tract_core::ops::nn::resize::CoordTransformer;
use tract_hir::internal::*;
use tract_ndarray::Axis;

/// ONNX `nearest_mode`: which neighbour a fractional coordinate reads.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum NearestMode {
    Floor,
    Ceil,
    RoundPreferFloor,
    RoundPreferCeil,
}

impl NearestMode {
    pub fn parse(s: &str) -> TractResult<Self> {
        Ok(match s {
            "floor" => NearestMode::Floor,
            "ceil" => NearestMode::Ceil,
            "round_prefer_floor" => NearestMode::RoundPreferFloor,
            "round_prefer_ceil" => NearestMode::RoundPreferCeil,
            other => bail!("unknown nearest_mode {other:?}"),
        })
    }

    /// Whether the right neighbour wins for the fractional part `r` in (0, 1).
    fn prefers_right(self, r: f32) -> bool {
        match self {
            NearestMode::Floor => false,
            NearestMode::Ceil => true,
            NearestMode::RoundPreferFloor => r > 0.5,
            NearestMode::RoundPreferCeil => r >= 0.5,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct NearestResize {
    pub coord: CoordTransformer,
    pub nearest: NearestMode,
    /// Per axis, the `f32` bits of the scale (output / input length).
    pub scale_bits: TVec<u32>,
    pub output_shape: TVec<usize>,
}

impl NearestResize {
    /// The scale of `axis` (output / input length).
    pub fn scale(&self, axis: usize) -> f32 {
        f32::from_bits(self.scale_bits[axis])
    }

    /// The input index each output index of `axis` reads.
    pub fn source_indices(&self, axis: usize, len_in: usize) -> Vec<usize> {
        let scale = self.scale(axis);
        let len_out = self.output_shape[axis];
        (0..len_out)
            .map(|x| {
                let x_in = self.coord.transform(x, scale, len_in, len_out);
                // `cell` + `r` = x_in with r in (0, 1]: r == 1 is an integral x_in.
                let cell = x_in.ceil() - 1.0;
                let r = x_in - cell;
                let right = r == 1.0 || self.nearest.prefers_right(r);
                let ix = cell as isize + right as isize;
                ix.clamp(0, len_in as isize - 1) as usize
            })
            .collect()
    }

    /// Gathers axis by axis; the first gather reads the input in place, so an
    /// axis-by-axis resize copies the data once per resized axis, no more.
    fn eval_t<T: Datum>(&self, input: &Tensor) -> TractResult<Tensor> {
        let input = input.to_plain_array_view::<T>()?;
        let mut resized: Option<tract_ndarray::ArrayD<T>> = None;
        for axis in 0..self.output_shape.len() {
            let len_in = input.shape()[axis];
            if len_in == self.output_shape[axis] && self.scale(axis) == 1.0 {
                continue;
            }
            let indices = self.source_indices(axis, len_in);
            resized = Some(match &resized {
                Some(array) => array.select(Axis(axis), &indices),
                None => input.select(Axis(axis), &indices),
            });
        }
        Ok(resized.unwrap_or_else(|| input.to_owned()).into_tensor())
    }
}

impl Op for NearestResize {
    fn name(&self) -> StaticName {
        "NearestResize".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let scales: Vec<f32> = (0..self.scale_bits.len()).map(|a| self.scale(a)).collect();
        Ok(vec![format!(
            "{:?}, {:?}, scales {scales:?} → {:?}",
            self.coord, self.nearest, self.output_shape
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for NearestResize {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        ensure!(
            input.rank() == self.output_shape.len(),
            "NearestResize: input of rank {}, expected {}",
            input.rank(),
            self.output_shape.len()
        );
        let out = dispatch_datum!(Self::eval_t(input.datum_type())(self, &input))?;
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for NearestResize {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].rank() == self.output_shape.len(),
            "NearestResize: input of rank {}, expected {}",
            inputs[0].rank(),
            self.output_shape.len()
        );
        Ok(tvec!(inputs[0].datum_type.fact(&*self.output_shape)))
    }

    /// Integer upsampling that reads pixel `x / scale` (e.g. asymmetric
    /// coordinates) becomes tract's `NearestUpsample`, as tract-onnx's Resize does.
    fn declutter(
        &self,
        model: &TypedModel,
        node: &TypedNode,
    ) -> TractResult<Option<TypedModelPatch>> {
        let Some(shape) = model.outlet_fact(node.inputs[0])?.shape.as_concrete() else {
            return Ok(None);
        };
        let mut int_scales = tvec!();
        for (axis, (&len_in, &len_out)) in shape.iter().zip(&self.output_shape).enumerate() {
            let scale = self.scale(axis);
            let k = len_out / len_in.max(1);
            let replicates = scale == k as f32
                && k >= 1
                && len_out == k * len_in
                && self
                    .source_indices(axis, len_in)
                    .iter()
                    .enumerate()
                    .all(|(x, &i)| i == x / k);
            if !replicates {
                return Ok(None);
            }
            int_scales.push(k);
        }
        tract_core::ops::nn::resize::lower_nearest_integer_upsample(model, node, &int_scales)
    }

    as_op!();
}

/// `Some(true)` if `node` is a nearest-neighbour resize (ours, or tract-onnx's
/// `Resize` in nearest mode: both copy values, so the packed passes treat them
/// as layout ops), `Some(false)` if it is a resize that blends, `None` if it
/// is no resize.
pub fn is_nearest_resize(node: &TypedNode) -> Option<bool> {
    if node.op_is::<NearestResize>() {
        return Some(true);
    }
    #[cfg(feature = "all-onnx-ops")]
    if let Some(r) = node.op_as::<tract_onnx_opl::resize::Resize>() {
        return Some(r.interpolator == tract_core::ops::nn::resize::Interpolator::Nearest);
    }
    None
}
