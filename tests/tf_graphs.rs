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
            eprintln!(
                "SKIPPED {test}: ../shared/blueoil (Blueoil's exported graphs) is not present"
            );
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
                c.why
                    .as_deref()
                    .map(|w| format!(" — {w}"))
                    .unwrap_or_default()
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
    assert_eq!(c.iter().filter(|c| c.exact).count(), 1);
    // Blueoil's toy kernel: equal bit for bit, the scale included.
    let k = c.iter().find(|c| c.kernel).unwrap();
    assert_eq!((k.differing, k.max_abs_diff), (0, 0.0));
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
        out[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect()
    };
    let float = run(typed.clone());
    let mut fused = typed;
    let report = fuse_qconv(&mut fused, Arc::new(CpuExecutor::default())).unwrap();
    packed_layout(&mut fused).unwrap();
    fuse_conv_quant_pack(&mut fused).unwrap();
    eprintln!(
        "{}: fused {:?}, skipped {:?}",
        path.display(),
        report.fused,
        report.skipped
    );
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

// The project's own fixture (tests/fixtures/make_blueoil_fixture.py, TensorFlow 2.21
// tf.compat.v1 with Blueoil's Defun quantisers): present in every clone.

const TINY: &str = "blueoil_tiny_pose.pb";

fn tiny_meta(
    dir: &std::path::Path,
    model: &std::path::Path,
    image_size: usize,
) -> lm::config::Meta {
    let text = small_meta(model.to_str().unwrap(), 0.1)
        .replace("- 32\n", &format!("- {image_size}\n"))
        .replace("stride: 4", "stride: 2");
    lm::config::Meta::load(write_meta(dir, "meta.yaml", &text)).unwrap()
}

#[test]
fn tiny_fixture_matches_tensorflow_per_quantiser() {
    let c = check_dir(&fixture(TINY), &fixture("blueoil_tiny_pose"), 1e-5).unwrap();
    eprintln!("{}", show(&c));
    assert!(c.iter().all(|c| c.ok), "mismatches:\n{}", show(&c));
    // Input, 5 activation quantisers (half-up and half-even bodies), 2 kernels
    // (layer-wise and channel-wise bodies), the output.
    assert_eq!(c.len(), 9, "{}", show(&c));
    assert_eq!(c.iter().filter(|c| c.exact).count(), 5);
    assert_eq!(c.iter().filter(|c| c.kernel).count(), 2);
}

#[test]
fn tiny_fixture_runs_through_model_loading_on_every_backend() {
    use lm::model::{Backend, Model};
    use lm::ops::qconv2d::CpuExecutor;
    let tmp = tempfile::tempdir().unwrap();
    let meta = tiny_meta(tmp.path(), &fixture(TINY), 16);
    let path = meta.model_path().unwrap();
    let (_, input) = read_npy_f32(&fixture("blueoil_tiny_pose/000_images_placeholder:0.npy"));
    let (shape, want) = read_npy_f32(&fixture("blueoil_tiny_pose/008_output:0.npy"));
    assert_eq!(shape, [1, 8, 8, 17]);
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for backend in [Backend::Float, Backend::Cpu(CpuExecutor::default())] {
        let model = Model::load_with(&path, &meta, &backend).unwrap();
        let got = run_raw(&model, 16, &input);
        assert_eq!((got.height, got.width, got.joints), (8, 8, 17));
        let diff = max_abs_diff(&got.data, &want);
        eprintln!(
            "{}: fused {:?} max |diff| {diff:e}",
            backend.name(),
            model.fusion.fused
        );
        assert!(
            diff <= 1e-5 * scale,
            "{}: differs from TF by {diff}",
            backend.name()
        );
        if !matches!(backend, Backend::Float) {
            // conv1 (float weights) and conv_final (float, no quantiser) stay float.
            assert_eq!(
                model.fusion.fused,
                [
                    "conv2/conv2d/Conv2D",
                    "conv3/conv2d/Conv2D",
                    "conv4/conv2d/Conv2D",
                    "conv5/conv2d/Conv2D"
                ]
            );
        }
    }
}

fn load_err(path: &std::path::Path) -> String {
    format!("{:#}", lm::tf::load(path).expect_err("load should fail"))
}

/// The fixture with `edit` applied, written to `dir/name`.
fn edited(
    dir: &std::path::Path,
    name: &str,
    edit: impl Fn(&mut lm::tf::proto::GraphDef),
) -> std::path::PathBuf {
    use prost::Message;
    let mut g = lm::tf::read_graph(&fixture(TINY)).unwrap();
    edit(&mut g);
    let p = dir.join(name);
    std::fs::write(&p, g.encode_to_vec()).unwrap();
    p
}

