//! meta.yaml `TEMPORAL` in `lm stream`: the crop follows a moving person (a known-answer model
//! on synthetic frames, and the shipped model on frames cut from tests/images/astronaut.png),
//! falls back to the whole frame when the torso is lost, maps joints back to frame pixels and
//! finds them more precisely than the whole frame; smoothing steadies jitter.

use crate::common::*;
use image::{Rgb, RgbImage};
use lm::pipeline::Pipeline;
use lm::stream::runner::run_stream;
use lm::stream::StreamOptions;
use lm::stream::{open_source, SourceUri};
use std::path::{Path, PathBuf};

/// colour_blocks.onnx (heatmap = 10 × mean red (even joints) / green (odd joints) of each 4×4
/// block of its 32×32 input) with `temporal` appended to its meta.yaml.
fn colour_pipeline(dir: &Path, temporal: &str) -> Pipeline {
    let model = fixture("colour_blocks.onnx");
    let text = small_meta(model.to_str().unwrap(), 0.5) + temporal;
    let meta = dir.join(format!("meta{}.yaml", text.len()));
    std::fs::write(&meta, text).unwrap();
    Pipeline::load(&meta, None, &lm::model::LoadOptions::default()).unwrap()
}

/// A 512×384 frame with a "person": a 96×96 red square at (x, y) and a green one at
/// (x + 64, y + 128); `None`: an empty (black) frame.
fn person_frame(at: Option<(u32, u32)>) -> RgbImage {
    let mut img = RgbImage::new(512, 384);
    if let Some((x, y)) = at {
        for (ox, oy, c) in [(0, 0, Rgb([255, 0, 0])), (64, 128, Rgb([0, 255, 0]))] {
            for yy in y + oy..(y + oy + 96).min(384) {
                for xx in x + ox..(x + ox + 96).min(512) {
                    img.put_pixel(xx, yy, c);
                }
            }
        }
    }
    img
}

/// Streams the folder of `frames` (read as fast as inference takes them) and returns the
/// JSON Lines records.
fn stream(pipeline: &Pipeline, frames: &[RgbImage], dir: &Path) -> Vec<serde_json::Value> {
    let folder = dir.join(format!("frames{}", frames.len()));
    std::fs::create_dir_all(&folder).unwrap();
    for (i, f) in frames.iter().enumerate() {
        f.save(folder.join(format!("{i:04}.png"))).unwrap();
    }
    stream_uri(pipeline, folder.to_str().unwrap(), dir)
}

