//! The `lm` binary: exit codes and one-line errors for bad input.

use crate::common::*;
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
    // A half-written JPEG (a camera tool still writing it) is an error, not a grey picture.
    let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8, 50]));
    let mut jpeg = vec![];
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    std::fs::write(dir.path().join("half.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    let o = lm(&["run", "-i", "half.jpg", "-c", "meta.yaml"], dir.path());
    assert_fails(&o, &["half.jpg", "truncated JPEG"]);
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
    // A meta.yaml copied elsewhere: the path is relative to its folder, resolved in the error.
    let sub = dir.path().join("copies");
    std::fs::create_dir(&sub).unwrap();
    write_meta(&sub, "meta.yaml", &small_meta("../models/m.onnx", 0.1));
    let o = lm(
        &["run", "-i", "ok.png", "-c", "copies/meta.yaml"],
        dir.path(),
    );
    let resolved = std::fs::canonicalize(dir.path())
        .unwrap()
        .join("models/m.onnx");
    let resolved = resolved.to_str().unwrap();
    assert_fails(
        &o,
        &[
            "MODEL.file",
            "relative to the folder of this meta.yaml",
            resolved,
        ],
    );
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
fn bench_with_two_threads_reports_the_stalls() {
    let args = |threads: &'static str| {
        [
            "bench",
            "-c",
            "meta/lm_single_pose_v1_quantize.yaml",
            "-n",
            "3",
            "--profile-runs",
            "1",
            "--backend",
            "cpu",
            "--threads",
            threads,
        ]
    };
    let o = lm(&args("2"), &repo());
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    let line = s
        .lines()
        .find(|l| l.starts_with("threads    2: "))
        .unwrap_or_else(|| panic!("no threads line in\n{s}"));
    assert!(line.contains("stall(s) of over 1000 µs"), "{line}");
    let o = lm(&args("1"), &repo());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("stall(s)"));
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

#[test]
fn default_model_reports_nobody_on_blank_frames() {
    // A covered lens, a dark room, a blank wall: no joint is visible at the shipped
    // confidence_threshold (the models before 2026-12-07 drew all 17 joints on a black frame).
    let dir = tempfile::tempdir().unwrap();
    let frames = [("black.png", 0u8), ("grey.png", 128), ("white.png", 255)];
    for (name, v) in frames {
        image::RgbImage::from_pixel(320, 240, image::Rgb([v, v, v]))
            .save(dir.path().join(name))
            .unwrap();
    }
    let meta = repo().join("meta/lm_single_pose_v1_quantize.yaml");
    let mut args = vec!["run", "-i"];
    args.extend(frames.iter().map(|f| f.0));
    args.extend(["-c", meta.to_str().unwrap(), "-o", "out"]);
    let o = lm(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = output_json(&dir.path().join("out/output.json"));
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), frames.len());
    for r in results {
        let seen: Vec<&str> = r["prediction"]["keypoints"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["visible"] == true)
            .map(|k| k["name"].as_str().unwrap())
            .collect();
        assert!(
            seen.is_empty(),
            "{}: {seen:?} reported visible",
            r["file_path"]
        );
    }
}

