//! Ground-truth readers: one module per file format, each ending in the same
//! [`GroundTruth`].

pub mod bbox_text;
pub mod coco;
pub mod coco17_index;
pub mod csv;
pub mod mpii;
pub mod stanford_extra;

use super::GroundTruth;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The ground-truth formats `lm eval` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// COCO `person_keypoints_*.json` (images, annotations, categories).
    Coco,
    /// The project's `gt_coco17.json` index (`persons[]`, see ../shared/people/README.md).
    Coco17Index,
    /// MPII as the json that mmpose and HRNet use (`joints`, `joints_vis`, `center`, `scale`).
    Mpii,
    /// `filename xmin,ymin,xmax,ymax px,py px,py ...`, one instance a line.
    BboxText,
    /// A CSV with a header: `<joint>_x`, `<joint>_y` (and optional image, box, `_v` columns).
    Csv,
    /// StanfordExtra dog keypoints json (`img_path`, `img_bbox`, 24 `joints`).
    StanfordExtra,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown ground-truth format `{s}` (expected {})",
                    names.join(", ")
                )
            })
    }
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Coco,
        Format::Coco17Index,
        Format::Mpii,
        Format::BboxText,
        Format::Csv,
        Format::StanfordExtra,
    ];

    /// The name `--format` takes (and the report writes).
    pub fn name(self) -> &'static str {
        match self {
            Format::Coco => "coco",
            Format::Coco17Index => "coco17-index",
            Format::Mpii => "mpii",
            Format::BboxText => "bbox-text",
            Format::Csv => "csv",
            Format::StanfordExtra => "stanford-extra",
        }
    }

    /// Guesses the format from the file's content (json layouts) or its
    /// extension (.csv, .txt).
    pub fn detect(path: &Path, text: &str) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => return Ok(Format::Csv),
            Some("txt") => return Ok(Format::BboxText),
            _ => {}
        }
        let json: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => bail!(
                "{}: cannot tell the ground-truth format (not json, not .csv/.txt): pass --format",
                path.display()
            ),
        };
        let format = match &json {
            serde_json::Value::Object(o) if o.contains_key("persons") => Some(Format::Coco17Index),
            serde_json::Value::Object(o) if o.contains_key("annotations") => Some(Format::Coco),
            serde_json::Value::Array(a) => a.first().and_then(|first| {
                if first.get("img_path").is_some() && first.get("joints").is_some() {
                    Some(Format::StanfordExtra)
                } else if first.get("joints").is_some() && first.get("center").is_some() {
                    Some(Format::Mpii)
                } else {
                    None
                }
            }),
            _ => None,
        };
        format.with_context(|| {
            format!(
                "{}: json of no known ground-truth layout (COCO, coco17 index, MPII, \
                 StanfordExtra): pass --format",
                path.display()
            )
        })
    }
}

/// Reads `path` as `format` (guessed when None). `images_dir` is where the
/// images are, for formats that name them by position (CSV without an image
/// column).
pub fn read(
    path: &Path,
    format: Option<Format>,
    images_dir: &Path,
) -> Result<(Format, GroundTruth)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read ground truth {}", path.display()))?;
    let format = match format {
        Some(f) => f,
        None => Format::detect(path, &text)?,
    };
    let gt = match format {
        Format::Coco => coco::parse(&text),
        Format::Coco17Index => coco17_index::parse(&text),
        Format::Mpii => mpii::parse(&text),
        Format::BboxText => bbox_text::parse(&text),
        Format::Csv => csv::parse(&text, images_dir),
        Format::StanfordExtra => stanford_extra::parse(&text),
    }
    .with_context(|| format!("{} (read as {})", path.display(), format.name()))?;
    Ok((format, gt))
}

/// A json value as f64, naming what it is on failure.
pub(crate) fn number(v: &serde_json::Value, what: impl FnOnce() -> String) -> Result<f64> {
    v.as_f64()
        .with_context(|| format!("{} is not a number: {v}", what()))
}

/// A 0/1 flag that some files write as a number and others as a boolean
/// (`iscrowd: 0` in COCO, `iscrowd: false` in parts of gt_coco17.json).
pub(crate) fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    use serde::Deserialize;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        serde_json::Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        serde_json::Value::Null => Ok(false),
        v => Err(serde::de::Error::custom(format!(
            "expected 0, 1, true or false, found {v}"
        ))),
    }
}
