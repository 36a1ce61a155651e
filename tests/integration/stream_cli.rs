//! `lm stream` end to end: the binary on an image folder (`--frames N --jsonl`), stdin MJPEG
//! with a corrupt frame, `--record`, SIGTERM, and the library runner with `--http`.

use crate::common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn lm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lm"))
}

fn people(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        image::RgbImage::from_fn(96, 72, |x, y| {
            image::Rgb([(x * 2 + i as u32 * 20) as u8, (y * 3) as u8, (x ^ y) as u8])
        })
        .save(dir.join(format!("f{i:03}.png")))
        .unwrap();
    }
}

fn meta() -> String {
    fixture("lm_tiny_quantize.yaml").display().to_string()
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn folder_frames_n_jsonl_matches_lm_run() {
    let d = tempfile::tempdir().unwrap();
    let frames = d.path().join("frames");
    people(&frames, 5);
    let jsonl = d.path().join("out.jsonl");
    let o = lm()
        .args([
            "stream",
            "-s",
            frames.to_str().unwrap(),
            "-c",
            &meta(),
            "--frames",
            "3",
        ])
        .args(["--jsonl", jsonl.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("summary:") && stderr.contains("3 frames out"),
        "{stderr}"
    );
    let recs = lines(&jsonl);
    assert_eq!(recs.len(), 3);
    // A folder without ?fps is read as fast as inference takes it: nothing dropped, in order.
    let numbers: Vec<u64> = recs.iter().map(|r| r["frame"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [0, 1, 2]);
    for r in &recs {
        assert_eq!(r["source"], frames.to_str().unwrap());
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(96), Some(72))
        );
        assert_eq!(r["keypoints"].as_array().unwrap().len(), 17);
        assert_eq!(r["joints"].as_array().unwrap().len(), 51);
        assert!(r["timestamp"].as_f64().unwrap() > 1.7e9);
        for k in ["queue", "pre", "run", "post"] {
            assert!(r["times"][k].as_f64().unwrap() >= 0.0);
        }
        assert!(r["latency"].as_f64().unwrap() >= r["times"]["run"].as_f64().unwrap());
    }

    // The same prediction as `lm run` on that image.
    let out = d.path().join("run");
    let o = lm()
        .args([
            "run",
            "-i",
            frames.join("f001.png").to_str().unwrap(),
            "-c",
            &meta(),
        ])
        .args(["-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("output.json")).unwrap()).unwrap();
    let p = &run["results"][0]["prediction"];
    assert_eq!(p["joints"], recs[1]["joints"]);
    assert_eq!(p["keypoints"], recs[1]["keypoints"]);
}

#[test]
fn stdin_mjpeg_with_a_corrupt_frame_and_record() {
    let d = tempfile::tempdir().unwrap();
    let mut bytes = vec![];
    for i in 0..4u32 {
        let img =
            image::RgbImage::from_fn(80, 60, |x, y| image::Rgb([(x + i * 9) as u8, y as u8, 90]));
        let mut j = vec![];
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut j, 85)
            .encode_image(&img)
            .unwrap();
        if i == 2 {
            j.truncate(j.len() / 3); // cut short: the next SOI starts frame 3
        }
        bytes.extend(j);
    }
    let rec = d.path().join("rec");
    let jsonl = d.path().join("stdout.jsonl");
    let mut child = lm()
        .args([
            "stream",
            "-s",
            "-",
            "-c",
            &meta(),
            "--record",
            rec.to_str().unwrap(),
        ])
        .args(["--jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 corrupt") && stderr.contains("3 frames out"),
        "{stderr}"
    );
    std::fs::write(&jsonl, &o.stdout).unwrap();
    let out = lines(&jsonl);
    let recorded = lines(&rec.join("stream.jsonl"));
    assert_eq!(out, recorded);
    let numbers: Vec<u64> = out.iter().map(|r| r["frame"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [0, 1, 3]);
    for n in numbers {
        let png = rec.join("frames").join(format!("{n:08}.png"));
        assert_eq!(image::open(&png).unwrap().width(), 80, "{}", png.display());
    }
}

#[test]
fn sigterm_ends_a_live_stream_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let frames = d.path().join("frames");
    people(&frames, 2);
    let jsonl = d.path().join("live.jsonl");
    let source = format!("{}?fps=20&loop", frames.display());
    let child = lm()
        .args([
            "stream",
            "-s",
            &source,
            "-c",
            &meta(),
            "--stats-every",
            "0.5",
        ])
        .args(["--jsonl", jsonl.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first frames (model load and a debug build take a while), then for a few
    // stats lines.
    let t = std::time::Instant::now();
    while std::fs::read_to_string(&jsonl).map_or(0, |s| s.lines().count()) < 3 {
        assert!(t.elapsed() < Duration::from_secs(120), "no frames in 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1600));
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("stopping (signal)") && stderr.contains("summary:"),
        "{stderr}"
    );
    let periodic = stderr
        .lines()
        .filter(|l| l.contains("end-to-end") && !l.contains("summary"))
        .count();
    assert!(periodic >= 2, "no periodic stats: {stderr}");
    let recs = lines(&jsonl); // every line complete JSON
    assert!(recs.len() >= 3);
    // The summary counts what the file holds.
    assert!(
        stderr.contains(&format!("{} frames out", recs.len())),
        "{stderr}"
    );
}

#[test]
fn bad_source_and_missing_camera_are_one_line_errors() {
    for (src, needle) in [
        ("clip.mp4", "name the kind with a scheme"),
        ("v4l2:/dev/video-lm-none", "/dev/video-lm-none"),
        ("nothing/*.png", "cannot read folder"),
    ] {
        let o = lm()
            .args(["stream", "-s", src, "-c", &meta()])
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains(needle), "{needle:?} not in {e}");
    }
}

#[test]
fn library_runner_serves_the_overlay_stream_and_pose() {
    let d = tempfile::tempdir().unwrap();
    let frames = d.path().join("frames");
    people(&frames, 3);
    let pipeline = lm::pipeline::Pipeline::load(
        &fixture("lm_tiny_quantize.yaml"),
        None,
        &lm::model::LoadOptions::default(),
    )
    .unwrap();
    let uri = lm::stream::SourceUri::parse(&format!("{}?fps=25&loop", frames.display())).unwrap();
    let source = lm::stream::open_source(&uri).unwrap();
    let opts = lm::stream::StreamOptions {
        source_name: uri.text.clone(),
        http: Some("127.0.0.1:0".into()),
        frames: Some(50),
        report_every: None,
        ..Default::default()
    };
    let client = std::sync::Mutex::new(None);
    let on_start = Box::new(|addr: Option<std::net::SocketAddr>| {
        let addr = addr.unwrap();
        *client.lock().unwrap() = Some(std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET /stream.mjpg HTTP/1.1\r\n\r\n").unwrap();
            let mut buf = vec![];
            let mut chunk = [0u8; 4096];
            // Two whole parts: boundary, headers, JPEG.
            while buf.windows(9).filter(|w| w == b"--lmframe").count() < 3 {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "stream ended early");
                buf.extend_from_slice(&chunk[..n]);
            }
            let start = buf
                .windows(4)
                .position(|w| w == b"\xff\xd8\xff\xe0")
                .unwrap();
            let img = image::load_from_memory(&buf[start..]).unwrap();
            assert_eq!(img.width(), 96);
            let mut p = std::net::TcpStream::connect(addr).unwrap();
            p.write_all(b"GET /pose HTTP/1.1\r\n\r\n").unwrap();
            let mut resp = String::new();
            p.read_to_string(&mut resp).unwrap();
            let body = resp.split("\r\n\r\n").nth(1).unwrap();
            let pose: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
            assert_eq!(pose["keypoints"].as_array().unwrap().len(), 17);
        }));
    });
    let hooks = lm::stream::runner::StreamHooks {
        gpio: None,
        on_start: Some(on_start),
    };
    let summary = lm::stream::runner::run_stream(&pipeline, source, &opts, hooks).unwrap();
    client.into_inner().unwrap().unwrap().join().unwrap();
    assert_eq!(summary.report.frames_output, 50);
    assert!(summary.http.is_some());
}

/// colour_blocks.onnx: every joint visible on a red and green frame, none on a black one.
fn colour_pipeline(dir: &Path) -> lm::pipeline::Pipeline {
    let model = fixture("colour_blocks.onnx");
    let meta = dir.join("colour.yaml");
    std::fs::write(&meta, small_meta(model.to_str().unwrap(), 0.5)).unwrap();
    lm::pipeline::Pipeline::load(&meta, None, &lm::model::LoadOptions::default()).unwrap()
}

/// Frames that show a person (`true`: red and green halves) or nobody (black).
fn person_folder(dir: &Path, persons: &[bool]) -> lm::stream::SourceUri {
    let folder = dir.join("gpio_frames");
    std::fs::create_dir_all(&folder).unwrap();
    for (i, &p) in persons.iter().enumerate() {
        image::RgbImage::from_fn(64, 64, |x, _| match (p, x < 32) {
            (false, _) => image::Rgb([0, 0, 0]),
            (true, true) => image::Rgb([255, 0, 0]),
            (true, false) => image::Rgb([0, 255, 0]),
        })
        .save(folder.join(format!("{i:03}.png")))
        .unwrap();
    }
    lm::stream::SourceUri::parse(folder.to_str().unwrap()).unwrap()
}

/// A button pressed `presses` times (one press per two samples), then never again.
struct CountedButton {
    samples: usize,
    presses: usize,
    shown: usize,
}

impl lm::stream::runner::StreamGpio for CountedButton {
    fn has_button(&self) -> bool {
        true
    }
    fn pressed(&mut self) -> anyhow::Result<bool> {
        self.samples += 1;
        let press = self.samples.is_multiple_of(2) && self.samples / 2 <= self.presses;
        Ok(press)
    }
    fn show(&mut self, _visible_joints: usize) -> anyhow::Result<()> {
        self.shown += 1;
        Ok(())
    }
}

#[test]
fn with_a_button_a_folder_that_has_ended_ends_the_stream() {
    let d = tempfile::tempdir().unwrap();
    let uri = person_folder(d.path(), &[true, false, true]);
    let dir = d.path().to_path_buf();
    // Presses for every frame and more: without a frame limit the stream must still end when
    // the folder has, not wait for presses that can bring nothing.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let pipeline = colour_pipeline(&dir);
        let mut button = CountedButton {
            samples: 0,
            presses: 10,
            shown: 0,
        };
        let opts = lm::stream::StreamOptions {
            source_name: uri.text.clone(),
            report_every: None,
            ..Default::default()
        };
        let source = lm::stream::open_source(&uri).unwrap();
        let hooks = lm::stream::runner::StreamHooks {
            gpio: Some(&mut button),
            on_start: None,
        };
        let r = lm::stream::runner::run_stream(&pipeline, source, &opts, hooks)
            .map(|s| s.report.frames_output);
        let _ = tx.send((r.map_err(|e| format!("{e:#}")), button.shown));
    });
    let (frames, shown) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("lm stream with --button kept waiting after the folder ended");
    assert_eq!(frames.unwrap(), 3);
    assert_eq!(shown, 3);
}