#[test]
fn default_model_refines_joints_within_a_quarter_cell() {
    // The shipped meta sets `subpixel: true`: against the same meta without it, every
    // joint of astronaut.png (512 px → 160 px input, stride 8: a cell is 25.6 px) moves
    // by 0 or a quarter cell (6.4 px) on each axis, and some do move.
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(repo().join("meta/lm_single_pose_v1_quantize.yaml")).unwrap();
    assert!(shipped.contains("    subpixel: true\n"), "{shipped}");
    let model = repo().join("models/lm_single_pose_v1_quantize.onnx");
    let local = shipped.replace(
        "../models/lm_single_pose_v1_quantize.onnx",
        model.to_str().unwrap(),
    );
    std::fs::write(dir.path().join("refined.yaml"), &local).unwrap();
    std::fs::write(
        dir.path().join("cells.yaml"),
        local.replace("    subpixel: true\n", ""),
    )
    .unwrap();
    let image = repo().join("tests/images/astronaut.png");
    let joints = |meta: &str| {
        let out_dir = format!("out_{meta}");
        let o = lm(
            &[
                "run",
                "-i",
                image.to_str().unwrap(),
                "-c",
                meta,
                "-o",
                &out_dir,
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let out = output_json(&dir.path().join(out_dir).join("output.json"));
        out["results"][0]["prediction"]["keypoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["x"].as_f64().unwrap(), k["y"].as_f64().unwrap()))
            .collect::<Vec<_>>()
    };
    let (refined, cells) = (joints("refined.yaml"), joints("cells.yaml"));
    assert_eq!(refined.len(), 17);
    let quarter = 512.0 / 160.0 * 8.0 / 4.0;
    let mut moved = 0;
    for (r, c) in refined.iter().zip(&cells) {
        for d in [r.0 - c.0, r.1 - c.1] {
            assert!(
                d.abs() < 1e-3 || (d.abs() - quarter).abs() < 1e-3,
                "{r:?} vs {c:?}"
            );
            moved += (d.abs() > 1e-3) as usize;
        }
    }
    assert!(moved > 0, "no joint moved: {refined:?}");
}

fn output_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn bad_images_in_a_batch_are_reported_and_the_good_results_kept() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    std::fs::copy(dir.path().join("ok.png"), dir.path().join("ok2.png")).unwrap();
    std::fs::write(dir.path().join("broken.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let o = lm(
        &[
            "run",
            "-i",
            "ok.png",
            "broken.png",
            "missing.png",
            "ok2.png",
            "-c",
            "meta.yaml",
            "-o",
            "out",
        ],
        dir.path(),
    );
    assert_fails(
        &o,
        &[
            "2 of 4 image(s) failed: broken.png, missing.png",
            "out/output.json",
            "cannot decode image broken.png",
            "cannot open image missing.png",
        ],
    );
    // The good images' results and overlays were written.
    let json = output_json(&dir.path().join("out/output.json"));
    let results = json["results"].as_array().unwrap();
    let files: Vec<&str> = results
        .iter()
        .map(|r| r["file_path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["ok.png", "broken.png", "missing.png", "ok2.png"]);
    for good in [&results[0], &results[3]] {
        assert_eq!(
            good["prediction"]["joints"].as_array().unwrap().len(),
            3 * 17
        );
        assert!(good.get("error").is_none(), "{good}");
    }
    // Both good images are the same picture: the same answer.
    assert_eq!(results[0]["prediction"], results[3]["prediction"]);
    for (bad, needle) in [(&results[1], "decode"), (&results[2], "open")] {
        assert!(bad.get("prediction").is_none(), "{bad}");
        let e = bad["error"].as_str().unwrap();
        assert!(
            e.contains(needle) && e.contains(bad["file_path"].as_str().unwrap()),
            "{e}"
        );
    }
    assert!(json["benchmark"]["run"]["mean"].as_f64().unwrap() > 0.0);
    assert!(dir.path().join("out/images/ok.png").exists());
    assert!(dir.path().join("out/images/ok2.png").exists());
    assert!(!dir.path().join("out/images/broken.png").exists());
    // stdout still has the summary of the run.
    assert!(String::from_utf8_lossy(&o.stdout).contains("4 image(s)"));
}

#[test]
fn an_overlay_that_cannot_be_written_fails_its_image_and_keeps_its_pose() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    std::fs::copy(dir.path().join("ok.png"), dir.path().join("ok2.png")).unwrap();
    // A folder where ok2's overlay goes: the rename onto it fails, as on a full disk.
    std::fs::create_dir_all(dir.path().join("out/images/ok2.png/x")).unwrap();
    let o = lm(
        &[
            "run",
            "-i",
            "ok.png",
            "ok2.png",
            "-c",
            "meta.yaml",
            "-o",
            "out",
        ],
        dir.path(),
    );
    assert_fails(
        &o,
        &[
            "1 of 2 image(s) failed: ok2.png",
            "cannot write out/images/ok2.png",
        ],
    );
    let json = output_json(&dir.path().join("out/output.json"));
    let results = json["results"].as_array().unwrap();
    assert!(results[0].get("error").is_none(), "{}", results[0]);
    // The pose of the image whose overlay failed is kept, beside the error.
    assert_eq!(results[1]["prediction"], results[0]["prediction"]);
    let e = results[1]["error"].as_str().unwrap();
    assert!(
        e.starts_with("ok2.png: cannot write out/images/ok2.png"),
        "{e}"
    );
    assert!(dir.path().join("out/images/ok.png").is_file());
}

#[test]
fn a_batch_of_only_good_images_has_no_error_field() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    let o = lm(
        &["run", "-i", "ok.png", "-c", "meta.yaml", "-o", "out"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("out/output.json")).unwrap();
    assert!(!text.contains("\"error\""), "{text}");
}

#[test]
fn a_capture_loop_goes_on_past_bad_images_and_fails_at_the_end() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    std::fs::write(dir.path().join("broken.png"), b"not an image").unwrap();
    let o = lm(
        &[
            "run",
            "-i",
            "ok.png",
            "broken.png",
            "-c",
            "meta.yaml",
            "-o",
            "out",
            "--captures",
            "2",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.matches("2 image(s)").count(), 2, "{stdout}");
    let e = stderr(&o);
    let last = e.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("error: 1 of 2 image(s) failed: broken.png"),
        "{e}"
    );
    let json = output_json(&dir.path().join("out/output.json"));
    assert!(json["results"][0]["prediction"].is_object());
    assert!(json["results"][1]["error"].is_string());
}

#[test]
fn an_unwritable_output_folder_stops_the_run() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    // A file where the output folder should be.
    let o = lm(
        &["run", "-i", "ok.png", "-c", "meta.yaml", "-o", "ok.png/out"],
        dir.path(),
    );
    assert_fails(&o, &["cannot create output folder", "ok.png/out"]);
}

/// CRC-32 (IEEE) of PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG chunk: length, type and data, CRC.
fn png_chunk(png: &mut Vec<u8>, kind_and_data: &[u8]) {
    png.extend((kind_and_data.len() as u32 - 4).to_be_bytes());
    png.extend(kind_and_data);
    png.extend(crc32(kind_and_data).to_be_bytes());
}

/// A valid PNG header for a `w × h` 8-bit RGB image, followed by a few bytes of pixel data
/// (an empty zlib stream) instead of the `w × h × 3` the header announces.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, &ihdr);
    png_chunk(&mut png, b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01");
    png_chunk(&mut png, b"IEND");
    png
}

#[test]
fn a_huge_image_header_is_refused_before_allocating() {
    assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    std::fs::write(dir.path().join("huge.png"), png_header(100_000, 100_000)).unwrap();
    std::fs::write(dir.path().join("wide.png"), png_header(20_000, 1)).unwrap();
    let o = lm(
        &[
            "run",
            "-i",
            "huge.png",
            "wide.png",
            "ok.png",
            "-c",
            "meta.yaml",
            "-o",
            "out",
        ],
        dir.path(),
    );
    assert_fails(
        &o,
        &[
            "2 of 3 image(s) failed",
            "image huge.png is 100000×100000 pixels (28611 MiB decoded)",
            "image wide.png is 20000×1 pixels",
            "at most 16384×16384 pixels and 256 MiB",
        ],
    );
    let json = output_json(&dir.path().join("out/output.json"));
    assert!(json["results"][2]["prediction"].is_object());
}

#[test]
fn log_lines_to_a_pipe_carry_no_colour_codes() {
    // `--backend auto` without an accelerator warns and goes on: one log line on stderr, which
    // here is a pipe (as for journald or a log file).
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
            "--backend",
            "auto",
            "--fpga-device",
            "uio:/nonexistent/uio9",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("no FPGA") && e.contains("WARN"), "{e}");
    assert!(!e.contains('\u{1b}'), "ANSI escape in {e:?}");
}

#[test]
fn an_unavailable_kernel_is_named_with_the_available_ones_as_typed() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    let missing = if cfg!(target_arch = "x86_64") {
        "neon"
    } else {
        "avx2"
    };
    let o = lm(
        &[
            "run",
            "-i",
            "ok.png",
            "-c",
            "meta.yaml",
            "--kernel",
            missing,
        ],
        dir.path(),
    );
    assert_fails(&o, &[missing, "available: reference, portable"]);
}

