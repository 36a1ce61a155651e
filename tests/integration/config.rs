//! meta.yaml parsing: Blueoil's file loads unchanged, and every kind of bad
//! file gets an error naming the file, the place and the field.

use crate::common::*;
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
    assert_eq!(m.gaussian().unwrap().confidence_threshold, 0.1);
    assert_eq!(m.gaussian().unwrap().num_dimensions, 2);
    assert_eq!(m.gaussian().unwrap().stride, 8);
    // Blueoil defaults for our opt-in extensions.
    assert_eq!(m.gaussian().unwrap().threshold_scale, 10.0);
    assert_eq!(m.gaussian().unwrap().data_format, DataFormat::NHWC);
    assert!(!m.gaussian().unwrap().subpixel);
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
    assert_eq!(m.gaussian().unwrap().threshold_scale, 1.0);
    assert_eq!(m.gaussian().unwrap().data_format, DataFormat::NCHW);
    assert!(m.gaussian().unwrap().subpixel);
    assert!(!m.gaussian().unwrap().flip_test && !m.flip_test());
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
    assert_eq!(m.gaussian().unwrap().confidence_threshold, 0.35);
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
fn flip_test_needs_a_mirror_for_every_left_and_right_joint() {
    let flip = |names: &str| {
        small_meta("m.onnx", 0.1).replace("    stride: 4\n", "    stride: 4\n    flip_test: true\n")
            + &format!("KEYPOINTS:\n  names: [{names}]\n")
    };
    let m = parse(&flip("nose, left_eye, right_eye")).unwrap();
    assert!(m.flip_test());
    let e = err(&flip("nose, left_eye, left_ear, right_eye"));
    assert!(
        e.contains("GaussianHeatmapToJoints.flip_test")
            && e.contains("\"left_ear\"")
            && e.contains("\"right_ear\"")
            && e.contains(":12:"),
        "{e}"
    );
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

/// [`small_meta`] (32×32, colour_blocks.onnx) with a HeatmapOffsetToJoints
/// post-processor; `attrs` are its attribute lines after `stride: 4`.
fn offset_meta(attrs: &str) -> String {
    small_meta("colour_blocks.onnx", 0.1).replace(
        "- GaussianHeatmapToJoints:\n    confidence_threshold: 0.1\n    num_dimensions: 2\n    stride: 4\n",
        &format!("- HeatmapOffsetToJoints:\n    confidence_threshold: 0.1\n    stride: 4\n{attrs}"),
    )
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn heatmap_offset_post_processor_parses_with_defaults() {
    use lm::config::PostProcessor;
    use lm::postprocess::heatmap_offset_to_joints::OffsetLayout;
    let m = parse(&offset_meta("    offsets_output: offsets\n")).unwrap();
    assert!(m.gaussian().is_none());
    match &m.post {
        PostProcessor::HeatmapOffsetToJoints(p) => {
            assert_eq!(p.stride, 4);
            assert_eq!(p.offsets_output, "offsets");
            assert_eq!(p.offset_layout, OffsetLayout::planar_yx);
            assert!(!p.sigmoid);
            assert_eq!(p.data_format, DataFormat::NHWC);
        }
        other => panic!("unexpected {other:?}"),
    }
    let m = parse(&offset_meta(
        "    offsets_output: offsets\n    offset_layout: interleaved_xy\n    sigmoid: true\n    data_format: NCHW\n",
    ))
    .unwrap();
    match &m.post {
        PostProcessor::HeatmapOffsetToJoints(p) => {
            assert_eq!(p.offset_layout, OffsetLayout::interleaved_xy);
            assert!(p.sigmoid);
            assert_eq!(p.data_format, DataFormat::NCHW);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn bad_offset_layout_name_is_rejected_with_location() {
    let text = offset_meta("    offsets_output: offsets\n    offset_layout: planar_xy\n");
    let e = err(&text);
    let line = line_of(&text, "offset_layout");
    assert!(e.contains(&format!("meta.yaml:{line}:")), "{e}");
    assert!(
        e.contains("planar_xy") && e.contains("planar_yx") && e.contains("interleaved_yx"),
        "{e}"
    );
}

#[test]
fn missing_offsets_output_is_rejected_with_location() {
    let text = offset_meta("");
    let e = err(&text);
    assert!(e.contains("offsets_output"), "{e}");
    assert!(e.starts_with("/some/dir/meta.yaml:"), "{e}");
    // Naming the heatmaps as offsets too is a mistake, caught at the field.
    let text = offset_meta("    offsets_output: heatmaps\n") + "  output: heatmaps\n";
    let e = err(&text);
    let line = line_of(&text, "offsets_output");
    assert!(
        e.contains(&format!(
            "meta.yaml:{line}:5: POST_PROCESSOR.HeatmapOffsetToJoints.offsets_output"
        )),
        "{e}"
    );
    // A score threshold beyond the sigmoid's range.
    let text = offset_meta("    offsets_output: o\n    sigmoid: true\n")
        .replace("confidence_threshold: 0.1", "confidence_threshold: 1.5");
    let e = err(&text);
    assert!(
        e.contains("confidence_threshold") && e.contains("sigmoid"),
        "{e}"
    );
}

#[test]
fn offset_and_heatmap_shapes_are_checked_against_the_meta() {
    use lm::config::PostProcessor;
    use lm::postprocess::heatmap_offset_to_joints::check_outputs;
    let text = offset_meta("    offsets_output: offsets\n");
    let m = parse(&text).unwrap();
    let PostProcessor::HeatmapOffsetToJoints(p) = &m.post else {
        unreachable!()
    };
    let model = std::path::Path::new("m.onnx");
    let check = |shapes: &[Vec<usize>]| check_outputs(&m, p, shapes, model);
    // 32×32 at stride 4: 8×8 cells, 17 joints, 34 offset channels.
    check(&[vec![1, 8, 8, 17], vec![1, 8, 8, 34]]).unwrap();
    let at = |needle: &str| format!("meta.yaml:{}:5:", line_of(&text, needle));

    let e = check(&[vec![1, 8, 8, 17], vec![1, 8, 8, 17]])
        .unwrap_err()
        .to_string();
    assert!(e.contains(&at("offsets_output")), "{e}");
    assert!(
        e.contains("17 channels") && e.contains("2 × 17 heatmap joints"),
        "{e}"
    );
    let e = check(&[vec![1, 8, 8, 17], vec![1, 4, 4, 34]])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&at("offsets_output")) && e.contains("8×8 cells"),
        "{e}"
    );
    let e = check(&[vec![1, 7, 7, 17], vec![1, 7, 7, 34]])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&at("stride: 4")) && e.contains("8×8 heatmap cells"),
        "{e}"
    );
    let e = check(&[vec![1, 8, 8, 16], vec![1, 8, 8, 32]])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("KEYPOINTS.names") && e.contains("16 heatmap channels"),
        "{e}"
    );
    let e = check(&[vec![1, 8, 8], vec![1, 8, 8, 34]])
        .unwrap_err()
        .to_string();
    // data_format is not written in this file: the field is named, at its section's line.
    assert!(
        e.contains("meta.yaml:8:3: POST_PROCESSOR.HeatmapOffsetToJoints.data_format"),
        "{e}"
    );
    assert!(e.contains("not a batch-1 NHWC tensor"), "{e}");
    let e = check(&[vec![1, 8, 8, 17]]).unwrap_err().to_string();
    assert!(
        e.contains("1 outputs, HeatmapOffsetToJoints needs 2"),
        "{e}"
    );
    // Non-dividing strides round up, as PoseNet does: 385 at 16 → 25 cells.
    let m = parse(&text.replace("- 32\n", "- 33\n")).unwrap();
    let PostProcessor::HeatmapOffsetToJoints(p) = &m.post else {
        unreachable!()
    };
    check_outputs(&m, p, &[vec![1, 9, 9, 17], vec![1, 9, 9, 34]], model).unwrap();
}

