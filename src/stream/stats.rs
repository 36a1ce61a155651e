//! Rates and latency of a stream: capture, inference and end-to-end frames per second,
//! dropped and corrupt frames, latency percentiles.
//!
//! Latency (capture → outputs written) goes into a histogram with logarithmic buckets (2 %
//! wide, 1 µs .. 1000 s), so that memory stays flat on an endless stream; a percentile is the
//! upper edge of its bucket (≤ 2 % high).

use serde::Serialize;
use std::time::{Duration, Instant};

const BUCKET_RATIO: f64 = 1.02;
const MIN_SECONDS: f64 = 1e-6;
const BUCKETS: usize = 1400; // 1.02^1400 ≈ 1e12 × 1 µs

#[derive(Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, d: Duration) {
        let s = d.as_secs_f64().max(MIN_SECONDS);
        let b = ((s / MIN_SECONDS).ln() / BUCKET_RATIO.ln()).floor() as usize;
        self.counts[b.min(BUCKETS - 1)] += 1;
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `p`-th percentile (0..100) in seconds; `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(MIN_SECONDS * BUCKET_RATIO.powi(b as i32 + 1));
            }
        }
        None
    }
}

/// Counters of a stream (shared between its threads behind a mutex).
#[derive(Clone)]
pub struct StreamStats {
    pub started: Instant,
    pub captured: u64,
    pub corrupt: u64,
    pub dropped: u64,
    pub inferred: u64,
    pub inference_errors: u64,
    pub output: u64,
    /// Times a lost camera was reopened (URI option `reconnect`).
    pub reconnects: u64,
    /// Sum of inference (pre + run + post) times.
    pub inference_time: Duration,
    pub latency: LatencyHistogram,
}

impl Default for StreamStats {
    fn default() -> Self {
        StreamStats {
            started: Instant::now(),
            captured: 0,
            corrupt: 0,
            dropped: 0,
            inferred: 0,
            inference_errors: 0,
            output: 0,
            reconnects: 0,
            inference_time: Duration::ZERO,
            latency: LatencyHistogram::default(),
        }
    }
}

/// Rates over an interval (or the whole run), for the log line, `/health` and the summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub seconds: f64,
    pub frames_captured: u64,
    pub frames_output: u64,
    pub dropped: u64,
    pub corrupt: u64,
    pub inference_errors: u64,
    pub reconnects: u64,
    pub capture_fps: f64,
    /// Frames per second of inference time alone (what the pipeline could do if never idle).
    pub inference_fps: f64,
    pub end_to_end_fps: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

impl StreamStats {
    /// The report of what happened since `since` (a copy of these stats taken then), or since
    /// the start with `None`.
    pub fn report(&self, since: Option<&StreamStats>, now: Instant) -> Report {
        let zero = StreamStats {
            started: self.started,
            ..StreamStats::default()
        };
        let base = since.unwrap_or(&zero);
        let t0 = since.map(|s| s.started).unwrap_or(self.started);
        let secs = (now - t0).as_secs_f64().max(1e-9);
        let inferred = self.inferred - base.inferred;
        let inf_time = (self.inference_time - base.inference_time).as_secs_f64();
        // Window percentiles: the difference of the two histograms.
        let mut window = self.latency.clone();
        for (w, b) in window.counts.iter_mut().zip(&base.latency.counts) {
            *w -= b;
        }
        window.total -= base.latency.total;
        let ms = |p: f64| window.percentile(p).map(|s| (s * 1e5).round() / 100.0);
        Report {
            seconds: (secs * 1000.0).round() / 1000.0,
            frames_captured: self.captured - base.captured,
            frames_output: self.output - base.output,
            dropped: self.dropped - base.dropped,
            corrupt: self.corrupt - base.corrupt,
            inference_errors: self.inference_errors - base.inference_errors,
            reconnects: self.reconnects - base.reconnects,
            capture_fps: (self.captured - base.captured) as f64 / secs,
            inference_fps: if inf_time > 0.0 {
                inferred as f64 / inf_time
            } else {
                0.0
            },
            end_to_end_fps: (self.output - base.output) as f64 / secs,
            latency_p50_ms: ms(50.0),
            latency_p95_ms: ms(95.0),
            latency_p99_ms: ms(99.0),
        }
    }

    /// A copy marking the start of a new interval.
    pub fn snapshot(&self, now: Instant) -> StreamStats {
        StreamStats {
            started: now,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        write!(
            f,
            "capture {:.1} fps, inference {:.1} fps, end-to-end {:.1} fps; {} frames out, \
             {} dropped, {} corrupt; latency p50/p95/p99 {}/{}/{} ms",
            self.capture_fps,
            self.inference_fps,
            self.end_to_end_fps,
            self.frames_output,
            self.dropped,
            self.corrupt,
            ms(self.latency_p50_ms),
            ms(self.latency_p95_ms),
            ms(self.latency_p99_ms)
        )?;
        if self.inference_errors > 0 {
            write!(f, "; {} inference errors", self.inference_errors)?;
        }
        if self.reconnects > 0 {
            write!(f, "; camera reconnected {} times", self.reconnects)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_within_bucket_width() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        for (p, want) in [(50.0, 0.050), (95.0, 0.095), (99.0, 0.099), (100.0, 0.100)] {
            let got = h.percentile(p).unwrap();
            assert!(got >= want && got <= want * 1.021, "p{p}: {got} vs {want}");
        }
        assert_eq!(LatencyHistogram::default().percentile(50.0), None);
    }

    #[test]
    fn interval_reports_count_only_the_interval() {
        let t0 = Instant::now();
        let mut s = StreamStats {
            started: t0,
            ..Default::default()
        };
        s.captured = 10;
        s.output = 10;
        for _ in 0..10 {
            s.latency.record(Duration::from_millis(500));
        }
        let mark = s.snapshot(t0 + Duration::from_secs(1));
        s.captured = 30;
        s.output = 20;
        s.dropped = 10;
        for _ in 0..10 {
            s.latency.record(Duration::from_millis(10));
        }
        let r = s.report(Some(&mark), t0 + Duration::from_secs(3));
        assert_eq!(
            (r.frames_captured, r.frames_output, r.dropped),
            (20, 10, 10)
        );
        assert!((r.capture_fps - 10.0).abs() < 1e-9 && (r.end_to_end_fps - 5.0).abs() < 1e-9);
        assert!(r.latency_p99_ms.unwrap() < 11.0, "{r:?}");
        let all = s.report(None, t0 + Duration::from_secs(3));
        assert_eq!(all.frames_output, 20);
        assert!(all.latency_p99_ms.unwrap() > 499.0);
    }
}
