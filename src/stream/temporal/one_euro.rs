//! The One Euro filter (Casiez, Roussel, Vogel: "1€ Filter: A Simple Speed-based Low-pass
//! Filter for Noisy Input in Interactive Systems", CHI 2012) and the first-order low-pass it is
//! built from, as in the authors' reference implementation (the speed is taken between raw
//! samples).
//!
//! A low-pass with cut-off `fc` at time step `dt` is `y += α (x − y)`, `α = 1 / (1 + τ / dt)`,
//! `τ = 1 / (2π fc)`. The One Euro filter low-passes the speed `dx/dt` at `d_cutoff`, then the
//! value at `min_cutoff + beta · |speed|`: steady at rest, little lag when moving fast. Time
//! steps come from the caller, so an uneven frame rate (dropped frames) is handled.

use crate::config::Smoothing;

/// `α` of a first-order low-pass with cut-off `cutoff` Hz over `dt` seconds.
pub fn alpha(cutoff: f64, dt: f64) -> f64 {
    let tau = 1.0 / (2.0 * std::f64::consts::PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

/// A first-order low-pass (exponential smoothing with a time-step-dependent `α`).
#[derive(Debug, Clone, Default)]
pub struct LowPass {
    value: Option<f64>,
}

impl LowPass {
    /// The filtered value after `x` with smoothing factor `a` (the first sample passes as is).
    pub fn filter(&mut self, x: f64, a: f64) -> f64 {
        let y = match self.value {
            None => x,
            Some(prev) => prev + a * (x - prev),
        };
        self.value = Some(y);
        y
    }

    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

/// One scalar's One Euro filter.
#[derive(Debug, Clone, Default)]
pub struct OneEuro {
    x: LowPass,
    dx: LowPass,
    last: Option<(f64, f64)>, // (time, raw value)
}

impl OneEuro {
    /// Filters `x` taken at time `t` (seconds, increasing). A sample at the same time as the
    /// previous one (or earlier) replaces nothing and returns the current value.
    pub fn filter(&mut self, p: &Smoothing, t: f64, x: f64) -> f64 {
        let Some((t0, x0)) = self.last else {
            self.last = Some((t, x));
            self.dx.filter(0.0, 1.0);
            return self.x.filter(x, 1.0);
        };
        let dt = t - t0;
        if dt <= 0.0 {
            return self.x.value().unwrap_or(x);
        }
        let speed = self.dx.filter((x - x0) / dt, alpha(p.d_cutoff, dt));
        let cutoff = p.min_cutoff + p.beta * speed.abs();
        self.last = Some((t, x));
        self.x.filter(x, alpha(cutoff, dt))
    }

    /// Forgets the history: the next sample starts afresh.
    pub fn reset(&mut self) {
        *self = OneEuro::default();
    }

    pub fn value(&self) -> Option<f64> {
        self.x.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(min_cutoff: f64, beta: f64) -> Smoothing {
        Smoothing {
            min_cutoff,
            beta,
            d_cutoff: 1.0,
            score_cutoff: 1.0,
        }
    }

    /// A plain transcription of the authors' reference implementation (Casiez's 1efilter.cc:
    /// the speed is the difference of raw samples, 0 at the first), as the reference.
    fn reference(p: &Smoothing, samples: &[(f64, f64)]) -> Vec<f64> {
        let a = |fc: f64, te: f64| 1.0 / (1.0 + (1.0 / (2.0 * std::f64::consts::PI * fc)) / te);
        let (mut hat_x, mut hat_dx) = (samples[0].1, 0.0);
        let mut out = vec![hat_x];
        for w in samples.windows(2) {
            let ((t0, x0), (t, x)) = (w[0], w[1]);
            let te = t - t0;
            hat_dx += a(p.d_cutoff, te) * ((x - x0) / te - hat_dx);
            let fc = p.min_cutoff + p.beta * hat_dx.abs();
            hat_x += a(fc, te) * (x - hat_x);
            out.push(hat_x);
        }
        out
    }

    #[test]
    fn matches_the_reference_implementation_on_a_noisy_ramp() {
        let p = params(1.0, 0.05);
        // 30 frames/s with a dropped frame, a ramp at 60 px/s plus deterministic noise.
        let mut samples = vec![];
        let mut t = 0.0;
        for i in 0..60 {
            t += if i == 20 { 2.0 / 30.0 } else { 1.0 / 30.0 };
            let noise = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
            samples.push((t, 100.0 + 60.0 * t + 3.0 * noise));
        }
        let want = reference(&p, &samples);
        let mut f = OneEuro::default();
        for (&(t, x), w) in samples.iter().zip(&want) {
            let got = f.filter(&p, t, x);
            assert!((got - w).abs() < 1e-9, "t {t}: {got} vs {w}");
        }
    }

    #[test]
    fn steadies_jitter_at_rest_and_follows_fast_moves() {
        // At rest: ±2 px of alternating jitter at 30 frames/s shrinks to well under a pixel.
        let p = params(1.0, 0.01);
        let mut f = OneEuro::default();
        let mut last = 0.0;
        for i in 0..90 {
            let x = 50.0 + if i % 2 == 0 { 2.0 } else { -2.0 };
            last = f.filter(&p, i as f64 / 30.0, x);
        }
        assert!((last - 50.0).abs() < 0.6, "{last}");
        // A fast move (600 px/s): with beta the lag is a fraction of the one without.
        let lag = |beta: f64| {
            let p = params(1.0, beta);
            let mut f = OneEuro::default();
            let mut y = 0.0;
            let mut x = 0.0;
            for i in 0..30 {
                x = 20.0 * i as f64;
                y = f.filter(&p, i as f64 / 30.0, x);
            }
            x - y
        };
        let (slow, fast) = (lag(0.0), lag(0.05));
        assert!(fast < 0.25 * slow, "lag with beta {fast}, without {slow}");
    }

    #[test]
    fn low_pass_alpha_and_repeated_times() {
        // τ = dt gives α = 1/2.
        let fc = 1.0 / (2.0 * std::f64::consts::PI * 0.1);
        assert!((alpha(fc, 0.1) - 0.5).abs() < 1e-12);
        let mut l = LowPass::default();
        assert_eq!(l.filter(4.0, 0.5), 4.0);
        assert_eq!(l.filter(0.0, 0.5), 2.0);
        let p = params(1.0, 0.0);
        let mut f = OneEuro::default();
        f.filter(&p, 1.0, 10.0);
        assert_eq!(f.filter(&p, 1.0, 99.0), 10.0); // same time: ignored
        f.reset();
        assert_eq!(f.filter(&p, 2.0, 99.0), 99.0);
    }
}
