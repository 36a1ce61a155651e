//! `lm stream`'s frame sources on fixtures the tests write themselves: image folders, MJPEG
//! (with and without Huffman tables, truncated), Y4M, and the V4L2 path on a fake camera
//! with recorded YUYV / MJPG bytes; a camera unplugged mid-stream (reconnection with backoff,
//! or a clear error).

use image::RgbImage;
use lm::stream::reconnect::Reconnecting;
use lm::stream::v4l2::{
    describe_offers, negotiate, ActualFormat, BufferInfo, Camera, CameraLost, CameraSource, Choice,
    FourCc, FrameSize, OfferedFormat, Request,
};
use lm::stream::{open_source, FrameSource, Next, SourceUri};
use std::collections::VecDeque;

fn pattern(w: u32, h: u32, seed: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, seed])
    })
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = vec![];
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(img)
        .unwrap();
    out
}

/// The JPEG without its DHT segments, as webcams send motion-JPEG.
fn strip_dht(j: &[u8]) -> Vec<u8> {
    let mut out = j[..2].to_vec();
    let mut i = 2;
    loop {
        let m = j[i + 1];
        if m == 0xDA {
            out.extend_from_slice(&j[i..]);
            return out;
        }
        let len = u16::from_be_bytes([j[i + 2], j[i + 3]]) as usize;
        if m != 0xC4 {
            out.extend_from_slice(&j[i..i + 2 + len]);
        }
        i += 2 + len;
    }
}

/// Drains a source: (frame numbers, corrupt numbers, images).
fn drain(src: &mut dyn FrameSource, max: usize) -> (Vec<u64>, Vec<u64>, Vec<RgbImage>) {
    let (mut good, mut bad, mut imgs) = (vec![], vec![], vec![]);
    for _ in 0..max {
        match src.next_frame().unwrap() {
            Next::Frame(f) => {
                good.push(f.number);
                imgs.push(f.image);
            }
            Next::Corrupt { number, error } => {
                assert!(!format!("{error:#}").is_empty());
                bad.push(number)
            }
            Next::End => break,
        }
    }
    (good, bad, imgs)
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let s: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as i32 - *y as i32).unsigned_abs() as u64)
        .sum();
    s as f64 / a.as_raw().len() as f64
}

#[test]
fn folder_in_name_order_with_corrupt_files_counted_and_loop() {
    let d = tempfile::tempdir().unwrap();
    for (i, name) in ["b.png", "a.png", "c.jpg"].iter().enumerate() {
        pattern(16, 8, i as u8 * 50)
            .save(d.path().join(name))
            .unwrap();
    }
    std::fs::write(d.path().join("broken.png"), b"\x89PNG not really").unwrap();
    std::fs::write(d.path().join("notes.txt"), b"ignored").unwrap();
    let uri = SourceUri::parse(d.path().to_str().unwrap()).unwrap();
    let mut src = open_source(&uri).unwrap();
    assert!(!src.is_live());
    let (good, bad, imgs) = drain(&mut *src, 100);
    // Name order: a.png, b.png, broken.png, c.jpg.
    assert_eq!((good.clone(), bad), (vec![0, 1, 3], vec![2]));
    assert_eq!(imgs[0].get_pixel(0, 0)[2], 50); // a.png was written second (seed 50)
    assert_eq!(imgs[1].get_pixel(0, 0)[2], 0);

    let looped = SourceUri::parse(&format!("glob:{}/*.png?loop", d.path().display())).unwrap();
    let (good, bad, _) = drain(&mut *open_source(&looped).unwrap(), 9);
    assert_eq!(good.len() + bad.len(), 9, "looping never ends");
    assert_eq!(bad, vec![2, 5, 8]);

    let empty = tempfile::tempdir().unwrap();
    let e = open_source(&SourceUri::parse(empty.path().to_str().unwrap()).unwrap())
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("no images"), "{e:#}");
}

