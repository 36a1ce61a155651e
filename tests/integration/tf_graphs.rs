//! Blueoil's frozen TensorFlow graphs (src/tf): Blueoil's own files from
//! `../shared/blueoil` (skipped, saying so, when absent) and the project's
//! generated fixtures (tests/fixtures/blueoil_*, made by
//! tests/fixtures/make_blueoil_fixture.py with TensorFlow).

use crate::common::*;
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

/// Loads a classification graph (a .pb, or its conversion) at 32×32, then runs it float (the fake-quant
/// reference) and fused (bit-serial CPU kernels) on the same input.
fn float_and_fused(path: &std::path::Path) -> (Vec<f32>, Vec<f32>, Vec<String>) {
    use lm::ops::qconv2d::CpuExecutor;
    use lm::passes::{
        fold_weights::fold_weights, fuse_conv_quant_pack::fuse_conv_quant_pack,
        fuse_qconv::fuse_qconv, packed_layout::packed_layout,
    };
    use tract_onnx::prelude::*;
    let mut model = if lm::tf::is_graphdef(path).unwrap() {
        lm::tf::load(path).unwrap()
    } else {
        lm::ops::onnx().load(path).unwrap()
    };
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
    packed_layout(&mut fused, 1).unwrap();
    fuse_conv_quant_pack(&mut fused, 1).unwrap();
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
fn check_blueoil_on_the_folder_above_names_the_subfolder_and_both_spellings() {
    let e = check_dir(&fixture(TINY), &repo().join("tests/fixtures"), 1e-5).unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("images_placeholder:0.npy")
            && e.contains("images_placeholder_0.npy")
            && e.contains("found in: ")
            && e.contains("blueoil_tiny_pose"),
        "{e}"
    );
}