#[test]
fn offsets_output_is_checked_against_the_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("colour_blocks.onnx"),
        dir.path().join("colour_blocks.onnx"),
    )
    .unwrap();
    let load = |text: &str| {
        let meta_path = write_meta(dir.path(), "meta.yaml", text);
        let meta = Meta::load(&meta_path).unwrap();
        lm::model::Model::load(
            &dir.path().join("colour_blocks.onnx"),
            &meta,
            &lm::model::LoadOptions::default(),
        )
    };
    // A tensor the model does not have.
    let text = offset_meta("    offsets_output: nope\n");
    let e = format!("{:#}", load(&text).unwrap_err());
    let line = line_of(&text, "offsets_output");
    assert!(
        e.contains(&format!(
            "meta.yaml:{line}:5: POST_PROCESSOR.HeatmapOffsetToJoints.offsets_output"
        )),
        "{e}"
    );
    assert!(e.contains("\"nope\"") && e.contains("heatmaps"), "{e}");
    // The model's one output (17 channels) taken as offsets: not 2 × 17.
    let text = offset_meta("    offsets_output: heatmaps\n");
    let e = format!("{:#}", load(&text).unwrap_err());
    assert!(e.contains(&format!("meta.yaml:{line}:5:")), "{e}");
    assert!(e.contains("17 channels") && e.contains("2 × 17"), "{e}");
}

