//! QONNX `Quant` (alias `IntQuant`): uniform integer fake-quantisation.
//!
//! Inputs: `x`, `scale`, `zeropt`, `bitwidth` (the last three must be
//! constants). Attributes: `signed`, `narrow`, `rounding_mode`.
//!
//! Reference semantics (qonnx `quant()`), evaluated in f32 in this order:
//! ```text
//! y = x / scale + zeropt
//! if bitwidth == 1 and signed:  y = (y >= 0) ? 1 : -1
//! else:                         y = round(clamp(y, min_int, max_int))   // clamp first, then round
//! out = (y - zeropt) * scale
//! ```
//! `min_int`/`max_int` follow `signed`/`narrow`/`bitwidth` (e.g. unsigned 2-bit:
//! 0..=3). The rounding modes are qonnx's: ROUND (half to even), HALF_UP and
//! HALF_DOWN (ties away from / towards zero), UP, DOWN, CEIL, FLOOR.

use super::{broadcast_param, const_input};
use crate::onnx::{proto::NodeProto, ParseContext};
use tract_hir::internal::*;

/// How `Quant` turns a real number into an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoundingMode {
    /// Nearest, ties to even (`np.round`).
    Round,
    /// Nearest, ties away from zero.
    HalfUp,
    /// Nearest, ties towards zero.
    HalfDown,
    /// Away from zero.
    Up,
    /// Towards zero.
    Down,
    Ceil,
    Floor,
}

impl RoundingMode {
    pub fn parse(s: &str) -> TractResult<RoundingMode> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "ROUND" | "HALF_EVEN" => RoundingMode::Round,
            "HALF_UP" => RoundingMode::HalfUp,
            "HALF_DOWN" => RoundingMode::HalfDown,
            "UP" => RoundingMode::Up,
            "DOWN" => RoundingMode::Down,
            "CEIL" => RoundingMode::Ceil,
            "FLOOR" => RoundingMode::Floor,
            other => bail!(
                "unknown rounding_mode {other:?} (expected ROUND, HALF_UP, HALF_DOWN, UP, DOWN, CEIL or FLOOR)"
            ),
        })
    }

    /// Rounds `y`, which the caller has clamped to the integer range (so
    /// |y| < 2^32 and `floor` can be a cast, much cheaper than libm's on
    /// baseline x86_64). NaN stays NaN.
    #[inline]
    pub fn apply(self, y: f32) -> f32 {
        if y.is_nan() || y.abs() >= 4_294_967_296.0 {
            return self.apply_libm(y);
        }
        let floor = |v: f32| {
            let t = v as i64 as f32;
            if t > v {
                t - 1.0
            } else {
                t
            }
        };
        let ceil = |v: f32| -floor(-v);
        let sign = |v: f32, m: f32| if v < 0.0 { -m } else { m };
        match self {
            RoundingMode::Round => y.round_ties_even(),
            RoundingMode::HalfUp => sign(y, floor(y.abs() + 0.5)),
            RoundingMode::HalfDown => sign(y, ceil(y.abs() - 0.5)),
            RoundingMode::Up => sign(y, ceil(y.abs())),
            RoundingMode::Down => sign(y, floor(y.abs())),
            RoundingMode::Ceil => ceil(y),
            RoundingMode::Floor => floor(y),
        }
    }

    /// The same with libm, for values outside the fast path.
    fn apply_libm(self, y: f32) -> f32 {
        match self {
            RoundingMode::Round => y.round_ties_even(),
            RoundingMode::HalfUp => y.signum() * (y.abs() + 0.5).floor(),
            RoundingMode::HalfDown => y.signum() * (y.abs() - 0.5).ceil(),
            RoundingMode::Up => y.signum() * y.abs().ceil(),
            RoundingMode::Down => y.trunc(),
            RoundingMode::Ceil => y.ceil(),
            RoundingMode::Floor => y.floor(),
        }
    }
}