#[test]
fn bad_graphs_are_refused_naming_file_node_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture(TINY)).unwrap();
    // Truncated in the middle of a weight tensor.
    let cut = tmp.path().join("truncated.pb");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(&cut);
    assert!(
        e.contains("truncated.pb") && e.contains("not a TensorFlow GraphDef"),
        "{e}"
    );
    // Not a GraphDef at all (text), and an ONNX file is not taken for one.
    let text = tmp.path().join("notes.pb");
    std::fs::write(&text, "this is not a protobuf").unwrap();
    let e = load_err(&text);
    assert!(
        e.contains("notes.pb") && e.contains("not a TensorFlow GraphDef"),
        "{e}"
    );
    assert!(!lm::tf::is_graphdef(&fixture("lm_tiny_quantize.onnx")).unwrap());
    assert!(lm::tf::is_graphdef(&fixture(TINY)).unwrap());
    // A library function that is no known quantiser (a ternary-like body) and an
    // unsupported op: one error lists both.
    let p = edited(tmp.path(), "unknown.pb", |g| {
        let f = g
            .library
            .as_mut()
            .unwrap()
            .function
            .iter_mut()
            .find(|f| f.signature.as_ref().unwrap().name == "BinaryChannelWiseMeanScalingQuantizer")
            .unwrap();
        for n in &mut f.node_def {
            if n.op == "Sign" {
                n.op = "Greater".into();
            }
        }
        let s2d = g.node.iter_mut().find(|n| n.op == "SpaceToDepth").unwrap();
        s2d.op = "DepthToSpace".into();
    });
    let e = load_err(&p);
    assert!(
        e.contains("unknown.pb")
            && e.contains("BinaryChannelWiseMeanScalingQuantizer (a library function that is no known quantiser")
            && e.contains("Greater")
            && e.contains("DepthToSpace (e.g. node \"space2depth1\")"),
        "{e}"
    );
    // A wrong attribute: named with node, op and attribute.
    let p = edited(tmp.path(), "nchw.pb", |g| {
        let conv = g
            .node
            .iter_mut()
            .find(|n| n.name == "conv4/conv2d/Conv2D")
            .unwrap();
        conv.attr.get_mut("data_format").unwrap().value =
            Some(lm::tf::proto::attr_value::Value::S(b"NCHW".to_vec()));
    });
    let e = load_err(&p);
    assert!(
        e.contains("Conv2D \"conv4/conv2d/Conv2D\"") && e.contains("`data_format` is \"NCHW\""),
        "{e}"
    );
    // The graph's input shape disagrees with meta.yaml's IMAGE_SIZE.
    let meta = tiny_meta(tmp.path(), &fixture(TINY), 32);
    let e = format!(
        "{:#}",
        lm::model::Model::load(&meta.model_path().unwrap(), &meta).unwrap_err()
    );
    assert!(
        e.contains("IMAGE_SIZE") && e.contains("blueoil_tiny_pose.pb"),
        "{e}"
    );
}

fn lm_cli(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lm"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_check_blueoil_and_run_with_a_pb_model() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture("blueoil_tiny_pose");
    let pb = fixture(TINY);
    let o = lm_cli(&[
        "check-blueoil".as_ref(),
        data.as_os_str(),
        "-m".as_ref(),
        pb.as_os_str(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("9 tensors compared, all match"),
        "{out}"
    );
    // One quantiser level changed: non-zero exit, the tensor named.
    let bad = tmp.path().join("data");
    std::fs::create_dir(&bad).unwrap();
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, bad.join(p.file_name().unwrap())).unwrap();
    }
    let f = bad.join("004_conv3_LinearMidTreadHalfQuantizer:0.npy");
    let mut bytes = std::fs::read(&f).unwrap();
    let n = bytes.len();
    let v = f32::from_le_bytes(bytes[n - 4..].try_into().unwrap());
    bytes[n - 4..].copy_from_slice(&(v + 2.0 / 3.0).to_le_bytes());
    std::fs::write(&f, bytes).unwrap();
    let o = lm_cli(&[
        "check-blueoil".as_ref(),
        bad.as_os_str(),
        "-m".as_ref(),
        pb.as_os_str(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("first difference: conv3/LinearMidTreadHalfQuantizer")
            && out.contains("1 of 512 values differ"),
        "{out}"
    );
    // `lm run` with meta.yaml's MODEL.file pointing at the .pb.
    tiny_meta(tmp.path(), &pb, 16);
    let image = repo().join("tests/images/astronaut.png");
    let outdir = tmp.path().join("out");
    let o = lm_cli(&[
        "run".as_ref(),
        "-c".as_ref(),
        tmp.path().join("meta.yaml").as_os_str(),
        "-i".as_ref(),
        image.as_os_str(),
        "-o".as_ref(),
        outdir.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(outdir.join("output.json").exists());
}