/// [`small_meta`] (32×32) with `post` as the post-processor and `names`
/// as KEYPOINTS.names.
fn head_meta(post: &str, names: usize) -> String {
    let names: Vec<String> = (0..names).map(|i| format!("j{i}")).collect();
    small_meta("colour_blocks.onnx", 0.1).replace(
        "- GaussianHeatmapToJoints:\n    confidence_threshold: 0.1\n    num_dimensions: 2\n    stride: 4\n",
        post,
    ) + &format!("KEYPOINTS:\n  names: [{}]\n", names.join(", "))
}

#[test]
fn coordinate_regression_parses_with_defaults_and_options() {
    use lm::config::PostProcessor;
    use lm::postprocess::coordinate_regression_to_joints::Component;
    let m = parse(&head_meta("- CoordinateRegressionToJoints: {}\n", 24)).unwrap();
    let PostProcessor::CoordinateRegressionToJoints(p) = &m.post else {
        panic!("{:?}", m.post)
    };
    assert_eq!(p.components, vec![Component::x, Component::y]);
    assert!(!p.planar && p.normalized && !p.sigmoid && !p.score_sigmoid);
    assert_eq!(p.confidence_threshold, None);
    let m = parse(&head_meta(
        "- CoordinateRegressionToJoints:\n    components: [y, x, score]\n    planar: true\n    normalized: false\n    sigmoid: true\n    score_sigmoid: true\n    confidence_threshold: 0.4\n",
        3,
    ))
    .unwrap();
    let PostProcessor::CoordinateRegressionToJoints(p) = &m.post else {
        unreachable!()
    };
    assert_eq!(
        p.components,
        vec![Component::y, Component::x, Component::score]
    );
    assert!(p.planar && !p.normalized && p.sigmoid && p.score_sigmoid);
    assert_eq!(p.confidence_threshold, Some(0.4));
}

