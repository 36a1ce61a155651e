//! [`CropTracker`]: infer on a crop around the person found in the previous frame.
//!
//! A single-person network sees the frame resized to its input (160×160 for the default
//! model): a person who fills a fifth of a 640×480 frame is then a few dozen network pixels
//! tall. Cropping the next frame to where the person was gives the network more of its pixels
//! (up to the frame's own resolution: a crop is never smaller than the network input, which
//! would only upscale).
//!
//! The region for the next frame ([`region_around`]): the bounding box of the visible joints,
//! grown by `margin × its longer side` on each side, widened or heightened about its centre to
//! the network input's aspect ratio (so the resize does not distort the person), at least the
//! network input's size, moved inside the frame (clipped where it is larger). When fewer than
//! `min_torso_joints` of the torso joints were visible — the person is lost, or only a limb
//! is seen — the next frame is seen whole, as without cropping.

use crate::config::Crop;
use crate::postprocess::Joint;
use serde::{Deserialize, Serialize};

/// A rectangle of frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Region {
    pub fn fits(&self, (w, h): (u32, u32)) -> bool {
        self.width > 0
            && self.height > 0
            && self.x as u64 + self.width as u64 <= w as u64
            && self.y as u64 + self.height as u64 <= h as u64
    }
}

/// The crop of the next frame, from the previous frame's joints.
#[derive(Debug, Clone)]
pub struct CropTracker {
    margin: f64,
    torso: Vec<usize>,
    min_torso: usize,
    /// Network input (width, height).
    input: (u32, u32),
    next: Option<Region>,
}

impl CropTracker {
    /// `names`: the joint names (`KEYPOINTS.names`, which meta.yaml validation checked the torso
    /// names against); `input_hw`: the network input (height, width).
    pub fn new(cfg: &Crop, names: &[String], input_hw: (usize, usize)) -> CropTracker {
        CropTracker {
            margin: cfg.margin,
            torso: cfg
                .torso
                .iter()
                .filter_map(|t| names.iter().position(|n| n == t))
                .collect(),
            min_torso: cfg.min_torso_joints,
            input: (input_hw.1 as u32, input_hw.0 as u32),
            next: None,
        }
    }

    /// Where to infer on the next frame of `frame` (w, h) pixels: `None` = the whole frame.
    pub fn region(&self, frame: (u32, u32)) -> Option<Region> {
        self.next.filter(|r| r.fits(frame))
    }

    /// Takes a frame's final joints (frame pixels) for the next frame's region.
    pub fn observe(&mut self, joints: &[Joint], frame: (u32, u32)) {
        let torso_seen = self
            .torso
            .iter()
            .filter(|&&i| joints.get(i).is_some_and(|j| j.visible))
            .count();
        self.next = if torso_seen >= self.min_torso {
            region_around(joints, frame, self.margin, self.input)
        } else {
            None
        };
    }

