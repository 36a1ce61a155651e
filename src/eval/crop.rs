//! The square crop a single-person model sees: `margin ×` the box's longer
//! side, centred on the box, padded with black where it leaves the image.

use super::BoxXywh;
use anyhow::{ensure, Result};
use image::RgbImage;

/// A square window in image pixels (may reach outside the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CropWindow {
    pub x0: i64,
    pub y0: i64,
    pub side: u32,
}

impl CropWindow {
    /// The square of `margin × longer side` centred on `bbox`.
    pub fn around(bbox: &BoxXywh, margin: f64) -> Result<CropWindow> {
        let side = margin * bbox.longer_side();
        ensure!(
            side.is_finite() && side >= 1.0,
            "box {:?} with margin {margin} gives a crop of {side} px",
            bbox
        );
        ensure!(
            side <= 65_536.0,
            "box {bbox:?} gives a crop of {side:.0} px (too large)"
        );
        let side = side.round() as u32;
        let (cx, cy) = bbox.centre();
        Ok(CropWindow {
            x0: (cx - side as f64 / 2.0).round() as i64,
            y0: (cy - side as f64 / 2.0).round() as i64,
            side,
        })
    }

    /// The window's pixels; outside the image they are black.
    pub fn cut(&self, image: &RgbImage) -> RgbImage {
        let (w, h) = (image.width() as i64, image.height() as i64);
        let mut out = RgbImage::new(self.side, self.side);
        // Only the overlap is copied, row by row.
        let (sx0, sx1) = (self.x0.max(0), (self.x0 + self.side as i64).min(w));
        let (sy0, sy1) = (self.y0.max(0), (self.y0 + self.side as i64).min(h));
        if sx0 >= sx1 || sy0 >= sy1 {
            return out;
        }
        let row_bytes = 3 * (sx1 - sx0) as usize;
        let src = image.as_raw();
        let dst_stride = 3 * self.side as usize;
        let dst = &mut *out;
        for y in sy0..sy1 {
            let s = 3 * (y * w + sx0) as usize;
            let d = (y - self.y0) as usize * dst_stride + 3 * (sx0 - self.x0) as usize;
            dst[d..d + row_bytes].copy_from_slice(&src[s..s + row_bytes]);
        }
        out
    }

    /// A point of the crop in image pixels.
    pub fn to_image(&self, x: f64, y: f64) -> (f64, f64) {
        (x + self.x0 as f64, y + self.y0 as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn square_of_the_longer_side_centred_on_the_box() {
        let b = BoxXywh {
            x: 10.0,
            y: 20.0,
            w: 40.0,
            h: 80.0,
        };
        let c = CropWindow::around(&b, 1.25).unwrap();
        assert_eq!(c.side, 100);
        // Centre (30, 60) − 50.
        assert_eq!((c.x0, c.y0), (-20, 10));
        assert_eq!(c.to_image(50.0, 50.0), (30.0, 60.0));
    }

    #[test]
    fn pads_black_outside_the_image_and_copies_the_rest() {
        let mut img = RgbImage::new(4, 3);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = Rgb([x as u8 + 1, y as u8 + 1, 7]);
        }
        let c = CropWindow {
            x0: -1,
            y0: 1,
            side: 3,
        };
        let out = c.cut(&img);
        assert_eq!(out.dimensions(), (3, 3));
        assert_eq!(*out.get_pixel(0, 0), Rgb([0, 0, 0]));
        assert_eq!(*out.get_pixel(1, 0), Rgb([1, 2, 7]));
        assert_eq!(*out.get_pixel(2, 1), Rgb([2, 3, 7]));
        // Row 2 of the crop is image row 3: outside.
        assert_eq!(*out.get_pixel(1, 2), Rgb([0, 0, 0]));
        // Entirely outside: all black.
        let far = CropWindow {
            x0: 10,
            y0: 10,
            side: 2,
        }
        .cut(&img);
        assert!(far.pixels().all(|p| *p == Rgb([0, 0, 0])));
    }

    #[test]
    fn refuses_an_empty_box() {
        let b = BoxXywh {
            x: 1.0,
            y: 1.0,
            w: 0.0,
            h: 0.0,
        };
        assert!(CropWindow::around(&b, 1.25).is_err());
    }
}