/// Streams the source `uri` names and returns the JSON Lines records.
fn stream_uri(pipeline: &Pipeline, uri: &str, dir: &Path) -> Vec<serde_json::Value> {
    let jsonl = dir.join("out.jsonl");
    let uri = SourceUri::parse(uri).unwrap();
    let opts = StreamOptions {
        source_name: uri.text.clone(),
        jsonl: Some(jsonl.clone()),
        report_every: None,
        ..Default::default()
    };
    run_stream(
        pipeline,
        open_source(&uri).unwrap(),
        &opts,
        Default::default(),
    )
    .unwrap();
    std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn joint(rec: &serde_json::Value, i: usize) -> (f64, f64, bool) {
    let k = &rec["keypoints"][i];
    (
        k["x"].as_f64().unwrap(),
        k["y"].as_f64().unwrap(),
        k["visible"].as_bool().unwrap(),
    )
}

/// Blueoil's planar list is the truncated visible keypoints (also on crops).
fn check_planar(rec: &serde_json::Value) {
    let kp = rec["keypoints"].as_array().unwrap();
    let planar = rec["joints"].as_array().unwrap();
    let n = kp.len();
    for (i, k) in kp.iter().enumerate() {
        let v = k["visible"].as_bool().unwrap();
        let want = |c: &str| if v { k[c].as_f64().unwrap() as i64 } else { 0 };
        assert_eq!(planar[i].as_i64().unwrap(), want("x"), "{rec}");
        assert_eq!(planar[n + i].as_i64().unwrap(), want("y"), "{rec}");
        assert_eq!(planar[2 * n + i].as_i64().unwrap(), v as i64, "{rec}");
    }
}

#[test]
fn crop_follows_the_person_and_falls_back_to_the_whole_frame() {
    let d = tempfile::tempdir().unwrap();
    // 16 frames moving right and down, 3 empty frames, then the person elsewhere.
    let path: Vec<Option<(u32, u32)>> = (0..16)
        .map(|i| Some((16 + 18 * i, 8 + 3 * i)))
        .chain([None, None, None])
        .chain([Some((40, 60)), Some((44, 60)), Some((48, 60))])
        .collect();
    let frames: Vec<RgbImage> = path.iter().map(|&p| person_frame(p)).collect();
    let cropped = colour_pipeline(d.path(), "TEMPORAL:\n  crop:\n    margin: 0.25\n");
    let whole = colour_pipeline(d.path(), "");
    let recs = stream(&cropped, &frames, d.path());
    let plain = stream(&whole, &frames, d.path());
    assert_eq!((recs.len(), plain.len()), (path.len(), path.len()));

    let mut errors = (0.0, 0.0);
    for (i, (rec, at)) in recs.iter().zip(&path).enumerate() {
        check_planar(rec);
        assert!(plain[i].get("crop").is_none());
        let crop = rec.get("crop");
        // The first frame, the first frame after the person was lost, and the frame where
        // it reappears are seen whole.
        let whole_frame = matches!(i, 0 | 17 | 18 | 19);
        assert_eq!(crop.is_none(), whole_frame, "frame {i}: {rec}");
        let Some((x, y)) = *at else {
            assert!((0..17).all(|j| !joint(rec, j).2), "frame {i}: {rec}");
            continue;
        };
        // Even joints: the red square's first fully red block; odd joints: the green one's.
        let (red, green) = (joint(rec, 0), joint(rec, 1));
        assert!(red.2 && green.2, "frame {i}: {rec}");
        let err = |j: (f64, f64, bool), (tx, ty): (f64, f64)| (j.0 - tx).abs() + (j.1 - ty).abs();
        let truth_red = (x as f64, y as f64);
        let truth_green = (x as f64 + 64.0, y as f64 + 128.0);
        let e = err(red, truth_red) + err(green, truth_green);
        let e_plain = err(joint(&plain[i], 0), truth_red) + err(joint(&plain[i], 1), truth_green);
        // Past the first crop (taken from the whole frame's coarse joints, which may be a
        // whole-frame block off), the crop holds the person and the joints are precise.
        let steady = i > 0 && recs[i - 1].get("crop").is_some();
        if let (Some(c), true) = (crop, steady) {
            let (cx, cy) = (c["x"].as_f64().unwrap(), c["y"].as_f64().unwrap());
            let (cw, ch) = (c["width"].as_f64().unwrap(), c["height"].as_f64().unwrap());
            // Square (the input is 32×32), inside the frame, around the person.
            assert_eq!(cw, ch, "{c}");
            assert!(cx + cw <= 512.0 && cy + ch <= 384.0, "{c}");
            for (tx, ty) in [truth_red, truth_green] {
                assert!(
                    tx >= cx && tx < cx + cw && ty >= cy && ty < cy + ch,
                    "frame {i}: {c}"
                );
            }
            // In frame pixels, within one block of the crop's network input (4 net px).
            let block = 4.0 * cw / 32.0;
            assert!(
                e <= 4.0 * block,
                "frame {i}: error {e} px, block {block}: {rec}"
            );
            errors.0 += e;
            errors.1 += e_plain;
        }
    }
    // The crop gives the network more pixels of the person: joints land closer to the truth
    // than on the whole 512×384 frame (blocks of 64×48 frame pixels).
    assert!(
        errors.0 < 0.7 * errors.1,
        "crop error {} px vs whole frame {} px",
        errors.0,
        errors.1
    );
    // The crop moved with the person.
    let xs: Vec<f64> = (1..16)
        .map(|i| recs[i]["crop"]["x"].as_f64().unwrap())
        .collect();
    assert!(xs[14] - xs[0] > 150.0, "{xs:?}");
    eprintln!(
        "crop x by frame: {xs:?}; joint error (4 coordinates, px) with crop {}, whole frame {}",
        errors.0, errors.1
    );
}

#[test]
fn smoothing_steadies_jitter_and_keeps_visibility() {
    let d = tempfile::tempdir().unwrap();
    // The person jumps between two places 64 px apart (one block of the whole frame).
    let frames: Vec<RgbImage> = (0..40)
        .map(|i| person_frame(Some((128 + 64 * (i % 2), 48))))
        .collect();
    let smooth = colour_pipeline(d.path(), "TEMPORAL:\n  smoothing:\n    beta: 0\n");
    let raw = colour_pipeline(d.path(), "");
    let recs = stream(&smooth, &frames, d.path());
    let plain = stream(&raw, &frames, d.path());
    let amplitude = |recs: &[serde_json::Value]| {
        let xs: Vec<f64> = recs[20..].iter().map(|r| joint(r, 0).0).collect();
        xs.iter().cloned().fold(f64::MIN, f64::max) - xs.iter().cloned().fold(f64::MAX, f64::min)
    };
    let (a, a_raw) = (amplitude(&recs), amplitude(&plain));
    assert!(a_raw >= 63.0, "raw jumps {a_raw} px");
    assert!(a < 0.5 * a_raw, "smoothed {a} px vs raw {a_raw} px");
    for r in &recs {
        check_planar(r);
        assert!(joint(r, 0).2 && joint(r, 1).2, "{r}");
        assert!(r.get("crop").is_none());
    }
    // The first frame passes unfiltered.
    assert_eq!(recs[0]["keypoints"], plain[0]["keypoints"]);
}

/// What `TEMPORAL` decided for each record: keypoints, Blueoil's joints, the crop.
fn poses(recs: &[serde_json::Value]) -> Vec<serde_json::Value> {
    recs.iter()
        .map(|r| serde_json::json!([r["frame"], r["keypoints"], r["joints"], r["crop"]]))
        .collect()
}

/// `frames` as a 4:4:4 Y4M file at `fps` frames a second (BT.601, full range).
fn write_y4m(path: &Path, frames: &[RgbImage], fps: u32) {
    let (w, h) = frames[0].dimensions();
    let mut out =
        format!("YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C444 XCOLORRANGE=FULL\n").into_bytes();
    for f in frames {
        out.extend_from_slice(b"FRAME\n");
        let px: Vec<[f32; 3]> = f.pixels().map(|p| p.0.map(f32::from)).collect();
        let y: Vec<f32> = px
            .iter()
            .map(|[r, g, b]| 0.299 * r + 0.587 * g + 0.114 * b)
            .collect();
        out.extend(y.iter().map(|&v| v.round().clamp(0.0, 255.0) as u8));
        for (i, scale) in [(2usize, 0.564f32), (0, 0.713)] {
            out.extend(
                px.iter()
                    .zip(&y)
                    .map(|(p, y)| (128.0 + scale * (p[i] - y)).round().clamp(0.0, 255.0) as u8),
            );
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn temporal_on_a_file_is_reproducible_however_fast_it_is_read() {
    let d = tempfile::tempdir().unwrap();
    let temporal = "TEMPORAL:\n  crop:\n    torso: [nose, left_eye]\n    min_torso_joints: 1\n  smoothing:\n    beta: 0.05\n";
    let pipeline = colour_pipeline(d.path(), temporal);
    // The person drifts with a jitter: the filters' output depends on the time between frames.
    let frames: Vec<RgbImage> = (0..12u32)
        .map(|i| person_frame(Some((96 + 12 * i + 20 * (i % 2), 48 + 3 * i))))
        .collect();
    // A folder read twice as fast as inference goes: the same poses (they ran on wall-clock
    // time before, and differed from run to run).
    let a = poses(&stream(&pipeline, &frames, d.path()));
    let b = poses(&stream(&pipeline, &frames, d.path()));
    assert_eq!(a.len(), 12);
    assert_eq!(a, b);
    // A Y4M file (4 frames a second) read unpaced and paced at its rate: the same poses.
    let y4m = d.path().join("clip.y4m");
    write_y4m(&y4m, &frames, 4);
    let unpaced = poses(&stream_uri(&pipeline, y4m.to_str().unwrap(), d.path()));
    let paced_uri = format!("{}?fps=4", y4m.display());
    let paced = poses(&stream_uri(&pipeline, &paced_uri, d.path()));
    assert_eq!(unpaced.len(), 12, "every frame of the unpaced file");
    assert_eq!(paced.len(), 12, "inference kept up with 4 frames a second");
    assert_eq!(unpaced, paced);
    // The filter did act: the smoothed poses are not the raw ones.
    let raw = colour_pipeline(d.path(), "");
    assert_ne!(poses(&stream(&raw, &frames, d.path()))[1][1], a[1][1]);
}

/// A 480×360 frame: astronaut.png scaled to 200×200 at (x, y) on a grey background.
fn astronaut_frames(path: &[(u32, u32)]) -> Vec<RgbImage> {
    let photo = lm::image_file::load_image(&repo().join("tests/images/astronaut.png")).unwrap();
    let small = image::imageops::resize(&photo, 200, 200, image::imageops::FilterType::Triangle);
    path.iter()
        .map(|&(x, y)| {
            let mut f = RgbImage::from_pixel(480, 360, Rgb([120, 120, 120]));
            image::imageops::overlay(&mut f, &small, x as i64, y as i64);
            f
        })
        .collect()
}

fn shipped_pipeline(dir: &Path, temporal: &str) -> Pipeline {
    let meta = repo().join("meta/lm_single_pose_v1_quantize.yaml");
    let text = std::fs::read_to_string(&meta).unwrap().replace(
        "../models/",
        &format!("{}/", repo().join("models").display()),
    ) + temporal;
    let path: PathBuf = dir.join(format!("shipped{}.yaml", text.len()));
    std::fs::write(&path, text).unwrap();
    Pipeline::load(&path, None, &lm::model::LoadOptions::default()).unwrap()
}

#[test]
fn crop_follows_the_astronaut_with_the_shipped_model() {
    let d = tempfile::tempdir().unwrap();
    let path: Vec<(u32, u32)> = (0..12).map(|i| (20 + 20 * i, 60 + 5 * i)).collect();
    let frames = astronaut_frames(&path);
    let p = shipped_pipeline(
        d.path(),
        "TEMPORAL:\n  crop:\n    torso: [left_shoulder, right_shoulder]\n    min_torso_joints: 2\n",
    );
    let recs = stream(&p, &frames, d.path());
    assert_eq!(recs.len(), path.len());
    let mut cropped = 0;
    for (i, (rec, &(x, y))) in recs.iter().zip(&path).enumerate() {
        check_planar(rec);
        let Some(c) = rec.get("crop") else { continue };
        cropped += 1;
        let (cx, cy) = (c["x"].as_f64().unwrap(), c["y"].as_f64().unwrap());
        let (cw, ch) = (c["width"].as_f64().unwrap(), c["height"].as_f64().unwrap());
        // The crop holds the photo's face and shoulders (its middle), wherever it moved.
        let (mx, my) = (x as f64 + 100.0, y as f64 + 100.0);
        assert!(
            mx > cx && mx < cx + cw && my > cy && my < cy + ch,
            "frame {i}: photo centre ({mx}, {my}) outside the crop {c}"
        );
        // Visible joints are in frame pixels on the photo.
        for k in rec["keypoints"].as_array().unwrap() {
            if k["visible"].as_bool().unwrap() {
                let (kx, ky) = (k["x"].as_f64().unwrap(), k["y"].as_f64().unwrap());
                assert!(
                    kx >= x as f64 - 10.0 && kx <= x as f64 + 210.0 && ky >= y as f64 - 10.0,
                    "frame {i}: {k} off the photo at ({x}, {y})"
                );
            }
        }
    }
    assert!(cropped >= path.len() - 2, "only {cropped} frames cropped");
    // It followed the photo across the frame.
    let first = recs.iter().find_map(|r| r.get("crop")).unwrap()["x"]
        .as_f64()
        .unwrap();
    let last = recs.last().unwrap()["crop"]["x"].as_f64().unwrap();
    assert!(last - first > 120.0, "crop x {first} → {last}");
    let summary: Vec<String> = recs
        .iter()
        .map(|r| {
            let visible = r["keypoints"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["visible"] == true)
                .count();
            match r.get("crop") {
                Some(c) => format!(
                    "{}: crop {}x{} at ({}, {}), {visible} joints",
                    r["frame"], c["width"], c["height"], c["x"], c["y"]
                ),
                None => format!("{}: whole frame, {visible} joints", r["frame"]),
            }
        })
        .collect();
    eprintln!("{}", summary.join("\n"));
}

#[test]
fn a_folder_sources_records_name_their_file() {
    let d = tempfile::tempdir().unwrap();
    let frames: Vec<RgbImage> = (0..3).map(|_| person_frame(Some((100, 50)))).collect();
    let recs = stream(&colour_pipeline(d.path(), ""), &frames, d.path());
    for (i, r) in recs.iter().enumerate() {
        let file = r["file"]
            .as_str()
            .unwrap_or_else(|| panic!("no file in {r}"));
        assert!(file.ends_with(&format!("{i:04}.png")), "{file}");
    }
}
