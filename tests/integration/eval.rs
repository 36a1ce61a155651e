//! `lm eval`: each ground-truth reader on its fixture (tests/fixtures/eval,
//! made by make_eval_fixtures.py) and, when ../shared is present, on the
//! real files of ../shared/people/eval; an end-to-end evaluation with the
//! colour_blocks fixture model, whose answer is known, scored by hand.

use crate::common::*;
use lm::eval::gt::{read, Format};
use lm::eval::metric_list::parse_metrics;
use lm::eval::run::fail_on_errors;
use lm::eval::CropMode;
use lm::eval::{evaluate, EvalOptions, GroundTruth};
use lm::pipeline::Pipeline;
use std::path::{Path, PathBuf};

fn eval_fixture(name: &str) -> PathBuf {
    fixture("eval").join(name)
}

fn read_fixture(name: &str, format: Option<Format>) -> (Format, GroundTruth) {
    read(&eval_fixture(name), format, &fixture("eval")).unwrap()
}

#[test]
fn coco_reader_keeps_persons_and_ignores_crowds_and_empty_ones() {
    let (f, gt) = read_fixture("coco.json", None);
    assert_eq!(f, Format::Coco);
    assert_eq!(gt.joint_names.len(), 17);
    assert_eq!(gt.joint_names[5], "left_shoulder");
    assert_eq!(gt.samples.len(), 2, "{:?}", gt.skipped);
    let a = &gt.samples[0];
    assert_eq!(a.image, Path::new("a.jpg"));
    assert_eq!(
        (a.bbox.x, a.bbox.y, a.bbox.w, a.bbox.h),
        (90.0, 40.0, 40.0, 80.0)
    );
    assert_eq!(a.area, 1800.5);
    assert_eq!(
        (a.joints[0].x, a.joints[0].y, a.joints[0].v),
        (100.0, 50.0, 1)
    );
    assert_eq!(a.joints[1].v, 0);
    assert_eq!(
        (a.joints[4].x, a.joints[4].y, a.joints[4].v),
        (104.0, 58.0, 2)
    );
    assert_eq!(a.labelled_count(), 15);
    assert_eq!(gt.samples[1].image, Path::new("b.jpg"));
    // The crowd region and the num_keypoints == 0 person: skipped but kept
    // as COCOeval's ignored instances; the bicycle is not a keypoint category.
    assert_eq!(gt.skipped.len(), 2);
    assert_eq!(gt.ignored.len(), 2);
    assert!(gt.ignored[0].iscrowd && !gt.ignored[1].iscrowd);
}

#[test]
fn coco17_index_reader() {
    let (f, gt) = read_fixture("coco17_index.json", None);
    assert_eq!(f, Format::Coco17Index);
    assert_eq!(gt.samples.len(), 2);
    let s = &gt.samples[0];
    assert_eq!(s.dataset, "mpii");
    assert_eq!(s.image, Path::new("eval/x/one.jpg"));
    assert_eq!(s.area, 30.0 * 60.0);
    assert_eq!(s.labelled_count(), 12);
    assert_eq!((s.joints[5].x, s.joints[5].y), (17.0, 32.0));
    assert_eq!(gt.samples[1].dataset, "coco");
    assert_eq!(
        gt.skipped.len(),
        2,
        "crowd and unlabelled: {:?}",
        gt.skipped
    );
}

#[test]
fn mpii_reader_box_from_center_scale_and_head_sizes() {
    let (f, gt) = read_fixture("mpii.json", None);
    assert_eq!(f, Format::Mpii);
    assert_eq!(gt.joint_names[0], "right_ankle");
    assert_eq!(gt.joint_names[9], "head_top");
    let s = &gt.samples[0];
    // scale 1.5 → a 300 px square centred on (120, 230).
    assert_eq!(
        (s.bbox.x, s.bbox.y, s.bbox.w, s.bbox.h),
        (-30.0, 80.0, 300.0, 300.0)
    );
    assert!(!s.joints[0].labelled());
    // No headbox: |head_top − upper_neck| = |(127, 245) − (124, 240)|.
    assert_eq!(s.head_size, Some(34f64.sqrt()));
    // headbox 30 × 40: 0.6 × 50.
    assert!((gt.samples[1].head_size.unwrap() - 30.0).abs() < 1e-12);
    assert_eq!(gt.notes.len(), 1);
}