#[test]
fn overlays_never_overwrite_each_other_and_output_json_names_them() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    let p = dir.path();
    let img = |r: u8| image::RgbImage::from_fn(40, 30, |_, _| image::Rgb([r, 0, 0]));
    std::fs::create_dir_all(p.join("a")).unwrap();
    std::fs::create_dir_all(p.join("b")).unwrap();
    img(10).save(p.join("a/x.png")).unwrap();
    img(20).save(p.join("a/x.jpg")).unwrap();
    img(30).save(p.join("b/x.png")).unwrap();
    let o = lm(
        &[
            "run",
            "-i",
            "a/x.png",
            "a/x.jpg",
            "b/x.png",
            "-c",
            "meta.yaml",
            "-o",
            "out",
        ],
        p,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json = output_json(&p.join("out/output.json"));
    let names: Vec<&str> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["overlay"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["images/x.png", "images/x_jpg.png", "images/x_png.png"]
    );
    for n in &names {
        assert!(p.join("out").join(n).is_file(), "{n}");
    }
}

#[test]
fn a_folder_or_a_quoted_pattern_is_run_in_name_order_and_no_overlay_writes_none() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    let p = dir.path();
    std::fs::create_dir_all(p.join("shots")).unwrap();
    for n in ["c.png", "a.png", "b.jpg"] {
        image::RgbImage::from_fn(40, 30, |_, _| image::Rgb([200, 0, 0]))
            .save(p.join("shots").join(n))
            .unwrap();
    }
    std::fs::write(p.join("shots/notes.txt"), "not an image").unwrap();
    let files = |json: &serde_json::Value| -> Vec<String> {
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["file_path"].as_str().unwrap().replace('\\', "/"))
            .collect()
    };
    let o = lm(&["run", "-i", "shots", "-c", "meta.yaml", "-o", "dir"], p);
    assert!(o.status.success(), "{}", stderr(&o));
    let json = output_json(&p.join("dir/output.json"));
    assert_eq!(files(&json), ["shots/a.png", "shots/b.jpg", "shots/c.png"]);
    let o = lm(
        &[
            "run",
            "-i",
            "shots/*.png",
            "-c",
            "meta.yaml",
            "-o",
            "glob",
            "--no-overlay",
        ],
        p,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json = output_json(&p.join("glob/output.json"));
    assert_eq!(files(&json), ["shots/a.png", "shots/c.png"]);
    assert!(json["results"][0].get("overlay").is_none());
    assert!(
        !p.join("glob/images").exists(),
        "--no-overlay wrote overlays"
    );
    let o = lm(&["run", "-i", "shots/*.bmp", "-c", "meta.yaml"], p);
    assert_fails(&o, &["shots/*.bmp", "no images"]);
}

#[test]
fn a_batch_reports_its_progress_on_stderr() {
    let dir = setup(&small_meta("colour_blocks.onnx", 0.1));
    let o = lm(
        &[
            "run",
            "-i",
            "ok.png",
            "ok.png",
            "ok.png",
            "-c",
            "meta.yaml",
            "--progress",
            "0.000001",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("lm run: 1 of 3 images") && e.contains("lm run: 2 of 3 images"),
        "{e}"
    );
    let quiet = lm(
        &[
            "run",
            "-i",
            "ok.png",
            "ok.png",
            "-c",
            "meta.yaml",
            "--progress",
            "0",
        ],
        dir.path(),
    );
    assert!(!stderr(&quiet).contains("lm run:"), "{}", stderr(&quiet));
}