/// The typed `Quant` operator: scale and zero point are constants that
/// broadcast against the input (numpy rules).
#[derive(Clone, Debug, PartialEq)]
pub struct Quant {
    pub scale: Arc<Tensor>,
    pub zero_point: Arc<Tensor>,
    pub bit_width: u32,
    pub signed: bool,
    pub narrow: bool,
    pub rounding: RoundingMode,
}

impl Eq for Quant {}

impl Quant {
    /// The activation quantiser: unsigned, `bits` wide, zero point 0, HALF_UP, scalar `scale`.
    pub fn unsigned_half_up(bits: u32, scale: f32) -> Quant {
        Quant {
            scale: tensor0(scale).into_arc_tensor(),
            zero_point: tensor0(0.0f32).into_arc_tensor(),
            bit_width: bits,
            signed: false,
            narrow: false,
            rounding: RoundingMode::HalfUp,
        }
    }

    /// Smallest integer level (qonnx `min_int`).
    pub fn min_int(&self) -> f64 {
        match (self.signed, self.narrow) {
            (true, true) => -(2f64.powi(self.bit_width as i32 - 1)) + 1.0,
            (true, false) => -(2f64.powi(self.bit_width as i32 - 1)),
            (false, _) => 0.0,
        }
    }

    /// Largest integer level (qonnx `max_int`).
    pub fn max_int(&self) -> f64 {
        match (self.signed, self.narrow) {
            (false, false) => 2f64.powi(self.bit_width as i32) - 1.0,
            (false, true) => 2f64.powi(self.bit_width as i32) - 2.0,
            (true, _) => 2f64.powi(self.bit_width as i32 - 1) - 1.0,
        }
    }

    /// Scalar scale if the scale is a single value (the activation case).
    pub fn scalar_scale(&self) -> Option<f32> {
        scalar(&self.scale)
    }

    /// Scalar zero point if it is a single value.
    pub fn scalar_zero_point(&self) -> Option<f32> {
        scalar(&self.zero_point)
    }

    /// The integer level (before re-scaling) of one value, given its scale and
    /// zero point: exactly qonnx's arithmetic, in f32.
    pub fn level(&self, x: f32, scale: f32, zero_point: f32) -> f32 {
        self.level_in(
            x,
            scale,
            zero_point,
            self.min_int() as f32,
            self.max_int() as f32,
        )
    }

    /// [`Quant::level`] with the integer range already computed.
    #[inline]
    pub(crate) fn level_in(&self, x: f32, scale: f32, zero_point: f32, lo: f32, hi: f32) -> f32 {
        let y = x / scale + zero_point;
        if self.bit_width == 1 && self.signed {
            return if y >= 0.0 { 1.0 } else { -1.0 };
        }
        // qonnx clamps with `where(y > max)` / `where(y < min)`: NaN passes through.
        let clamped = if y > hi {
            hi
        } else if y < lo {
            lo
        } else {
            y
        };
        self.rounding.apply(clamped)
    }

    /// Fake-quantises one value.
    pub fn quantize(&self, x: f32, scale: f32, zero_point: f32) -> f32 {
        (self.level(x, scale, zero_point) - zero_point) * scale
    }
}

/// The value of a single-element f32 tensor.
fn scalar(t: &Tensor) -> Option<f32> {
    if t.len() != 1 {
        return None;
    }
    t.to_plain_array_view::<f32>().ok()?.iter().next().copied()
}

