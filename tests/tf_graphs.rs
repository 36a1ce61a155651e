//! Blueoil's frozen TensorFlow graphs (src/tf): Blueoil's own files from
//! `../shared/blueoil` (skipped, saying so, when absent) and the project's
//! generated fixtures (tests/fixtures/blueoil_*, made by
//! tests/fixtures/make_blueoil_fixture.py with TensorFlow).

mod common;

use common::*;
use lm::tf::check::{check_dir, Comparison};
use std::path::PathBuf;

fn blueoil_or_skip(test: &str) -> Option<PathBuf> {
    let dir = shared().map(|s| s.join("blueoil"));
    match dir {
        Some(d) if d.join("lmnet_v1_toy_graph.pb").exists() => Some(d),
        _ => {
            eprintln!("SKIPPED {test}: ../shared/blueoil (Blueoil's exported graphs) is not present");
            None
        }
    }
}

fn show(c: &[Comparison]) -> String {
    c.iter()
        .map(|c| {
            format!(
                "{} ({}) {:?} max|diff| {:e} differing {}{}",
                c.tensor,
                c.op,
                c.shape,
                c.max_abs_diff,
                c.differing,
                c.why.as_deref().map(|w| format!(" — {w}")).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn toy_graph_matches_blueoils_per_op_outputs() {
    let Some(dir) = blueoil_or_skip("toy_graph_matches_blueoils_per_op_outputs") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(dir.join("lmnet_v1_toy_graph_1000_dog.png.tar.gz"))
        .arg("-C")
        .arg(tmp.path())
        .status()
        .expect("tar");
    assert!(status.success());
    let data = tmp.path().join("1000_dog.png");
    let c = check_dir(&dir.join("lmnet_v1_toy_graph.pb"), &data, 1e-5).unwrap();
    eprintln!("{}", show(&c));
    let bad: Vec<&Comparison> = c.iter().filter(|c| !c.ok).collect();
    assert!(bad.is_empty(), "mismatches:\n{}", show(&c));
    // Every computed tensor the export has: both quantisers (bit for bit),
    // conv, BatchNorm, BiasAdd, AvgPool, Reshape, Softmax.
    let compared: Vec<&str> = c.iter().map(|c| c.tensor.as_str()).collect();
    for t in [
        "conv1/conv2d/kernel_1/QTZ_binary_mean_scaling",
        "conv1/conv2d/Conv2D",
        "conv1/BatchNorm/FusedBatchNorm",
        "conv1/QTZ_linear_mid_tread_half",
        "conv7/Conv2D",
        "conv7/BiasAdd",
        "pool7/AvgPool",
        "pool7_reshape",
        "Softmax",
    ] {
        assert!(compared.contains(&t), "{t} not compared: {compared:?}");
    }
    assert_eq!(c.iter().filter(|c| c.exact).count(), 2);
}

/// Loads a classification graph at 32×32, then runs it float (the fake-quant
/// reference) and fused (bit-serial CPU kernels) on the same input.
fn float_and_fused(path: &std::path::Path) -> (Vec<f32>, Vec<f32>, Vec<String>) {
    use lm::ops::qconv2d::CpuExecutor;
    use lm::passes::{
        fold_weights::fold_weights, fuse_conv_quant_pack::fuse_conv_quant_pack,
        fuse_qconv::fuse_qconv, packed_layout::packed_layout,
    };
    use tract_onnx::prelude::*;
    let mut model = lm::tf::load(path).unwrap();
    model
        .set_input_fact(0, f32::fact([1, 32, 32, 3]).into())
        .unwrap();
    let typed = model.into_typed().unwrap();
    // A deterministic image in [0, 1] (Blueoil's DivideBy255 range).
    let input: Vec<f32> = (0..32 * 32 * 3)
        .map(|i| ((i * 7919 + 13) % 256) as f32 / 255.0)
        .collect();
    let input = tract_ndarray::Array4::from_shape_vec((1, 32, 32, 3), input)
        .unwrap()
        .into_tensor();
    let run = |mut m: TypedModel| -> Vec<f32> {
        fold_weights(&mut m).unwrap();
        let plan = m.into_optimized().unwrap().into_runnable().unwrap();
        let out = plan.run(tvec!(input.clone().into())).unwrap();
        out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
    };
    let float = run(typed.clone());
    let mut fused = typed;
    let report = fuse_qconv(&mut fused, Arc::new(CpuExecutor::default())).unwrap();
    packed_layout(&mut fused).unwrap();
    fuse_conv_quant_pack(&mut fused).unwrap();
    eprintln!("{}: fused {:?}, skipped {:?}", path.display(), report.fused, report.skipped);
    (float, run(fused), report.fused)
}

#[test]
fn cifar10_graphs_load_fuse_and_agree_with_float() {
    let Some(dir) = blueoil_or_skip("cifar10_graphs_load_fuse_and_agree_with_float") else {
        return;
    };
    for name in [
        "lmnet_quantize_cifar10_space_to_depth.pb",
        "lmnet_quantize_cifar10_max_pooling.pb",
    ] {
        let (float, fused, layers) = float_and_fused(&dir.join(name));
        assert_eq!(float.len(), 10, "{name}: 10 class scores");
        let sum: f32 = float.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "{name}: softmax sums to {sum}");
        assert!(!layers.is_empty(), "{name}: no conv fused");
        let diff = max_abs_diff(&float, &fused);
        eprintln!("{name}: float {float:?}\n fused {fused:?}\n max |diff| {diff:e}");
        assert!(diff < 1e-5, "{name}: float and fused differ by {diff}");
    }
}
