//! [`run_stream`]: the capture, inference and outputs threads of `lm stream`.
//!
//! Capture (its own thread) → [`LatestFrame`] → inference (the calling thread, on the
//! [`Pipeline`]) → a bounded channel → outputs (its own thread: JSON Lines, `--record`, the HTTP
//! hub). Outputs are never dropped: a slow disk slows inference, and a live source then drops
//! frames in the latest-frame queue instead. Stops at the end of the source, after `frames`
//! frames, on SIGINT/SIGTERM, or on an output error; then the JSON Lines are flushed and the
//! summary printed before any error is returned.

use super::http::{HttpServer, Hub};
use super::jsonl::FrameRecord;
use super::queue::LatestFrame;
use super::source::{Frame, FrameSource, Next};
use super::stats::{Report, StreamStats};
use crate::output::atomic::save_png_atomic;
use crate::output::overlay::draw_inference;
use crate::pipeline::{Inference, Pipeline};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What `lm stream` was asked to do.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// The source's name in the JSON Lines.
    pub source_name: String,
    /// `-` = stdout.
    pub jsonl: Option<PathBuf>,
    /// Writes `DIR/stream.jsonl` and `DIR/frames/<frame>.png` overlays.
    pub record: Option<PathBuf>,
    /// Stop after this many frames are output.
    pub frames: Option<u64>,
    /// `ADDR:PORT` of the web view.
    pub http: Option<String>,
    /// Interval of the stats line on stderr (`None`: summary only).
    pub report_every: Option<Duration>,
    /// JPEG quality of `/stream.mjpg`.
    pub jpeg_quality: u8,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            source_name: String::new(),
            jsonl: None,
            record: None,
            frames: None,
            http: None,
            report_every: Some(Duration::from_secs(5)),
            jpeg_quality: 80,
        }
    }
}

/// How a stream ended.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    pub report: Report,
    /// The HTTP server's address, when it ran.
    pub http: Option<std::net::SocketAddr>,
}

struct Done {
    frame: Frame,
    inference: Inference,
    /// The frame's JSON Lines record.
    line: String,
    latency: Duration,
}

/// Warns about the first corrupt frames, then every 100th, so a broken stream does not flood
/// the log.
fn warn_corrupt(count: u64, error: &anyhow::Error) {
    if count <= 10 || count.is_multiple_of(100) {
        tracing::warn!("corrupt frame skipped ({count} so far): {error:#}");
    }
}