#[test]
fn bad_coordinate_regression_attributes_name_their_line() {
    let case = |attrs: &str, key: &str, words: &[&str]| {
        let text = head_meta(&format!("- CoordinateRegressionToJoints:\n{attrs}"), 4);
        let e = err(&text);
        let line = line_of(&text, key);
        assert!(e.contains(&format!("meta.yaml:{line}:")), "{key}: {e}");
        for w in words {
            assert!(e.contains(w), "{key}: no {w:?} in {e}");
        }
    };
    case(
        "    components: [x, x]\n",
        "components",
        &["x and y once each"],
    );
    case("    components: [x, y, z]\n", "components", &["z", "score"]);
    case(
        "    components: [x, y, score]\n",
        "components",
        &["needs `confidence_threshold`"],
    );
    case(
        "    confidence_threshold: 0.5\n",
        "confidence_threshold",
        &["needs a `score`"],
    );
    case(
        "    components: [x, y, score]\n    score_sigmoid: true\n    confidence_threshold: 2\n",
        "confidence_threshold",
        &["0..=1"],
    );
    case(
        "    score_sigmoid: true\n",
        "score_sigmoid",
        &["no `score`"],
    );
    case("    planr: true\n", "planr", &["unknown field", "planar"]);
}

#[test]
fn coordinate_regression_output_is_checked_against_the_joints() {
    use lm::config::PostProcessor;
    use lm::postprocess::coordinate_regression_to_joints::check_outputs;
    let text = head_meta(
        "- CoordinateRegressionToJoints:\n    components: [x, y, score]\n    confidence_threshold: 0.5\n",
        24,
    );
    let m = parse(&text).unwrap();
    let PostProcessor::CoordinateRegressionToJoints(p) = &m.post else {
        unreachable!()
    };
    let model = std::path::Path::new("m.onnx");
    for ok in [vec![1, 72], vec![1, 1, 1, 72], vec![1, 72, 1, 1], vec![72]] {
        check_outputs(&m, p, std::slice::from_ref(&ok), model)
            .unwrap_or_else(|e| panic!("{ok:?}: {e}"));
    }
    let at = format!("meta.yaml:{}:5:", line_of(&text, "components"));
    let e = check_outputs(&m, p, &[vec![1, 1, 1, 48]], model)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&at), "{e}");
    assert!(
        e.contains("48 values per image") && e.contains("24 joints") && e.contains("need 72"),
        "{e}"
    );
    let e = check_outputs(&m, p, &[vec![2, 72]], model)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&at) && e.contains("batch 1"), "{e}");
    // Without `components:` in the file, the post-processor's line is named.
    let text = head_meta("- CoordinateRegressionToJoints: {}\n", 24);
    let m = parse(&text).unwrap();
    let PostProcessor::CoordinateRegressionToJoints(p) = &m.post else {
        unreachable!()
    };
    let e = check_outputs(&m, p, &[vec![1, 50]], model)
        .unwrap_err()
        .to_string();
    let line = line_of(&text, "CoordinateRegressionToJoints");
    assert!(
        e.contains(&format!(
            "meta.yaml:{line}:3: POST_PROCESSOR.CoordinateRegressionToJoints:"
        )),
        "{e}"
    );
}

#[test]
fn grid_detector_parses_with_defaults_and_options() {
    use lm::config::PostProcessor;
    use lm::postprocess::grid_offset_to_points::{
        AxisOrder, GridChannels, OffsetOrigin, OffsetUnit, ScoreActivation,
    };
    let m = parse(&head_meta(
        "- GridOffsetToPoints:\n    confidence_threshold: 0.5\n    stride: 4\n",
        3,
    ))
    .unwrap();
    let PostProcessor::GridOffsetToPoints(p) = &m.post else {
        panic!("{:?}", m.post)
    };
    assert_eq!(p.nms_distance(), 4.0, "default: one cell");
    assert_eq!(p.channels, GridChannels::offsets_first);
    assert_eq!(p.offset_order, AxisOrder::xy);
    assert_eq!(p.offset_unit, OffsetUnit::cell);
    assert_eq!(p.offset_origin, OffsetOrigin::corner);
    assert_eq!(p.score_activation, ScoreActivation::none);
    assert!(!p.background);
    assert_eq!(p.data_format, DataFormat::NHWC);
    let m = parse(&head_meta(
        "- GridOffsetToPoints:\n    confidence_threshold: 0.5\n    stride: 4\n    nms_distance: 6.5\n    channels: offsets_last\n    offset_order: yx\n    offset_unit: pixel\n    offset_origin: center\n    score_activation: softmax\n    background: true\n    data_format: NCHW\n",
        3,
    ))
    .unwrap();
    let PostProcessor::GridOffsetToPoints(p) = &m.post else {
        unreachable!()
    };
    assert_eq!(p.nms_distance(), 6.5);
    assert_eq!(
        (p.channels, p.offset_order, p.offset_unit, p.offset_origin),
        (
            GridChannels::offsets_last,
            AxisOrder::yx,
            OffsetUnit::pixel,
            OffsetOrigin::center
        )
    );
    assert!(p.background && p.score_activation == ScoreActivation::softmax);
}

