//! YUV → RGB for camera (YUYV) and Y4M frames: ITU-R BT.601, 8-bit integer arithmetic.
//!
//! Limited range ("TV", Y 16..235, chroma 16..240) is what webcams' YUYV and most Y4M files
//! carry; full range (Y4M `XCOLORRANGE=FULL`) is JPEG's. Chroma planes are upsampled by
//! repeating each sample (nearest), which is enough for a 2-bit pose network.

use anyhow::{ensure, Result};
use image::RgbImage;

/// Colour range of the Y, Cb, Cr samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Limited,
    Full,
}

/// One pixel, BT.601.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8, range: Range) -> [u8; 3] {
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clip = |x: i32| x.clamp(0, 255) as u8;
    match range {
        Range::Limited => {
            // 255/219 = 1.164 → 298/256; 1.596 → 409; 0.391 → 100; 0.813 → 208; 2.018 → 516.
            let c = 298 * (y as i32 - 16);
            [
                clip((c + 409 * e + 128) >> 8),
                clip((c - 100 * d - 208 * e + 128) >> 8),
                clip((c + 516 * d + 128) >> 8),
            ]
        }
        Range::Full => {
            // 1.402 → 359; 0.344 → 88; 0.714 → 183; 1.772 → 454 (JFIF).
            let c = (y as i32) << 8;
            [
                clip((c + 359 * e + 128) >> 8),
                clip((c - 88 * d - 183 * e + 128) >> 8),
                clip((c + 454 * d + 128) >> 8),
            ]
        }
    }
}

/// Packed YUYV 4:2:2 (`Y0 U Y1 V` per two pixels), `stride` bytes per row (≥ 2·width).
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32, stride: usize) -> Result<RgbImage> {
    ensure!(width.is_multiple_of(2), "YUYV width {width} is odd");
    let row = 2 * width as usize;
    ensure!(stride >= row, "YUYV stride {stride} < 2 × width {width}");
    ensure!(height > 0, "YUYV frame of height 0");
    let need = stride * (height as usize - 1) + row;
    ensure!(
        data.len() >= need,
        "YUYV frame {width}x{height} needs {need} bytes, got {} (truncated frame)",
        data.len()
    );
    let mut out = RgbImage::new(width, height);
    let buf: &mut [u8] = &mut out;
    for y in 0..height as usize {
        let src = &data[y * stride..y * stride + row];
        let dst = &mut buf[y * 3 * width as usize..(y + 1) * 3 * width as usize];
        for (quad, px) in src.chunks_exact(4).zip(dst.chunks_exact_mut(6)) {
            px[..3].copy_from_slice(&yuv_to_rgb(quad[0], quad[1], quad[3], Range::Limited));
            px[3..].copy_from_slice(&yuv_to_rgb(quad[2], quad[1], quad[3], Range::Limited));
        }
    }
    Ok(out)
}

/// Planar Y, U, V with chroma subsampled by (`sx`, `sy`) ∈ {1, 2}; chroma planes are
/// ⌈width/sx⌉ × ⌈height/sy⌉. `None` chroma = monochrome.
pub fn planar_to_rgb(
    y: &[u8],
    uv: Option<(&[u8], &[u8])>,
    (width, height): (u32, u32),
    (sx, sy): (u32, u32),
    range: Range,
) -> RgbImage {
    let (w, h) = (width as usize, height as usize);
    let cw = w.div_ceil(sx as usize);
    RgbImage::from_fn(width, height, |px, py| {
        let luma = y[py as usize * w + px as usize];
        let (u, v) = match uv {
            Some((u, v)) => {
                let i = (py / sy) as usize * cw + (px / sx) as usize;
                (u[i], v[i])
            }
            None => (128, 128),
        };
        debug_assert!(h > 0);
        image::Rgb(yuv_to_rgb(luma, u, v, range))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Float BT.601 (the textbook formula) as the reference for the integer path.
    fn reference(y: u8, u: u8, v: u8, range: Range) -> [f64; 3] {
        let (y, u, v) = (y as f64, u as f64 - 128.0, v as f64 - 128.0);
        let (y, ku) = match range {
            Range::Limited => ((y - 16.0) * 255.0 / 219.0, 255.0 / 224.0),
            Range::Full => (y, 1.0),
        };
        let (u, v) = (u * ku, v * ku);
        [
            y + 1.402 * v,
            y - 0.344_136 * u - 0.714_136 * v,
            y + 1.772 * u,
        ]
    }

    #[test]
    fn integer_conversion_matches_float_bt601_within_one() {
        for range in [Range::Limited, Range::Full] {
            for y in (0..=255).step_by(5) {
                for u in (0..=255).step_by(15) {
                    for v in (0..=255).step_by(15) {
                        let got = yuv_to_rgb(y, u as u8, v as u8, range);
                        let want = reference(y, u as u8, v as u8, range);
                        for c in 0..3 {
                            let w = want[c].clamp(0.0, 255.0);
                            assert!(
                                (got[c] as f64 - w).abs() <= 1.5,
                                "{range:?} yuv {y},{u},{v}: {got:?} vs {want:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn yuyv_bytes_to_known_colours() {
        // Two rows of 2 pixels, stride 6 (2 bytes padding): black|white, red|blue (BT.601 TV
        // range: black 16/128/128, white 235/128/128, red 81/90/240, blue 41/240/110).
        let bytes = [
            16, 128, 235, 128, 0, 0, // row 0: black, white share U=V=128
            81, 90, 81, 240, 0, 0, // row 1: two red pixels
        ];
        let img = yuyv_to_rgb(&bytes, 2, 2, 6).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
        let red = img.get_pixel(0, 1).0;
        assert!(red[0] >= 253 && red[1] <= 2 && red[2] <= 2, "{red:?}");
        let blue = yuv_to_rgb(41, 240, 110, Range::Limited);
        assert!(blue[0] <= 2 && blue[1] <= 2 && blue[2] >= 253, "{blue:?}");
    }

    #[test]
    fn truncated_or_odd_yuyv_is_an_error() {
        let e = yuyv_to_rgb(&[16; 9], 2, 2, 6).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        assert!(yuyv_to_rgb(&[16; 12], 3, 1, 6).is_err());
    }

    #[test]
    fn planar_420_uses_one_chroma_sample_per_2x2() {
        let y = [235u8; 9]; // 3x3
        let u = [128u8, 90, 128, 90]; // 2x2 chroma
        let v = [128u8, 240, 128, 240];
        let img = planar_to_rgb(&y, Some((&u, &v)), (3, 3), (2, 2), Range::Limited);
        assert_eq!(img.get_pixel(1, 1).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(2, 0), img.get_pixel(2, 2));
        assert_ne!(img.get_pixel(2, 0), img.get_pixel(0, 0));
    }
}
