//! The runtime's heatmaps against independent peers: onnxruntime for float
//! graphs, the qonnx executor / PyTorch for QONNX graphs. Reference outputs
//! were computed by those peers when the fixtures were generated
//! (tests/fixtures/make_fixtures.py, training/make_fixture.py), so these
//! tests need no Python.

use crate::common::*;
use lm::config::Meta;
use lm::model::Model;

fn meta_for(dir: &std::path::Path, size: u32, stride: u32) -> Meta {
    let text = small_meta("unused.onnx", 0.1)
        .replace("- 32\n", &format!("- {size}\n"))
        .replace("stride: 4", &format!("stride: {stride}"));
    Meta::load(write_meta(dir, "meta.yaml", &text)).unwrap()
}

#[test]
fn float_ops_match_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let meta = meta_for(dir.path(), 32, 4);
    let model = Model::load(
        &fixture("float_ops.onnx"),
        &meta,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let (_, x) = read_npy_f32(&fixture("float_ops.input.npy"));
    let (shape, want) = read_npy_f32(&fixture("float_ops.onnxruntime.npy"));
    assert_eq!(shape, [1, 8, 8, 17]);
    let got = run_raw(&model, 32, &x).data;
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-4, "max abs diff vs onnxruntime {d}");
}

#[test]
fn opset9_upsample_matches_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let meta = meta_for(dir.path(), 16, 2);
    let model = Model::load(
        &fixture("upsample9.onnx"),
        &meta,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let (_, x) = read_npy_f32(&fixture("upsample9.input.npy"));
    let (_, want) = read_npy_f32(&fixture("upsample9.onnxruntime.npy"));
    let d = max_abs_diff(&run_raw(&model, 16, &x).data, &want);
    assert!(d <= 1e-4, "max abs diff vs onnxruntime {d}");
}

#[test]
fn tiny_lm_single_pose_quantize_matches_qonnx_executor() {
    // The real network family at 64×64 with random weights and BatchNorm
    // statistics (negative gammas included), exported by training/.
    let meta = Meta::load(fixture("lm_tiny_quantize.yaml")).unwrap();
    let model = Model::load(
        &meta.model_path().unwrap(),
        &meta,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let io: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("lm_tiny_quantize_io.json")).unwrap(),
    )
    .unwrap();
    // input_rule: image[0,y,x,c] = float32((7y + 13x + 29c) % 256) / 255
    let mut x = Vec::with_capacity(64 * 64 * 3);
    for y in 0..64 {
        for xx in 0..64 {
            for c in 0..3 {
                x.push(((7 * y + 13 * xx + 29 * c) % 256) as f32 / 255.0);
            }
        }
    }
    let want: Vec<f32> = io["heatmaps_nhwc_flat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let got = run_raw(&model, 64, &x).data;
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-4, "max abs diff vs qonnx executor {d}");
}
