//! `lm stream`'s opt-in temporal extensions (meta.yaml `TEMPORAL`, off by default so that a
//! stream gives Blueoil's per-frame poses):
//!
//! * [`crop`]: infer on a crop around the previous frame's person, joints mapped back to frame
//!   pixels;
//! * [`smooth`]: a One Euro filter ([`one_euro`]) on joint positions and a low-pass on scores.
//!
//! Per frame: the crop tracker names the region (or the whole frame), the pipeline infers on
//! it, joints move to frame pixels, the smoother filters them, and the result is what every
//! output shows and what the next frame's crop is taken from.

pub mod crop;
pub mod one_euro;
pub mod smooth;

use crate::config::Meta;
use crate::pipeline::Pipeline;
use crate::pose::Inference;
use crate::stream::Frame;
use anyhow::Result;
use crop::{CropTracker, Region};
use smooth::PoseSmoother;
use std::time::Instant;

/// The temporal state of one stream.
pub struct Temporal {
    crop: Option<CropTracker>,
    smoother: Option<PoseSmoother>,
    start: Option<Instant>,
}

impl Temporal {
    /// `None` when meta.yaml turns nothing on.
    pub fn new(meta: &Meta) -> Option<Temporal> {
        let t = &meta.temporal;
        if t.crop.is_none() && t.smoothing.is_none() {
            return None;
        }
        Some(Temporal {
            crop: t
                .crop
                .as_ref()
                .map(|c| CropTracker::new(c, &meta.keypoints.names, meta.input_hw())),
            smoother: t
                .smoothing
                .clone()
                .map(|s| PoseSmoother::new(s, meta.confidence_threshold())),
            start: None,
        })
    }

    /// Infers on `frame`: on the crop the previous frame gave, or the whole image; returns the
    /// inference with its pose in the frame's pixels, filtered, and the region used (`None`:
    /// the whole image). The crop's copy counts as pre-processing. The filters run on the
    /// frame's media time (a file's, reproducible), else on its capture time (a camera's).
    pub fn infer(
        &mut self,
        pipeline: &Pipeline,
        frame: &Frame,
    ) -> Result<(Inference, Option<Region>)> {
        let image = &frame.image;
        let size = image.dimensions();
        let region = self.crop.as_ref().and_then(|c| c.region(size));
        let result = match region {
            None => pipeline.infer(image),
            Some(r) => {
                let t0 = Instant::now();
                let part = image::imageops::crop_imm(image, r.x, r.y, r.width, r.height).to_image();
                let copy = t0.elapsed();
                pipeline.infer(&part).map(|mut inf| {
                    crop::to_frame(&mut inf.pose.joints, &r);
                    inf.pose.image_size = size;
                    inf.times.pre += copy;
                    inf
                })
            }
        };
        let mut inference = match result {
            Ok(i) => i,
            Err(e) => {
                if let Some(c) = &mut self.crop {
                    c.reset();
                }
                return Err(e);
            }
        };
        if let Some(s) = &mut self.smoother {
            let t = match frame.media_time {
                Some(t) => t.as_secs_f64(),
                None => {
                    let start = *self.start.get_or_insert(frame.captured_at);
                    frame
                        .captured_at
                        .saturating_duration_since(start)
                        .as_secs_f64()
                }
            };
            s.apply(t, &mut inference.pose.joints);
        }
        if let Some(c) = &mut self.crop {
            c.observe(&inference.pose.joints, size);
        }
        Ok((inference, region))
    }
}