#[test]
fn led_shows_each_frames_person_and_each_button_press_lets_one_frame_through() {
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction as T};
    use lm::board::indicator::{Indicator, IndicatorConfig};
    let d = tempfile::tempdir().unwrap();
    let pipeline = colour_pipeline(d.path());
    let persons = [true, true, false, true, false];
    let uri = person_folder(d.path(), &persons);
    // The LED is written on changes only: on, off, on, off.
    let led = Mock::new(&[
        T::set(State::High),
        T::set(State::Low),
        T::set(State::High),
        T::set(State::Low),
    ]);
    // Active-low button: per frame, released (High) then pressed (Low) = one press edge.
    let presses: Vec<T> = (0..persons.len())
        .flat_map(|_| [T::get(State::High), T::get(State::Low)])
        .collect();
    let button = Mock::new(&presses);
    let mut ind = Indicator::new(
        Some(led),
        Some(button),
        IndicatorConfig {
            min_visible_joints: 5,
            led_active_low: false,
            button_active_low: true,
        },
    );
    let jsonl = d.path().join("gpio.jsonl");
    let opts = lm::stream::StreamOptions {
        source_name: uri.text.clone(),
        jsonl: Some(jsonl.clone()),
        frames: Some(persons.len() as u64),
        report_every: None,
        ..Default::default()
    };
    let source = lm::stream::open_source(&uri).unwrap();
    let hooks = lm::stream::runner::StreamHooks {
        gpio: Some(&mut ind),
        on_start: None,
    };
    let summary = lm::stream::runner::run_stream(&pipeline, source, &opts, hooks).unwrap();
    assert_eq!(summary.report.frames_output, persons.len() as u64);
    let recs = lines(&jsonl);
    let visible: Vec<usize> = recs
        .iter()
        .map(|r| {
            r["keypoints"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["visible"] == true)
                .count()
        })
        .collect();
    assert_eq!(visible, [17, 17, 0, 17, 0]);
    // Every expected pin transaction happened, and no other (the mocks panic on extras).
    let (led, button) = ind.release();
    led.unwrap().done();
    button.unwrap().done();
}

