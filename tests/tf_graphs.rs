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