fn capture_loop(
    mut source: Box<dyn FrameSource>,
    queue: Arc<LatestFrame<Frame>>,
    stats: Arc<Mutex<StreamStats>>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let live = source.is_live();
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        match source.next_frame() {
            Ok(Next::Frame(f)) => {
                stats.lock().unwrap().captured += 1;
                if live {
                    queue.replace(f);
                } else if !queue.put_wait(f) {
                    break Ok(());
                }
            }
            Ok(Next::Corrupt { error, .. }) => {
                let n = {
                    let mut s = stats.lock().unwrap();
                    s.corrupt += 1;
                    s.corrupt
                };
                warn_corrupt(n, &error);
            }
            Ok(Next::End) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    queue.close();
    result
}

struct Outputs {
    jsonl: Vec<(PathBuf, Box<dyn Write + Send>)>,
    frames_dir: Option<PathBuf>,
    hub: Option<Arc<Hub>>,
    jpeg_quality: u8,
}

impl Outputs {
    fn open(opts: &StreamOptions, hub: Option<Arc<Hub>>) -> Result<Outputs> {
        let mut jsonl: Vec<(PathBuf, Box<dyn Write + Send>)> = vec![];
        let file = |p: &PathBuf| -> Result<Box<dyn Write + Send>> {
            let f = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            Ok(Box::new(std::io::BufWriter::new(f)))
        };
        if let Some(p) = &opts.jsonl {
            if p.as_os_str() == "-" {
                jsonl.push((p.clone(), Box::new(std::io::stdout())));
            } else {
                jsonl.push((p.clone(), file(p)?));
            }
        }
        let mut frames_dir = None;
        if let Some(dir) = &opts.record {
            let frames = dir.join("frames");
            std::fs::create_dir_all(&frames)
                .with_context(|| format!("cannot create {}", frames.display()))?;
            let p = dir.join("stream.jsonl");
            jsonl.push((p.clone(), file(&p)?));
            frames_dir = Some(frames);
        }
        Ok(Outputs {
            jsonl,
            frames_dir,
            hub,
            jpeg_quality: opts.jpeg_quality,
        })
    }

    fn write(&mut self, kp: &crate::config::KeypointsSection, done: &Done) -> Result<()> {
        let line = &done.line;
        for (path, w) in &mut self.jsonl {
            // One whole line per frame, flushed: a reader (or a crash) sees complete records.
            w.write_all(line.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .and_then(|_| w.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let wants_jpeg = self.hub.as_ref().is_some_and(|h| h.wants_jpeg());
        if self.frames_dir.is_some() || wants_jpeg {
            let mut picture = done.frame.image.clone();
            draw_inference(&mut picture, &done.inference.pose, kp);
            if let Some(dir) = &self.frames_dir {
                save_png_atomic(&picture, &dir.join(format!("{:08}.png", done.frame.number)))?;
            }
            if let (true, Some(hub)) = (wants_jpeg, &self.hub) {
                let mut jpeg = Vec::with_capacity(32 << 10);
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, self.jpeg_quality)
                    .encode_image(&picture)
                    .context("cannot encode the overlay as JPEG")?;
                hub.publish_jpeg(jpeg);
            }
        }
        if let Some(hub) = &self.hub {
            hub.publish_pose(line.to_string());
        }
        Ok(())
    }
}

/// Runs the stream until it ends; prints the stats line every `report_every` and the summary
/// on stderr. An error of the source or an output is returned after the summary.
pub fn run_stream(
    pipeline: &Pipeline,
    source: Box<dyn FrameSource>,
    opts: &StreamOptions,
) -> Result<StreamSummary> {
    run_stream_with(pipeline, source, opts, |_| {})
}

/// [`run_stream`], calling `on_start` with the HTTP server's address once it listens (tests
/// use it to connect to port 0).
pub fn run_stream_with(
    pipeline: &Pipeline,
    source: Box<dyn FrameSource>,
    opts: &StreamOptions,
    on_start: impl FnOnce(Option<std::net::SocketAddr>),
) -> Result<StreamSummary> {
    super::signal::install();
    let server = match &opts.http {
        Some(addr) => Some(HttpServer::start(addr, Hub::new())?),
        None => None,
    };
    let http_addr = server.as_ref().map(|s| s.addr);
    if let Some(a) = http_addr {
        eprintln!("lm stream: web view on http://{a}/");
    }
    let mut outputs = Outputs::open(opts, server.as_ref().map(|s| s.hub.clone()))?;
    on_start(http_addr);

    let stats = Arc::new(Mutex::new(StreamStats::default()));
    let queue = Arc::new(LatestFrame::<Frame>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let capture = {
        let (q, s, st) = (queue.clone(), stats.clone(), stop.clone());
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture_loop(source, q, s, st))?
    };

    let (tx, rx) = sync_channel::<Done>(2);
    let output_thread = {
        let (stats, stop) = (stats.clone(), stop.clone());
        let keypoints = pipeline.meta.keypoints.clone();
        std::thread::Builder::new()
            .name("outputs".into())
            .spawn(move || -> Result<()> {
                for done in rx {
                    if let Err(e) = outputs.write(&keypoints, &done) {
                        stop.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                    let mut s = stats.lock().unwrap();
                    s.output += 1;
                    s.latency.record(done.latency);
                }
                Ok(())
            })?
    };

    let hub = server.as_ref().map(|s| s.hub.clone());
    let mut sent = 0u64;
    let mut mark = stats.lock().unwrap().snapshot(Instant::now());
    let mut last_report = Instant::now();
    let mut last_hub = Instant::now();
    loop {
        if super::signal::requested() {
            eprintln!("lm stream: stopping (signal)");
            break;
        }
        if stop.load(Ordering::SeqCst) || opts.frames.is_some_and(|n| sent >= n) {
            break;
        }
        let now = Instant::now();
        if let Some(every) = opts.report_every {
            if now - last_report >= every {
                let mut s = stats.lock().unwrap();
                s.dropped = queue.dropped();
                eprintln!("lm stream: {}", s.report(Some(&mark), now));
                mark = s.snapshot(now);
                last_report = now;
            }
        }
        if let Some(hub) = &hub {
            if now - last_hub >= Duration::from_secs(1) {
                let mut s = stats.lock().unwrap();
                s.dropped = queue.dropped();
                hub.publish_stats(serde_json::to_string(&s.report(None, now))?);
                last_hub = now;
            }
        }
        let frame = match queue.take(Duration::from_millis(100)) {
            Err(()) => break,
            Ok(None) => continue,
            Ok(Some(f)) => f,
        };
        let queued = frame.captured_at.elapsed();
        match pipeline.infer(&frame.image) {
            Ok(inference) => {
                {
                    let mut s = stats.lock().unwrap();
                    s.inferred += 1;
                    s.inference_time += inference.times.total();
                }
                let latency = frame.captured_at.elapsed();
                let record = FrameRecord::new(
                    pipeline,
                    &opts.source_name,
                    &frame,
                    &inference,
                    queued,
                    latency,
                );
                let line = serde_json::to_string(&record)?;
                if tx
                    .send(Done {
                        frame,
                        inference,
                        line,
                        latency,
                    })
                    .is_err()
                {
                    break; // the outputs thread failed: its error is reported below
                }
                sent += 1;
            }
            Err(e) => {
                let n = {
                    let mut s = stats.lock().unwrap();
                    s.inference_errors += 1;
                    s.inference_errors
                };
                if n <= 10 || n.is_multiple_of(100) {
                    tracing::warn!("frame {} skipped: {e:#}", frame.number);
                }
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    queue.close();
    drop(tx);
    let output_result = output_thread
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the outputs thread panicked")));
    // The capture thread may sit in a blocking read (stdin, a camera): wait briefly, then
    // leave it; it ends with the process.
    let deadline = Instant::now() + Duration::from_secs(1);
    while !capture.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let capture_result = if capture.is_finished() {
        capture
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the capture thread panicked")))
    } else {
        Ok(())
    };
    let report = {
        let mut s = stats.lock().unwrap();
        s.dropped = queue.dropped();
        s.report(None, Instant::now())
    };
    if let Some(hub) = &hub {
        hub.publish_stats(serde_json::to_string(&report)?);
    }
    eprintln!("lm stream: summary: {report}");
    drop(server);
    output_result.context("output failed; stream stopped")?;
    capture_result.context("source failed; stream stopped")?;
    Ok(StreamSummary {
        report,
        http: http_addr,
    })
}