#[test]
fn bbox_text_reader() {
    let (f, gt) = read_fixture("bbox.txt", None);
    assert_eq!(f, Format::BboxText);
    assert_eq!(gt.joint_names[16], "right_ankle");
    assert_eq!(gt.samples.len(), 2);
    let s = &gt.samples[0];
    assert_eq!(
        (s.bbox.x, s.bbox.y, s.bbox.w, s.bbox.h),
        (5.0, 10.0, 35.0, 70.0)
    );
    assert!(!s.joints[3].labelled());
    assert_eq!((s.joints[4].x, s.joints[4].y), (14.0, 24.0));
    let s = &gt.samples[1];
    assert_eq!(
        (s.joints[1].x, s.joints[1].y, s.joints[1].v),
        (51.0, 62.0, 2)
    );
    assert!(!s.joints[16].labelled());
}

#[test]
fn bbox_text_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.txt");
    std::fs::write(&p, "a.jpg 1,2,3,4 5,6\nb.jpg 1,2,3,x 5,6\n").unwrap();
    let e = format!("{:#}", read(&p, None, dir.path()).unwrap_err());
    assert!(
        e.contains("bad.txt") && e.contains("line 2") && e.contains("`x`"),
        "{e}"
    );
}

/// A line with a box and no points is an error naming the line (it panicked: fuzz/gt_readers).
#[test]
fn bbox_text_without_points_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("boxes.txt");
    std::fs::write(&p, "img1.jpg 14,-210,32323,14 \n").unwrap();
    let e = format!("{:#}", read(&p, None, dir.path()).unwrap_err());
    assert!(
        e.contains("boxes.txt") && e.contains("line 1") && e.contains("no `px,py` points"),
        "{e}"
    );
}

#[test]
fn csv_reader_with_image_box_and_visibility_columns() {
    let (f, gt) = read_fixture("pose.csv", None);
    assert_eq!(f, Format::Csv);
    assert_eq!(gt.joint_names, ["nose", "left_wrist", "right_ankle"]);
    let s = &gt.samples[0];
    assert_eq!(
        (s.image.clone(), s.dataset.as_str()),
        (PathBuf::from("p1.png"), "set_a")
    );
    assert_eq!((s.bbox.w, s.bbox.h), (100.0, 200.0));
    assert_eq!((s.joints[1].x, s.joints[1].y), (30.5, 40.0));
    let s = &gt.samples[1];
    assert!(!s.joints[1].labelled() && !s.joints[2].labelled());
    assert_eq!(s.bbox_from, "keypoint extent");
}

#[test]
fn csv_without_an_image_column_takes_the_folders_images_in_order() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["b.png", "a.jpg", "notes.txt"] {
        std::fs::write(dir.path().join(f), b"x").unwrap();
    }
    let (_, gt) = read(&eval_fixture("pose_no_image.csv"), None, dir.path()).unwrap();
    assert!(gt.skipped.is_empty());
    let images: Vec<_> = gt.samples.iter().map(|s| s.image.clone()).collect();
    assert_eq!(images, [PathBuf::from("a.jpg"), PathBuf::from("b.png")]);
    assert_eq!(
        (gt.samples[1].joints[1].x, gt.samples[1].joints[1].y),
        (7.0, 8.0)
    );
    assert_eq!(gt.notes.len(), 1);
}

#[test]
fn stanford_extra_reader() {
    let (f, gt) = read_fixture("stanford_extra.json", None);
    assert_eq!(f, Format::StanfordExtra);
    assert_eq!(gt.joint_names.len(), 24);
    assert_eq!(gt.joint_names[16], "nose");
    let s = &gt.samples[0];
    assert!(!s.joints[13].labelled());
    assert_eq!(s.labelled_count(), 23);
    assert_eq!((s.bbox.w, s.bbox.h), (40.0, 35.0));
}

#[test]
fn unknown_json_layouts_ask_for_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.json");
    std::fs::write(&p, r#"{"something": []}"#).unwrap();
    let e = format!("{:#}", read(&p, None, dir.path()).unwrap_err());
    assert!(e.contains("x.json") && e.contains("--format"), "{e}");
    // A COCO file missing its category names, read as COCO, says so.
    std::fs::write(
        &p,
        r#"{"images": [], "annotations": [], "categories": [{"id": 1, "name": "p"}]}"#,
    )
    .unwrap();
    let e = format!(
        "{:#}",
        read(&p, Some(Format::Coco), dir.path()).unwrap_err()
    );
    assert!(e.contains("x.json") && e.contains("keypoints"), "{e}");
}