#[test]
fn bad_grid_attributes_name_their_line() {
    let case = |attrs: &str, key: &str, words: &[&str]| {
        let text = head_meta(&format!("- GridOffsetToPoints:\n{attrs}"), 3);
        let e = err(&text);
        let line = line_of(&text, key);
        assert!(e.contains(&format!("meta.yaml:{line}:")), "{key}: {e}");
        for w in words {
            assert!(e.contains(w), "{key}: no {w:?} in {e}");
        }
    };
    case(
        "    confidence_threshold: 1.5\n    stride: 4\n    score_activation: sigmoid\n",
        "confidence_threshold",
        &["0..=1", "sigmoid"],
    );
    case(
        "    confidence_threshold: 0.5\n    stride: 0\n",
        "stride",
        &["positive"],
    );
    case(
        "    confidence_threshold: 0.5\n    stride: 4\n    nms_distance: -1\n",
        "nms_distance",
        &["≥ 0"],
    );
    case(
        "    confidence_threshold: 0.5\n    stride: 4\n    background: true\n",
        "background",
        &["softmax"],
    );
    case(
        "    confidence_threshold: 0.5\n    stride: 4\n    offset_unit: meter\n",
        "offset_unit",
        &["meter", "cell", "pixel"],
    );
    // A required attribute missing: the entry is named.
    let text = head_meta("- GridOffsetToPoints:\n    confidence_threshold: 0.5\n", 3);
    let e = err(&text);
    assert!(
        e.contains("stride") && e.starts_with("/some/dir/meta.yaml:"),
        "{e}"
    );
}

#[test]
fn grid_output_is_checked_against_the_meta() {
    use lm::config::PostProcessor;
    use lm::postprocess::grid_offset_to_points::check_outputs;
    let text = head_meta(
        "- GridOffsetToPoints:\n    confidence_threshold: 0.5\n    stride: 4\n",
        3,
    );
    let m = parse(&text).unwrap();
    let PostProcessor::GridOffsetToPoints(p) = &m.post else {
        unreachable!()
    };
    let model = std::path::Path::new("m.onnx");
    // 32×32 at stride 4: 8×8 cells, 2 offsets + 3 classes.
    check_outputs(&m, p, &[vec![1, 8, 8, 5]], model).unwrap();
    let e = check_outputs(&m, p, &[vec![1, 8, 8, 6]], model)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "meta.yaml:{}:3: KEYPOINTS.names",
            line_of(&text, "names:")
        )) && e.contains("2 offsets + 3 scores = 5 channels")
            && e.contains("outputs 6"),
        "{e}"
    );
    let e = check_outputs(&m, p, &[vec![1, 4, 4, 5]], model)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("meta.yaml:{}:5:", line_of(&text, "stride")))
            && e.contains("8×8 cells"),
        "{e}"
    );
    let e = check_outputs(&m, p, &[vec![1, 8, 8]], model)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("POST_PROCESSOR.GridOffsetToPoints.data_format") && e.contains("batch-1 NHWC"),
        "{e}"
    );
    // With a background channel: 6 channels, and the message says so.
    let text = head_meta(
        "- GridOffsetToPoints:\n    confidence_threshold: 0.5\n    stride: 4\n    score_activation: softmax\n    background: true\n    data_format: NCHW\n",
        3,
    );
    let m = parse(&text).unwrap();
    let PostProcessor::GridOffsetToPoints(p) = &m.post else {
        unreachable!()
    };
    check_outputs(&m, p, &[vec![1, 6, 8, 8]], model).unwrap();
    let e = check_outputs(&m, p, &[vec![1, 5, 8, 8]], model)
        .unwrap_err()
        .to_string();
    assert!(e.contains("+ 1 background = 6 channels"), "{e}");
    // 1920×320 at 32 px: 60×10 cells (the seed).
    let big = parse(
        &text
            .replace("- 32\n- 32\nPOST", "- 320\n- 1920\nPOST")
            .replace("    - 32\n    - 32\n", "    - 320\n    - 1920\n"),
    )
    .unwrap();
    let PostProcessor::GridOffsetToPoints(p) = &big.post else {
        unreachable!()
    };
    let mut p = p.clone();
    p.stride = 32;
    check_outputs(&big, &p, &[vec![1, 6, 10, 60]], model).unwrap();
}