#[test]
fn a_half_written_jpeg_in_a_folder_is_counted_corrupt_not_decoded_grey() {
    let d = tempfile::tempdir().unwrap();
    pattern(64, 48, 10).save(d.path().join("a.jpg")).unwrap();
    let whole = std::fs::read(d.path().join("a.jpg")).unwrap();
    std::fs::write(d.path().join("b.jpg"), &whole[..whole.len() / 2]).unwrap();
    let uri = SourceUri::parse(d.path().to_str().unwrap()).unwrap();
    let mut src = open_source(&uri).unwrap();
    let Next::Frame(_) = src.next_frame().unwrap() else {
        panic!("a.jpg is whole")
    };
    match src.next_frame().unwrap() {
        Next::Corrupt { number: 1, error } => {
            let e = format!("{error:#}");
            assert!(e.contains("b.jpg") && e.contains("truncated JPEG"), "{e}");
        }
        _ => panic!("b.jpg is half written"),
    }
}

#[test]
fn paced_folder_is_live_and_keeps_the_rate() {
    let d = tempfile::tempdir().unwrap();
    pattern(8, 8, 1).save(d.path().join("x.png")).unwrap();
    let uri = SourceUri::parse(&format!("{}?fps=50&loop", d.path().display())).unwrap();
    let mut src = open_source(&uri).unwrap();
    assert!(src.is_live());
    let t = std::time::Instant::now();
    let (good, _, _) = drain(&mut *src, 11);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(good.len(), 11);
    // 10 periods of 20 ms.
    assert!(
        (0.19..1.0).contains(&secs),
        "{secs} s for 11 frames at 50 fps"
    );
}

#[test]
fn mjpeg_file_with_missing_huffman_tables_and_truncated_frames() {
    let d = tempfile::tempdir().unwrap();
    let imgs: Vec<RgbImage> = (0..4).map(|i| pattern(32, 24, i * 60)).collect();
    let mut bytes = jpeg(&imgs[0]);
    bytes.extend(strip_dht(&jpeg(&imgs[1]))); // webcam-style frame
    let third = jpeg(&imgs[2]);
    bytes.extend(&third[..third.len() / 2]); // cut short by the next frame
    bytes.extend(jpeg(&imgs[3]));
    let mut bad_data = jpeg(&imgs[0]);
    let n = bad_data.len();
    bad_data[n / 2..n - 2].fill(0x55); // garbage entropy data, markers intact
    bytes.extend(&bad_data);
    let path = d.path().join("clip.mjpg");
    std::fs::write(&path, &bytes).unwrap();

    let mut src = open_source(&SourceUri::parse(path.to_str().unwrap()).unwrap()).unwrap();
    let mut frames = vec![];
    let mut corrupt = vec![];
    loop {
        match src.next_frame().unwrap() {
            Next::Frame(f) => frames.push(f),
            Next::Corrupt { number, error } => corrupt.push((number, format!("{error:#}"))),
            Next::End => break,
        }
    }
    let numbers: Vec<u64> = frames.iter().map(|f| f.number).collect();
    // zune-jpeg decodes garbage entropy data into (wrong) pixels rather than failing, so frame
    // 4 may come back as a frame; the truncated one must not.
    assert!(numbers.starts_with(&[0, 1, 3]), "{numbers:?} {corrupt:?}");
    assert_eq!(corrupt[0].0, 2);
    assert!(corrupt[0].1.contains("truncated"), "{}", corrupt[0].1);
    for (f, want) in frames.iter().zip([&imgs[0], &imgs[1], &imgs[3]]) {
        let diff = mean_abs_diff(&f.image, want);
        assert!(diff < 4.0, "frame {} differs by {diff}", f.number);
    }
}

