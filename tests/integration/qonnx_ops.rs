//! The QONNX operators: hand-computed values, and the qonnx executor's output
//! on every rounding mode (reference arrays made by make_fixtures.py).

use crate::common::*;
use lm::ops::bipolar_quant::BipolarQuant;
use lm::ops::quant::{Quant, RoundingMode};
use tract_onnx::prelude::*;

fn quant(bits: u32, signed: bool, narrow: bool, rounding: RoundingMode) -> Quant {
    Quant {
        scale: tensor0(1.0f32).into_arc_tensor(),
        zero_point: tensor0(0.0f32).into_arc_tensor(),
        bit_width: bits,
        signed,
        narrow,
        rounding,
    }
}

#[test]
fn blueoil_activation_quantiser_by_hand() {
    // 2-bit unsigned, scale 2/3, ties up: y = floor(clip(x,0,2)·1.5 + 0.5)·2/3.
    let q = quant(2, false, false, RoundingMode::HalfUp);
    let s = 2.0f32 / 3.0;
    let cases = [
        (-1.0, 0.0),
        (0.0, 0.0),
        (0.3, 0.0),
        (1.0 / 3.0, 2.0 / 3.0), // tie → up (numpy's round would give 0)
        (0.9, 2.0 / 3.0),
        (1.0, 4.0 / 3.0), // 1.5 → 2 levels
        (1.7, 2.0),
        (2.0, 2.0),
        (9.0, 2.0),
    ];
    for (x, want) in cases {
        let got = q.quantize(x, s, 0.0);
        assert!(
            (got - want as f32).abs() < 1e-6,
            "x = {x}: got {got}, want {want}"
        );
    }
    assert_eq!(q.min_int(), 0.0);
    assert_eq!(q.max_int(), 3.0);
}

#[test]
fn integer_ranges_follow_signed_and_narrow() {
    let r = |bits, signed, narrow| {
        let q = quant(bits, signed, narrow, RoundingMode::Round);
        (q.min_int(), q.max_int())
    };
    assert_eq!(r(8, true, true), (-127.0, 127.0));
    assert_eq!(r(8, true, false), (-128.0, 127.0));
    assert_eq!(r(8, false, true), (0.0, 254.0));
    assert_eq!(r(8, false, false), (0.0, 255.0));
    assert_eq!(r(2, false, false), (0.0, 3.0));
}

#[test]
fn rounding_modes_by_hand() {
    use RoundingMode::*;
    let table: [(RoundingMode, [f32; 6]); 7] = [
        // inputs:  2.5, -2.5, 1.5, -1.4, 0.5, -0.5
        (Round, [2.0, -2.0, 2.0, -1.0, 0.0, -0.0]),
        (HalfUp, [3.0, -3.0, 2.0, -1.0, 1.0, -1.0]),
        (HalfDown, [2.0, -2.0, 1.0, -1.0, 0.0, -0.0]),
        (Up, [3.0, -3.0, 2.0, -2.0, 1.0, -1.0]),
        (Down, [2.0, -2.0, 1.0, -1.0, 0.0, -0.0]),
        (Ceil, [3.0, -2.0, 2.0, -1.0, 1.0, -0.0]),
        (Floor, [2.0, -3.0, 1.0, -2.0, 0.0, -1.0]),
    ];
    let xs = [2.5f32, -2.5, 1.5, -1.4, 0.5, -0.5];
    for (mode, want) in table {
        for (x, w) in xs.iter().zip(want) {
            assert_eq!(mode.apply(*x), w, "{mode:?}({x})");
        }
    }
    assert!(RoundingMode::parse("bogus").is_err());
    assert_eq!(RoundingMode::parse("half_up").unwrap(), HalfUp);
}

#[test]
fn bipolar_quant_by_hand() {
    assert_eq!(BipolarQuant::sign(0.0), 1.0);
    assert_eq!(BipolarQuant::sign(-0.001), -1.0);
    assert_eq!(BipolarQuant::sign(3.0), 1.0);
}

#[test]
fn tract_matches_qonnx_executor_on_every_mode() {
    let model = lm::ops::tract_onnx()
        .model_for_path(fixture("quant_modes.onnx"))
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let (shape, x) = read_npy_f32(&fixture("quant_modes.input.npy"));
    let input = tract_ndarray::ArrayD::from_shape_vec(shape, x)
        .unwrap()
        .into_tensor();
    let outputs = model.run(tvec!(input.into())).unwrap();
    let names = [
        "u2_half_up",
        "u2_round",
        "s4_round",
        "s4_narrow_floor",
        "s3_ceil_zp",
        "u8_round",
        "s1",
        "bipolar",
    ];
    assert_eq!(outputs.len(), names.len());
    for (out, name) in outputs.iter().zip(names) {
        let (_, want) = read_npy_f32(&fixture(&format!("quant_modes.{name}.qonnx.npy")));
        let got: Vec<f32> = out
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        // Same f32 operations in the same order: bit-exact.
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn non_constant_quantiser_parameters_are_rejected() {
    // A Quant whose scale is a graph input instead of an initializer.
    let mut m = InferenceModel::default();
    let x = m.add_source("x", f32::fact([4]).into()).unwrap();
    let s = m.add_source("s", f32::fact([0usize; 0]).into()).unwrap();
    let z = m.add_const("z", tensor0(0.0f32)).unwrap();
    let b = m.add_const("b", tensor0(2.0f32)).unwrap();
    let parse = lm::ops::quant::parse;
    let ctx = lm::onnx::ParseContext { opset: 13 };
    let node = lm::onnx::proto::NodeProto {
        op_type: "Quant".into(),
        name: "q".into(),
        ..Default::default()
    };
    let op = parse(&ctx, &node).unwrap();
    let q = m.wire_node("q", op, &[x, s, z, b]).unwrap();
    m.select_output_outlets(&q).unwrap();
    let err = m.into_typed().expect_err("dynamic scale must be rejected");
    let msg = format!("{err:#}");
    assert!(msg.contains("scale") && msg.contains("constant"), "{msg}");
}