#[test]
fn a_failing_led_stops_the_stream_after_the_summary() {
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction as T};
    use embedded_hal_mock::eh1::MockError;
    use lm::board::indicator::{Indicator, IndicatorConfig};
    let d = tempfile::tempdir().unwrap();
    let pipeline = colour_pipeline(d.path());
    let uri = person_folder(d.path(), &[true, true, true]);
    let led =
        Mock::new(&[T::set(State::High).with_error(MockError::Io(std::io::ErrorKind::BrokenPipe))]);
    let mut ind: Indicator<Mock, Mock> =
        Indicator::new(Some(led), None, IndicatorConfig::default());
    let opts = lm::stream::StreamOptions {
        source_name: uri.text.clone(),
        report_every: None,
        ..Default::default()
    };
    let source = lm::stream::open_source(&uri).unwrap();
    let hooks = lm::stream::runner::StreamHooks {
        gpio: Some(&mut ind),
        on_start: None,
    };
    let e = lm::stream::runner::run_stream(&pipeline, source, &opts, hooks).unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("GPIO failed") && e.contains("status LED pin"),
        "{e}"
    );
    ind.release().0.unwrap().done();
}

#[test]
fn gpio_pins_missing_off_the_board_are_a_one_line_error() {
    let d = tempfile::tempdir().unwrap();
    let frames = d.path().join("frames");
    people(&frames, 1);
    let o = lm()
        .args(["stream", "-s", frames.to_str().unwrap(), "-c", &meta()])
        .args(["--led", "/nonexistent/gpiochip7:1"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains("/nonexistent/gpiochip7"), "{e}");
}

/// `lm stream -s -` on a pipe that stays open after 3 JPEGs: the capture thread then blocks in
/// its read, so stopping takes about a second (the runner waits that long for it). Returns the
/// child once the 3 frames are out.
fn stream_on_an_open_pipe(d: &Path) -> std::process::Child {
    let jsonl = d.join("out.jsonl");
    let mut child = lm()
        .args(["stream", "-s", "-", "-c", &meta(), "--stats-every", "0"])
        .args(["--jsonl", jsonl.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..3u32 {
        let img = image::RgbImage::from_fn(80, 60, |x, y| image::Rgb([(x + i) as u8, y as u8, 9]));
        let mut j = vec![];
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut j, 85)
            .encode_image(&img)
            .unwrap();
        stdin.write_all(&j).unwrap();
    }
    stdin.flush().unwrap();
    // Kept open (leaked into a thread that outlives the test's use of it).
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        drop(stdin);
    });
    let t = std::time::Instant::now();
    // The third frame is only complete once the fourth SOI or the end arrives: wait for two.
    while std::fs::read_to_string(&jsonl).map_or(0, |s| s.lines().count()) < 2 {
        assert!(t.elapsed() < Duration::from_secs(120), "no frames in 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn signal(child: &std::process::Child, times: usize) {
    for _ in 0..times {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_second_signal_while_stopping_keeps_the_summary() {
    let d = tempfile::tempdir().unwrap();
    let child = stream_on_an_open_pipe(d.path());
    signal(&child, 2);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?}: {stderr}", o.status);
    assert!(
        stderr.contains("stopping (signal)") && stderr.contains("summary:"),
        "{stderr}"
    );
}

#[test]
fn a_third_signal_exits_at_once() {
    let d = tempfile::tempdir().unwrap();
    let child = stream_on_an_open_pipe(d.path());
    signal(&child, 3);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(128 + libc::SIGTERM), "{stderr}");
    assert!(stderr.contains("third stop signal"), "{stderr}");
    assert!(!stderr.contains("summary:"), "{stderr}");
}

#[test]
fn the_web_view_listens_before_stdin_delivers() {
    let mut child = lm()
        .args(["stream", "-s", "-", "-c", &meta(), "--http", "127.0.0.1:0"])
        .args(["--stats-every", "0"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nothing is written to stdin: the server must still come up.
    let stdin = child.stdin.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("lm stream: web view on http://") {
                let _ = tx.send(url.trim_end_matches('/').to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(120));
    let health = addr.as_ref().ok().map(|addr| {
        let mut s = std::net::TcpStream::connect(addr.as_str()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
        let mut resp = String::new();
        let _ = std::io::Read::read_to_string(&mut s, &mut resp);
        resp
    });
    // SAFETY: kill(2) on our own child; stdin closed so that it can end.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    drop(stdin);
    let _ = child.wait();
    let health = health.expect("the web view never listened while stdin was silent");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"starting\""),
        "{health}"
    );
}
