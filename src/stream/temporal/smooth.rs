//! [`PoseSmoother`]: a One Euro filter on each joint's position and a low-pass on its score.
//!
//! Per joint and frame, in frame pixels and capture-time seconds:
//! * the score is low-passed at `score_cutoff`; the joint is visible when the smoothed score
//!   reaches the post-processor's `confidence_threshold` (a one-frame dip or spike no longer
//!   makes it blink);
//! * a joint the network saw (its own per-frame visibility) feeds its position to the One Euro
//!   filter and is shown at the filtered position; a joint the network missed but whose
//!   smoothed score still holds is shown where it was last seen;
//! * a joint that goes invisible forgets its position, so that when it comes back the filter
//!   starts from the new position instead of sliding across the frame.
//!
//! Invisible joints keep their raw peak position and get the smoothed score (for diagnosis).

use super::one_euro::{alpha, LowPass, OneEuro};
use crate::config::Smoothing;
use crate::postprocess::Joint;

#[derive(Debug, Clone, Default)]
struct JointFilter {
    x: OneEuro,
    y: OneEuro,
    score: LowPass,
    /// A position from a detection since the joint was last invisible.
    tracked: bool,
}

#[derive(Debug, Clone)]
pub struct PoseSmoother {
    params: Smoothing,
    threshold: f64,
    joints: Vec<JointFilter>,
    last_t: Option<f64>,
}

impl PoseSmoother {
    /// `threshold`: the post-processor's `confidence_threshold`.
    pub fn new(params: Smoothing, threshold: f64) -> PoseSmoother {
        PoseSmoother {
            params,
            threshold,
            joints: vec![],
            last_t: None,
        }
    }

    /// Smooths one frame's joints (taken at `t` seconds) in place.
    pub fn apply(&mut self, t: f64, joints: &mut [Joint]) {
        if self.joints.len() != joints.len() {
            self.joints = vec![JointFilter::default(); joints.len()];
            self.last_t = None;
        }
        // A frame at the same time as the previous one (or earlier) moves nothing.
        let a = match self.last_t {
            None => 1.0,
            Some(t0) if t > t0 => alpha(self.params.score_cutoff, t - t0),
            Some(_) => 0.0,
        };
        self.last_t = Some(self.last_t.map_or(t, |t0| t0.max(t)));
        for (j, f) in joints.iter_mut().zip(&mut self.joints) {
            let score = f.score.filter(j.score as f64, a);
            let holds = score >= self.threshold;
            if j.visible {
                if !f.tracked {
                    f.x.reset();
                    f.y.reset();
                }
                j.x = f.x.filter(&self.params, t, j.x as f64) as f32;
                j.y = f.y.filter(&self.params, t, j.y as f64) as f32;
                f.tracked = true;
            } else if holds && f.tracked {
                j.x = f.x.value().unwrap_or(j.x as f64) as f32;
                j.y = f.y.value().unwrap_or(j.y as f64) as f32;
            }
            j.visible = holds && f.tracked;
            if !j.visible {
                f.tracked = false;
            }
            j.score = score as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joint(x: f32, y: f32, score: f32, visible: bool) -> Joint {
        Joint {
            x,
            y,
            score,
            visible,
        }
    }

    fn smoother() -> PoseSmoother {
        PoseSmoother::new(
            Smoothing {
                min_cutoff: 1.0,
                beta: 0.0,
                d_cutoff: 1.0,
                score_cutoff: 3.0,
            },
            0.5,
        )
    }

    #[test]
    fn jitter_shrinks_and_positions_follow_the_one_euro_filter() {
        let mut s = smoother();
        let p = s.params.clone();
        let (mut fx, mut fy) = (OneEuro::default(), OneEuro::default());
        let mut spread = (f32::MAX, f32::MIN);
        for i in 0..60 {
            let t = i as f64 / 30.0;
            let d = if i % 2 == 0 { 3.0 } else { -3.0 };
            let mut js = [joint(100.0 + d, 50.0 - d, 0.9, true)];
            s.apply(t, &mut js);
            // Each coordinate is exactly its own scalar filter.
            assert_eq!(js[0].x, fx.filter(&p, t, (100.0 + d) as f64) as f32);
            assert_eq!(js[0].y, fy.filter(&p, t, (50.0 - d) as f64) as f32);
            assert!(js[0].visible);
            if i >= 30 {
                spread = (spread.0.min(js[0].x), spread.1.max(js[0].x));
            }
        }
        // ±3 px raw becomes well under ±1 px.
        assert!(spread.1 - spread.0 < 2.0, "{spread:?}");
    }

    #[test]
    fn a_one_frame_miss_is_held_and_a_one_frame_spike_is_not_shown() {
        let mut s = smoother();
        let mut t = 0.0;
        let mut step = |s: &mut PoseSmoother, j: Joint| {
            let mut js = [j];
            s.apply(t, &mut js);
            t += 1.0 / 30.0;
            js[0]
        };
        for _ in 0..10 {
            assert!(step(&mut s, joint(10.0, 20.0, 0.9, true)).visible);
        }
        // The network misses the joint once (low score, peak elsewhere): still shown, where
        // it was.
        let held = step(&mut s, joint(200.0, 5.0, 0.1, false));
        assert!(held.visible && held.score > 0.5, "{held:?}");
        assert!((held.x - 10.0).abs() < 1e-3 && (held.y - 20.0).abs() < 1e-3);
        // Gone for good: invisible after a few frames, and its raw position is kept.
        let mut last = held;
        for _ in 0..10 {
            last = step(&mut s, joint(200.0, 5.0, 0.0, false));
        }
        assert!(!last.visible && last.x == 200.0, "{last:?}");
        // A one-frame spike is not shown.
        assert!(!step(&mut s, joint(60.0, 60.0, 0.9, true)).visible);
        assert!(!step(&mut s, joint(60.0, 60.0, 0.0, false)).visible);
        // Back for good at another place: shown there (the filter restarted, no slide from
        // the old position).
        let mut back = last;
        for _ in 0..5 {
            back = step(&mut s, joint(300.0, 100.0, 0.9, true));
        }
        assert!(
            back.visible && back.x == 300.0 && back.y == 100.0,
            "{back:?}"
        );
    }

    #[test]
    fn scores_are_low_passed() {
        let mut s = smoother();
        let mut js = [joint(0.0, 0.0, 0.0, false)];
        s.apply(0.0, &mut js);
        let mut js = [joint(0.0, 0.0, 1.0, true)];
        s.apply(0.1, &mut js);
        let want = alpha(3.0, 0.1);
        assert!((js[0].score as f64 - want).abs() < 1e-6, "{js:?} vs {want}");
    }
}