impl Op for Quant {
    fn name(&self) -> StaticName {
        "QonnxQuant".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "bits: {} signed: {} narrow: {} rounding: {:?} scale: {:?} zeropt: {:?}",
            self.bit_width, self.signed, self.narrow, self.rounding, self.scale, self.zero_point
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Quant {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].to_plain_array_view::<f32>()?;
        // Fast path: one scale and zero point (the activation case).
        if let (Some(s), Some(z), Some(xs)) =
            (self.scalar_scale(), self.scalar_zero_point(), x.as_slice())
        {
            let (lo, hi) = (self.min_int() as f32, self.max_int() as f32);
            let unsigned_half_up = !self.signed
                && z == 0.0
                && s > 0.0
                && self.rounding == RoundingMode::HalfUp
                && hi < 1e9;
            let out: Vec<f32> = if unsigned_half_up && !xs.iter().any(|v| v.is_nan()) {
                // The activation quantiser: y = clamp(x / s, 0, hi) >= 0, so
                // HALF_UP is floor(y + 0.5), a truncating cast. Branch-free,
                // so it vectorises; same f32 operations as the general path.
                xs.iter()
                    .map(|&v| (((v / s).clamp(0.0, hi) + 0.5) as i32) as f32 * s)
                    .collect()
            } else {
                xs.iter()
                    .map(|&v| (self.level_in(v, s, z, lo, hi) - z) * s)
                    .collect()
            };
            return Ok(tvec!(tract_ndarray::ArrayD::from_shape_vec(
                x.shape(),
                out
            )?
            .into_tensor()
            .into_tvalue()));
        }
        let scale = self.scale.to_plain_array_view::<f32>()?;
        let scale = broadcast_param("Quant", "scale", &scale, x.shape())?;
        let zp = self.zero_point.to_plain_array_view::<f32>()?;
        let zp = broadcast_param("Quant", "zeropt", &zp, x.shape())?;
        let mut out = tract_ndarray::ArrayD::<f32>::zeros(x.shape());
        tract_ndarray::Zip::from(&mut out)
            .and(&x)
            .and(&scale)
            .and(&zp)
            .for_each(|o, &x, &s, &z| *o = self.quantize(x, s, z));
        Ok(tvec!(out.into_tensor().into_tvalue()))
    }
}

impl TypedOp for Quant {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == f32::datum_type(),
            "Quant: input must be f32, found {:?}",
            inputs[0].datum_type
        );
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    as_op!();
}

/// Builds the inference-time op from an ONNX node.
pub fn parse(_ctx: &ParseContext, node: &NodeProto) -> TractResult<Box<dyn InferenceOp>> {
    let signed = node.attr_i64("signed")?.unwrap_or(1) != 0;
    let narrow = node.attr_i64("narrow")?.unwrap_or(1) != 0;
    let rounding = RoundingMode::parse(node.attr_str("rounding_mode")?.unwrap_or("ROUND"))
        .with_context(|| format!("Quant node {:?}", node.name))?;
    Ok(expand(QuantExpansion {
        signed,
        narrow,
        rounding,
    }))
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct QuantExpansion {
    signed: bool,
    narrow: bool,
    rounding: RoundingMode,
}

impl Expansion for QuantExpansion {
    fn name(&self) -> StaticName {
        "Quant".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 4)?;
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
        let zero_point = const_input(model, inputs, 2, prefix, "zeropt")?;
        let bits = const_input(model, inputs, 3, prefix, "bitwidth")?;
        let scale = scale.cast_to::<f32>()?.into_owned().into_arc_tensor();
        let zero_point = zero_point.cast_to::<f32>()?.into_owned().into_arc_tensor();
        ensure!(
            bits.len() == 1,
            "{prefix}: bitwidth must be a scalar, found shape {:?}",
            bits.shape()
        );
        let bits = bits.cast_to_scalar::<f32>()?;
        ensure!(
            bits.fract() == 0.0 && (1.0..=32.0).contains(&bits),
            "{prefix}: bitwidth must be an integer in 1..=32, found {bits}"
        );
        ensure!(
            scale
                .to_plain_array_view::<f32>()?
                .iter()
                .all(|s| *s != 0.0 && s.is_finite()),
            "{prefix}: scale must be finite and non-zero"
        );
        let op = Quant {
            scale,
            zero_point,
            bit_width: bits as u32,
            signed: self.signed,
            narrow: self.narrow,
            rounding: self.rounding,
        };
        model.wire_node(prefix, op, &inputs[0..1])
    }
}