#[test]
fn tiny_fixture_runs_through_model_loading_on_every_backend() {
    use lm::backend::Backend;
    use lm::model::Model;
    use lm::ops::qconv2d::CpuExecutor;
    let tmp = tempfile::tempdir().unwrap();
    let meta = tiny_meta(tmp.path(), &fixture(TINY), 16);
    let path = meta.model_path().unwrap();
    let (_, input) = read_npy_f32(&fixture("blueoil_tiny_pose/000_images_placeholder:0.npy"));
    let (shape, want) = read_npy_f32(&fixture("blueoil_tiny_pose/008_output:0.npy"));
    assert_eq!(shape, [1, 8, 8, 17]);
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for backend in [Backend::Float, Backend::Cpu(CpuExecutor::default())] {
        let model = Model::load(&path, &meta, &lm::model::LoadOptions::on(&backend)).unwrap();
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
        lm::model::Model::load(
            &meta.model_path().unwrap(),
            &meta,
            &lm::model::LoadOptions::default()
        )
        .unwrap_err()
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

// `lm convert` (src/tf/convert.rs): the fixture written as QONNX.

/// The tiny fixture converted into `dir/model.onnx`.
fn converted(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("model.onnx");
    lm::tf::convert::convert_file(&fixture(TINY), &out).unwrap();
    out
}

fn backends() -> Vec<(
    lm::backend::Backend,
    Option<std::sync::Arc<lm::accel::FpgaExecutor>>,
)> {
    use lm::accel::{Accelerator, DriverConfig, FpgaExecutor, ModelOptions, SimOptions};
    use lm::backend::Backend;
    use lm::ops::qconv2d::CpuExecutor;
    let sim = Accelerator::open_model(
        SimOptions::default(),
        ModelOptions::default(),
        DriverConfig::default(),
    )
    .unwrap();
    let fpga = std::sync::Arc::new(FpgaExecutor::new(
        "sim",
        sim.into_dyn(),
        CpuExecutor::default(),
    ));
    vec![
        (Backend::Float, None),
        (Backend::Cpu(CpuExecutor::default()), None),
        (Backend::Fpga(fpga.clone()), Some(fpga)),
    ]
}

#[test]
fn converted_fixture_is_qonnx_in_the_training_contract() {
    use lm::onnx::proto::ModelProto;
    use prost::Message;
    let tmp = tempfile::tempdir().unwrap();
    let m = ModelProto::decode(std::fs::read(converted(tmp.path())).unwrap().as_slice()).unwrap();
    assert_eq!(m.ir_version, 8);
    let opsets: Vec<(&str, i64)> = m
        .opset_import
        .iter()
        .map(|o| (o.domain.as_str(), o.version))
        .collect();
    assert_eq!(opsets, [("", 13), ("qonnx.custom_op.general", 1)]);
    let g = m.graph.unwrap();
    let dims = |v: &lm::onnx::proto::ValueInfoProto| -> Vec<i64> {
        let t = v.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap();
        assert_eq!(t.elem_type, 1, "float");
        t.shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| d.dim_value.unwrap())
            .collect()
    };
    assert_eq!(g.input.len(), 1);
    assert_eq!(g.input[0].name, "images_placeholder");
    assert_eq!(dims(&g.input[0]), [1, 16, 16, 3]);
    assert_eq!(g.output.len(), 1);
    assert_eq!(g.output[0].name, "output");
    assert_eq!(dims(&g.output[0]), [1, 8, 8, 17]);
    // NHWC at the edges: one Transpose in, one out.
    let perm = |n: &lm::onnx::proto::NodeProto| {
        n.attribute
            .iter()
            .find(|a| a.name == "perm")
            .unwrap()
            .ints
            .clone()
    };
    let (first, last) = (&g.node[0], g.node.last().unwrap());
    assert_eq!(
        (first.op_type.as_str(), perm(first)),
        ("Transpose", vec![0, 3, 1, 2])
    );
    assert_eq!(first.input, ["images_placeholder"]);
    assert_eq!(
        (last.op_type.as_str(), perm(last)),
        ("Transpose", vec![0, 2, 3, 1])
    );
    assert_eq!(last.output, ["output"]);
    let count = |op: &str| g.node.iter().filter(|n| n.op_type == op).count();
    assert_eq!(
        [
            count("Transpose"),
            count("Conv"),
            count("BatchNormalization"),
            count("Quant"),
            count("BipolarQuant"),
            count("SpaceToDepth"),
            count("Resize"),
            count("Concat")
        ],
        [2, 6, 6, 5, 4, 2, 1, 1],
        "{:?}",
        g.node.iter().map(|n| &n.op_type).collect::<Vec<_>>()
    );
    assert_eq!(g.node.len(), 27, "nothing else");
    let init = |name: &str| {
        g.initializer
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let floats = |t: &lm::onnx::proto::TensorProto| -> Vec<f32> {
        assert_eq!(t.data_type, 1);
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    for q in g.node.iter().filter(|n| n.op_type == "Quant") {
        assert_eq!(q.domain, "qonnx.custom_op.general");
        let attr = |a: &str| q.attribute.iter().find(|x| x.name == a).unwrap().clone();
        assert_eq!((attr("signed").i, attr("narrow").i), (0, 0));
        // conv2 has Blueoil's old body (tf.round, half to even).
        let mode = if q.name.starts_with("conv2/") {
            "ROUND"
        } else {
            "HALF_UP"
        };
        assert_eq!(attr("rounding_mode").s, mode.as_bytes(), "{}", q.name);
        assert_eq!(q.input[1..], ["act_scale", "act_zeropt", "act_bitwidth"]);
    }
    assert_eq!(floats(init("act_scale")), [2.0f32 / 3.0]);
    assert_eq!(
        (floats(init("act_zeropt")), floats(init("act_bitwidth"))),
        (vec![0.0], vec![2.0])
    );
    for b in g.node.iter().filter(|n| n.op_type == "BipolarQuant") {
        assert_eq!(b.domain, "qonnx.custom_op.general");
        let (w, alpha) = (init(&b.input[0]), init(&b.input[1]));
        assert!(
            floats(w).iter().all(|v| *v == 1.0 || *v == -1.0),
            "{}: sign(W)",
            w.name
        );
        assert_eq!(w.dims[0], 32, "{}: OIHW", w.name);
        // conv2: layer-wise (one scale); the others one per output channel.
        let want: &[i64] = if b.name.starts_with("conv2/") {
            &[]
        } else {
            &[32, 1, 1, 1]
        };
        assert_eq!(alpha.dims, want, "{}", alpha.name);
        assert!(floats(alpha).iter().all(|a| *a > 0.0));
        // Feeds a Conv as its weights.
        assert!(g
            .node
            .iter()
            .any(|n| n.op_type == "Conv" && n.input[1] == b.output[0]));
    }
    // SAME padding written out: 1 pixel for the 3x3 convs, none for the 1x1.
    for c in g.node.iter().filter(|n| n.op_type == "Conv") {
        let a = |name: &str| {
            c.attribute
                .iter()
                .find(|x| x.name == name)
                .unwrap()
                .ints
                .clone()
        };
        let p = a("kernel_shape")[0] / 2;
        assert_eq!(a("pads"), [p; 4], "{}", c.name);
    }
    // The board binaries' loader (src/onnx, no tract-onnx) parses every node.
    assert_eq!(
        lm::onnx::OnnxLoader::unsupported_ops(
            &lm::ops::lean_onnx(),
            &tmp.path().join("model.onnx")
        )
        .unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn converted_fixture_gives_the_graphs_outputs_on_every_backend() {
    use lm::model::Model;
    let tmp = tempfile::tempdir().unwrap();
    let onnx = converted(tmp.path());
    let meta = tiny_meta(tmp.path(), &fixture(TINY), 16);
    let (_, input) = read_npy_f32(&fixture("blueoil_tiny_pose/000_images_placeholder:0.npy"));
    let (_, want) = read_npy_f32(&fixture("blueoil_tiny_pose/008_output:0.npy"));
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let lm::config::PostProcessor::GaussianHeatmapToJoints(post) = &meta.post else {
        panic!("post-processor")
    };
    let tf_joints = lm::postprocess::gaussian_heatmap_to_joints(
        &lm::postprocess::Heatmaps::from_hwc(8, 8, 17, want.clone()).unwrap(),
        post,
    );
    let mut fused_on_cpu = None;
    for (backend, fpga) in backends() {
        let name = backend.name();
        let from_pb =
            Model::load(&fixture(TINY), &meta, &lm::model::LoadOptions::on(&backend)).unwrap();
        let from_onnx = Model::load(&onnx, &meta, &lm::model::LoadOptions::on(&backend)).unwrap();
        // The same layers fuse (ONNX node names are TensorFlow's).
        assert_eq!(from_pb.fusion.fused, from_onnx.fusion.fused, "{name}");
        let a = run_raw(&from_pb, 16, &input);
        let b = run_raw(&from_onnx, 16, &input);
        let diff = max_abs_diff(&b.data, &want);
        let between = max_abs_diff(&a.data, &b.data);
        eprintln!(
            "{name}: fused {:?}; converted vs TF max |diff| {diff:e}, vs the .pb {between:e}",
            from_onnx.fusion.fused
        );
        assert!(
            diff <= 1e-5 * scale,
            "{name}: converted model differs from TF by {diff}"
        );
        // The integer blocks are bit-exact, so the .pb and the .onnx agree to the bit.
        assert_eq!(a.data, b.data, "{name}: .pb and converted .onnx differ");
        // Joints: the same cells and visibility as TensorFlow's, scores (peak / 10) as
        // close as the heatmaps.
        let joints = lm::postprocess::gaussian_heatmap_to_joints(&b, post);
        for (j, (got, want)) in joints.iter().zip(&tf_joints).enumerate() {
            assert_eq!(
                (got.x, got.y, got.visible),
                (want.x, want.y, want.visible),
                "{name}: joint {j}"
            );
            assert!(
                (got.score - want.score).abs() <= 1e-6 * scale,
                "{name}: joint {j}"
            );
        }
        assert_eq!(
            joints,
            lm::postprocess::gaussian_heatmap_to_joints(&a, post),
            "{name}: joints of the .pb and the .onnx"
        );
        if let Some(fpga) = fpga {
            // Every fused layer ran on the accelerator's model (no CPU fallback).
            let log = fpga.take_log();
            assert_eq!(log.len(), 2 * from_onnx.fusion.fused.len(), "{log:?}");
            for (layer, run) in &log {
                assert!(
                    matches!(run, lm::accel::LayerRun::Fpga(_)),
                    "{layer}: {run:?}"
                );
            }
            assert_eq!(Some(&from_onnx.fusion.fused), fused_on_cpu.as_ref());
        } else if !matches!(backend, lm::backend::Backend::Float) {
            assert_eq!(from_onnx.fusion.fused.len(), 4);
            fused_on_cpu = Some(from_onnx.fusion.fused.clone());
        }
    }
}

#[test]
fn cli_convert_writes_a_model_that_lm_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("model.onnx");
    let o = lm_cli(&[
        "convert".as_ref(),
        fixture(TINY).as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("27 nodes")
            && text.contains("Quant 5")
            && text
                .contains("input images_placeholder [1, 16, 16, 3], output output [1, 8, 8, 17]")
            && text.contains("outputs differ by at most 0e0"),
        "{text}"
    );
    // lm run -m model.onnx with the graph's meta.yaml.
    tiny_meta(tmp.path(), &out, 16);
    let meta_path = tmp.path().join("meta.yaml");
    let image = repo().join("tests/images/astronaut.png");
    for backend in [
        &["--backend", "cpu"][..],
        &["--backend", "fpga", "--fpga-device", "sim"],
    ] {
        let outdir = tmp.path().join("out");
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "run".as_ref(),
            "-c".as_ref(),
            meta_path.as_os_str(),
            "-i".as_ref(),
            image.as_os_str(),
            "-o".as_ref(),
            outdir.as_os_str(),
        ];
        args.extend(backend.iter().map(|s| std::ffi::OsStr::new(*s)));
        let o = lm_cli(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(outdir.join("output.json").exists());
    }
    // A graph lm cannot map is not converted; the error names the file and the op.
    let bad = edited(tmp.path(), "unknown_op.pb", |g| {
        g.node
            .iter_mut()
            .find(|n| n.op == "SpaceToDepth")
            .unwrap()
            .op = "DepthToSpace".into();
    });
    let o = lm_cli(&[
        "convert".as_ref(),
        bad.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("unknown_op.pb") && err.contains("DepthToSpace (e.g. node \"space2depth1\")"),
        "{err}"
    );
}

#[test]
fn more_bad_graphs_are_refused_naming_file_node_and_field() {
    use lm::tf::proto::data_type;
    let tmp = tempfile::tempdir().unwrap();
    // Truncated: prost's error names the message fields it was in.
    let bytes = std::fs::read(fixture(TINY)).unwrap();
    for (len, field) in [
        (bytes.len() / 2, "GraphDef.node"),
        // The function library is stored last.
        (bytes.len() - 1000, "GraphDef.library"),
    ] {
        let cut = tmp.path().join("cut.pb");
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let e = load_err(&cut);
        assert!(e.contains("cut.pb") && e.contains(field), "{e}");
    }
    // No function library: the quantiser calls are ops lm does not know, each named
    // with a node that calls it.
    let p = edited(tmp.path(), "no_library.pb", |g| g.library = None);
    let e = load_err(&p);
    assert!(
        e.contains("no_library.pb")
            && e.contains(
                "LinearMidTreadHalfQuantizer (e.g. node \"conv1/LinearMidTreadHalfQuantizer\")"
            )
            && e.contains("BinaryChannelWiseMeanScalingQuantizer (e.g. node")
            && e.contains("QTZ_binary_mean_scaling")
            && e.contains("QTZ_linear_mid_tread_half"),
        "{e}"
    );
    // A quantiser whose signature does not match its body (bit width as float).
    let p = edited(tmp.path(), "signature.pb", |g| {
        let f = g
            .library
            .as_mut()
            .unwrap()
            .function
            .iter_mut()
            .find(|f| f.signature.as_ref().unwrap().name == "LinearMidTreadHalfQuantizer")
            .unwrap();
        f.signature.as_mut().unwrap().input_arg[1].r#type = data_type::FLOAT;
    });
    let e = load_err(&p);
    assert!(
        e.contains("signature.pb")
            && e.contains(
                "LinearMidTreadHalfQuantizer (a library function that is no known quantiser"
            )
            && e.contains("signature (DT_FLOAT, DT_FLOAT, DT_FLOAT) -> (DT_FLOAT)"),
        "{e}"
    );
    // A call with the wrong number of arguments.
    let p = edited(tmp.path(), "arity.pb", |g| {
        let call = g
            .node
            .iter_mut()
            .find(|n| n.name == "conv3/LinearMidTreadHalfQuantizer")
            .unwrap();
        call.input.pop();
    });
    let e = load_err(&p);
    assert!(
        e.contains("arity.pb")
            && e.contains("LinearMidTreadHalfQuantizer \"conv3/LinearMidTreadHalfQuantizer\": 2 inputs, expected 3"),
        "{e}"
    );
    // A weight whose shape disagrees with its data.
    let p = edited(tmp.path(), "kernel_shape.pb", |g| {
        let k = g
            .node
            .iter_mut()
            .find(|n| n.name == "conv4/conv2d/kernel")
            .unwrap();
        let Some(lm::tf::proto::attr_value::Value::Tensor(t)) =
            k.attr.get_mut("value").unwrap().value.as_mut()
        else {
            panic!("no tensor")
        };
        t.tensor_shape.as_mut().unwrap().dim[3].size = 16;
    });
    let e = load_err(&p);
    assert!(
        e.contains("kernel_shape.pb")
            && e.contains("Const \"conv4/conv2d/kernel\"")
            && e.contains("tensor_content has 36864 bytes, the shape needs 4608 values of 4 bytes"),
        "{e}"
    );
    // meta.yaml's stride disagrees with the graph's output (8×8 for 16×16).
    let text = small_meta(fixture(TINY).to_str().unwrap(), 0.1).replace("- 32\n", "- 16\n");
    let meta = lm::config::Meta::load(write_meta(tmp.path(), "meta.yaml", &text)).unwrap();
    let e = format!(
        "{:#}",
        lm::model::Model::load(
            &meta.model_path().unwrap(),
            &meta,
            &lm::model::LoadOptions::default()
        )
        .unwrap_err()
    );
    assert!(
        e.contains("POST_PROCESSOR.GaussianHeatmapToJoints.stride")
            && e.contains("blueoil_tiny_pose.pb")
            && e.contains("4×4 heatmaps")
            && e.contains("outputs 8×8"),
        "{e}"
    );
    // Conversion refuses the same files with the same errors.
    let e = format!(
        "{:#}",
        lm::tf::convert::convert_file(&p, &tmp.path().join("x.onnx")).unwrap_err()
    );
    assert!(e.contains("Const \"conv4/conv2d/kernel\""), "{e}");
    assert!(!tmp.path().join("x.onnx").exists());
}

#[test]
fn blueoils_own_graphs_convert_to_qonnx_that_runs_the_same() {
    let Some(dir) = blueoil_or_skip("blueoils_own_graphs_convert_to_qonnx_that_runs_the_same")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "lmnet_v1_toy_graph.pb",
        "lmnet_quantize_cifar10_space_to_depth.pb",
        "lmnet_quantize_cifar10_max_pooling.pb",
    ] {
        let pb = dir.join(name);
        let onnx = tmp.path().join(name.replace(".pb", ".onnx"));
        let summary = lm::tf::convert::convert_file(&pb, &onnx).unwrap();
        eprintln!("{name}: {:?}", summary.ops);
        assert_eq!(summary.outputs, [("output".to_string(), vec![1, 10])]);
        let (diff, _) = lm::tf::convert::compare_runs(&pb, &onnx).unwrap();
        assert_eq!(diff, 0.0, "{name}");
        let (float_pb, fused_pb, layers_pb) = float_and_fused(&pb);
        let (float_onnx, fused_onnx, layers_onnx) = float_and_fused(&onnx);
        assert_eq!(layers_pb, layers_onnx, "{name}: the same convs fuse");
        assert_eq!(float_pb, float_onnx, "{name}: float");
        assert_eq!(fused_pb, fused_onnx, "{name}: fused");
    }
}
