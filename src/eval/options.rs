//! What `lm eval` is asked to do: [`EvalOptions`] and its [`CropMode`].

use super::gt::Format;
use std::path::PathBuf;

/// What the model sees of each annotated instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CropMode {
    /// A square of `margin ×` the box's longer side, centred on the box.
    Box,
    /// The whole image (every instance of an image gets the same prediction).
    None,
}

impl CropMode {
    pub const ALL: [CropMode; 2] = [CropMode::Box, CropMode::None];

    /// The name `--crop` takes (and the report writes).
    pub fn name(self) -> &'static str {
        match self {
            CropMode::Box => "box",
            CropMode::None => "none",
        }
    }
}

impl std::str::FromStr for CropMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<CropMode, String> {
        CropMode::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown crop mode `{s}` (expected box, none)"))
    }
}

/// What `lm eval` was asked to do.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub gt: PathBuf,
    /// Guessed from the file when None.
    pub format: Option<Format>,
    /// Where images are; default: beside the ground truth (or a folder above it).
    pub images: Option<PathBuf>,
    pub crop: CropMode,
    pub margin: f64,
    /// Instances with fewer labelled joints (among those the model predicts) are skipped.
    pub min_joints: usize,
    /// Report folder (report.json, pck.png, COCO files); None: terminal only.
    pub out_dir: Option<PathBuf>,
    /// Progress on stderr.
    pub progress: bool,
    /// The tables' columns (`--metric`); empty: [`super::metric_list::DEFAULT_METRICS`].
    pub metrics: Vec<super::metric_list::Metric>,
}