#[test]
fn looped_mjpeg_restarts_and_all_corrupt_file_ends() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("two.mjpeg");
    let mut bytes = jpeg(&pattern(8, 8, 1));
    bytes.extend(jpeg(&pattern(8, 8, 2)));
    std::fs::write(&path, &bytes).unwrap();
    let uri = SourceUri::parse(&format!("{}?loop", path.display())).unwrap();
    let (good, bad, _) = drain(&mut *open_source(&uri).unwrap(), 7);
    assert_eq!((good, bad), ((0..7).collect::<Vec<_>>(), vec![]));

    // Only a broken frame: a looped file would spin for ever, so it ends.
    let broken = d.path().join("broken.mjpg");
    std::fs::write(&broken, &bytes[..40]).unwrap();
    let uri = SourceUri::parse(&format!("{}?loop", broken.display())).unwrap();
    let (good, bad, _) = drain(&mut *open_source(&uri).unwrap(), 100);
    assert_eq!((good.len(), bad.len()), (0, 1));
}

/// A Y4M stream of `frames` frames of solid colours (Y, U, V per frame).
fn y4m(
    colourspace: &str,
    (w, h): (usize, usize),
    (cw, ch): (usize, usize),
    frames: &[[u8; 3]],
) -> Vec<u8> {
    let mut out = format!("YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 {colourspace}\n").into_bytes();
    for [y, u, v] in frames {
        out.extend(b"FRAME\n");
        out.extend(std::iter::repeat_n(*y, w * h));
        out.extend(std::iter::repeat_n(*u, cw * ch));
        out.extend(std::iter::repeat_n(*v, cw * ch));
    }
    out
}

#[test]
fn y4m_planes_to_rgb_for_each_subsampling() {
    let d = tempfile::tempdir().unwrap();
    // BT.601 limited range: white, red, blue.
    let colours = [[235, 128, 128], [81, 90, 240], [41, 240, 110]];
    let want = [[255, 255, 255], [255, 0, 0], [0, 0, 255]];
    for (cs, chroma) in [
        ("C420jpeg", (3, 2)),
        ("C420mpeg2", (3, 2)),
        ("C422", (3, 3)),
        ("C444", (5, 3)),
    ] {
        let path = d.path().join(format!("{cs}.y4m"));
        std::fs::write(&path, y4m(cs, (5, 3), chroma, &colours)).unwrap();
        let mut src = open_source(&SourceUri::parse(path.to_str().unwrap()).unwrap()).unwrap();
        let (good, bad, imgs) = drain(&mut *src, 10);
        assert_eq!((good.len(), bad.len()), (3, 0), "{cs}");
        for (img, w) in imgs.iter().zip(want) {
            assert_eq!(img.dimensions(), (5, 3));
            for p in img.pixels() {
                for c in 0..3 {
                    assert!((p[c] as i32 - w[c]).abs() <= 2, "{cs}: {:?} vs {w:?}", p.0);
                }
            }
        }
    }
}

#[test]
fn y4m_truncated_frame_is_corrupt_and_bad_header_named() {
    let d = tempfile::tempdir().unwrap();
    let mut bytes = y4m(
        "C420jpeg",
        (4, 2),
        (2, 1),
        &[[235, 128, 128], [16, 128, 128]],
    );
    bytes.truncate(bytes.len() - 3);
    let path = d.path().join("cut.y4m");
    std::fs::write(&path, &bytes).unwrap();
    let (good, bad, _) = drain(
        &mut *open_source(&SourceUri::parse(path.to_str().unwrap()).unwrap()).unwrap(),
        10,
    );
    assert_eq!((good, bad), (vec![0], vec![1]));

    let bad_hdr = d.path().join("bad.y4m");
    std::fs::write(&bad_hdr, b"YUV4MPEG2 W4 H2 C420p10\nFRAME\n").unwrap();
    let e = open_source(&SourceUri::parse(bad_hdr.to_str().unwrap()).unwrap())
        .err()
        .unwrap();
    let e = format!("{e:#}");
    assert!(e.contains("bad.y4m") && e.contains("C420p10"), "{e}");

    // Plane sizes that do not match the header: the next FRAME header is missing → an error
    // naming the frame, not a garbled picture.
    let mut bytes = y4m("C444", (4, 2), (4, 2), &[[235, 128, 128]]);
    bytes.extend(b"JUNK\n");
    let junk = d.path().join("junk.y4m");
    std::fs::write(&junk, &bytes).unwrap();
    let mut src = open_source(&SourceUri::parse(junk.to_str().unwrap()).unwrap()).unwrap();
    assert!(matches!(src.next_frame().unwrap(), Next::Frame(_)));
    let e = format!("{:#}", src.next_frame().err().unwrap());
    assert!(e.contains("frame 1") && e.contains("FRAME header"), "{e}");
}

