//! [`run_stream`]: the capture, inference and outputs threads of `lm stream`.
//!
//! Capture (its own thread) → [`LatestFrame`] → inference (the calling thread, on the
//! [`Pipeline`]) → a bounded channel → outputs (its own thread: the [`super::sink`]s, JSON Lines,
//! `--record`, the HTTP hub). Outputs are never dropped: a slow disk slows inference, and a live source then drops
//! frames in the latest-frame queue instead. Stops at the end of the source, after `frames`
//! frames, on SIGINT/SIGTERM, or on an output error; then the JSON Lines are flushed and the
//! summary printed before any error is returned.
//!
//! With meta.yaml `TEMPORAL` the inference goes through [`Temporal`] (crop tracking,
//! smoothing). With GPIO ([`StreamGpio`]: `--led`, `--button`) the LED shows whether each
//! frame has a person, and with a button each press lets one frame through to inference.

use super::http::{HttpServer, Hub};
use super::jsonl::FrameRecord;
use super::options::StreamOptions;
use super::queue::LatestFrame;
use super::sink::{open_sinks, Processed, SinkFrame};
use super::source::{Frame, FrameSource, Next};
use super::stats::{Report, StreamStats};
use super::temporal::Temporal;
use crate::board::indicator::Indicator;
use crate::pipeline::Pipeline;
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The status LED and trigger button as `lm stream` uses them; implemented by
/// [`Indicator`] (`src/board`: real pins, or mocks in tests).
pub trait StreamGpio {
    /// Whether frames wait for button presses.
    fn has_button(&self) -> bool;
    /// Samples the button once: `true` on a press (an inactive → active edge).
    fn pressed(&mut self) -> Result<bool>;
    /// Shows a frame with `visible_joints` visible joints on the LED.
    fn show(&mut self, visible_joints: usize) -> Result<()>;
}

impl<L, B> StreamGpio for Indicator<L, B>
where
    L: embedded_hal::digital::OutputPin,
    B: embedded_hal::digital::InputPin,
    L::Error: std::fmt::Debug,
    B::Error: std::fmt::Debug,
{
    fn has_button(&self) -> bool {
        Indicator::has_button(self)
    }
    fn pressed(&mut self) -> Result<bool> {
        Ok(self.poll_trigger()?)
    }
    fn show(&mut self, visible_joints: usize) -> Result<()> {
        Indicator::show(self, visible_joints)?;
        Ok(())
    }
}

/// How often the trigger button is sampled while waiting for a press.
pub const BUTTON_POLL: Duration = Duration::from_millis(20);

/// How a stream ended.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    pub report: Report,
    /// The HTTP server's address, when it ran.
    pub http: Option<std::net::SocketAddr>,
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
        let next = source.next_frame();
        stats.lock().unwrap().reconnects = source.reconnects();
        match next {
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
            Err(e) if super::v4l2::CameraLost::is(&e) => {
                break Err(e.context(
                    "the camera is gone (add ?reconnect to the source URI to wait for it to \
                     come back)",
                ))
            }
            Err(e) => break Err(e),
        }
    };
    queue.close();
    result
}

/// What a caller adds around the stream (all optional).
#[derive(Default)]
pub struct StreamHooks<'a> {
    /// The status LED and trigger button; a GPIO error stops the stream (returned after the
    /// summary).
    pub gpio: Option<&'a mut dyn StreamGpio>,
    /// Called with the HTTP server's address once it listens (tests use it to connect to
    /// port 0).
    pub on_start: Option<Box<dyn FnOnce(Option<std::net::SocketAddr>) + 'a>>,
}

/// Runs the stream until it ends; prints the stats line every `report_every` and the summary
/// on stderr. An error of the source or an output is returned after the summary.
pub fn run_stream(
    pipeline: &Pipeline,
    source: Box<dyn FrameSource>,
    opts: &StreamOptions,
    hooks: StreamHooks,
) -> Result<StreamSummary> {
    let StreamHooks { mut gpio, on_start } = hooks;
    super::signal::install();
    let server = match &opts.http {
        Some(addr) => Some(HttpServer::start(addr, Hub::new())?),
        None => None,
    };
    let http_addr = server.as_ref().map(|s| s.addr);
    if let Some(a) = http_addr {
        eprintln!("lm stream: web view on http://{a}/");
    }
    let mut sinks = open_sinks(opts, server.as_ref().map(|s| s.hub.clone()))?;
    if let Some(on_start) = on_start {
        on_start(http_addr);
    }

    let stats = Arc::new(Mutex::new(StreamStats::default()));
    let queue = Arc::new(LatestFrame::<Frame>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let capture = {
        let (q, s, st) = (queue.clone(), stats.clone(), stop.clone());
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture_loop(source, q, s, st))?
    };

    let (tx, rx) = sync_channel::<Processed>(2);
    let output_thread = {
        let (stats, stop) = (stats.clone(), stop.clone());
        let keypoints = pipeline.meta.keypoints.clone();
        std::thread::Builder::new()
            .name("outputs".into())
            .spawn(move || -> Result<()> {
                for done in rx {
                    let frame = SinkFrame::new(&done, &keypoints);
                    if let Err(e) = sinks.iter_mut().try_for_each(|sink| sink.write(&frame)) {
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
    let mut temporal = Temporal::new(&pipeline.meta);
    // With a button, a frame goes through only after a press.
    let button = gpio.as_ref().is_some_and(|g| g.has_button());
    let mut armed = !button;
    let mut gpio_error = None;
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
        if !armed {
            // A file or folder that has ended: no press can bring another frame.
            if queue.is_drained() {
                break;
            }
            match gpio.as_mut().map_or(Ok(true), |g| g.pressed()) {
                Ok(true) => armed = true,
                Ok(false) => {
                    std::thread::sleep(BUTTON_POLL);
                    continue;
                }
                Err(e) => {
                    gpio_error = Some(e);
                    break;
                }
            }
        }
        let frame = match queue.take(Duration::from_millis(100)) {
            Err(()) => break,
            Ok(None) => continue,
            Ok(Some(f)) => f,
        };
        let queued = frame.captured_at.elapsed();
        let result = match &mut temporal {
            None => pipeline.infer(&frame.image).map(|i| (i, None)),
            Some(t) => t.infer(pipeline, &frame),
        };
        match result {
            Ok((inference, crop)) => {
                armed = !button;
                if let Some(g) = gpio.as_mut() {
                    let visible = inference.pose.joints.iter().filter(|j| j.visible).count();
                    if let Err(e) = g.show(visible) {
                        gpio_error = Some(e);
                        break;
                    }
                }
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
                let record = if temporal.is_some() {
                    record.with_temporal(&inference, crop)
                } else {
                    record
                };
                let line = serde_json::to_string(&record)?;
                if tx
                    .send(Processed {
                        frame,
                        inference,
                        crop,
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
    if let Some(e) = gpio_error {
        return Err(e.context("GPIO failed; stream stopped"));
    }
    Ok(StreamSummary {
        report,
        http: http_addr,
    })
}
