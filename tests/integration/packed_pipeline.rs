//! The packed pipeline: between the float input block and the float head,
//! activations stay packed (no float round trip between quantised convs),
//! and the fused input block (`ConvQuantPack`) gives exactly the levels of
//! tract's float evaluation of conv1 → BatchNorm → Quant.

use crate::common::*;
use lm::backend::Backend;
use lm::config::Meta;
use lm::model::{load_typed, Model};
use lm::ops::pack::PackLevels;
use lm::passes::fuse_conv_quant_pack::fuse_conv_quant_pack;
use std::path::PathBuf;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::DimLike;

fn default_model() -> (Meta, PathBuf) {
    let meta = Meta::load(repo().join("meta/lm_single_pose_v1_quantize.yaml")).unwrap();
    let path = meta.model_path().unwrap();
    (meta, path)
}

fn tiny() -> (Meta, PathBuf) {
    let meta = Meta::load(fixture("lm_tiny_quantize.yaml")).unwrap();
    let path = meta.model_path().unwrap();
    (meta, path)
}

#[test]
fn default_model_runs_packed_from_conv1_to_the_head() {
    let (meta, path) = default_model();
    let model = Model::load(
        &path,
        &meta,
        &lm::model::LoadOptions::on(&Backend::default()),
    )
    .unwrap();
    let ops = model.op_counts();
    let count = |name: &str| ops.get(name).copied().unwrap_or(0);
    // conv1 → BatchNorm → Quant is one op writing packed activations ...
    assert_eq!(count("ConvQuantPack"), 1, "{ops:?}");
    assert_eq!(count("QonnxQuant"), 0, "{ops:?}");
    // ... the 21 quantised convs read and write packed data, SpaceToDepth /
    // Resize / Concat are packed gathers (5 space-to-depth + 2 top-down joins) ...
    assert_eq!(count("QConv2d"), 21, "{ops:?}");
    assert_eq!(count("PackLevels"), 0, "{ops:?}");
    assert_eq!(count("PackedGather"), 7, "{ops:?}");
    // ... and the float head reads the packed levels itself where its kernel beats tract's
    // (x86_64 with AVX2+FMA, aarch64); elsewhere its input is the only float levels.
    if lm::ops::packed_float_conv::PackedFloatConv::supported() {
        assert_eq!(count("PackedFloatConv"), 1, "{ops:?}");
        assert_eq!(count("UnpackLevels"), 0, "{ops:?}");
    } else {
        assert_eq!(count("PackedFloatConv"), 0, "{ops:?}");
        assert_eq!(count("UnpackLevels"), 1, "{ops:?}");
    }
}

/// Runs the float graph cut at conv1's quantiser, and the same cut graph
/// with the input block fused; the packed levels must be identical.
fn input_block_levels_match(meta: &Meta, path: &std::path::Path, images: &[Vec<f32>]) {
    let (typed, _) = load_typed(path, meta, &lm::model::LoadOptions::default()).unwrap();
    let quant = typed.node_by_name("conv1/Quant").unwrap().id;
    let outlet = OutletId::new(quant, 0);
    let channels = typed.outlet_fact(outlet).unwrap().shape[1]
        .to_usize()
        .unwrap();
    let scale = 2.0 / 3.0;

    let mut reference = typed.clone();
    reference.select_output_outlets(&[outlet]).unwrap();
    let reference = reference.into_optimized().unwrap().into_runnable().unwrap();

    let mut fused = typed.clone();
    let pack = PackLevels {
        channels,
        scale,
        layer: "test".into(),
    };
    let packed = fused
        .wire_node("test.pack", pack.clone(), &[outlet])
        .unwrap();
    fused.select_output_outlets(&packed).unwrap();
    fused.compact().unwrap(); // drops the rest of the network (Quant's other consumers)
    assert_eq!(fuse_conv_quant_pack(&mut fused, 1).unwrap(), ["conv1/Conv"]);
    let fused = fused.into_optimized().unwrap().into_runnable().unwrap();

    let shape = typed
        .input_fact(0)
        .unwrap()
        .shape
        .as_concrete()
        .unwrap()
        .to_vec();
    let mut histogram = [0usize; 4];
    for (i, image) in images.iter().enumerate() {
        let input = tract_ndarray::ArrayD::from_shape_vec(shape.clone(), image.clone())
            .unwrap()
            .into_tensor();
        let r = reference.run(tvec!(input.clone().into())).unwrap();
        let r = r[0].to_plain_array_view::<f32>().unwrap();
        let want = pack.pack(r.as_slice().unwrap(), r.shape()).unwrap();
        let got = fused.run(tvec!(input.into())).unwrap();
        let got = got[0].to_plain_array_view::<u32>().unwrap();
        assert_eq!(got.as_slice().unwrap(), want.words(), "image {i}");
        for q in want.to_levels() {
            histogram[q as usize] += 1;
        }
    }
    // The comparison covered every level, not just a saturated tensor.
    assert!(histogram.iter().all(|&n| n > 0), "{histogram:?}");
}

/// Images in the range the pre-processing produces (0..1), as NHWC f32.
fn noise_images(size: usize, n: usize) -> Vec<Vec<f32>> {
    let mut seed = 0x9e37_79b9u32;
    (0..n)
        .map(|k| {
            (0..size * size * 3)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    match k % 3 {
                        0 => (seed % 256) as f32 / 255.0,
                        1 => ((i / 3 % size + i / (3 * size)) % 256) as f32 / 255.0,
                        _ => (seed % 64 + (i % 3) as u32 * 60) as f32 / 255.0,
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn input_block_levels_equal_tract_float_default_model() {
    let (meta, path) = default_model();
    input_block_levels_match(&meta, &path, &noise_images(160, 6));
}

#[test]
fn input_block_levels_equal_tract_float_tiny_model() {
    let (meta, path) = tiny();
    input_block_levels_match(&meta, &path, &noise_images(64, 12));
}
