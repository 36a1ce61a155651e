//! Third-party float pose models from `../shared` (optional: every test here
//! skips, saying so, when `../shared` is absent). They show the runtime is
//! generic: int32 NHWC input, NCHW sigmoid heatmaps, multi-output graphs,
//! stride 1, 4 and 16, non-COCO joints, a heatmap + offset head (PoseNet).

use crate::common::*;
use lm::image_file::load_image;
use lm::pipeline::Pipeline;
use tract_onnx::prelude::*;

fn shared_or_skip(test: &str) -> Option<std::path::PathBuf> {
    let s = shared();
    if s.is_none() {
        eprintln!("SKIPPED {test}: ../shared (reference models and photos) is not present");
    }
    s
}

fn joint<'a>(
    p: &'a Pipeline,
    joints: &'a [lm::postprocess::Joint],
    name: &str,
) -> &'a lm::postprocess::Joint {
    let i = p
        .meta
        .keypoints
        .names
        .iter()
        .position(|n| n == name)
        .unwrap();
    &joints[i]
}

#[test]
fn movenet_finds_the_astronauts_upper_body() {
    let Some(shared) = shared_or_skip("movenet_finds_the_astronauts_upper_body") else {
        return;
    };
    let p = Pipeline::load(
        &repo().join("meta/movenet_lightning.yaml"),
        None,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let img = load_image(&shared.join("images/astronaut.png")).unwrap();
    let inf = p.infer(&img).unwrap();
    let j = |n| joint(&p, &inf.pose.joints, n);
    for n in [
        "nose",
        "left_eye",
        "right_eye",
        "left_shoulder",
        "right_shoulder",
    ] {
        assert!(j(n).visible, "{n} not visible: {:?}", j(n));
    }
    // Frontal: her left shoulder is on the image's right; the nose is above the shoulders.
    assert!(j("left_shoulder").x > j("right_shoulder").x);
    assert!(j("nose").y < j("left_shoulder").y && j("nose").y < j("right_shoulder").y);
    assert!(j("left_eye").x > j("right_eye").x);
    // Upper-body photo: no ankle is confidently visible.
    assert!(!j("left_ankle").visible && !j("right_ankle").visible);
}

#[test]
fn movenet_heatmap_decoding_agrees_with_movenets_own_keypoints() {
    let Some(shared) =
        shared_or_skip("movenet_heatmap_decoding_agrees_with_movenets_own_keypoints")
    else {
        return;
    };
    let p = Pipeline::load(
        &repo().join("meta/movenet_lightning.yaml"),
        None,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let img = load_image(&shared.join("images/astronaut.png")).unwrap();
    let inf = p.infer(&img).unwrap();

    // MoveNet's own regressed keypoints (y, x, score), normalised, from its other output.
    let mut model = lm::ops::tract_onnx()
        .model_for_path(shared.join("models/movenet_lightning_heatmaps.onnx"))
        .unwrap()
        .with_input_fact(0, i32::fact([1, 192, 192, 3]).into())
        .unwrap();
    let keypoints = model
        .find_outlet_label("Identity:0")
        .expect("MoveNet keypoint output");
    model.select_output_outlets(&[keypoints]).unwrap();
    let model = model.into_optimized().unwrap().into_runnable().unwrap();
    let input = lm::preprocess::preprocess(&p.meta, &img).unwrap();
    let out = model
        .run(tvec!(p.model.input_tensor(&input).unwrap().into()))
        .unwrap();
    let kp: Vec<f32> = out[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let mut compared = 0;
    for (i, j) in inf.network_joints.iter().enumerate() {
        let (y, x, score) = (kp[3 * i], kp[3 * i + 1], kp[3 * i + 2]);
        if score < 0.5 {
            continue;
        }
        compared += 1;
        // Heatmap cells are 4 px of 192; MoveNet refines with offsets.
        let (dx, dy) = ((j.x / 192.0 - x).abs(), (j.y / 192.0 - y).abs());
        assert!(
            dx < 0.04 && dy < 0.04,
            "joint {i}: ours ({}, {}) vs MoveNet ({x}, {y})",
            j.x / 192.0,
            j.y / 192.0
        );
    }
    assert!(compared >= 5, "only {compared} confident joints");
}

#[test]
fn efficientpose_matches_onnxruntime_argmax() {
    let Some(shared) = shared_or_skip("efficientpose_matches_onnxruntime_argmax") else {
        return;
    };
    let p = Pipeline::load(
        &repo().join("meta/efficientpose_mpii16.yaml"),
        None,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let img = load_image(&shared.join("images/astronaut.png")).unwrap();
    let inf = p.infer(&img).unwrap();
    assert_eq!(inf.network_joints.len(), 16);
    // onnxruntime's argmax and peak for the confident joints, from
    // tests/python/efficientpose_reference.py (PIL bilinear resize; ours is a
    // triangle filter, hence the small tolerance). EfficientPose wants a
    // full-body centred person, so this pose is poor; the point is agreement.
    let reference = [
        (0, 91.0, 132.0, 0.594),
        (1, 146.0, 141.0, 0.501),
        (2, 130.0, 170.0, 0.440),
        (5, 150.0, 144.0, 0.610),
        (9, 204.0, 204.0, 0.407),
    ];
    for (i, x, y, peak) in reference {
        let j = inf.network_joints[i];
        assert!(
            (j.x - x).abs() <= 4.0 && (j.y - y).abs() <= 4.0,
            "joint {i}: ours ({}, {}) vs onnxruntime ({x}, {y})",
            j.x,
            j.y
        );
        assert!(
            (j.score - peak).abs() < 0.05,
            "joint {i}: score {} vs {peak}",
            j.score
        );
        assert!(j.visible);
    }
}

#[test]
fn posenet_heatmap_offset_head_finds_the_astronauts_upper_body() {
    let Some(shared) =
        shared_or_skip("posenet_heatmap_offset_head_finds_the_astronauts_upper_body")
    else {
        return;
    };
    let meta = repo().join("meta/posenet_mobilenet_v1.yaml");
    let p = Pipeline::load(&meta, None, &lm::model::LoadOptions::default()).unwrap();
    // Heatmaps and offsets, selected by MODEL.output and offsets_output.
    assert_eq!(p.model.output_shape, vec![1, 25, 25, 17]);
    let img = load_image(&shared.join("images/astronaut.png")).unwrap();
    let inf = p.infer(&img).unwrap();
    let j = |n| joint(&p, &inf.pose.joints, n);
    for n in [
        "nose",
        "left_eye",
        "right_eye",
        "left_shoulder",
        "right_shoulder",
    ] {
        assert!(j(n).visible, "{n} not visible: {:?}", j(n));
    }
    assert!(j("left_shoulder").x > j("right_shoulder").x);
    assert!(j("nose").y < j("left_shoulder").y && j("nose").y < j("right_shoulder").y);
    assert!(!j("left_ankle").visible && !j("right_ankle").visible);
    // Offsets move joints off the 16-pixel grid: not every joint sits on it.
    let off_grid = inf
        .network_joints
        .iter()
        .filter(|j| j.x % 16.0 != 0.0 || j.y % 16.0 != 0.0)
        .count();
    assert!(off_grid > 0);

    // A displacement tensor (32 channels) named as the offsets is refused,
    // naming the field and its line.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&meta).unwrap().replace(
        "MobilenetV1/offset_2/BiasAdd:0",
        "MobilenetV1/displacement_fwd_2/BiasAdd:0",
    );
    let bad = write_meta(dir.path(), "posenet.yaml", &text);
    let model = shared.join("models/posenet_mobilenet_v1.onnx");
    let e = format!(
        "{:#}",
        Pipeline::load(&bad, Some(&model), &lm::model::LoadOptions::default()).unwrap_err()
    );
    let line = text
        .lines()
        .position(|l| l.contains("offsets_output"))
        .unwrap()
        + 1;
    assert!(
        e.contains(&format!(
            "posenet.yaml:{line}:5: POST_PROCESSOR.HeatmapOffsetToJoints.offsets_output"
        )),
        "{e}"
    );
    assert!(e.contains("32 channels") && e.contains("not 2 × 17"), "{e}");
}
