//! The `lm` binary: exit codes and one-line errors for bad input.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn lm(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lm"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn setup(meta_text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("colour_blocks.onnx"),
        dir.path().join("colour_blocks.onnx"),
    )
    .unwrap();
    write_meta(dir.path(), "meta.yaml", meta_text);
    let img = image::RgbImage::from_fn(40, 30, |x, _| image::Rgb([x as u8 * 6, 0, 0]));
    img.save(dir.path().join("ok.png")).unwrap();
    dir
}

/// Fails with exit code != 0 and a single stderr line containing every `needle`.
fn assert_fails(o: &Output, needles: &[&str]) {
    assert!(
        !o.status.success(),
        "should fail; stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = stderr(o);
    assert_eq!(e.trim_end().lines().count(), 1, "not one line: {e}");
    for n in needles {
        assert!(e.contains(n), "{n:?} not in {e}");
    }
}

#[test]
fn run_succeeds_and_writes_outputs() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    let o = lm(
        &[
            "run",
            "-i",
            "ok.png",
            "-c",
            "meta.yaml",
            "-o",
            "out",
            "--trial",
            "2",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("out/output.json").exists());
    assert!(dir.path().join("out/images/ok.png").exists());
}

#[test]
fn corrupt_image_is_a_clear_error() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    std::fs::write(
        dir.path().join("bad.png"),
        b"\x89PNG\r\n\x1a\nthis is not a png",
    )
    .unwrap();
    let o = lm(&["run", "-i", "bad.png", "-c", "meta.yaml"], dir.path());
    assert_fails(&o, &["bad.png", "decode"]);
    let o = lm(&["run", "-i", "missing.jpg", "-c", "meta.yaml"], dir.path());
    assert_fails(&o, &["missing.jpg"]);
}

#[test]
fn bad_meta_is_a_clear_error() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1).replace("stride: 4", "strides: 4"));
    let o = lm(&["run", "-i", "ok.png", "-c", "meta.yaml"], dir.path());
    assert_fails(&o, &["meta.yaml:", "strides"]);
}

#[test]
fn model_shape_disagreeing_with_meta_is_a_clear_error() {
    // IMAGE_SIZE 64×64 but the model takes 32×32.
    let text = small_meta("colour_blocks.onnx", 0.1).replace("- 32\n", "- 64\n");
    let dir = setup(&text);
    let o = lm(&["run", "-i", "ok.png", "-c", "meta.yaml"], dir.path());
    assert_fails(&o, &["meta.yaml:", "IMAGE_SIZE", "colour_blocks.onnx"]);
    // stride 8 but the model's output stride is 4.
    let text = small_meta("colour_blocks.onnx", 0.1).replace("stride: 4", "stride: 8");
    let dir = setup(&text);
    let o = lm(&["run", "-i", "ok.png", "-c", "meta.yaml"], dir.path());
    assert_fails(&o, &["meta.yaml:", "stride", "4×4 heatmaps", "8×8"]);
}

#[test]
fn missing_model_is_a_clear_error() {
    let dir = setup(&small_meta("nowhere.onnx", 0.1));
    let o = lm(&["run", "-i", "ok.png", "-c", "meta.yaml"], dir.path());
    assert_fails(&o, &["nowhere.onnx"]);
    let text = small_meta("x.onnx", 0.1).replace("MODEL:\n  file: x.onnx\n", "");
    let dir = setup(&text);
    let o = lm(&["run", "-i", "ok.png", "-c", "meta.yaml"], dir.path());
    assert_fails(&o, &["MODEL.file", "-m"]);
}

#[test]
fn bench_prints_stages_profile_and_rss() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    let o = lm(
        &["bench", "-c", "meta.yaml", "-n", "3", "--profile-runs", "2"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "load",
        "pre",
        "run",
        "post",
        "total",
        "top nodes",
        "hm_nchw",
        "peak RSS",
    ] {
        assert!(s.contains(needle), "{needle:?} not in\n{s}");
    }
}

#[test]
fn default_model_run_reports_a_peak_heap_within_budget() {
    // The shipped model's weights are 17.8 MB of f32 (17.0 MiB): the heap must hold them
    // once while the ONNX file is decoded, and must not grow far past two copies (boards:
    // peak RSS ≤ 64 MB). 35.2 MiB when written.
    let out = tempfile::tempdir().unwrap();
    let o = lm(
        &[
            "run",
            "-i",
            "tests/images/astronaut.png",
            "-c",
            "meta/lm_single_pose_v1_quantize.yaml",
            "-o",
            out.path().to_str().unwrap(),
        ],
        &repo(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    let mib: f64 = s
        .split("peak heap ")
        .nth(1)
        .and_then(|t| t.split(" MiB").next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no peak heap in {s}"));
    assert!((17.0..=40.0).contains(&mib), "peak heap {mib} MiB");
}