// ---------------------------------------------------------------- end to end

/// A 64 × 64 image with a red 4 × 4 square at (36..40, 24..28) and a green one
/// at (20..24, 40..44). Cropped at (16, 16) with side 32, the squares fall in
/// colour_blocks' blocks (row 2, col 5) and (row 6, col 1): even joints are
/// predicted at (36, 24), odd joints at (20, 40) in image pixels.
fn blocks_image(dir: &Path) {
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        if (36..40).contains(&x) && (24..28).contains(&y) {
            image::Rgb([255, 0, 0])
        } else if (20..24).contains(&x) && (40..44).contains(&y) {
            image::Rgb([0, 255, 0])
        } else {
            image::Rgb([0, 0, 0])
        }
    });
    img.save(dir.join("blocks.png")).unwrap();
    std::fs::write(dir.join("bad.jpg"), b"not a jpeg").unwrap();
}

/// COCO ground truth: the person of blocks.png labelled where the model
/// answers, except the nose (5 px to the right) and the left eye (10 px
/// down); one person on a corrupt image.
fn blocks_gt(dir: &Path) -> PathBuf {
    let mut kp = vec![];
    for k in 0..17 {
        let (x, y) = if k % 2 == 0 {
            (36.0, 24.0)
        } else {
            (20.0, 40.0)
        };
        let (x, y) = match k {
            0 => (x + 5.0, y),
            1 => (x, y + 10.0),
            _ => (x, y),
        };
        kp.extend([x, y, 2.0]);
    }
    let names = lm::config::COCO17_NAMES;
    let doc = serde_json::json!({
        "images": [{"id": 1, "file_name": "blocks.png"}, {"id": 2, "file_name": "bad.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "keypoints": kp, "num_keypoints": 17,
             "iscrowd": 0, "bbox": [16, 16, 32, 32], "area": 1024},
            {"id": 2, "image_id": 2, "category_id": 1, "keypoints": kp, "num_keypoints": 17,
             "iscrowd": 0, "bbox": [16, 16, 32, 32], "area": 1024},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": names}],
    });
    let p = dir.join("gt.json");
    std::fs::write(&p, doc.to_string()).unwrap();
    p
}

fn blocks_opts(dir: &Path, crop: CropMode) -> EvalOptions {
    EvalOptions {
        gt: blocks_gt(dir),
        format: None,
        images: None,
        crop,
        margin: 1.0,
        min_joints: 1,
        out_dir: Some(dir.join("report")),
        progress: false,
        metrics: vec![],
    }
}

fn summary(report: &serde_json::Value, table: &str, alpha: &str) -> f64 {
    report["summary"][table][alpha].as_f64().unwrap()
}

/// serde_json's default float parsing may be one ulp off.
fn assert_near(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-12, "{got} != {want}");
}

