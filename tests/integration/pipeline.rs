//! Image → joints → output.json + overlay, on the hand-made colour_blocks
//! model whose right answer is known (see tests/fixtures/make_fixtures.py).

use crate::common::*;
use image::{Rgb, RgbImage};
use lm::output::blueoil::scaled_planar_joints;
use lm::output::json::OutputJson;
use lm::output::overlay::{LEFT_COLOUR, LIMB_COLOUR, RIGHT_COLOUR};
use lm::pipeline::Pipeline;
use lm::postprocess::flip_test::{fuse_mirrored, mirror_pairs};
use lm::postprocess::gaussian_heatmap_to_joints;
use lm::run::{run_images, RunOptions};
use std::path::Path;

const BACKGROUND: Rgb<u8> = Rgb([50, 50, 50]);

/// 64×96 (w×h) image: network scale 2 in x, 3 in y. A red block over
/// network block (row 2, col 5) and a green block of intensity `green` over
/// block (row 6, col 1).
fn test_image(green: u8) -> RgbImage {
    RgbImage::from_fn(64, 96, |x, y| {
        if (40..48).contains(&x) && (24..36).contains(&y) {
            Rgb([255, 0, 0])
        } else if (8..16).contains(&x) && (72..84).contains(&y) {
            Rgb([0, green, 0])
        } else {
            BACKGROUND
        }
    })
}

fn pipeline(threshold: f64, dir: &Path) -> Pipeline {
    std::fs::copy(
        fixture("colour_blocks.onnx"),
        dir.join("colour_blocks.onnx"),
    )
    .unwrap();
    let meta = write_meta(
        dir,
        "meta.yaml",
        &small_meta("colour_blocks.onnx", threshold),
    );
    Pipeline::load(&meta, None, &lm::model::LoadOptions::default()).unwrap()
}

#[test]
fn joints_land_on_the_coloured_blocks_in_original_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(0.5, dir.path());
    let inf = p.infer(&test_image(255)).unwrap();
    for (i, j) in inf.pose.joints.iter().enumerate() {
        assert!(j.visible, "joint {i}");
        let want = if i % 2 == 0 {
            (40.0, 24.0)
        } else {
            (8.0, 72.0)
        };
        assert_eq!((j.x, j.y), want, "joint {i}");
        assert!((j.score - 1.0).abs() < 1e-5, "score {}", j.score);
    }
    let planar = scaled_planar_joints(&inf.network_joints, inf.pose.image_size, p.meta.input_hw());
    assert_eq!(planar.len(), 51);
    assert_eq!(&planar[0..4], &[40, 8, 40, 8]);
    assert_eq!(&planar[17..21], &[24, 72, 24, 72]);
    assert!(planar[34..].iter().all(|v| *v == 1));
}

#[test]
fn editing_confidence_threshold_changes_the_next_run() {
    // Green 128 gives a peak of 10·128/255 ≈ 5.02: visible at 0.5, not at 0.6.
    let image = test_image(128);
    let dir = tempfile::tempdir().unwrap();
    let loose = pipeline(0.5, dir.path()).infer(&image).unwrap();
    assert!(loose.pose.joints[1].visible);
    let strict = pipeline(0.6, dir.path()).infer(&image).unwrap();
    assert!(!strict.pose.joints[1].visible);
    assert!(strict.pose.joints[0].visible, "red joints stay visible");
    let planar = scaled_planar_joints(&strict.network_joints, strict.pose.image_size, (32, 32));
    assert_eq!(
        (planar[1], planar[17 + 1], planar[34 + 1]),
        (0, 0, 0),
        "invisible joint is [0, 0, 0]"
    );
}

