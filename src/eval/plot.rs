//! The PCK-vs-α plot (one curve per joint group, PCK by the box's longer
//! side), drawn with the `image` crate and font8x8's bitmap glyphs: axes
//! with values, a legend with each group's joint count, a title.

use super::report::Report;
use crate::output::overlay::draw_line;
use image::{Rgb, RgbImage};

const W: u32 = 1080;
const H: u32 = 640;
/// Plot area: left, top, right, bottom.
const AREA: (i64, i64, i64, i64) = (90, 60, 760, 560);
/// Glyph scale (8 × 8 px glyphs drawn at 16 × 16).
const SCALE: i64 = 2;
const X_MAX: f64 = 0.5;

const COLOURS: [[u8; 3]; 9] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [0, 0, 0],
];

/// Draws `text` with its top-left corner at (x, y); ASCII only (others as `?`).
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: i64, colour: Rgb<u8>) {
    for (i, c) in text.chars().enumerate() {
        let code = if c.is_ascii() {
            c as usize
        } else {
            '?' as usize
        };
        let glyph = font8x8::legacy::BASIC_LEGACY[code];
        let gx = x + i as i64 * 8 * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (gx + col * scale + dx, y + row as i64 * scale + dy);
                        if px >= 0 && py >= 0 && px < img.width() as i64 && py < img.height() as i64
                        {
                            img.put_pixel(px as u32, py as u32, colour);
                        }
                    }
                }
            }
        }
    }
}

fn text_width(text: &str, scale: i64) -> i64 {
    text.chars().count() as i64 * 8 * scale
}

fn to_px(alpha: f64, pck: f64) -> (f32, f32) {
    let (l, t, r, b) = AREA;
    (
        (l as f64 + alpha / X_MAX * (r - l) as f64) as f32,
        (b as f64 - pck * (b - t) as f64) as f32,
    )
}

/// The plot of `report`'s curves.
pub fn pck_plot(report: &Report) -> RgbImage {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let (l, t, r, b) = AREA;
    let grey = Rgb([220, 220, 220]);
    let black = Rgb([0, 0, 0]);
    // Grid and tick values.
    for i in 0..=5 {
        let a = i as f64 * 0.1;
        let (x, _) = to_px(a, 0.0);
        draw_line(&mut img, (x, t as f32), (x, b as f32), 0, grey);
        let label = format!("{a:.1}");
        draw_text(
            &mut img,
            x as i64 - text_width(&label, SCALE) / 2,
            b + 10,
            &label,
            SCALE,
            black,
        );
    }
    for i in 0..=5 {
        let p = i as f64 * 0.2;
        let (_, y) = to_px(0.0, p);
        draw_line(&mut img, (l as f32, y), (r as f32, y), 0, grey);
        let label = format!("{p:.1}");
        draw_text(
            &mut img,
            l - 10 - text_width(&label, SCALE),
            y as i64 - 8,
            &label,
            SCALE,
            black,
        );
    }
    // Axes.
    draw_line(
        &mut img,
        (l as f32, b as f32),
        (r as f32, b as f32),
        1,
        black,
    );
    draw_line(
        &mut img,
        (l as f32, t as f32),
        (l as f32, b as f32),
        1,
        black,
    );
    let xlabel = "alpha (fraction of the box's longer side)";
    draw_text(
        &mut img,
        (l + r) / 2 - text_width(xlabel, SCALE) / 2,
        b + 40,
        xlabel,
        SCALE,
        black,
    );
    draw_text(&mut img, 10, t - 40, "PCK", SCALE, black);
    let meta = std::path::Path::new(&report.meta)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let title = format!(
        "PCK vs alpha: {meta}, {} instances",
        report.instances_evaluated
    );
    draw_text(&mut img, l, 15, &title, SCALE, black);
    // Curves and legend.
    for (i, c) in report.curves.iter().enumerate() {
        let colour = Rgb(COLOURS[i % COLOURS.len()]);
        let width = if c.group == "all" { 2 } else { 1 };
        let points: Vec<(f32, f32)> = report
            .curve_alphas
            .iter()
            .zip(&c.pck)
            .map(|(&a, &p)| to_px(a, p))
            .collect();
        for w in points.windows(2) {
            draw_line(&mut img, w[0], w[1], width, colour);
        }
        let ly = t + 10 + i as i64 * 30;
        draw_line(
            &mut img,
            ((r + 20) as f32, (ly + 8) as f32),
            ((r + 50) as f32, (ly + 8) as f32),
            width,
            colour,
        );
        let label = format!("{} ({})", c.group, c.joints);
        draw_text(&mut img, r + 60, ly, &label, SCALE, black);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_where_asked() {
        let mut img = RgbImage::from_pixel(40, 20, Rgb([255, 255, 255]));
        draw_text(&mut img, 2, 2, "1", 1, Rgb([0, 0, 0]));
        let inked = |x0: u32, x1: u32| {
            (x0..x1).any(|x| (0..20).any(|y| *img.get_pixel(x, y) == Rgb([0, 0, 0])))
        };
        assert!(inked(2, 10));
        assert!(!inked(12, 40));
    }
}
