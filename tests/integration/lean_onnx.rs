//! lm's own ONNX loader (`lm::ops::lean_onnx()`, what the board binaries parse
//! with, no tract-onnx) against tract-onnx's: the same plans and bit-identical
//! heatmaps on every backend, the same nearest Resize in every mode; bad files
//! and other models refused with errors naming them.

use crate::common::*;
use lm::backend::Backend;
use lm::config::Meta;
use lm::model::Model;
use lm::onnx::OnnxLoader;
use std::path::Path;

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
    let full = lm::ops::tract_onnx();
    let lean = lm::ops::lean_onnx();
    for backend in [Backend::default(), Backend::Float] {
        let a = Model::load(
            model,
            &meta,
            &lm::model::LoadOptions {
                backend: backend.clone(),
                onnx: Some(&full),
            },
        )
        .unwrap();
        let b = Model::load(
            model,
            &meta,
            &lm::model::LoadOptions {
                backend: backend.clone(),
                onnx: Some(&lean),
            },
        )
        .unwrap();
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
fn shipped_quantised_model_is_identical_with_the_lean_loader() {
    assert_loaders_agree(
        &repo().join("models/lm_single_pose_v1_quantize.onnx"),
        &repo().join("meta/lm_single_pose_v1_quantize.yaml"),
        160,
    );
}

#[test]
fn shipped_float_model_is_identical_with_the_lean_loader() {
    assert_loaders_agree(
        &repo().join("models/lm_single_pose_v1.onnx"),
        &repo().join("meta/lm_single_pose_v1.yaml"),
        160,
    );
}

#[test]
fn tiny_fixture_is_identical_with_the_lean_loader() {
    assert_loaders_agree(
        &fixture("lm_tiny_quantize.onnx"),
        &fixture("lm_tiny_quantize.yaml"),
        64,
    );
}

#[test]
fn other_operators_are_listed_not_parsed() {
    let lean = lm::ops::lean_onnx();
    let path = fixture("float_ops.onnx");
    assert_eq!(
        lean.unsupported_ops(&path).unwrap(),
        ["Add", "Clip", "DepthToSpace", "MaxPool", "Sigmoid"]
    );
    assert!(lm::ops::onnx().unsupported_ops(&path).unwrap().is_empty());

    // Through the model loader: one error naming the file and the operators.
    let meta = Meta::load(fixture("lm_tiny_quantize.yaml")).unwrap();
    let Err(err) = Model::load(
        &fixture("float_ops.onnx"),
        &meta,
        &lm::model::LoadOptions {
            backend: Backend::Float.clone(),
            onnx: Some(&lean),
        },
    ) else {
        panic!("float_ops.onnx must be refused by the lean loader");
    };
    let msg = format!("{err:#}");
    assert!(
        msg.contains("float_ops.onnx") && msg.contains("Add, Clip, DepthToSpace, MaxPool, Sigmoid"),
        "{msg}"
    );
}

/// A one-node `Resize` model (opset 13, input `x` [1, 2, 5, 7]), written with
/// our own protobuf messages.
fn resize_model(dir: &Path, coord: &str, nearest: &str, scales: &[f32]) -> std::path::PathBuf {
    use lm::onnx::proto::*;
    use prost::Message;
    let attr = |name: &str, s: &str| AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    };
    let tensor_type = |dims: &[i64]| TypeProto {
        tensor_type: Some(TypeProtoTensor {
            elem_type: data_type::FLOAT,
            shape: Some(TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&d| Dimension {
                        dim_value: Some(d),
                        dim_param: None,
                    })
                    .collect(),
            }),
        }),
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            name: "resize".into(),
            node: vec![NodeProto {
                input: vec!["x".into(), String::new(), "scales".into()],
                output: vec!["y".into()],
                name: "resize".into(),
                op_type: "Resize".into(),
                attribute: vec![
                    attr("mode", "nearest"),
                    attr("coordinate_transformation_mode", coord),
                    attr("nearest_mode", nearest),
                ],
                ..Default::default()
            }],
            initializer: vec![TensorProto {
                name: "scales".into(),
                dims: vec![4],
                data_type: data_type::FLOAT,
                float_data: scales.to_vec(),
                ..Default::default()
            }],
            input: vec![ValueInfoProto {
                name: "x".into(),
                r#type: Some(tensor_type(&[1, 2, 5, 7])),
            }],
            output: vec![ValueInfoProto {
                name: "y".into(),
                r#type: None,
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let path = dir.join(format!("resize_{coord}_{nearest}_{}.onnx", scales[2]));
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    path
}

/// Runs a loaded graph, decluttered and optimised or not (our `NearestResize`
/// evaluates itself only when not lowered to tract's integer upsample).
fn run_graph(model: tract_hir::prelude::InferenceModel, optimise: bool) -> Vec<f32> {
    use tract_hir::prelude::*;
    let typed = model.into_typed().unwrap();
    let typed = if optimise {
        typed.into_optimized().unwrap()
    } else {
        typed
    };
    let plan = typed.into_runnable().unwrap();
    let x: Vec<f32> = (0..70).map(|i| i as f32 * 0.5 - 3.0).collect();
    let x = tract_ndarray::ArrayD::from_shape_vec(vec![1, 2, 5, 7], x).unwrap();
    let out = plan.run(tvec!(x.into_tensor().into())).unwrap();
    out[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

#[test]
fn nearest_resize_matches_tract_onnx_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let lean = lm::ops::lean_onnx();
    let full = lm::ops::tract_onnx();
    let mut checked = 0;
    for coord in [
        "asymmetric",
        "half_pixel",
        "align_corners",
        "pytorch_half_pixel",
    ] {
        for nearest in ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"] {
            for scales in [
                [1.0, 1.0, 2.0, 2.0],
                [1.0, 1.0, 1.5, 2.5],
                [1.0, 1.0, 0.6, 0.5],
            ] {
                let path = resize_model(dir.path(), coord, nearest, &scales);
                for optimise in [false, true] {
                    let a = run_graph(full.load(&path).unwrap(), optimise);
                    let b = run_graph(lean.load(&path).unwrap(), optimise);
                    assert_eq!(a, b, "{coord} {nearest} {scales:?} optimised {optimise}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 96);
}

#[test]
fn lean_loader_names_bad_files_and_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let lean = lm::ops::lean_onnx();
    // Not protobuf at all.
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"\xff\xff\xff\xff not an onnx model").unwrap();
    let msg = format!("{:#}", lean.load(&junk).unwrap_err());
    assert!(
        msg.contains("junk.onnx") && msg.contains("not an ONNX model"),
        "{msg}"
    );
    // A linear resize: refused by name, not run with the wrong interpolation.
    let path = resize_model(dir.path(), "asymmetric", "floor", &[1.0, 1.0, 2.0, 2.0]);
    let mut model = {
        use prost::Message;
        lm::onnx::proto::ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap()
    };
    let node = &mut model.graph.as_mut().unwrap().node[0];
    node.attribute[0].s = b"linear".to_vec();
    let linear = dir.path().join("linear.onnx");
    std::fs::write(&linear, prost::Message::encode_to_vec(&model)).unwrap();
    let msg = format!("{:#}", lean.load(&linear).unwrap_err());
    assert!(
        msg.contains("linear.onnx") && msg.contains("mode \"linear\""),
        "{msg}"
    );
    // An initializer whose data is shorter than its dims say.
    let mut short = model.clone();
    let g = short.graph.as_mut().unwrap();
    g.node[0].attribute[0].s = b"nearest".to_vec();
    g.initializer[0].float_data.pop();
    let short_path = dir.path().join("short.onnx");
    std::fs::write(&short_path, prost::Message::encode_to_vec(&short)).unwrap();
    let msg = format!("{:#}", lean.load(&short_path).unwrap_err());
    assert!(
        msg.contains("short.onnx") && msg.contains("\"scales\"") && msg.contains("need 4 values"),
        "{msg}"
    );
}

/// fuzz/onnx_model found a `Transpose` node without inputs: tract's shape rules indexed
/// `inputs[0]` and panicked (an abort in release builds), with either loader. Nodes that are
/// not valid ONNX, and graph outputs nothing defines, are now refused before tract sees them,
/// naming the file and the node or output.
#[test]
fn nodes_that_are_not_valid_onnx_are_refused_by_both_loaders() {
    use lm::onnx::proto::{attribute_type, AttributeProto, ModelProto};
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let resize = resize_model(dir.path(), "asymmetric", "floor", &[1.0, 1.0, 2.0, 2.0]);
    let base = ModelProto::decode(std::fs::read(&resize).unwrap().as_slice()).unwrap();
    let transpose = |file: &str, inputs: &[&str], perm: &[i64]| {
        let mut model = base.clone();
        let node = &mut model.graph.as_mut().unwrap().node[0];
        node.op_type = "Transpose".into();
        node.input = inputs.iter().map(|s| s.to_string()).collect();
        node.attribute = vec![AttributeProto {
            name: "perm".into(),
            r#type: attribute_type::INTS,
            ints: perm.to_vec(),
            ..Default::default()
        }];
        let path = dir.path().join(file);
        std::fs::write(&path, model.encode_to_vec()).unwrap();
        path
    };
    // fuzz/onnx_tract: a graph output that no node produces made tract-onnx panic
    // looking it up by name.
    let orphan_output = {
        let mut model = base.clone();
        model.graph.as_mut().unwrap().output[0].name = "nowhere".into();
        let path = dir.path().join("orphan_output.onnx");
        std::fs::write(&path, model.encode_to_vec()).unwrap();
        path
    };
    // fuzz/onnx_model: `strides: [4]` on a 2-D Conv (weights from a quantiser of an
    // initializer) made tract-core's padding code index past the strides.
    let short_strides = {
        let mut model = ModelProto::decode(
            std::fs::read(fixture("lm_tiny_quantize.onnx"))
                .unwrap()
                .as_slice(),
        )
        .unwrap();
        let graph = model.graph.as_mut().unwrap();
        let conv = graph.node.iter_mut().find(|n| n.op_type == "Conv").unwrap();
        conv.name = "the_conv".into();
        conv.attribute.retain(|a| a.name != "strides");
        conv.attribute.push(AttributeProto {
            name: "strides".into(),
            r#type: attribute_type::INTS,
            ints: vec![4],
            ..Default::default()
        });
        let path = dir.path().join("short_strides.onnx");
        std::fs::write(&path, model.encode_to_vec()).unwrap();
        path
    };
    let cases = [
        (
            short_strides,
            "node \"the_conv\" (Conv): attribute strides [4] is for 1 spatial axes, \
             but the weights' rank 4 minus 2 gives 2",
        ),
        (
            orphan_output,
            "graph output \"nowhere\" is not produced by any node, nor a graph input or initializer",
        ),
        (
            transpose("no_input.onnx", &[], &[0, 1, 3, 2]),
            "node \"resize\" (Transpose): has 0 input(s); ONNX Transpose takes 1",
        ),
        (
            transpose("bad_perm.onnx", &["x"], &[0, 5, 1, 2]),
            "node \"resize\" (Transpose): attribute perm [0, 5, 1, 2] is not a permutation of 0..4",
        ),
    ];
    let mut loaders: Vec<(&str, Box<dyn OnnxLoader>)> =
        vec![("lean", Box::new(lm::ops::lean_onnx()))];
    #[cfg(feature = "all-onnx-ops")]
    loaders.push(("tract-onnx", Box::new(lm::ops::tract_onnx())));
    for (path, want) in &cases {
        for (name, loader) in &loaders {
            let msg = format!("{:#}", loader.load(path).unwrap_err());
            assert!(
                msg.contains(&*path.to_string_lossy()) && msg.contains(want),
                "{name}: {msg}"
            );
        }
    }
    // The same file with a valid Transpose loads and types with both.
    let good = transpose("good.onnx", &["x"], &[0, 1, 3, 2]);
    use tract_hir::prelude::*;
    for (name, loader) in &loaders {
        let model = loader
            .load(&good)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let typed = model.into_typed().unwrap();
        let shape = typed
            .output_fact(0)
            .unwrap()
            .shape
            .as_concrete()
            .unwrap()
            .to_vec();
        assert_eq!(shape, [1, 2, 7, 5], "{name}");
    }
}