#[test]
fn hourglass_stack_is_checked_against_the_model_outputs() {
    use lm::config::PostProcessor;
    use lm::postprocess::gaussian_heatmap_to_joints::check_outputs;
    let text = small_meta("m.onnx", 0.1).replace(
        "    stride: 4\n",
        "    stride: 4\n    data_format: NCHW\n    stack: -1\n",
    );
    let m = parse(&text).unwrap();
    let PostProcessor::GaussianHeatmapToJoints(p) = &m.post else {
        unreachable!()
    };
    assert_eq!(p.stack, Some(-1));
    let model = std::path::Path::new("m.onnx");
    let hm = vec![1, 17, 8, 8];
    // One output per stack: -1 is the last.
    let (i, shape) = check_outputs(&m, p, &[hm.clone(), hm.clone(), hm.clone()], model).unwrap();
    assert_eq!((i, shape), (2, hm.clone()));
    // One 5-D output [1, stacks, J, H, W]: the stack's slice.
    let (i, shape) = check_outputs(&m, p, &[vec![1, 4, 17, 8, 8]], model).unwrap();
    assert_eq!((i, shape), (0, hm.clone()));
    let at = format!(
        "meta.yaml:{}:5: POST_PROCESSOR.GaussianHeatmapToJoints.stack",
        line_of(&text, "stack:")
    );
    let with = |stack: &str| {
        let t = text.replace("stack: -1", stack);
        let m = parse(&t).unwrap();
        let PostProcessor::GaussianHeatmapToJoints(p) = &m.post else {
            unreachable!()
        };
        (m.clone(), p.clone())
    };
    let (m2, p2) = with("stack: 3");
    let e = check_outputs(&m2, &p2, &[hm.clone(), hm.clone(), hm.clone()], model)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&at) && e.contains("3 is not one of the 3 outputs") && e.contains("-3..=2"),
        "{e}"
    );
    let (m2, p2) = with("stack: -5");
    let e = check_outputs(&m2, &p2, &[vec![1, 4, 17, 8, 8]], model)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&at) && e.contains("-5 is not one of the 4 stacks"),
        "{e}"
    );
    // A single 4-D output has no stack to choose.
    let e = check_outputs(&m, p, std::slice::from_ref(&hm), model)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&at) && e.contains("no stack to choose"), "{e}");
    // The chosen stack is then checked like any heatmap: 16 channels for 17 names.
    let e = check_outputs(&m, p, &[vec![1, 2, 16, 8, 8]], model)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("KEYPOINTS.names") && e.contains("16 heatmap channels"),
        "{e}"
    );
    // Without `stack`, Blueoil's behaviour: the (only) output, 4-D.
    let plain = parse(&small_meta("m.onnx", 0.1)).unwrap();
    let PostProcessor::GaussianHeatmapToJoints(p) = &plain.post else {
        unreachable!()
    };
    assert_eq!(p.stack, None);
    let e = check_outputs(&plain, p, &[vec![1, 2, 8, 8, 17]], model)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a batch-1 NHWC tensor"), "{e}");
}

