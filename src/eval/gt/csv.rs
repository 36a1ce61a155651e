//! A plain CSV with a header line: one instance a row, joints as
//! `<name>_x`, `<name>_y` column pairs (optional `<name>_v`: 0 = unlabelled);
//! an empty, non-numeric or negative coordinate also means unlabelled.
//! Optional columns: `image` (or `filename`, `file`), `dataset`, and a box as
//! `xmin,ymin,xmax,ymax` or `x,y,w,h` (else the tight box around the joints).
//! Without an image column, row n is the n-th image (by name) of the images
//! folder, as in TensorFlow's `pose_landmark_truth.csv`. Fields are split on
//! commas (no quoted commas); surrounding quotes and spaces are dropped.

use crate::eval::joints::canonical;
use crate::eval::{BoxXywh, GroundTruth, GtJoint, Sample};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};

/// Image files of a folder, sorted by name.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("cannot list images folder {}", dir.display()))?
    {
        let path = entry?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        if matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg" | "bmp")) {
            out.push(PathBuf::from(path.file_name().expect("listed file")));
        }
    }
    out.sort();
    Ok(out)
}

fn split(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').trim().to_string())
        .collect()
}

pub fn parse(text: &str, images_dir: &Path) -> Result<GroundTruth> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().context("empty CSV (no header line)")?;
    let header: Vec<String> = split(header)
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let image_col = col(&["image", "filename", "file", "image_path", "img_path"]);
    let dataset_col = col(&["dataset"]);
    let corners = [
        col(&["xmin"]),
        col(&["ymin"]),
        col(&["xmax"]),
        col(&["ymax"]),
    ];
    let xywh = [
        col(&["x"]),
        col(&["y"]),
        col(&["w", "width"]),
        col(&["h", "height"]),
    ];
    // Joints in header order of their `_x` columns.
    let mut joint_cols: Vec<(String, usize, usize, Option<usize>)> = vec![];
    for (i, h) in header.iter().enumerate() {
        if let Some(name) = h.strip_suffix("_x") {
            let y = col(&[&format!("{name}_y")])
                .with_context(|| format!("column {h} has no {name}_y beside it"))?;
            let v = col(&[&format!("{name}_v"), &format!("{name}_visible")]);
            joint_cols.push((canonical(name), i, y, v));
        }
    }
    ensure!(
        !joint_cols.is_empty(),
        "no joint columns in the header (`<name>_x`, `<name>_y`)"
    );
    let listed = if image_col.is_none() {
        Some(images_in(images_dir)?)
    } else {
        None
    };
    let mut samples = vec![];
    let mut skipped = vec![];
    for (row, (i, line)) in lines.enumerate() {
        let line_no = i + 1;
        let f = split(line);
        ensure!(
            f.len() == header.len(),
            "line {line_no}: {} fields, the header has {}",
            f.len(),
            header.len()
        );
        let num = |c: usize| -> Option<f64> { f[c].parse::<f64>().ok().filter(|v| v.is_finite()) };
        let joints: Vec<GtJoint> = joint_cols
            .iter()
            .map(
                |&(_, cx, cy, cv)| match (num(cx), num(cy), cv.map(|c| num(c).unwrap_or(0.0))) {
                    (_, _, Some(v)) if v <= 0.0 => GtJoint::UNLABELLED,
                    (Some(x), Some(y), v) if x >= 0.0 && y >= 0.0 => GtJoint {
                        x,
                        y,
                        v: if v.is_some_and(|v| v < 2.0) { 1 } else { 2 },
                    },
                    _ => GtJoint::UNLABELLED,
                },
            )
            .collect();
        let image = match (image_col, &listed) {
            (Some(c), _) => PathBuf::from(&f[c]),
            (None, Some(list)) => match list.get(row) {
                Some(p) => p.clone(),
                None => bail!(
                    "line {line_no}: no image column and only {} image(s) in {}",
                    list.len(),
                    images_dir.display()
                ),
            },
            (None, None) => unreachable!("listed when there is no image column"),
        };
        let read_box = |cols: [Option<usize>; 4]| -> Option<[f64; 4]> {
            let v: Option<Vec<f64>> = cols.iter().map(|c| c.and_then(num)).collect();
            v.map(|v| [v[0], v[1], v[2], v[3]])
        };
        let (bbox, from) = if let Some([x0, y0, x1, y1]) = read_box(corners) {
            (
                BoxXywh {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                },
                "annotation",
            )
        } else if let Some([x, y, w, h]) = read_box(xywh) {
            (BoxXywh { x, y, w, h }, "annotation")
        } else {
            match BoxXywh::around(&joints) {
                Some(b) => (b, "keypoint extent"),
                None => {
                    skipped.push(format!("line {line_no}: no box and no labelled joint"));
                    continue;
                }
            }
        };
        samples.push(Sample {
            image,
            dataset: dataset_col
                .map(|c| f[c].clone())
                .unwrap_or_else(|| "csv".into()),
            bbox,
            bbox_from: from.into(),
            joints,
            area: bbox.w * bbox.h,
            head_size: None,
        });
    }
    let mut notes = vec![];
    if image_col.is_none() {
        notes.push(format!(
            "no image column: row n is the n-th image (by name) of {}",
            images_dir.display()
        ));
    }
    Ok(GroundTruth {
        joint_names: joint_cols.into_iter().map(|(n, ..)| n).collect(),
        samples,
        skipped,
        ignored: vec![],
        notes,
    })
}
