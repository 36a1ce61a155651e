//! The fused integer engine against tract's float fake-quant evaluation of
//! the same QONNX file, and against the qonnx executor's stored output.

use crate::common::*;
use lm::backend::Backend;
use lm::config::Meta;
use lm::kernels::KernelKind;
use lm::model::Model;
use lm::ops::qconv2d::CpuExecutor;

fn tiny() -> (Meta, std::path::PathBuf) {
    let meta = Meta::load(fixture("lm_tiny_quantize.yaml")).unwrap();
    let path = meta.model_path().unwrap();
    (meta, path)
}

/// Deterministic test images (64×64 RGB in 0..1): gradients, noise, blocks.
fn images() -> Vec<Vec<f32>> {
    let mut out = vec![];
    let mut seed = 0x2545_f491u32;
    for kind in 0..6 {
        let mut v = Vec::with_capacity(64 * 64 * 3);
        for y in 0..64 {
            for x in 0..64 {
                for c in 0..3 {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let px = match kind {
                        0 => ((7 * y + 13 * x + 29 * c) % 256) as f32,
                        1 => (seed % 256) as f32,
                        2 => (x * 4) as f32,
                        3 => {
                            if (x / 8 + y / 8) % 2 == 0 {
                                255.0
                            } else {
                                0.0
                            }
                        }
                        4 => ((x * y + c * 50) % 256) as f32,
                        _ => (255 - (seed % 64) as usize - y) as f32,
                    };
                    v.push(px / 255.0);
                }
            }
        }
        out.push(v);
    }
    out
}

#[test]
fn every_binary_conv_is_fused_and_float_ones_are_not() {
    let (meta, path) = tiny();
    let model = Model::load(
        &path,
        &meta,
        &lm::model::LoadOptions::on(&Backend::default()),
    )
    .unwrap();
    // The export has 23 BipolarQuant convs, but the laterals c1 and c2 only
    // feed the top-down path for output strides below 8, so at stride 8 they
    // are dead code that tract drops: 21 remain. conv1 and conv_final keep
    // float weights.
    assert_eq!(model.fusion.fused.len(), 21, "{:?}", model.fusion);
    assert!(!model
        .fusion
        .fused
        .iter()
        .any(|n| n.starts_with("c1/") || n.starts_with("c2/")));
    let skipped: Vec<&str> = model
        .fusion
        .skipped
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        skipped,
        ["conv1/Conv", "conv_final/Conv"],
        "{:?}",
        model.fusion.skipped
    );
    let float = Model::load(&path, &meta, &lm::model::LoadOptions::on(&Backend::Float)).unwrap();
    assert!(float.fusion.fused.is_empty());
}

#[test]
fn fused_engine_matches_float_fake_quant_for_every_kernel() {
    let (meta, path) = tiny();
    let float = Model::load(&path, &meta, &lm::model::LoadOptions::on(&Backend::Float)).unwrap();
    let post = meta.gaussian().expect("GaussianHeatmapToJoints");
    for kernel in KernelKind::available() {
        for threads in [1, 2] {
            let backend = Backend::Cpu(CpuExecutor { kernel, threads });
            let fused = Model::load(&path, &meta, &lm::model::LoadOptions::on(&backend)).unwrap();
            for (i, x) in images().iter().enumerate() {
                let a = run_raw(&float, 64, x);
                let b = run_raw(&fused, 64, x);
                let d = max_abs_diff(&a.data, &b.data);
                assert!(
                    d <= 1e-4,
                    "{kernel:?}/{threads} image {i}: max abs diff {d}"
                );
                let ja = lm::postprocess::gaussian_heatmap_to_joints(&a, post);
                let jb = lm::postprocess::gaussian_heatmap_to_joints(&b, post);
                assert_same_joints(&ja, &jb, 1e-5, &format!("{kernel:?}/{threads} image {i}"));
            }
        }
    }
}

#[test]
fn fused_engine_matches_qonnx_executor() {
    let (meta, path) = tiny();
    let model = Model::load(
        &path,
        &meta,
        &lm::model::LoadOptions::on(&Backend::default()),
    )
    .unwrap();
    let io: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("lm_tiny_quantize_io.json")).unwrap(),
    )
    .unwrap();
    let want: Vec<f32> = io["heatmaps_nhwc_flat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let got = run_raw(&model, 64, &images()[0]);
    let d = max_abs_diff(&got.data, &want);
    assert!(d <= 1e-4, "max abs diff vs qonnx executor {d}");
}

#[test]
fn default_model_fuses_every_live_binary_conv_and_matches_float() {
    // The shipped 160×160 model: 21 live binary convs, whose weights reach
    // the fusion pass as BipolarQuant nodes (tract never folds them).
    let meta_path = repo().join("meta/lm_single_pose_v1_quantize.yaml");
    let image = lm::image_file::load_image(&repo().join("tests/images/astronaut.png")).unwrap();
    let float = lm::pipeline::Pipeline::load(
        &meta_path,
        None,
        &lm::model::LoadOptions::on(&Backend::Float),
    )
    .unwrap();
    let fused = lm::pipeline::Pipeline::load(
        &meta_path,
        None,
        &lm::model::LoadOptions::on(&Backend::default()),
    )
    .unwrap();
    assert_eq!(
        fused.model.fusion.fused.len(),
        21,
        "{:?}",
        fused.model.fusion
    );
    assert!(fused.model.fusion.fused.iter().any(|n| n == "conv13/Conv"));
    let a = float.infer(&image).unwrap();
    let b = fused.infer(&image).unwrap();
    let heat = |i: &lm::pose::Inference| i.heatmaps.clone().expect("a heatmap head");
    let d = max_abs_diff(&heat(&a).data, &heat(&b).data);
    assert!(d <= 1e-4, "max abs diff {d}");
    assert_same_joints(&a.network_joints, &b.network_joints, 1e-5, "astronaut");
}