// ---- V4L2 on a fake camera -------------------------------------------------------------

struct FakeCamera {
    offered: Vec<OfferedFormat>,
    /// What S_FMT answers (None: what was asked).
    forced: Option<ActualFormat>,
    frames: VecDeque<(Vec<u8>, bool)>,
    started: bool,
}

impl Camera for FakeCamera {
    fn formats(&mut self) -> anyhow::Result<Vec<OfferedFormat>> {
        Ok(self.offered.clone())
    }
    fn set_format(&mut self, c: &Choice) -> anyhow::Result<ActualFormat> {
        Ok(self.forced.unwrap_or(ActualFormat {
            fourcc: c.fourcc,
            width: c.width,
            height: c.height,
            stride: 2 * c.width,
        }))
    }
    fn set_fps(&mut self, fps: f64) -> anyhow::Result<Option<f64>> {
        Ok(Some(fps))
    }
    fn start(&mut self) -> anyhow::Result<()> {
        self.started = true;
        Ok(())
    }
    fn read_frame(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<BufferInfo> {
        assert!(self.started);
        let (bytes, error) = self
            .frames
            .pop_front()
            .ok_or_else(|| anyhow::anyhow!("/dev/fake: the camera was unplugged"))?;
        *buf = bytes;
        Ok(BufferInfo { sequence: 0, error })
    }
}

fn webcam_offers() -> Vec<OfferedFormat> {
    vec![
        OfferedFormat {
            fourcc: FourCc::YUYV,
            description: "YUYV 4:2:2".into(),
            sizes: vec![FrameSize::Discrete(640, 480), FrameSize::Discrete(4, 2)],
        },
        OfferedFormat {
            fourcc: FourCc::MJPG,
            description: "Motion-JPEG".into(),
            sizes: vec![FrameSize::Discrete(1280, 720), FrameSize::Discrete(32, 24)],
        },
        OfferedFormat {
            fourcc: FourCc(*b"H264"),
            description: "H.264".into(),
            sizes: vec![FrameSize::Stepwise {
                min: (160, 120),
                max: (1920, 1080),
                step: (16, 8),
            }],
        },
    ]
}

#[test]
fn negotiation_picks_offered_formats_and_lists_them_otherwise() {
    let offers = webcam_offers();
    let req = |f: Option<&str>, w: Option<u32>, h: Option<u32>| Request {
        format: f.map(|f| FourCc::parse(f).unwrap()),
        width: w,
        height: h,
        fps: None,
    };
    let c = negotiate("/dev/video0", &offers, &req(None, None, None)).unwrap();
    // MJPG is preferred; 640x480 is not offered in MJPG, so the smallest ≥ 320x240.
    assert_eq!((c.fourcc, c.width, c.height), (FourCc::MJPG, 1280, 720));
    let c = negotiate("/dev/video0", &offers, &req(Some("YUYV"), None, None)).unwrap();
    assert_eq!((c.width, c.height), (640, 480));
    let c = negotiate(
        "/dev/video0",
        &offers,
        &req(Some("MJPG"), Some(32), Some(24)),
    )
    .unwrap();
    assert_eq!((c.fourcc, c.width, c.height), (FourCc::MJPG, 32, 24));

    let listing = describe_offers(&offers);
    assert_eq!(
        listing,
        "YUYV (YUYV 4:2:2): 640x480, 4x2; MJPG (Motion-JPEG): 1280x720, 32x24; \
         H264 (H.264): 160x120..1920x1080 step 16x8"
    );
    let err = |r: Request| format!("{:#}", negotiate("/dev/video0", &offers, &r).unwrap_err());
    let e = err(req(Some("MJPG"), Some(320), Some(240)));
    assert!(
        e.contains("does not offer 320x240 in MJPG") && e.contains(&listing),
        "{e}"
    );
    let e = err(req(Some("NV12"), None, None));
    assert!(
        e.contains("cannot be decoded") && e.contains(&listing),
        "{e}"
    );
    let e = err(req(None, Some(320), None));
    assert!(e.contains("both width= and height="), "{e}");
    let only_h264 = vec![offers[2].clone()];
    let e = format!(
        "{:#}",
        negotiate("/dev/video0", &only_h264, &Request::default()).unwrap_err()
    );
    assert!(
        e.contains("no format lm decodes") && e.contains("H264"),
        "{e}"
    );
}

#[test]
fn fake_camera_yuyv_and_mjpeg_frames() {
    // YUYV 4x2, recorded bytes: white white | black black / red red | blue blue.
    let yuyv = vec![
        235, 128, 235, 128, 16, 128, 16, 128, //
        81, 90, 81, 240, 41, 240, 41, 110,
    ];
    let cam = FakeCamera {
        offered: webcam_offers(),
        forced: None,
        frames: VecDeque::from([
            (yuyv.clone(), false),
            (yuyv[..10].to_vec(), false), // truncated
            (yuyv.clone(), true),         // flagged by the driver
            (yuyv, false),
        ]),
        started: false,
    };
    let req = Request {
        format: Some(FourCc::YUYV),
        width: Some(4),
        height: Some(2),
        fps: Some(30.0),
    };
    let mut src = CameraSource::start(cam, "/dev/fake", &req).unwrap();
    assert!(src.is_live());
    let Next::Frame(f) = src.next_frame().unwrap() else {
        panic!()
    };
    assert_eq!(f.image.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(f.image.get_pixel(3, 0).0, [0, 0, 0]);
    let red = f.image.get_pixel(0, 1).0;
    assert!(red[0] > 250 && red[1] < 5 && red[2] < 5, "{red:?}");
    let blue = f.image.get_pixel(2, 1).0;
    assert!(blue[0] < 5 && blue[2] > 250, "{blue:?}");
    match src.next_frame().unwrap() {
        Next::Corrupt { number: 1, error } => {
            assert!(format!("{error:#}").contains("truncated"), "{error:#}")
        }
        other => panic!("{other:?}"),
    }
    match src.next_frame().unwrap() {
        Next::Corrupt { number: 2, error } => assert!(format!("{error:#}").contains("flagged")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(src.next_frame().unwrap(), Next::Frame(f) if f.number == 3));
    let e = format!("{:#}", src.next_frame().unwrap_err());
    assert!(e.contains("unplugged"), "{e}");

    // MJPG without Huffman tables, and a frame of the wrong size.
    let img = pattern(32, 24, 9);
    let cam = FakeCamera {
        offered: webcam_offers(),
        forced: None,
        frames: VecDeque::from([
            (strip_dht(&jpeg(&img)), false),
            (jpeg(&pattern(16, 16, 1)), false),
        ]),
        started: false,
    };
    let req = Request {
        format: Some(FourCc::MJPG),
        width: Some(32),
        height: Some(24),
        fps: None,
    };
    let mut src = CameraSource::start(cam, "/dev/fake", &req).unwrap();
    let Next::Frame(f) = src.next_frame().unwrap() else {
        panic!()
    };
    assert!(mean_abs_diff(&f.image, &img) < 4.0);
    match src.next_frame().unwrap() {
        Next::Corrupt { error, .. } => assert!(format!("{error:#}").contains("promised 32x24")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn driver_setting_another_format_is_an_error() {
    let cam = FakeCamera {
        offered: webcam_offers(),
        forced: Some(ActualFormat {
            fourcc: FourCc::YUYV,
            width: 640,
            height: 480,
            stride: 1280,
        }),
        frames: VecDeque::new(),
        started: false,
    };
    let req = Request {
        format: Some(FourCc::MJPG),
        width: Some(32),
        height: Some(24),
        fps: None,
    };
    let e = format!(
        "{:#}",
        CameraSource::start(cam, "/dev/fake", &req).err().unwrap()
    );
    assert!(
        e.contains("asked for MJPG 32x24, the driver set YUYV 640x480"),
        "{e}"
    );
}

#[test]
fn missing_camera_through_the_uri() {
    let e = open_source(&SourceUri::parse("v4l2:/dev/video-lm-none?format=MJPG").unwrap())
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("/dev/video-lm-none"), "{e:#}");
}

// ---- A camera unplugged mid-stream -------------------------------------------------------

/// A YUYV 4×2 camera that gives `frames` frames, then behaves as an unplugged camera does
/// (VIDIOC_DQBUF fails with ENODEV: a [`CameraLost`] error), or fails otherwise with `other`.
struct UnpluggableCamera {
    frames: usize,
    other: Option<&'static str>,
}

impl Camera for UnpluggableCamera {
    fn formats(&mut self) -> anyhow::Result<Vec<OfferedFormat>> {
        Ok(webcam_offers())
    }
    fn set_format(&mut self, c: &Choice) -> anyhow::Result<ActualFormat> {
        Ok(ActualFormat {
            fourcc: c.fourcc,
            width: c.width,
            height: c.height,
            stride: 2 * c.width,
        })
    }
    fn set_fps(&mut self, fps: f64) -> anyhow::Result<Option<f64>> {
        Ok(Some(fps))
    }
    fn start(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    fn read_frame(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<BufferInfo> {
        if self.frames == 0 {
            if let Some(msg) = self.other {
                anyhow::bail!("{msg}");
            }
            return Err(CameraLost(
                "/dev/fake: cannot dequeue a frame (VIDIOC_DQBUF): No such device (os error 19) \
                 (the camera was unplugged)"
                    .into(),
            )
            .into());
        }
        self.frames -= 1;
        *buf = vec![128; 16];
        Ok(BufferInfo {
            sequence: 0,
            error: false,
        })
    }
}

fn yuyv_4x2() -> Request {
    Request {
        format: Some(FourCc::YUYV),
        width: Some(4),
        height: Some(2),
        fps: None,
    }
}

fn plugged(frames: usize) -> Box<dyn FrameSource> {
    Box::new(
        CameraSource::start(
            UnpluggableCamera {
                frames,
                other: None,
            },
            "/dev/fake",
            &yuyv_4x2(),
        )
        .unwrap(),
    )
}

/// An opener that fails `absent` times (no device node yet), then opens a camera giving
/// `frames` frames; counts its calls.
fn replug(
    absent: usize,
    frames: usize,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> lm::stream::reconnect::Opener {
    Box::new(move || {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < absent {
            anyhow::bail!(
                "cannot open camera /dev/fake: No such file or directory (os error 2) (no such \
                 camera: is it plugged in? see `ls /dev/video*`)"
            );
        }
        Ok(plugged(frames))
    })
}

#[test]
fn an_unplugged_camera_is_reopened_with_backoff_and_numbering_goes_on() {
    use std::sync::{atomic::AtomicUsize, Arc};
    use std::time::{Duration, Instant};
    let calls = Arc::new(AtomicUsize::new(0));
    let mut src = Reconnecting::new(
        "v4l2:/dev/fake",
        plugged(3),
        replug(2, 2, calls.clone()),
        None,
    )
    .with_backoff(Duration::from_millis(20), Duration::from_millis(200));
    assert!(src.is_live());
    let t = Instant::now();
    let mut numbers = vec![];
    for _ in 0..5 {
        match src.next_frame().unwrap() {
            Next::Frame(f) => numbers.push(f.number),
            other => panic!("{other:?}"),
        }
    }
    // Three frames, the loss, two failed opens after 20 and 40 ms, the third after 80 ms.
    assert_eq!(numbers, [0, 1, 2, 3, 4]);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(src.reconnects(), 1);
    assert!(
        t.elapsed() >= Duration::from_millis(140),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_camera_that_does_not_come_back_in_time_is_a_clear_error() {
    use std::sync::{atomic::AtomicUsize, Arc};
    use std::time::Duration;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut src = Reconnecting::new(
        "v4l2:/dev/fake?reconnect=0.2",
        plugged(1),
        replug(usize::MAX, 0, calls.clone()),
        Some(Duration::from_millis(200)),
    )
    .with_backoff(Duration::from_millis(10), Duration::from_millis(40));
    assert!(matches!(src.next_frame().unwrap(), Next::Frame(_)));
    let e = format!("{:#}", src.next_frame().unwrap_err());
    assert!(
        e.contains("did not come back within 0.2 s")
            && e.contains("unplugged")
            && e.contains("No such file or directory"),
        "{e}"
    );
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 3);
}

#[test]
fn other_camera_errors_are_not_retried() {
    use std::sync::{atomic::AtomicUsize, Arc};
    let calls = Arc::new(AtomicUsize::new(0));
    let cam = UnpluggableCamera {
        frames: 0,
        other: Some("/dev/fake: VIDIOC_QBUF: Invalid argument (os error 22)"),
    };
    let source = Box::new(CameraSource::start(cam, "/dev/fake", &yuyv_4x2()).unwrap());
    let mut src = Reconnecting::new("v4l2:/dev/fake", source, replug(0, 1, calls.clone()), None);
    let e = format!("{:#}", src.next_frame().unwrap_err());
    assert!(e.contains("Invalid argument"), "{e}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn the_stream_names_a_lost_camera_and_counts_reconnections() {
    use std::sync::{atomic::AtomicUsize, Arc};
    use std::time::Duration;
    let meta = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lm_tiny_quantize.yaml");
    let pipeline =
        lm::pipeline::Pipeline::load(&meta, None, &lm::model::LoadOptions::default()).unwrap();
    let opts = lm::stream::StreamOptions {
        source_name: "v4l2:/dev/fake".into(),
        report_every: None,
        ..Default::default()
    };
    // Without `reconnect`: the stream ends with an error that says what to do.
    let e = lm::stream::runner::run_stream(&pipeline, plugged(2), &opts, Default::default())
        .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("source failed") && e.contains("unplugged") && e.contains("add ?reconnect"),
        "{e}"
    );
    // With it: frames keep coming across plug-ins (each camera gives 2 or 3 frames, then is
    // unplugged), and reconnections are counted.
    let calls = Arc::new(AtomicUsize::new(0));
    let src = Reconnecting::new("v4l2:/dev/fake", plugged(2), replug(1, 3, calls), None)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(10));
    let opts = lm::stream::StreamOptions {
        frames: Some(5),
        ..opts
    };
    let summary =
        lm::stream::runner::run_stream(&pipeline, Box::new(src), &opts, Default::default())
            .unwrap();
    assert_eq!(summary.report.frames_output, 5);
    assert!(summary.report.reconnects >= 1, "{:?}", summary.report);
    assert!(summary.report.frames_captured >= 5);
}
