//! The skeleton drawn on the original image.
//!
//! Limbs are lines between two visible joints; each visible joint is a filled
//! dot drawn on top, coloured by side: left joints green, right joints blue,
//! the rest (e.g. the nose) red. Unlike Blueoil's writer, which read its
//! planar `joints` list as interleaved pairs, joints are taken by index.

use crate::config::KeypointsSection;
use crate::pose::Pose;
use crate::postprocess::{Joint, Point};
use image::{Rgb, RgbImage};

pub const LIMB_COLOUR: Rgb<u8> = Rgb([255, 255, 0]);
pub const LEFT_COLOUR: Rgb<u8> = Rgb([0, 255, 0]);
pub const RIGHT_COLOUR: Rgb<u8> = Rgb([0, 96, 255]);
pub const CENTRE_COLOUR: Rgb<u8> = Rgb([255, 0, 0]);

/// Dot colour of a joint, from its name.
pub fn joint_colour(name: &str) -> Rgb<u8> {
    let n = name.to_ascii_lowercase();
    if n.starts_with("left") || n.starts_with("l_") {
        LEFT_COLOUR
    } else if n.starts_with("right") || n.starts_with("r_") {
        RIGHT_COLOUR
    } else {
        CENTRE_COLOUR
    }
}

/// Dot radius and line half-width that stay visible on large images.
pub fn sizes(width: u32, height: u32) -> (i64, i64) {
    let m = width.min(height) as i64;
    ((m / 80).max(2), (m / 250).max(1))
}

/// Draws a pose (in this image's pixels) onto `image`: every point of a
/// grid detector, else the skeleton.
pub fn draw_inference(image: &mut RgbImage, pose: &Pose, keypoints: &KeypointsSection) {
    match &pose.points {
        Some(points) => draw_points(image, points, &keypoints.names),
        None => draw_pose(image, &pose.joints, &keypoints.names, &keypoints.skeleton),
    }
}

/// Draws each point as a dot coloured by its class name.
pub fn draw_points(image: &mut RgbImage, points: &[Point], names: &[String]) {
    let (radius, _) = sizes(image.width(), image.height());
    for p in points {
        let colour = names
            .get(p.class)
            .map(|n| joint_colour(n))
            .unwrap_or(CENTRE_COLOUR);
        fill_disc(
            image,
            p.x.round() as i64,
            p.y.round() as i64,
            radius,
            colour,
        );
    }
}

/// Draws limbs and joints (in this image's pixels) onto `image`.
pub fn draw_pose(
    image: &mut RgbImage,
    joints: &[Joint],
    names: &[String],
    skeleton: &[[usize; 2]],
) {
    let (radius, half_width) = sizes(image.width(), image.height());
    for &[a, b] in skeleton {
        let (Some(ja), Some(jb)) = (joints.get(a), joints.get(b)) else {
            continue;
        };
        if ja.visible && jb.visible {
            draw_line(image, (ja.x, ja.y), (jb.x, jb.y), half_width, LIMB_COLOUR);
        }
    }
    for (i, j) in joints.iter().enumerate() {
        if j.visible {
            let colour = names
                .get(i)
                .map(|n| joint_colour(n))
                .unwrap_or(CENTRE_COLOUR);
            fill_disc(
                image,
                j.x.round() as i64,
                j.y.round() as i64,
                radius,
                colour,
            );
        }
    }
}

fn put(image: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < image.width() && (y as u32) < image.height() {
        image.put_pixel(x as u32, y as u32, colour);
    }
}

/// A filled disc of radius `r` centred on (cx, cy).
pub fn fill_disc(image: &mut RgbImage, cx: i64, cy: i64, r: i64, colour: Rgb<u8>) {
    for dy in -r..=r {
        for dx in -r..=r {
            if dx * dx + dy * dy <= r * r {
                put(image, cx + dx, cy + dy, colour);
            }
        }
    }
}

/// A line of half-width `hw`, drawn as discs stepped one pixel at a time.
pub fn draw_line(image: &mut RgbImage, a: (f32, f32), b: (f32, f32), hw: i64, colour: Rgb<u8>) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let steps = dx.abs().max(dy.abs()).ceil().max(1.0) as i64;
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let (x, y) = (a.0 + t * dx, a.1 + t * dy);
        fill_disc(image, x.round() as i64, y.round() as i64, hw, colour);
    }
}