#[test]
fn evaluates_crops_scores_by_hand_and_keeps_going_past_a_bad_image() {
    let dir = tempfile::tempdir().unwrap();
    blocks_image(dir.path());
    let p = Pipeline::load(
        &fixture("colour_blocks.yaml"),
        None,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let out = evaluate(&p, &blocks_opts(dir.path(), CropMode::Box)).unwrap();
    assert_eq!(out.report.instances_evaluated, 1);
    assert_eq!(out.failures.len(), 1);
    assert!(out.failures[0].image.ends_with("bad.jpg"));
    assert!(
        out.failures[0].error.contains("bad.jpg"),
        "{}",
        out.failures[0].error
    );
    let e = format!("{:#}", fail_on_errors(&out).unwrap_err());
    assert!(e.contains("1 of 2") && e.contains("bad.jpg"), "{e}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report/report.json")).unwrap())
            .unwrap();
    // Box 32 px. α 0.1 → 3.2 px: all but the nose (5) and eye (10);
    // α 0.2 → 6.4 px: all but the eye; α 0.5 → 16 px: all.
    assert_near(summary(&report, "pck", "0.1"), 15.0 / 17.0);
    assert_near(summary(&report, "pck", "0.2"), 16.0 / 17.0);
    assert_eq!(summary(&report, "pck", "0.5"), 1.0);
    assert_near(
        report["summary"]["mean_px_error"].as_f64().unwrap(),
        15.0 / 17.0,
    );
    assert_eq!(report["summary"]["median_px_error"].as_f64().unwrap(), 0.0);
    // Torso: left shoulder (36, 24) – right hip (20, 40): 16√2 ≈ 22.6 px; at
    // α 0.2 4.5 px: nose (5) and eye out.
    assert_near(summary(&report, "pck_torso", "0.2"), 15.0 / 17.0);
    // OKS = (15 + exp(−25 / (2 · 1024 · 0.052²)) + exp(−100 / (2 · 1024 · 0.05²))) / 17
    // ≈ 0.883: matched at thresholds 0.50 … 0.85 (8 of 10).
    let coco = &report["summary"]["coco"];
    assert!((coco["ap"].as_f64().unwrap() - 0.8).abs() < 1e-12, "{coco}");
    assert!((coco["ar"].as_f64().unwrap() - 0.8).abs() < 1e-12, "{coco}");
    assert_eq!(coco["ap50"].as_f64().unwrap(), 1.0);
    assert_eq!(report["per_joint"][0]["name"], "nose");
    assert_eq!(report["per_joint"][0]["pck"]["0.1"].as_f64().unwrap(), 0.0);
    assert_eq!(
        report["per_joint"][0]["mean_px_error"].as_f64().unwrap(),
        5.0
    );
    assert_eq!(report["instances_failed"], 1);
    // Predictions in COCO results format, in image pixels.
    let results: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("report/coco_results.json")).unwrap(),
    )
    .unwrap();
    let kp = &results[0]["keypoints"];
    assert_eq!((kp[0].as_f64(), kp[1].as_f64()), (Some(36.0), Some(24.0)));
    assert_eq!((kp[3].as_f64(), kp[4].as_f64()), (Some(20.0), Some(40.0)));
    assert_eq!(results[0]["score"].as_f64(), Some(1.0));
    let png = image::open(dir.path().join("report/pck.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1080, 640));
    assert!(
        out.table.contains("nose") && out.table.contains("coco"),
        "{}",
        out.table
    );
}

#[test]
fn whole_image_mode_scales_from_the_network_input() {
    let dir = tempfile::tempdir().unwrap();
    blocks_image(dir.path());
    let p = Pipeline::load(
        &fixture("colour_blocks.yaml"),
        None,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    evaluate(&p, &blocks_opts(dir.path(), CropMode::None)).unwrap();
    let results: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("report/coco_results.json")).unwrap(),
    )
    .unwrap();
    // 64 → 32 nearest: the red square lands in block (row 3, col 4): (16, 12) × 2.
    let kp = &results[0]["keypoints"];
    assert_eq!((kp[0].as_f64(), kp[1].as_f64()), (Some(32.0), Some(24.0)));
}

#[test]
fn cli_prints_the_tables_writes_the_report_and_fails_naming_the_bad_image() {
    let dir = tempfile::tempdir().unwrap();
    blocks_image(dir.path());
    let gt = blocks_gt(dir.path());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lm"))
        .args(["eval", "-c"])
        .arg(fixture("colour_blocks.yaml"))
        .arg("--gt")
        .arg(&gt)
        .args(["--margin", "1", "-o"])
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stdout.contains("left_shoulder") && stdout.contains("report.json"),
        "{stdout}"
    );
    assert!(
        stderr.contains("bad.jpg") && stderr.contains("1 of 2"),
        "{stderr}"
    );
    assert!(dir.path().join("r/report.json").exists());
}

#[test]
fn metric_option_picks_the_columns_and_adds_its_alphas_to_the_report() {
    let dir = tempfile::tempdir().unwrap();
    blocks_image(dir.path());
    let p = Pipeline::load(
        &fixture("colour_blocks.yaml"),
        None,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let mut opts = blocks_opts(dir.path(), CropMode::Box);
    opts.metrics = parse_metrics(&["pck@0.15,px", "pckh@0.5"]).unwrap();
    let out = evaluate(&p, &opts).unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report/report.json")).unwrap())
            .unwrap();
    // Box 32 px, α 0.15 → 4.8 px: all but the nose (5 px off) and the eye (10 px).
    assert_near(summary(&report, "pck", "0.15"), 15.0 / 17.0);
    // The fixed α set stays in report.json whatever the columns.
    assert_near(summary(&report, "pck", "0.2"), 16.0 / 17.0);
    assert_eq!(
        report["metrics"],
        serde_json::json!(["pck@0.15", "px", "pckh@0.5"])
    );
    let header = out.table.lines().next().unwrap();
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        cols,
        ["joint", "n", "PCK@.15", "mean", "px", "median", "px", "PCKh@.5"]
    );
    let last = out
        .table
        .lines()
        .rfind(|l| l.contains("evaluated"))
        .unwrap();
    assert!(
        last.contains("PCK@0.15 0.882 (box longer side); pixel error mean 0.9")
            && last.contains("PCKh mean@0.5")
            && !last.contains("OKS"),
        "{last}"
    );

    // A misspelt metric fails before the model loads, naming it.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lm"))
        .args([
            "eval",
            "-c",
            "/nonexistent/meta.yaml",
            "--gt",
            "/nonexistent/gt.json",
        ])
        .args(["--metric", "pck@0.2,pkc@0.1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("\"pkc@0.1\"")
            && stderr.contains("unknown metric")
            && !stderr.contains("meta.yaml"),
        "{stderr}"
    );
}

