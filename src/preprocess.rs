//! Image → network input, following meta.yaml's `PRE_PROCESSOR` list in order.
//!
//! Images are decoded to 8-bit RGB (grey and alpha images are converted, as
//! Blueoil's `run.py` does with PIL's `convert("RGB")`), resized without
//! keeping the aspect ratio, then turned into f32 values that the remaining
//! processors transform. The result is an HWC f32 buffer of the network's
//! input size; [`crate::model::Model`] lays it out and casts it for the model.

use crate::config::{Meta, PreProcessor, Resample};
use anyhow::{bail, Result};
use image::{imageops, RgbImage};

/// A pre-processed image: `height × width × 3` f32 values, HWC order.
#[derive(Debug, Clone, PartialEq)]
pub struct InputImage {
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl InputImage {
    /// The same picture mirrored left–right (the flip test's second input).
    pub fn mirrored(&self) -> InputImage {
        let row = self.width * 3;
        let mut data = Vec::with_capacity(self.data.len());
        for r in self.data.chunks_exact(row) {
            for px in r.chunks_exact(3).rev() {
                data.extend_from_slice(px);
            }
        }
        InputImage { data, ..*self }
    }
}

/// Runs meta.yaml's pre-processors on one decoded image.
pub fn preprocess(meta: &Meta, image: &RgbImage) -> Result<InputImage> {
    let (want_h, want_w) = meta.input_hw();
    if image.width() == 0 || image.height() == 0 {
        bail!(
            "image is {}x{} (w×h): it has no pixels",
            image.width(),
            image.height()
        );
    }
    let mut resized: Option<RgbImage> = None;
    for step in &meta.pre_processors {
        let (size, resample) = match step {
            PreProcessor::ResizeWithJoints(r) => (r.image_size, r.resample),
            PreProcessor::Resize(r) => (r.size, r.resample),
            _ => continue,
        };
        let src = resized.as_ref().unwrap_or(image);
        resized = Some(resize(src, size[1], size[0], resample));
    }
    let img = resized.as_ref().unwrap_or(image);
    if (img.height() as usize, img.width() as usize) != (want_h, want_w) {
        bail!(
            "image is {}x{} (w×h) but the network takes IMAGE_SIZE [{want_h}, {want_w}] (h, w) \
             and meta.yaml has no Resize/ResizeWithJoints pre-processor",
            img.width(),
            img.height()
        );
    }
    let mut data: Vec<f32> = img.as_raw().iter().map(|&v| v as f32).collect();
    for step in &meta.pre_processors {
        match step {
            PreProcessor::DivideBy255(_) => data.iter_mut().for_each(|v| *v /= 255.0),
            PreProcessor::PerImageStandardization(_) => per_image_standardization(&mut data),
            PreProcessor::Rescale(r) => data.iter_mut().for_each(|v| *v = *v * r.scale + r.offset),
            PreProcessor::ResizeWithJoints(_)
            | PreProcessor::Resize(_)
            | PreProcessor::JointsToGaussianHeatmap(_) => {}
        }
    }
    Ok(InputImage {
        height: want_h,
        width: want_w,
        data,
    })
}

/// Resizes to `width × height` ignoring the aspect ratio.
///
/// NEAREST picks the source pixel under each destination pixel's centre
/// (`floor((x + 0.5) · src / dst)`), as PIL does; BILINEAR uses a triangle
/// filter that widens when shrinking, like PIL's.
pub fn resize(src: &RgbImage, width: u32, height: u32, resample: Resample) -> RgbImage {
    if src.dimensions() == (width, height) {
        return src.clone();
    }
    match resample {
        Resample::BILINEAR => imageops::resize(src, width, height, imageops::FilterType::Triangle),
        Resample::NEAREST => {
            let (sw, sh) = src.dimensions();
            let pick = |d: u32, s: u32, n: u32| -> u32 {
                let v = ((d as f64 + 0.5) * s as f64 / n as f64).floor() as u32;
                v.min(s - 1)
            };
            let xs: Vec<u32> = (0..width).map(|x| pick(x, sw, width)).collect();
            RgbImage::from_fn(width, height, |x, y| {
                *src.get_pixel(xs[x as usize], pick(y, sh, height))
            })
        }
    }
}

/// TensorFlow's `per_image_standardization`: zero mean, unit variance, with
/// the standard deviation floored at `1/sqrt(N)`.
pub fn per_image_standardization(data: &mut [f32]) {
    let n = data.len() as f64;
    if n == 0.0 {
        return;
    }
    let mean = data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt().max(1.0 / n.sqrt());
    data.iter_mut()
        .for_each(|v| *v = ((*v as f64 - mean) / std) as f32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn nearest_resize_picks_pixel_under_centre() {
        // 4x1 → 2x1: centres at 0.5·2 = 1 and 1.5·2 = 3.
        let src = RgbImage::from_fn(4, 1, |x, _| Rgb([x as u8 * 10, 0, 0]));
        let out = resize(&src, 2, 1, Resample::NEAREST);
        assert_eq!(out.get_pixel(0, 0)[0], 10);
        assert_eq!(out.get_pixel(1, 0)[0], 30);
        // Upscale 2x1 → 4x1 repeats each pixel twice.
        let up = resize(&out, 4, 1, Resample::NEAREST);
        let row: Vec<u8> = (0..4).map(|x| up.get_pixel(x, 0)[0]).collect();
        assert_eq!(row, vec![10, 10, 30, 30]);
    }

    #[test]
    fn an_empty_image_is_an_error_not_a_panic() {
        let meta = Meta::parse(
            "CLASSES: [person]\nIMAGE_SIZE: [8, 8]\nTASK: IMAGE.KEYPOINT_DETECTION\n\
             PRE_PROCESSOR:\n- Resize: {size: [8, 8]}\n\
             POST_PROCESSOR:\n- GaussianHeatmapToJoints: {confidence_threshold: 0.1}\n",
            "meta.yaml",
        )
        .unwrap();
        for (w, h) in [(0, 5), (5, 0), (0, 0)] {
            let e = preprocess(&meta, &RgbImage::new(w, h)).unwrap_err();
            assert!(e.to_string().contains("no pixels"), "{e}");
        }
        assert_eq!(
            preprocess(&meta, &RgbImage::new(3, 2)).unwrap().data.len(),
            8 * 8 * 3
        );
    }

    #[test]
    fn standardization_gives_zero_mean_unit_variance() {
        let mut v: Vec<f32> = (0..300).map(|i| (i % 17) as f32 * 3.0).collect();
        per_image_standardization(&mut v);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-5, "mean {mean}");
        assert!((var - 1.0).abs() < 1e-4, "var {var}");
        // A constant image does not divide by zero.
        let mut c = vec![5.0f32; 12];
        per_image_standardization(&mut c);
        assert!(c.iter().all(|x| *x == 0.0));
    }
}
