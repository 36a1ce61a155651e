//! The lean ONNX registry (`lm::ops::lean_onnx`, what the board binaries parse
//! with) against tract-onnx's full one: the same plans and bit-identical
//! heatmaps on every backend; other models refused with the missing operators.

mod common;

use common::*;
use lm::config::Meta;
use lm::model::{Backend, Model};
use std::path::Path;
use tract_onnx::prelude::Framework;

/// Deterministic input in 0..1 (xorshift), `size`×`size`×3.
fn input(size: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..size * size * 3)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 1000) as f32 / 999.0
        })
        .collect()
}

fn assert_loaders_agree(model: &Path, meta: &Path, size: usize) {
    let meta = Meta::load(meta).unwrap();
    let full = lm::ops::onnx();
    let lean = lm::ops::lean_onnx();
    for backend in [Backend::default(), Backend::Float] {
        let a = Model::load_using(&full, model, &meta, &backend).unwrap();
        let b = Model::load_using(&lean, model, &meta, &backend).unwrap();
        assert_eq!(
            a.op_counts(),
            b.op_counts(),
            "{} plans differ",
            model.display()
        );
        for seed in [1u32, 0x2545_f491] {
            let x = input(size, seed);
            let (ha, hb) = (run_raw(&a, size, &x), run_raw(&b, size, &x));
            let bits = |h: &lm::postprocess::Heatmaps| -> Vec<u32> {
                h.data.iter().map(|v| v.to_bits()).collect()
            };
            assert!(
                bits(&ha) == bits(&hb),
                "{} ({}): heatmaps differ, max abs diff {}",
                model.display(),
                backend.name(),
                max_abs_diff(&ha.data, &hb.data)
            );
        }
    }
}

#[test]
fn shipped_quantised_model_is_identical_with_the_lean_registry() {
    assert_loaders_agree(
        &repo().join("models/lm_single_pose_v1_quantize.onnx"),
        &repo().join("meta/lm_single_pose_v1_quantize.yaml"),
        160,
    );
}

#[test]
fn shipped_float_model_is_identical_with_the_lean_registry() {
    assert_loaders_agree(
        &repo().join("models/lm_single_pose_v1.onnx"),
        &repo().join("meta/lm_single_pose_v1.yaml"),
        160,
    );
}

#[test]
fn tiny_fixture_is_identical_with_the_lean_registry() {
    assert_loaders_agree(
        &fixture("lm_tiny_quantize.onnx"),
        &fixture("lm_tiny_quantize.yaml"),
        64,
    );
}

#[test]
fn other_operators_are_listed_not_parsed() {
    let lean = lm::ops::lean_onnx();
    let proto = lean
        .proto_model_for_path(fixture("float_ops.onnx"))
        .unwrap();
    assert_eq!(
        lm::ops::unsupported_ops(&lean, &proto),
        ["Add", "Clip", "DepthToSpace", "MaxPool", "Sigmoid"]
    );
    assert!(lm::ops::unsupported_ops(&lm::ops::onnx(), &proto).is_empty());

    // Through the model loader: one error naming the file and the operators.
    let meta = Meta::load(fixture("lm_tiny_quantize.yaml")).unwrap();
    let Err(err) = Model::load_using(&lean, &fixture("float_ops.onnx"), &meta, &Backend::Float)
    else {
        panic!("float_ops.onnx must be refused by the lean registry");
    };
    let msg = format!("{err:#}");
    assert!(
        msg.contains("float_ops.onnx") && msg.contains("Add, Clip, DepthToSpace, MaxPool, Sigmoid"),
        "{msg}"
    );
}