#[test]
fn run_writes_blueoil_json_and_a_correct_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(0.5, dir.path());
    let img_path = dir.path().join("blocks.png");
    test_image(255).save(&img_path).unwrap();
    let out_dir = dir.path().join("out");
    let opts = RunOptions {
        images: vec![img_path.clone()],
        out_dir: out_dir.clone(),
        trials: 3,
        overlays: true,
        progress: None,
    };
    run_images(&p, &opts).unwrap();

    // JSON layout, read back as untyped JSON so that key names are checked.
    let text = std::fs::read_to_string(out_dir.join("output.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["benchmark", "classes", "date", "results", "task", "version"]
    );
    for stage in ["total", "pre", "run", "post"] {
        let s = &v["benchmark"][stage];
        assert!(
            s["mean"].as_f64().unwrap() >= 0.0 && s["std"].as_f64().unwrap() >= 0.0,
            "{stage}"
        );
    }
    let total = v["benchmark"]["total"]["mean"].as_f64().unwrap();
    let run = v["benchmark"]["run"]["mean"].as_f64().unwrap();
    assert!(total >= run && run > 0.0);
    assert_eq!(
        v["classes"],
        serde_json::json!([{"id": 0, "name": "person"}])
    );
    let date = v["date"].as_str().unwrap();
    assert!(
        date.len() == 25 && date.as_bytes()[10] == b'T' && date.ends_with("+00:00"),
        "{date}"
    );
    assert_eq!(v["task"], "IMAGE.KEYPOINT_DETECTION");
    assert_eq!(v["version"].as_f64(), Some(0.2));
    let r = &v["results"][0];
    assert_eq!(r["file_path"], img_path.display().to_string());
    let joints: Vec<i64> = r["prediction"]["joints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(joints.len(), 51);
    assert_eq!((joints[0], joints[17], joints[34]), (40, 24, 1));
    assert_eq!((joints[1], joints[18], joints[35]), (8, 72, 1));
    // Blueoil's fields only: the grid detectors' `points` is not written for pose heads.
    let pkeys: Vec<&str> = r["prediction"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(pkeys, ["joints", "keypoints"]);
    let kp = &r["prediction"]["keypoints"];
    assert_eq!(kp.as_array().unwrap().len(), 17);
    assert_eq!(kp[5]["name"], "left_shoulder");
    assert_eq!(
        (
            kp[5]["x"].as_f64(),
            kp[5]["y"].as_f64(),
            kp[5]["visible"].as_bool()
        ),
        (Some(8.0), Some(72.0), Some(true))
    );
    let parsed: OutputJson = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.results.len(), 1);

    // Overlay: dots at the joints (the last drawn joint at each spot wins:
    // right_ankle (16) on the red block, left_ankle (15) on the green one),
    // limbs between them, untouched pixels elsewhere.
    let overlay = image::open(out_dir.join("images").join("blocks.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(overlay.dimensions(), (64, 96));
    assert_eq!(*overlay.get_pixel(40, 24), RIGHT_COLOUR);
    assert_eq!(*overlay.get_pixel(8, 72), LEFT_COLOUR);
    assert_eq!(
        *overlay.get_pixel(24, 48),
        LIMB_COLOUR,
        "midpoint of nose–left_eye limb"
    );
    assert_eq!(*overlay.get_pixel(60, 90), BACKGROUND);
    assert_eq!(*overlay.get_pixel(2, 2), BACKGROUND);
}

#[test]
fn invisible_joints_are_not_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(0.6, dir.path());
    let img_path = dir.path().join("dim.png");
    test_image(128).save(&img_path).unwrap();
    let out_dir = dir.path().join("out");
    run_images(
        &p,
        &RunOptions {
            images: vec![img_path],
            out_dir: out_dir.clone(),
            trials: 1,
            overlays: true,
            progress: None,
        },
    )
    .unwrap();
    let overlay = image::open(out_dir.join("images").join("dim.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(*overlay.get_pixel(40, 24), RIGHT_COLOUR);
    // Odd joints are invisible: their block keeps its own colour, no limb crosses.
    assert_eq!(*overlay.get_pixel(8, 72), Rgb([0, 128, 0]));
    assert_eq!(*overlay.get_pixel(24, 48), BACKGROUND);
}

/// colour_blocks.onnx read as a grid detector: its 17 channels per 4×4 cell
/// become [dx, dy, 15 class scores], every even channel 10 × the cell's mean
/// red, every odd one 10 × its mean green. On [`test_image`] the red cell
/// (row 2, col 5) has dx = 10, dy = 0 and scores 10 for the 8 "red" classes
/// (channels 2, 4, .., 16); the green cell (row 6, col 1) dx = 0, dy = 10 and
/// scores 10 for the 7 "green" classes; the grey background scores 1.96.
#[test]
fn grid_detector_points_per_class_in_output_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("colour_blocks.onnx"),
        dir.path().join("colour_blocks.onnx"),
    )
    .unwrap();
    let names: Vec<String> = (0..15).map(|i| format!("c{i}")).collect();
    let text = small_meta("colour_blocks.onnx", 0.1).replace(
        "- GaussianHeatmapToJoints:\n    confidence_threshold: 0.1\n    num_dimensions: 2\n    stride: 4\n",
        "- GridOffsetToPoints:\n    confidence_threshold: 5\n    stride: 4\n    offset_unit: pixel\n",
    ) + &format!("KEYPOINTS:\n  names: [{}]\n", names.join(", "));
    let meta = write_meta(dir.path(), "meta.yaml", &text);
    let p = Pipeline::load(&meta, None, &lm::model::LoadOptions::default()).unwrap();
    let img_path = dir.path().join("blocks.png");
    test_image(255).save(&img_path).unwrap();
    let out_dir = dir.path().join("out");
    let opts = RunOptions {
        images: vec![img_path],
        out_dir: out_dir.clone(),
        trials: 1,
        overlays: true,
        progress: None,
    };
    run_images(&p, &opts).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("output.json")).unwrap())
            .unwrap();
    let pred = &v["results"][0]["prediction"];
    let points = pred["points"].as_array().unwrap();
    assert_eq!(points.len(), 15, "one point per class: {points:?}");
    // Network pixels: red (5·4 + 10, 2·4 + 0) = (30, 8), green (4, 34);
    // the image is 2× wider and 3× taller than the network.
    for (c, q) in points.iter().enumerate() {
        let want = if c % 2 == 0 {
            (60.0, 24.0)
        } else {
            (8.0, 102.0)
        };
        assert_eq!(q["class"], c, "{q}");
        assert_eq!(q["name"], format!("c{c}"));
        assert_eq!(
            (q["x"].as_f64().unwrap(), q["y"].as_f64().unwrap()),
            want,
            "{q}"
        );
        assert!((q["score"].as_f64().unwrap() - 10.0).abs() < 1e-4, "{q}");
    }
    // Blueoil's fields: the best point of each class.
    let joints: Vec<i64> = pred["joints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!((joints[0], joints[15], joints[30]), (60, 24, 1));
    assert_eq!((joints[1], joints[16], joints[31]), (8, 102, 1));
    // A threshold above every score: no point, every joint invisible at its best cell.
    let meta = write_meta(
        dir.path(),
        "meta.yaml",
        &text.replace("confidence_threshold: 5", "confidence_threshold: 10.5"),
    );
    let p = Pipeline::load(&meta, None, &lm::model::LoadOptions::default()).unwrap();
    let inf = p.infer(&test_image(255)).unwrap();
    assert_eq!(inf.pose.points.as_deref(), Some(&[][..]));
    assert!(inf.pose.joints.iter().all(|j| !j.visible));
    assert_eq!((inf.pose.joints[0].x, inf.pose.joints[0].y), (60.0, 24.0));
    assert!(inf.heatmaps.is_none());
}

#[test]
fn flip_test_averages_the_picture_and_its_mirror_image() {
    // colour_blocks at 32 × 32 px (no resize, so mirroring the picture and
    // mirroring the network input are the same): the flip-test heatmaps equal
    // the plain run's fused with the mirror image's run. (This model's
    // channels are colours, not left and right joints, so the joints move.)
    let dir = tempfile::tempdir().unwrap();
    let plain = pipeline(0.1, dir.path());
    let text = small_meta("colour_blocks.onnx", 0.1)
        .replace("    stride: 4\n", "    stride: 4\n    flip_test: true\n");
    let flip = Pipeline::load(
        &write_meta(dir.path(), "flip.yaml", &text),
        None,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let image = image::imageops::resize(&test_image(200), 32, 32, image::imageops::Nearest);
    let mirror = image::imageops::flip_horizontal(&image);
    let a = plain.infer(&image).unwrap();
    let b = plain.infer(&mirror).unwrap();
    let f = flip.infer(&image).unwrap();
    let pairs = mirror_pairs(&plain.meta.keypoints.names).unwrap();
    let want = fuse_mirrored(
        a.heatmaps.as_ref().unwrap(),
        b.heatmaps.as_ref().unwrap(),
        &pairs,
        32,
        4,
    )
    .unwrap();
    assert_eq!(f.heatmaps.as_ref().unwrap(), &want);
    assert_ne!(&want, a.heatmaps.as_ref().unwrap());
    // ... and the joints are decoded from those averaged heatmaps.
    let p = flip.meta.gaussian().unwrap();
    assert_eq!(f.network_joints, gaussian_heatmap_to_joints(&want, p));
}