// ------------------------------------------------------- real files (../shared)

fn shared_eval_or_skip(test: &str) -> Option<PathBuf> {
    let s = shared().map(|s| s.join("people/eval"));
    if s.as_ref().is_none_or(|p| !p.exists()) {
        eprintln!("SKIPPED {test}: ../shared/people/eval (real labelled images) is not present");
        return None;
    }
    s
}

#[test]
fn real_files_read_and_agree_with_the_coco17_index() {
    let Some(eval) = shared_eval_or_skip("real_files_read_and_agree_with_the_coco17_index") else {
        return;
    };
    let (f, index) = read(&eval.join("gt_coco17.json"), None, &eval).unwrap();
    assert_eq!(f, Format::Coco17Index);
    assert_eq!(index.samples.len() + index.skipped.len(), 69);
    let enough = index
        .samples
        .iter()
        .filter(|s| s.labelled_count() >= 8)
        .count();
    assert_eq!(enough, 61);
    let from_index = |image: &str| -> Vec<&lm::eval::Sample> {
        index
            .samples
            .iter()
            .filter(|s| s.image.to_string_lossy().ends_with(image))
            .collect()
    };

    // COCO: its persons with keypoints, as in the index.
    let coco_dir = eval.join("mmpose_tests/coco");
    let (f, coco) = read(&coco_dir.join("test_coco.json"), None, &coco_dir).unwrap();
    assert_eq!(f, Format::Coco);
    assert_eq!(coco.samples.len(), 12);
    assert_eq!(coco.skipped.len(), 2);
    for s in &coco.samples {
        let name = s.image.to_string_lossy().to_string();
        let twins = from_index(&name);
        assert!(
            twins
                .iter()
                .any(|t| t.joints == s.joints && t.bbox == s.bbox),
            "{name}: COCO reader and index disagree"
        );
    }

    // MPII: 16 joints; the index's COCO-17 view has the same limbs.
    let mpii_dir = eval.join("mmpose_tests/mpii");
    let (f, mpii) = read(&mpii_dir.join("test_mpii.json"), None, &mpii_dir).unwrap();
    assert_eq!(f, Format::Mpii);
    assert_eq!(mpii.samples.len(), 5);
    let map = lm::eval::joints::JointMap::by_name(&index.joint_names, &mpii.joint_names);
    assert_eq!(map.pairs.len(), 12, "{map:?}");
    for s in &mpii.samples {
        assert!(s.head_size.is_some_and(|h| h > 5.0), "{:?}", s.head_size);
        let twin = from_index(&s.image.to_string_lossy())[0];
        assert!(
            (twin.bbox.w - s.bbox.w).abs() < 1e-3,
            "{:?} vs {:?}",
            twin.bbox,
            s.bbox
        );
        for (ci, mi, name) in &map.pairs {
            let (a, b) = (twin.joints[*ci], s.joints[*mi]);
            assert_eq!(a.labelled(), b.labelled(), "{name}");
            if a.labelled() {
                assert!(
                    (a.x - b.x).abs() < 1e-3 && (a.y - b.y).abs() < 1e-3,
                    "{name}"
                );
            }
        }
    }

    // TensorFlow's CSV: no image column; rows are image1, image2 of its folder.
    let tf = eval.join("tf_examples_pose");
    let (f, csv) = read(&tf.join("pose_landmark_truth.csv"), None, &tf).unwrap();
    assert_eq!(f, Format::Csv);
    assert_eq!(csv.samples.len(), 2);
    for s in &csv.samples {
        let twin = from_index(&s.image.to_string_lossy())[0];
        assert_eq!(twin.joints, s.joints);
        assert_eq!(twin.bbox, s.bbox);
    }
}
