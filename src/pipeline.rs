//! One meta.yaml + one model = a [`Pipeline`] that turns images into poses.

use crate::config::Meta;
use crate::model::{LoadOptions, Model};
use crate::pose::{Inference, Pose, StageTimes};
use crate::postprocess::{decode, decode_flip_test, Joint, Point};
use crate::preprocess::preprocess;
use anyhow::Result;
use image::RgbImage;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A loaded meta.yaml and its compiled model.
#[derive(Debug)]
pub struct Pipeline {
    pub meta: Meta,
    pub model: Model,
}

impl Pipeline {
    /// Loads meta.yaml and the model: `model` if given, else meta.yaml's `MODEL.file`.
    pub fn load(meta_path: &Path, model: Option<&Path>, opts: &LoadOptions) -> Result<Pipeline> {
        let meta = Meta::load(meta_path)?;
        let path = Pipeline::model_path(&meta, model)?;
        let model = Model::load(&path, &meta, opts)?;
        Ok(Pipeline { meta, model })
    }

    /// Which model file a run uses.
    pub fn model_path(meta: &Meta, model: Option<&Path>) -> Result<PathBuf> {
        match (model, meta.model_path()) {
            (Some(p), _) => Ok(p.to_path_buf()),
            (None, Some(p)) if p.exists() => Ok(p),
            // Relative to meta.yaml's folder, not to the working directory: a copied meta.yaml
            // meets this first, so say where it looked.
            (None, Some(p)) => Err(meta
                .error(
                    "MODEL.file",
                    format!(
                        "{:?} (relative to the folder of this meta.yaml) is {}, which does not \
                         exist: fix the path, or pass -m MODEL.onnx",
                        meta.model.file.as_deref().unwrap_or(Path::new("")),
                        lexically_normal(&std::path::absolute(&p).unwrap_or(p.clone())).display()
                    ),
                )
                .into()),
            (None, None) => Err(meta
                .error(
                    "MODEL.file",
                    "no model given: pass -m MODEL.onnx or set MODEL.file in meta.yaml",
                )
                .into()),
        }
    }

    /// Pre-processes, runs and post-processes one image.
    pub fn infer(&self, image: &RgbImage) -> Result<Inference> {
        let t0 = Instant::now();
        let input = preprocess(&self.meta, image)?;
        let tensor = self.model.input_tensor(&input)?;
        let mirrored = match self.meta.flip_test() {
            true => Some(self.model.input_tensor(&input.mirrored())?),
            false => None,
        };
        let t1 = Instant::now();
        let outputs = self.model.run_outputs(tensor)?;
        let mirrored = mirrored.map(|t| self.model.run_outputs(t)).transpose()?;
        let t2 = Instant::now();
        let decoded = match &mirrored {
            Some(m) => decode_flip_test(&self.meta, &outputs, m)?,
            None => decode(&self.meta, &outputs)?,
        };
        let mut pose = self.to_image_pixels(&decoded.joints, image.dimensions());
        pose.points = decoded
            .points
            .map(|points| self.points_to_image_pixels(&points, image.dimensions()));
        let t3 = Instant::now();
        Ok(Inference {
            heatmaps: decoded.heatmaps,
            network_joints: decoded.joints,
            pose,
            times: StageTimes {
                pre: t1 - t0,
                run: t2 - t1,
                post: t3 - t2,
            },
        })
    }

    /// Per-axis factors from network-input pixels to an image of `size` (w, h).
    fn scale_to(&self, size: (u32, u32)) -> (f32, f32) {
        let (h, w) = self.meta.input_hw();
        (size.0 as f32 / w as f32, size.1 as f32 / h as f32)
    }

    /// Scales grid-detector points from network-input pixels to an image of
    /// `size` (w, h).
    pub fn points_to_image_pixels(&self, points: &[Point], size: (u32, u32)) -> Vec<Point> {
        let (sx, sy) = self.scale_to(size);
        points
            .iter()
            .map(|p| Point {
                x: p.x * sx,
                y: p.y * sy,
                ..*p
            })
            .collect()
    }

    /// Scales joints from network-input pixels to an image of `size` (w, h).
    pub fn to_image_pixels(&self, joints: &[Joint], size: (u32, u32)) -> Pose {
        let (sx, sy) = self.scale_to(size);
        Pose {
            points: None,
            image_size: size,
            joints: joints
                .iter()
                .map(|j| Joint {
                    x: j.x * sx,
                    y: j.y * sy,
                    ..*j
                })
                .collect(),
        }
    }
}

/// `path` with `.` and `a/..` removed, without touching the file system (the file may not
/// exist).
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
