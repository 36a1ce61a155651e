//! One meta.yaml + one model = a [`Pipeline`] that turns images into poses.

use crate::config::Meta;
use crate::model::{Backend, Model};
use crate::postprocess::{decode, Heatmaps, Joint};
use crate::preprocess::preprocess;
use anyhow::{Context, Result};
use image::RgbImage;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A loaded meta.yaml and its compiled model.
#[derive(Debug)]
pub struct Pipeline {
    pub meta: Meta,
    pub model: Model,
}

/// Joints of one image, in that image's own pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Pose {
    /// Original image (width, height).
    pub image_size: (u32, u32),
    pub joints: Vec<Joint>,
}

impl Pose {
    /// Blueoil's planar `joints` list `[x0..xn, y0..yn, v0..vn]`: coordinates
    /// scaled per axis to the original image and truncated to integers (f32
    /// arithmetic, as numpy does on Blueoil's float32 joints); invisible
    /// joints are 0, 0, 0.
    pub fn blueoil_joints(&self, network_joints: &[Joint], input_hw: (usize, usize)) -> Vec<i64> {
        let sx = self.image_size.0 as f32 / input_hw.1 as f32;
        let sy = self.image_size.1 as f32 / input_hw.0 as f32;
        let n = network_joints.len();
        let mut out = vec![0i64; 3 * n];
        for (i, j) in network_joints.iter().enumerate() {
            if j.visible {
                out[i] = (j.x * sx) as i64;
                out[n + i] = (j.y * sy) as i64;
                out[2 * n + i] = 1;
            }
        }
        out
    }
}

/// Wall time of each stage of one image.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    pub pre: Duration,
    pub run: Duration,
    pub post: Duration,
}

impl StageTimes {
    pub fn total(&self) -> Duration {
        self.pre + self.run + self.post
    }
}

/// Everything one inference produced.
#[derive(Debug, Clone)]
pub struct Inference {
    pub heatmaps: Heatmaps,
    /// Joints in network-input pixels.
    pub network_joints: Vec<Joint>,
    /// Joints in original-image pixels.
    pub pose: Pose,
    pub times: StageTimes,
}

/// Decodes an image file to RGB, naming the file on failure.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let img = image::ImageReader::open(path)
        .with_context(|| format!("cannot open image {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", path.display()))?
        .decode()
        .with_context(|| {
            format!(
                "cannot decode image {} (corrupt or unsupported format)",
                path.display()
            )
        })?;
    Ok(img.to_rgb8())
}

impl Pipeline {
    /// Loads meta.yaml and the model: `model` if given, else meta.yaml's
    /// `MODEL.file`; quantised blocks run on the default backend.
    pub fn load(meta_path: &Path, model: Option<&Path>) -> Result<Pipeline> {
        Pipeline::load_with(meta_path, model, &Backend::default())
    }

    /// [`Pipeline::load`] with quantised blocks on `backend`.
    pub fn load_with(
        meta_path: &Path,
        model: Option<&Path>,
        backend: &Backend,
    ) -> Result<Pipeline> {
        let meta = Meta::load(meta_path)?;
        let path = Pipeline::model_path(&meta, model)?;
        let model = Model::load_with(&path, &meta, backend)?;
        Ok(Pipeline { meta, model })
    }

    /// Which model file a run uses.
    pub fn model_path(meta: &Meta, model: Option<&Path>) -> Result<PathBuf> {
        match (model, meta.model_path()) {
            (Some(p), _) => Ok(p.to_path_buf()),
            (None, Some(p)) => Ok(p),
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
        let t1 = Instant::now();
        let outputs = self.model.run_outputs(tensor)?;
        let t2 = Instant::now();
        let (heatmaps, network_joints) = decode(&self.meta.post, &outputs)?;
        let pose = self.to_image_pixels(&network_joints, image.dimensions());
        let t3 = Instant::now();
        Ok(Inference {
            heatmaps,
            network_joints,
            pose,
            times: StageTimes {
                pre: t1 - t0,
                run: t2 - t1,
                post: t3 - t2,
            },
        })
    }

    /// Scales joints from network-input pixels to an image of `size` (w, h).
    pub fn to_image_pixels(&self, joints: &[Joint], size: (u32, u32)) -> Pose {
        let (h, w) = self.meta.input_hw();
        let sx = size.0 as f32 / w as f32;
        let sy = size.1 as f32 / h as f32;
        Pose {
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
