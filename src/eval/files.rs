//! The report folder of `lm eval -o DIR`: report.json, the COCO files for pycocotools and
//! the PCK plot, each written whole or not at all.

use super::joints::JointMap;
use super::plot::pck_plot;
use super::prediction::Prediction;
use super::report::{coco_files, coco_view, Report};
use super::GroundTruth;
use crate::output::atomic::write_atomic;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes report.json, pck.png, and (when OKS applies) coco_gt.json and
/// coco_results.json into `dir`; returns the files written.
pub fn write_all(
    dir: &Path,
    report: &Report,
    truth: &GroundTruth,
    map: &JointMap,
    predictions: &[Prediction],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create report folder {}", dir.display()))?;
    let mut written = vec![];
    let mut put = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = dir.join(name);
        write_atomic(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    let text = serde_json::to_string_pretty(report)?;
    put("report.json", (text + "\n").as_bytes())?;
    if let Some(v) = coco_view(truth, map, predictions) {
        let (gt, results) = coco_files(&v);
        put("coco_gt.json", serde_json::to_string(&gt)?.as_bytes())?;
        put(
            "coco_results.json",
            serde_json::to_string(&results)?.as_bytes(),
        )?;
    }
    let png = pck_plot(report);
    let mut bytes = std::io::Cursor::new(Vec::new());
    png.write_to(&mut bytes, image::ImageFormat::Png)
        .context("cannot encode pck.png")?;
    put("pck.png", bytes.get_ref())?;
    Ok(written)
}
