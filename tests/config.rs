//! meta.yaml parsing: Blueoil's file loads unchanged, and every kind of bad
//! file gets an error naming the file, the place and the field.

mod common;

use common::*;
use lm::config::{DataFormat, Meta, PreProcessor, Resample, COCO17_NAMES};

fn parse(text: &str) -> Result<Meta, lm::config::ConfigError> {
    Meta::parse(text, "/some/dir/meta.yaml")
}

fn err(text: &str) -> String {
    parse(text).expect_err("should fail").to_string()
}

#[test]
fn blueoil_example_loads_verbatim() {
    let m = parse(BLUEOIL_META).unwrap();
    assert_eq!(m.classes, vec!["person"]);
    assert_eq!(m.data_format, DataFormat::NHWC);
    assert_eq!(m.image_size, [160, 160]);
    assert_eq!(m.task, "IMAGE.KEYPOINT_DETECTION");
    assert_eq!(m.post.confidence_threshold, 0.1);
    assert_eq!(m.post.num_dimensions, 2);
    assert_eq!(m.post.stride, 8);
    // Blueoil defaults for our opt-in extensions.
    assert_eq!(m.post.threshold_scale, 10.0);
    assert_eq!(m.post.data_format, DataFormat::NHWC);
    assert!(!m.post.subpixel);
    assert_eq!(m.pre_processors.len(), 3);
    match &m.pre_processors[0] {
        PreProcessor::ResizeWithJoints(r) => {
            assert_eq!(r.image_size, [160, 160]);
            assert_eq!(r.resample, Resample::NEAREST);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        matches!(&m.pre_processors[1], PreProcessor::JointsToGaussianHeatmap(j) if j.num_joints == 17 && j.sigma == 2.0)
    );
    assert!(matches!(
        &m.pre_processors[2],
        PreProcessor::DivideBy255(None)
    ));
    // Default joints: COCO-17 with 16 limbs.
    assert_eq!(m.keypoints.names, COCO17_NAMES.to_vec());
    assert_eq!(m.keypoints.skeleton.len(), 16);
    assert_eq!(m.model.file, None);
}

#[test]
fn extensions_parse() {
    let text = BLUEOIL_META.replace(
        "    stride: 8\nPRE_PROCESSOR",
        "    stride: 8\n    threshold_scale: 1.0\n    data_format: NCHW\n    subpixel: true\nPRE_PROCESSOR",
    ) + "MODEL:\n  file: ../models/m.onnx\n  input: image\n  output: heatmaps\n";
    let m = parse(&text).unwrap();
    assert_eq!(m.post.threshold_scale, 1.0);
    assert_eq!(m.post.data_format, DataFormat::NCHW);
    assert!(m.post.subpixel);
    assert_eq!(
        m.model_path().unwrap(),
        std::path::Path::new("/some/dir/../models/m.onnx")
    );
    assert_eq!(m.model.input.as_deref(), Some("image"));
}

#[test]
fn confidence_threshold_edit_is_obeyed() {
    let m = parse(&BLUEOIL_META.replace("confidence_threshold: 0.1", "confidence_threshold: 0.35"))
        .unwrap();
    assert_eq!(m.post.confidence_threshold, 0.35);
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let e = err("CLASSES:\n- person\nIMAGE_SIZE: [160, 160\nTASK: x\n");
    assert!(e.starts_with("/some/dir/meta.yaml:"), "{e}");
    assert!(e.contains(":3:") || e.contains(":4:"), "no line in {e}");
}

#[test]
fn unknown_processor_is_rejected() {
    let e = err(&BLUEOIL_META.replace("- DivideBy255: null", "- DivideBy256: null"));
    assert!(e.contains("DivideBy256"), "{e}");
    assert!(e.contains("meta.yaml:"), "{e}");
}

#[test]
fn misspelt_key_is_rejected_with_location() {
    let e = err(&BLUEOIL_META.replace("confidence_threshold: 0.1", "confidence_treshold: 0.1"));
    assert!(e.contains("confidence_treshold"), "{e}");
    assert!(e.contains("meta.yaml:9:"), "{e}");
    let e = err(&BLUEOIL_META.replace("TASK:", "TASKS:"));
    assert!(e.contains("TASKS"), "{e}");
}

#[test]
fn wrong_type_is_rejected() {
    let e = err(&BLUEOIL_META.replace("confidence_threshold: 0.1", "confidence_threshold: high"));
    assert!(e.contains("meta.yaml:9:"), "{e}");
    assert!(e.contains("invalid type") || e.contains("expected"), "{e}");
    let e = err(&BLUEOIL_META.replace("- 160\n- 160\nPOST", "- 160\nPOST"));
    assert!(e.contains("IMAGE_SIZE") || e.contains("length"), "{e}");
}

#[test]
fn inconsistent_values_name_the_field() {
    let e = err(&BLUEOIL_META.replace("    resample: NEAREST", "    resample: BICUBIC"));
    assert!(e.contains("BICUBIC"), "{e}");
    let e = err(&BLUEOIL_META.replace("confidence_threshold: 0.1", "confidence_threshold: 1.5"));
    assert!(
        e.contains("confidence_threshold") && e.contains(":9:"),
        "{e}"
    );
    let e = err(&BLUEOIL_META.replace("num_dimensions: 2", "num_dimensions: 3"));
    assert!(e.contains("num_dimensions"), "{e}");
    let e = err(&BLUEOIL_META.replace("    stride: 8\nPRE", "    stride: 7\nPRE"));
    assert!(e.contains("stride") && e.contains("does not divide"), "{e}");
    let e = err(&BLUEOIL_META.replace("    - 160\n    resample", "    - 128\n    resample"));
    assert!(
        e.contains("ResizeWithJoints.image_size") && e.contains("IMAGE_SIZE"),
        "{e}"
    );
    let e = err(&BLUEOIL_META.replace("num_joints: 17", "num_joints: 16"));
    assert!(e.contains("num_joints"), "{e}");
    let e =
        err(&BLUEOIL_META.replace("    sigma: 2\n    stride: 8", "    sigma: 2\n    stride: 4"));
    assert!(e.contains("JointsToGaussianHeatmap.stride"), "{e}");
    let e = err(&BLUEOIL_META.replace("IMAGE.KEYPOINT_DETECTION", "IMAGE.CLASSIFICATION"));
    assert!(e.contains("TASK") && e.contains(":26:"), "{e}");
    let e =
        err(&(small_meta("m.onnx", 0.1) + "KEYPOINTS:\n  names: [a, b]\n  skeleton: [[0, 2]]\n"));
    assert!(e.contains("KEYPOINTS.skeleton"), "{e}");
}

#[test]
fn missing_post_processor_is_an_error() {
    let text = BLUEOIL_META.replace(
        "POST_PROCESSOR:\n- GaussianHeatmapToJoints:\n    confidence_threshold: 0.1\n    num_dimensions: 2\n    stride: 8\n",
        "POST_PROCESSOR: []\n",
    );
    let e = err(&text);
    assert!(e.contains("GaussianHeatmapToJoints"), "{e}");
}

#[test]
fn unreadable_file_names_the_path() {
    let e = Meta::load("/nonexistent/meta.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/nonexistent/meta.yaml") && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn shipped_meta_files_parse() {
    let dir = repo().join("meta");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "yaml") {
            Meta::load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    let fixtures = ["colour_blocks.yaml", "lm_tiny_quantize.yaml"];
    for f in fixtures {
        Meta::load(fixture(f)).unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("{n} meta files in meta/ parsed");
}

#[test]
fn oversized_file_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    // A valid meta.yaml padded with a comment to just over the limit.
    let mut text = BLUEOIL_META.to_string();
    text.push('#');
    text.push_str(&"x".repeat(Meta::MAX_BYTES as usize));
    let p = write_meta(dir.path(), "big.yaml", &text);
    let e = Meta::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("big.yaml") && e.contains("more than 1024 KiB"),
        "{e}"
    );
    // At the limit it is read (and, here, valid).
    let at_limit = &text[..Meta::MAX_BYTES as usize];
    let p = write_meta(dir.path(), "at_limit.yaml", at_limit);
    Meta::load(&p).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_input_size_asking_for_gigabytes_is_refused() {
    let text = BLUEOIL_META.replace(
        "IMAGE_SIZE:\n- 160\n- 160\n",
        "IMAGE_SIZE:\n- 160000\n- 160\n",
    );
    let e = err(&text);
    assert!(
        e.contains("IMAGE_SIZE") && e.contains("[160000, 160]") && e.contains("at most 8192"),
        "{e}"
    );
}