    /// Forgets the person (after a failed frame).
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// The crop around the visible `joints` (see the module docs), or `None` when it would be the
/// whole frame or no joint is visible.
pub fn region_around(
    joints: &[Joint],
    (fw, fh): (u32, u32),
    margin: f64,
    (iw, ih): (u32, u32),
) -> Option<Region> {
    let visible = joints
        .iter()
        .filter(|j| j.visible && j.x.is_finite() && j.y.is_finite());
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for j in visible {
        x0 = x0.min(j.x as f64);
        y0 = y0.min(j.y as f64);
        x1 = x1.max(j.x as f64);
        y1 = y1.max(j.y as f64);
    }
    if x0 > x1 {
        return None;
    }
    let grow = margin * (x1 - x0).max(y1 - y0);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (mut w, mut h) = (x1 - x0 + 2.0 * grow, y1 - y0 + 2.0 * grow);
    let aspect = iw as f64 / ih as f64;
    if w < h * aspect {
        w = h * aspect;
    } else {
        h = w / aspect;
    }
    if w < iw as f64 {
        (w, h) = (iw as f64, ih as f64);
    }
    let (fwf, fhf) = (fw as f64, fh as f64);
    if w >= fwf && h >= fhf {
        return None;
    }
    let (w, h) = (w.min(fwf).round().max(1.0), h.min(fhf).round().max(1.0));
    let x = (cx - w / 2.0).round().clamp(0.0, fwf - w);
    let y = (cy - h / 2.0).round().clamp(0.0, fhf - h);
    Some(Region {
        x: x as u32,
        y: y as u32,
        width: w as u32,
        height: h as u32,
    })
}

/// Moves joints found in `region`'s pixels to frame pixels.
pub fn to_frame(joints: &mut [Joint], region: &Region) {
    for j in joints {
        j.x += region.x as f32;
        j.y += region.y as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(x: f32, y: f32, visible: bool) -> Joint {
        Joint {
            x,
            y,
            score: if visible { 0.9 } else { 0.0 },
            visible,
        }
    }

    #[test]
    fn box_grows_takes_the_input_aspect_and_stays_inside() {
        // Joints spanning 40×100 px at (300..340, 200..300) in a 640×480 frame, input 160×160.
        let joints = [
            j(300.0, 200.0, true),
            j(340.0, 300.0, true),
            j(0.0, 0.0, false),
        ];
        let r = region_around(&joints, (640, 480), 0.25, (160, 160)).unwrap();
        // 100 + 2 × 25 = 150 tall, square → 150 wide, but at least 160: 160×160 about (320, 250).
        assert_eq!(
            r,
            Region {
                x: 240,
                y: 170,
                width: 160,
                height: 160
            }
        );
        // Larger: 200×300 box → 300 + 2 × 75 = 450 square, centred at (400, 250), moved inside.
        let joints = [j(300.0, 100.0, true), j(500.0, 400.0, true)];
        let r = region_around(&joints, (640, 480), 0.25, (160, 160)).unwrap();
        assert_eq!(
            r,
            Region {
                x: 175,
                y: 25,
                width: 450,
                height: 450
            }
        );
        assert!(r.fits((640, 480)));
        // A 4:3 input: the box is widened to 4:3.
        let r = region_around(&joints, (1280, 960), 0.25, (320, 240)).unwrap();
        assert_eq!((r.width, r.height), (600, 450));
        // Near the frame's edge: clamped at 0.
        let joints = [j(5.0, 5.0, true), j(50.0, 100.0, true)];
        let r = region_around(&joints, (640, 480), 0.25, (160, 160)).unwrap();
        assert_eq!((r.x, r.y), (0, 0));
    }

    #[test]
    fn whole_frame_when_the_box_covers_it_or_nothing_is_seen() {
        let joints = [j(10.0, 10.0, true), j(630.0, 470.0, true)];
        assert_eq!(region_around(&joints, (640, 480), 0.25, (160, 160)), None);
        assert_eq!(
            region_around(&[j(1.0, 1.0, false)], (640, 480), 0.25, (160, 160)),
            None
        );
        // A frame smaller than the input: never cropped (it would only upscale).
        assert_eq!(
            region_around(&[j(40.0, 30.0, true)], (96, 72), 0.25, (160, 160)),
            None
        );
        // Taller than the frame but narrower: full height, clipped.
        let joints = [j(300.0, 0.0, true), j(310.0, 470.0, true)];
        let r = region_around(&joints, (1000, 480), 0.1, (160, 160)).unwrap();
        assert_eq!((r.y, r.height), (0, 480));
        assert!(r.width < 1000 && r.fits((1000, 480)));
    }

    #[test]
    fn tracker_needs_the_torso() {
        let names: Vec<String> = crate::config::COCO17_NAMES.map(String::from).to_vec();
        let mut t = CropTracker::new(&Crop::default(), &names, (160, 160));
        let mut joints = vec![j(0.0, 0.0, false); 17];
        joints[0] = j(300.0, 100.0, true); // nose
        joints[9] = j(200.0, 300.0, true); // left wrist
        t.observe(&joints, (1280, 960));
        assert_eq!(t.region((1280, 960)), None, "no torso joint seen");
        joints[5] = j(280.0, 150.0, true); // left shoulder
        t.observe(&joints, (1280, 960));
        assert_eq!(t.region((1280, 960)), None, "one of the two needed");
        joints[12] = j(320.0, 250.0, true); // right hip
        t.observe(&joints, (1280, 960));
        let r = t.region((1280, 960)).expect("torso seen");
        assert!(r.x <= 200 && r.x + r.width >= 300 && r.y <= 100 && r.y + r.height >= 300);
        // A smaller next frame (the camera changed) does not get an outside region.
        assert_eq!(t.region((320, 240)), None);
        t.reset();
        assert_eq!(t.region((1280, 960)), None);
    }

    #[test]
    fn joints_move_to_frame_pixels() {
        let mut js = [j(1.5, 2.0, true)];
        to_frame(
            &mut js,
            &Region {
                x: 10,
                y: 20,
                width: 5,
                height: 5,
            },
        );
        assert_eq!((js[0].x, js[0].y), (11.5, 22.0));
    }
}
