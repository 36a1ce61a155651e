//! One meta.yaml + one model = a [`Pipeline`] that turns images into poses.

use crate::backend::Backend;
use crate::config::Meta;
use crate::model::Model;
use crate::postprocess::{decode, decode_flip_test, Heatmaps, Joint, Point};
use crate::preprocess::preprocess;
use anyhow::{ensure, Context, Result};
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
    /// A grid detector's points (any number per class); `None` for pose
    /// heads.
    pub points: Option<Vec<Point>>,
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

    /// Blueoil's planar list from this pose's own (image-pixel) joints: the visible joints'
    /// coordinates truncated to integers. Equal to [`Pose::blueoil_joints`] for a pose scaled
    /// from the whole image; also right for a pose found on a crop, or filtered (`lm stream`'s
    /// `TEMPORAL`).
    pub fn planar_joints(&self) -> Vec<i64> {
        let n = self.joints.len();
        let mut out = vec![0i64; 3 * n];
        for (i, j) in self.joints.iter().enumerate() {
            if j.visible {
                out[i] = j.x as i64;
                out[n + i] = j.y as i64;
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
    /// The decoded heatmaps, for heatmap heads.
    pub heatmaps: Option<Heatmaps>,
    /// Joints in network-input pixels.
    pub network_joints: Vec<Joint>,
    /// Joints in original-image pixels.
    pub pose: Pose,
    pub times: StageTimes,
}

/// The largest image side [`load_image`] decodes, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// The most memory [`load_image`] spends on one image: the decoded pixels and
/// their RGB copy (a 8192 × 8192 RGB photo needs 192 MiB).
pub const MAX_IMAGE_BYTES: u64 = 256 * 1024 * 1024;

/// Decodes an image file to RGB, naming the file on failure. An image whose
/// header asks for more than [`MAX_IMAGE_SIDE`] pixels a side or
/// [`MAX_IMAGE_BYTES`] is refused before any pixel is allocated.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open image {}", path.display()))?;
    decode_image(std::io::BufReader::new(file), path)
}

/// [`load_image`] of the bytes of a file; `name` is used in messages.
pub fn decode_image_bytes(bytes: &[u8], name: &Path) -> Result<RgbImage> {
    decode_image(std::io::Cursor::new(bytes), name)
}

fn decode_image<R: std::io::BufRead + std::io::Seek>(
    mut input: R,
    path: &Path,
) -> Result<RgbImage> {
    use image::ImageDecoder as _;
    check_png_palette(&mut input)
        .and_then(|()| input.seek(std::io::SeekFrom::Start(0)).map(drop))
        .with_context(|| format!("cannot read image {}", path.display()))?;
    let mut reader = image::ImageReader::new(input);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    let decoder = reader
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", path.display()))?
        .into_decoder()
        .map_err(|e| decode_error(e, path))?;
    let (w, h) = decoder.dimensions();
    ensure!(
        w > 0 && h > 0,
        "image {} is {w}×{h} pixels: it has no pixels",
        path.display()
    );
    let rgb_copy = if decoder.color_type() == image::ColorType::Rgb8 {
        0
    } else {
        3 * u64::from(w) * u64::from(h)
    };
    let need = decoder.total_bytes().saturating_add(rgb_copy);
    ensure!(
        w <= MAX_IMAGE_SIDE && h <= MAX_IMAGE_SIDE && need <= MAX_IMAGE_BYTES,
        "image {} is {w}×{h} pixels ({} MiB decoded): lm decodes images of at most \
         {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} pixels and {} MiB",
        path.display(),
        need.div_ceil(1 << 20),
        MAX_IMAGE_BYTES >> 20
    );
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, path))?;
    Ok(img.to_rgb8())
}

/// Refuses a PNG whose palette (`PLTE` chunk) is not a whole number of RGB entries, at most
/// 256: png 0.18.1 panics on one while expanding it (found by
/// fuzz/fuzz_targets/image_preprocess.rs). Reads chunk headers up to the first `IDAT`;
/// anything else is left to the decoder.
fn check_png_palette<R: std::io::Read + std::io::Seek>(r: &mut R) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind, SeekFrom};
    let mut signature = [0u8; 8];
    if r.read_exact(&mut signature).is_err() || &signature != b"\x89PNG\r\n\x1a\n" {
        return Ok(());
    }
    let mut header = [0u8; 8];
    while r.read_exact(&mut header).is_ok() {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        match &header[4..] {
            b"IDAT" | b"IEND" => break,
            b"PLTE" if len % 3 != 0 || len > 3 * 256 => {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!("corrupt PNG: a PLTE chunk of {len} bytes is not 1 to 256 RGB entries"),
                ));
            }
            _ => {}
        }
        // The data and the CRC.
        r.seek(SeekFrom::Current(i64::from(len) + 4))?;
    }
    Ok(())
}

/// A decoder's error naming the file; a limit is said as such, not as a corrupt file.
fn decode_error(e: image::ImageError, path: &Path) -> anyhow::Error {
    match e {
        image::ImageError::Limits(l) => anyhow::anyhow!(
            "image {} needs more memory than lm allows for one image ({} MiB): {l}",
            path.display(),
            MAX_IMAGE_BYTES >> 20
        ),
        other => anyhow::Error::new(other).context(format!(
            "cannot decode image {} (corrupt or unsupported format)",
            path.display()
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// fuzz/artifacts/image_preprocess/crash-a85a44d7…: a 5 × 12288 palette PNG whose PLTE
    /// chunk holds 25 bytes; png 0.18.1 panicked on it.
    const BAD_PALETTE_PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x30, 0x03, 0x08, 0x03, 0x00, 0x00, 0x00, 0x6c,
        0xe8, 0x32, 0xca, 0x00, 0x00, 0x00, 0x19, 0x50, 0x4c, 0x54, 0x45, 0x00, 0x20, 0x40, 0xff,
        0x60, 0x80, 0xa0, 0xc0, 0xe0, 0x00, 0x20, 0x40, 0x60, 0x80, 0xa0, 0xc0, 0xe0, 0x00, 0x20,
        0x40, 0x71, 0x00, 0xa0, 0xc0, 0xe0, 0xe5, 0xe4, 0x6c, 0x30, 0x00, 0x00, 0x00, 0x14, 0x49,
        0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x60, 0x64, 0x62, 0x66, 0x40, 0x01, 0x10, 0xa0,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0xae, 0x0c, 0x20, 0x82, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn a_png_palette_of_a_partial_entry_is_an_error_not_a_panic() {
        let e = decode_image_bytes(BAD_PALETTE_PNG, Path::new("bad.png")).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("bad.png") && e.contains("PLTE chunk of 25 bytes"),
            "{e}"
        );
        // The same image with a whole palette (24 bytes, CRC not checked before IDAT by us)
        // gets past the check, to the decoder.
        let mut fixed = BAD_PALETTE_PNG.to_vec();
        fixed[36] = 24;
        let e = format!(
            "{:#}",
            decode_image_bytes(&fixed, Path::new("b.png")).unwrap_err()
        );
        assert!(!e.contains("PLTE chunk of"), "{e}");
    }

    #[test]
    fn a_valid_png_still_decodes() {
        let img = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let back = decode_image_bytes(png.get_ref(), Path::new("ok.png")).unwrap();
        assert_eq!(back, img);
    }
}