#[test]
fn temporal_section_is_off_by_default_and_on_when_present() {
    let m = parse(BLUEOIL_META).unwrap();
    assert_eq!(m.temporal, lm::config::TemporalSection::default());
    assert!(m.temporal.smoothing.is_none() && m.temporal.crop.is_none());
    // A key alone (null) or an empty map turns its filter on with the defaults.
    let m = parse(&format!(
        "{BLUEOIL_META}TEMPORAL:\n  smoothing:\n  crop: {{}}\n"
    ))
    .unwrap();
    assert_eq!(m.temporal.smoothing, Some(lm::config::Smoothing::default()));
    assert_eq!(m.temporal.crop, Some(lm::config::Crop::default()));
    let m = parse(&format!(
        "{BLUEOIL_META}TEMPORAL:\n  smoothing:\n    min_cutoff: 0.5\n    beta: 0\n  crop:\n    margin: 0.5\n    torso: [left_shoulder, right_shoulder]\n    min_torso_joints: 1\n"
    ))
    .unwrap();
    let s = m.temporal.smoothing.clone().unwrap();
    assert_eq!((s.min_cutoff, s.beta, s.d_cutoff), (0.5, 0.0, 1.0));
    let c = m.temporal.crop.clone().unwrap();
    assert_eq!((c.margin, c.torso.len(), c.min_torso_joints), (0.5, 2, 1));
    assert_eq!(m.confidence_threshold(), 0.1);
}

#[test]
fn bad_temporal_values_are_located() {
    // BLUEOIL_META has 26 lines: TEMPORAL starts on line 27.
    let t = |body: &str| err(&format!("{BLUEOIL_META}TEMPORAL:\n{body}"));
    let e = t("  smoothing:\n    beta: -1\n");
    assert!(
        e.contains("meta.yaml:29:") && e.contains("TEMPORAL.smoothing.beta") && e.contains("-1"),
        "{e}"
    );
    let e = t("  smoothing:\n    min_cutoff: 0\n");
    assert!(
        e.contains("meta.yaml:29:") && e.contains("min_cutoff"),
        "{e}"
    );
    let e = t("  smoothing:\n    min_cutof: 1\n");
    assert!(
        e.contains("meta.yaml:29:") && e.contains("min_cutof"),
        "{e}"
    );
    let e = t("  crop:\n    margin: .nan\n");
    assert!(
        e.contains("meta.yaml:29:") && e.contains("TEMPORAL.crop.margin"),
        "{e}"
    );
    let e = t("  crop:\n    torso: [left_shoulder, belly]\n");
    assert!(
        e.contains("meta.yaml:29:") && e.contains("\"belly\" is not a joint name"),
        "{e}"
    );
    let e = t("  crop:\n    torso: [nose]\n    min_torso_joints: 2\n");
    assert!(
        e.contains("meta.yaml:30:") && e.contains("outside 1..=1"),
        "{e}"
    );
    // Default torso names missing from custom KEYPOINTS: located at `crop:`.
    let text = format!("{BLUEOIL_META}KEYPOINTS:\n  names: [a, b]\nTEMPORAL:\n  crop:\n")
        .replace("num_joints: 17", "num_joints: 2");
    let e = err(&text);
    assert!(
        e.contains("meta.yaml:30:") && e.contains("\"left_shoulder\" is not a joint name"),
        "{e}"
    );
    let e = t("  smooth: {}\n");
    assert!(e.contains("meta.yaml:28:") && e.contains("smooth"), "{e}");
}
