//! Linux cameras through V4L2, with direct `ioctl`s on `libc` (already a dependency).
//!
//! Why not a crate: `v4l` links `libv4l` through bindgen (clang at build time), and
//! `linuxvideo` is pure Rust but adds a dependency tree for the handful of calls we need
//! (QUERYCAP, ENUM_FMT, ENUM_FRAMESIZES, S_FMT, S_PARM, REQBUFS, QUERYBUF, QBUF, DQBUF,
//! STREAMON). The structs below are `#[repr(C)]` copies of `<linux/videodev2.h>`; their sizes
//! (and so the ioctl numbers) follow the target's pointer and `timeval` sizes, checked against
//! the kernel's values on 64-bit targets in the tests.
//!
//! The camera is behind [`Camera`], so that format negotiation ([`negotiate`]) and frame
//! decoding ([`decode_frame`]: MJPG with or without Huffman tables, YUYV) are tested on
//! recorded bytes without hardware. Real-device test: `LM_V4L2_DEVICE=/dev/video0`.
//!
//! Faults: a missing, busy or forbidden device is a clear error at start; a camera that is
//! unplugged mid-stream (`ENODEV`, a poll error) or stops sending frames for 5 s is a
//! [`CameraLost`] error, which ends the stream, or with the URI option `reconnect` has
//! [`super::reconnect`] reopen the device with backoff; a buffer the driver flags as broken, or
//! a frame that does not decode, is counted as corrupt and skipped.

use super::source::{Frame, FrameSource, Next};
use super::uri::SourceUri;
use super::yuv::yuyv_to_rgb;
use crate::image_file::jpeg::decode_jpeg;
use anyhow::{bail, Context, Result};
use image::RgbImage;
use std::path::{Path, PathBuf};

/// A camera that went away mid-stream (unplugged, or silent for 5 s): it may come back, so
/// [`super::reconnect::Reconnecting`] reopens the device on this error (and on no other).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CameraLost(pub String);

impl CameraLost {
    /// Whether `e` (or an error it wraps) is a lost camera.
    pub fn is(e: &anyhow::Error) -> bool {
        e.chain().any(|c| c.is::<CameraLost>())
    }
}

/// A FourCC pixel format (`MJPG`, `YUYV`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    pub const MJPG: FourCc = FourCc(*b"MJPG");
    pub const JPEG: FourCc = FourCc(*b"JPEG");
    pub const YUYV: FourCc = FourCc(*b"YUYV");

    pub fn from_u32(v: u32) -> FourCc {
        FourCc(v.to_le_bytes())
    }
    pub fn to_u32(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
    pub fn parse(s: &str) -> Result<FourCc> {
        let b = s.as_bytes();
        if b.len() != 4 {
            bail!("pixel format {s:?} is not a FourCC");
        }
        Ok(FourCc([b[0], b[1], b[2], b[3]]))
    }
    /// Formats this module decodes.
    pub fn is_supported(self) -> bool {
        [FourCc::MJPG, FourCc::JPEG, FourCc::YUYV].contains(&self)
    }
}

impl std::fmt::Display for FourCc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSize {
    Discrete(u32, u32),
    /// Any size in the ranges, in steps (also V4L2's "continuous", step 1).
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
    },
}

impl FrameSize {
    fn allows(&self, w: u32, h: u32) -> bool {
        match *self {
            FrameSize::Discrete(dw, dh) => (dw, dh) == (w, h),
            FrameSize::Stepwise { min, max, step } => {
                let ok = |v: u32, lo: u32, hi: u32, s: u32| {
                    v >= lo && v <= hi && (v - lo).is_multiple_of(s.max(1))
                };
                ok(w, min.0, max.0, step.0) && ok(h, min.1, max.1, step.1)
            }
        }
    }
}

impl std::fmt::Display for FrameSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameSize::Discrete(w, h) => write!(f, "{w}x{h}"),
            FrameSize::Stepwise { min, max, step } => write!(
                f,
                "{}x{}..{}x{} step {}x{}",
                min.0, min.1, max.0, max.1, step.0, step.1
            ),
        }
    }
}

/// One pixel format the camera offers, with its frame sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferedFormat {
    pub fourcc: FourCc,
    pub description: String,
    pub sizes: Vec<FrameSize>,
}

/// `MJPG (Motion-JPEG): 640x480, 320x240; YUYV (YUYV 4:2:2): 640x480`.
pub fn describe_offers(offered: &[OfferedFormat]) -> String {
    if offered.is_empty() {
        return "no formats".into();
    }
    offered
        .iter()
        .map(|f| {
            let sizes: Vec<String> = f.sizes.iter().map(|s| s.to_string()).collect();
            format!(
                "{} ({}): {}",
                f.fourcc,
                f.description,
                if sizes.is_empty() {
                    "sizes not listed".into()
                } else {
                    sizes.join(", ")
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the user asked for (from the URI).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub format: Option<FourCc>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
}

/// The format and size to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
}

/// The size used when none is asked for and the camera offers it.
pub const DEFAULT_SIZE: (u32, u32) = (640, 480);

/// Picks a format and size the camera offers: the requested format (else MJPG, then YUYV: MJPG
/// needs the least USB bandwidth) and the requested size (else 640x480, else the smallest
/// offered size of at least 320x240, else the first). Anything not offered is an error that
/// lists what the camera offers.
pub fn negotiate(device: &str, offered: &[OfferedFormat], req: &Request) -> Result<Choice> {
    let offers = || describe_offers(offered);
    let format = match req.format {
        Some(f) => {
            if !f.is_supported() {
                bail!("{device}: format {f} cannot be decoded by lm (use MJPG or YUYV); the camera offers {}", offers());
            }
            offered
                .iter()
                .find(|o| o.fourcc == f || (f == FourCc::MJPG && o.fourcc == FourCc::JPEG))
                .with_context(|| {
                    format!(
                        "{device}: the camera does not offer format {f}; it offers {}",
                        offers()
                    )
                })?
        }
        None => [FourCc::MJPG, FourCc::JPEG, FourCc::YUYV]
            .iter()
            .find_map(|want| offered.iter().find(|o| o.fourcc == *want))
            .with_context(|| {
                format!(
                    "{device}: the camera offers no format lm decodes (MJPG, YUYV); it offers {}",
                    offers()
                )
            })?,
    };
    let (w, h) = match (req.width, req.height) {
        (Some(w), Some(h)) => (w, h),
        (None, None) => {
            let discrete: Vec<(u32, u32)> = format
                .sizes
                .iter()
                .filter_map(|s| match s {
                    FrameSize::Discrete(w, h) => Some((*w, *h)),
                    _ => None,
                })
                .collect();
            if format
                .sizes
                .iter()
                .any(|s| s.allows(DEFAULT_SIZE.0, DEFAULT_SIZE.1))
                || format.sizes.is_empty()
            {
                DEFAULT_SIZE
            } else if let Some(s) = discrete
                .iter()
                .filter(|(w, h)| *w >= 320 && *h >= 240)
                .min_by_key(|(w, h)| w * h)
                .or(discrete.first())
            {
                *s
            } else {
                match format.sizes[0] {
                    FrameSize::Stepwise { max, .. } => max,
                    FrameSize::Discrete(w, h) => (w, h),
                }
            }
        }
        _ => bail!("{device}: give both width= and height= (or neither)"),
    };
    // A driver that lists no sizes is asked anyway; S_FMT's answer is checked.
    if !format.sizes.is_empty() && !format.sizes.iter().any(|s| s.allows(w, h)) {
        bail!(
            "{device}: the camera does not offer {w}x{h} in {}; it offers {}",
            format.fourcc,
            offers()
        );
    }
    Ok(Choice {
        fourcc: format.fourcc,
        width: w,
        height: h,
    })
}

/// The format the driver set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActualFormat {
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
    /// Bytes per row (YUYV).
    pub stride: u32,
}

/// One dequeued buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferInfo {
    pub sequence: u32,
    /// The driver flagged the buffer as broken (V4L2_BUF_FLAG_ERROR).
    pub error: bool,
}

/// A camera: the real device ([`Device`]) or a fake with recorded frames.
pub trait Camera: Send {
    fn formats(&mut self) -> Result<Vec<OfferedFormat>>;
    fn set_format(&mut self, choice: &Choice) -> Result<ActualFormat>;
    /// Asks for a frame rate; returns what the driver set, if it says.
    fn set_fps(&mut self, fps: f64) -> Result<Option<f64>>;
    fn start(&mut self) -> Result<()>;
    /// Waits for the next frame and copies its bytes into `buf`.
    fn read_frame(&mut self, buf: &mut Vec<u8>) -> Result<BufferInfo>;
}

/// One camera buffer → RGB.
pub fn decode_frame(format: &ActualFormat, bytes: &[u8]) -> Result<RgbImage> {
    let img = match format.fourcc {
        FourCc::MJPG | FourCc::JPEG => decode_jpeg(bytes)?,
        FourCc::YUYV => yuyv_to_rgb(bytes, format.width, format.height, format.stride as usize)?,
        other => bail!("pixel format {other} is not decoded by lm"),
    };
    if img.dimensions() != (format.width, format.height) {
        bail!(
            "frame is {}x{}, the camera promised {}x{}",
            img.width(),
            img.height(),
            format.width,
            format.height
        );
    }
    Ok(img)
}

/// A camera as a [`FrameSource`].
pub struct CameraSource<C: Camera> {
    camera: C,
    device: String,
    format: ActualFormat,
    buf: Vec<u8>,
    number: u64,
}

impl<C: Camera> CameraSource<C> {
    /// Negotiates, sets the format (and frame rate) and starts streaming.
    pub fn start(mut camera: C, device: &str, req: &Request) -> Result<CameraSource<C>> {
        let offered = camera.formats()?;
        let choice = negotiate(device, &offered, req)?;
        let format = camera.set_format(&choice)?;
        let mjpeg = |f: FourCc| f == FourCc::MJPG || f == FourCc::JPEG;
        let same_fourcc =
            format.fourcc == choice.fourcc || (mjpeg(format.fourcc) && mjpeg(choice.fourcc));
        if !same_fourcc || (format.width, format.height) != (choice.width, choice.height) {
            bail!(
                "{device}: asked for {} {}x{}, the driver set {} {}x{}; the camera offers {}",
                choice.fourcc,
                choice.width,
                choice.height,
                format.fourcc,
                format.width,
                format.height,
                describe_offers(&offered)
            );
        }
        if let Some(fps) = req.fps {
            match camera.set_fps(fps)? {
                Some(got) if (got - fps).abs() > 0.01 * fps => {
                    tracing::warn!(
                        "{device}: asked for {fps} frames/s, the camera runs at {got:.2}"
                    )
                }
                _ => {}
            }
        }
        camera.start()?;
        tracing::info!(
            "{device}: {} {}x{}",
            format.fourcc,
            format.width,
            format.height
        );
        Ok(CameraSource {
            camera,
            device: device.to_string(),
            format,
            buf: vec![],
            number: 0,
        })
    }

    pub fn format(&self) -> ActualFormat {
        self.format
    }
}

impl<C: Camera> FrameSource for CameraSource<C> {
    fn next_frame(&mut self) -> Result<Next> {
        let info = self.camera.read_frame(&mut self.buf)?;
        let number = self.number;
        self.number += 1;
        if info.error {
            return Ok(Next::Corrupt {
                number,
                error: anyhow::anyhow!(
                    "{}: frame {number}: the driver flagged the buffer as broken",
                    self.device
                ),
            });
        }
        Ok(match decode_frame(&self.format, &self.buf) {
            Ok(image) => Next::Frame(Frame::new(image, number)),
            Err(e) => Next::Corrupt {
                number,
                error: e.context(format!("{}: frame {number}", self.device)),
            },
        })
    }

    fn is_live(&self) -> bool {
        true
    }
}

/// The real V4L2 device as a source.
pub type V4l2Source = CameraSource<Device>;

impl CameraSource<Device> {
    pub fn open(path: &Path, uri: &SourceUri) -> Result<V4l2Source> {
        let req = Request {
            format: uri.format.as_deref().map(FourCc::parse).transpose()?,
            width: uri.width,
            height: uri.height,
            fps: uri.fps,
        };
        let device = Device::open(path)?;
        CameraSource::start(device, &path.display().to_string(), &req)
    }
}

#[cfg(target_os = "linux")]
pub use linux::Device;

#[cfg(not(target_os = "linux"))]
pub struct Device;

#[cfg(not(target_os = "linux"))]
impl Device {
    pub fn open(path: &Path) -> Result<Device> {
        bail!("{}: V4L2 cameras need Linux", path.display())
    }
}

#[cfg(not(target_os = "linux"))]
impl Camera for Device {
    fn formats(&mut self) -> Result<Vec<OfferedFormat>> {
        unreachable!()
    }
    fn set_format(&mut self, _: &Choice) -> Result<ActualFormat> {
        unreachable!()
    }
    fn set_fps(&mut self, _: f64) -> Result<Option<f64>> {
        unreachable!()
    }
    fn start(&mut self) -> Result<()> {
        unreachable!()
    }
    fn read_frame(&mut self, _: &mut Vec<u8>) -> Result<BufferInfo> {
        unreachable!()
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    // <linux/videodev2.h>
    #[repr(C)]
    #[derive(Default)]
    pub(super) struct Capability {
        driver: [u8; 16],
        card: [u8; 32],
        bus_info: [u8; 32],
        version: u32,
        capabilities: u32,
        device_caps: u32,
        reserved: [u32; 3],
    }

    #[repr(C)]
    #[derive(Default)]
    pub(super) struct FmtDesc {
        index: u32,
        type_: u32,
        flags: u32,
        description: [u8; 32],
        pixelformat: u32,
        mbus_code: u32,
        reserved: [u32; 3],
    }

    #[repr(C)]
    #[derive(Default)]
    pub(super) struct FrmSizeEnum {
        index: u32,
        pixel_format: u32,
        type_: u32,
        // discrete: [width, height]; stepwise: min_w, max_w, step_w, min_h, max_h, step_h
        size: [u32; 6],
        reserved: [u32; 2],
    }

    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    pub(super) struct PixFormat {
        width: u32,
        height: u32,
        pixelformat: u32,
        field: u32,
        bytesperline: u32,
        sizeimage: u32,
        colorspace: u32,
        priv_: u32,
        flags: u32,
        ycbcr_enc: u32,
        quantization: u32,
        xfer_func: u32,
    }

    #[repr(C)]
    pub(super) union FormatUnion {
        pix: PixFormat,
        raw: [u8; 200],
        // v4l2_window holds pointers: the union is pointer-aligned.
        _align: [usize; 0],
    }

    #[repr(C)]
    pub(super) struct Format {
        type_: u32,
        fmt: FormatUnion,
    }

    #[repr(C)]
    #[derive(Default)]
    pub(super) struct RequestBuffers {
        count: u32,
        type_: u32,
        memory: u32,
        capabilities: u32,
        flags: u8,
        reserved: [u8; 3],
    }

    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    pub(super) struct Timecode {
        type_: u32,
        flags: u32,
        frames: u8,
        seconds: u8,
        minutes: u8,
        hours: u8,
        userbits: [u8; 4],
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub(super) union BufferM {
        offset: u32,
        userptr: libc::c_ulong,
        planes: *mut libc::c_void,
        fd: i32,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub(super) struct Buffer {
        index: u32,
        type_: u32,
        bytesused: u32,
        flags: u32,
        field: u32,
        timestamp: libc::timeval,
        timecode: Timecode,
        sequence: u32,
        memory: u32,
        m: BufferM,
        length: u32,
        reserved2: u32,
        request_fd: i32,
    }

    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    pub(super) struct CaptureParm {
        capability: u32,
        capturemode: u32,
        timeperframe: [u32; 2], // numerator, denominator
        extendedmode: u32,
        readbuffers: u32,
        reserved: [u32; 4],
    }

    #[repr(C)]
    pub(super) union ParmUnion {
        capture: CaptureParm,
        raw: [u8; 200],
    }

    #[repr(C)]
    pub(super) struct StreamParm {
        type_: u32,
        parm: ParmUnion,
    }

    const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
    const MEMORY_MMAP: u32 = 1;
    const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
    const CAP_STREAMING: u32 = 0x0400_0000;
    const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
    const CAP_TIMEPERFRAME: u32 = 0x1000;
    const FRMSIZE_TYPE_DISCRETE: u32 = 1;
    const BUF_FLAG_ERROR: u32 = 0x40;
    const BUFFERS: u32 = 4;
    /// A camera silent for this long has stopped.
    const FRAME_TIMEOUT_MS: i32 = 5000;

    const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
        (dir << 30) | ((size as u64) << 16) | ((b'V' as u64) << 8) | nr
    }
    const fn iowr<T>(nr: u64) -> u64 {
        ioc(3, nr, std::mem::size_of::<T>())
    }
    pub(super) const VIDIOC_QUERYCAP: u64 = ioc(2, 0, std::mem::size_of::<Capability>());
    pub(super) const VIDIOC_ENUM_FMT: u64 = iowr::<FmtDesc>(2);
    pub(super) const VIDIOC_S_FMT: u64 = iowr::<Format>(5);
    pub(super) const VIDIOC_REQBUFS: u64 = iowr::<RequestBuffers>(8);
    pub(super) const VIDIOC_QUERYBUF: u64 = iowr::<Buffer>(9);
    pub(super) const VIDIOC_QBUF: u64 = iowr::<Buffer>(15);
    pub(super) const VIDIOC_DQBUF: u64 = iowr::<Buffer>(17);
    pub(super) const VIDIOC_STREAMON: u64 = ioc(1, 18, std::mem::size_of::<i32>());
    pub(super) const VIDIOC_STREAMOFF: u64 = ioc(1, 19, std::mem::size_of::<i32>());
    pub(super) const VIDIOC_G_PARM: u64 = iowr::<StreamParm>(21);
    pub(super) const VIDIOC_S_PARM: u64 = iowr::<StreamParm>(22);
    pub(super) const VIDIOC_ENUM_FRAMESIZES: u64 = iowr::<FrmSizeEnum>(74);

    fn zeroed<T>() -> T {
        // SAFETY: only used for the plain-data V4L2 structs above (all-zero is valid).
        unsafe { std::mem::zeroed() }
    }

    /// An open V4L2 capture device with mmap buffers.
    pub struct Device {
        fd: OwnedFd,
        path: PathBuf,
        buffers: Vec<(*mut libc::c_void, usize)>,
        streaming: bool,
    }

    // SAFETY: the mappings belong to this Device alone and are used from one thread at a time.
    unsafe impl Send for Device {}

    fn cstr(bytes: &[u8]) -> String {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    }

    impl Device {
        fn ioctl<T>(&self, request: u64, arg: &mut T) -> std::io::Result<()> {
            loop {
                // SAFETY: `arg` is the struct this request reads and writes.
                let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), request as _, arg as *mut T) };
                if r != -1 {
                    return Ok(());
                }
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }

        fn explain(&self, what: &str, e: std::io::Error) -> anyhow::Error {
            let hint = match e.raw_os_error() {
                Some(libc::EBUSY) => " (the camera is busy: another program is using it)",
                Some(libc::ENODEV) | Some(libc::ENXIO) => {
                    return CameraLost(format!(
                        "{}: {what}: {e} (the camera was unplugged)",
                        self.path.display()
                    ))
                    .into()
                }
                Some(libc::EACCES) => " (permission denied: add the user to the `video` group)",
                _ => "",
            };
            anyhow::anyhow!("{}: {what}: {e}{hint}", self.path.display())
        }

        pub fn open(path: &Path) -> Result<Device> {
            use std::os::unix::ffi::OsStrExt;
            let c = std::ffi::CString::new(path.as_os_str().as_bytes())
                .with_context(|| format!("bad device path {}", path.display()))?;
            // SAFETY: a NUL-terminated path.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                let e = std::io::Error::last_os_error();
                let hint = match e.raw_os_error() {
                    Some(libc::ENOENT) => {
                        " (no such camera: is it plugged in? see `ls /dev/video*`)"
                    }
                    Some(libc::EACCES) => " (permission denied: add the user to the `video` group)",
                    Some(libc::EBUSY) => " (the camera is busy: another program is using it)",
                    _ => "",
                };
                bail!("cannot open camera {}: {e}{hint}", path.display());
            }
            // SAFETY: a new descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let dev = Device {
                fd,
                path: path.to_path_buf(),
                buffers: vec![],
                streaming: false,
            };
            let mut cap = Capability::default();
            dev.ioctl(VIDIOC_QUERYCAP, &mut cap)
                .map_err(|e| dev.explain("not a V4L2 device (VIDIOC_QUERYCAP)", e))?;
            let caps = if cap.capabilities & CAP_DEVICE_CAPS != 0 {
                cap.device_caps
            } else {
                cap.capabilities
            };
            if caps & CAP_VIDEO_CAPTURE == 0 || caps & CAP_STREAMING == 0 {
                bail!(
                    "{} ({}, driver {}) is not a streaming video capture device; \
                     USB cameras often have a second node (/dev/videoN+1) for metadata",
                    path.display(),
                    cstr(&cap.card),
                    cstr(&cap.driver)
                );
            }
            Ok(dev)
        }
    }

    impl Drop for Device {
        fn drop(&mut self) {
            if self.streaming {
                let mut t = BUF_TYPE_VIDEO_CAPTURE as i32;
                let _ = self.ioctl(VIDIOC_STREAMOFF, &mut t);
            }
            for &(ptr, len) in &self.buffers {
                // SAFETY: mapped by `start` with this length.
                unsafe { libc::munmap(ptr, len) };
            }
        }
    }

    impl Camera for Device {
        fn formats(&mut self) -> Result<Vec<OfferedFormat>> {
            let mut out = vec![];
            for index in 0.. {
                let mut d = FmtDesc {
                    index,
                    type_: BUF_TYPE_VIDEO_CAPTURE,
                    ..Default::default()
                };
                match self.ioctl(VIDIOC_ENUM_FMT, &mut d) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
                    Err(e) => return Err(self.explain("VIDIOC_ENUM_FMT", e)),
                }
                let mut sizes = vec![];
                for si in 0.. {
                    let mut s = FrmSizeEnum {
                        index: si,
                        pixel_format: d.pixelformat,
                        ..Default::default()
                    };
                    if self.ioctl(VIDIOC_ENUM_FRAMESIZES, &mut s).is_err() {
                        break;
                    }
                    let z = s.size;
                    if s.type_ == FRMSIZE_TYPE_DISCRETE {
                        sizes.push(FrameSize::Discrete(z[0], z[1]));
                    } else {
                        sizes.push(FrameSize::Stepwise {
                            min: (z[0], z[3]),
                            max: (z[1], z[4]),
                            step: (z[2], z[5]),
                        });
                        break;
                    }
                }
                out.push(OfferedFormat {
                    fourcc: FourCc::from_u32(d.pixelformat),
                    description: cstr(&d.description),
                    sizes,
                });
            }
            Ok(out)
        }

        fn set_format(&mut self, choice: &Choice) -> Result<ActualFormat> {
            let mut f = Format {
                type_: BUF_TYPE_VIDEO_CAPTURE,
                fmt: FormatUnion { raw: [0; 200] },
            };
            f.fmt.pix = PixFormat {
                width: choice.width,
                height: choice.height,
                pixelformat: choice.fourcc.to_u32(),
                field: 1, // V4L2_FIELD_NONE: progressive
                ..Default::default()
            };
            self.ioctl(VIDIOC_S_FMT, &mut f)
                .map_err(|e| self.explain("cannot set the format (VIDIOC_S_FMT)", e))?;
            // SAFETY: S_FMT on a capture type fills `pix`.
            let pix = unsafe { f.fmt.pix };
            Ok(ActualFormat {
                fourcc: FourCc::from_u32(pix.pixelformat),
                width: pix.width,
                height: pix.height,
                stride: pix.bytesperline.max(2 * pix.width),
            })
        }

        fn set_fps(&mut self, fps: f64) -> Result<Option<f64>> {
            let mut p = StreamParm {
                type_: BUF_TYPE_VIDEO_CAPTURE,
                parm: ParmUnion { raw: [0; 200] },
            };
            if self.ioctl(VIDIOC_G_PARM, &mut p).is_err() {
                return Ok(None);
            }
            // SAFETY: G_PARM on a capture type fills `capture`.
            let mut cap = unsafe { p.parm.capture };
            if cap.capability & CAP_TIMEPERFRAME == 0 {
                tracing::warn!(
                    "{}: the camera's frame rate cannot be set",
                    self.path.display()
                );
                return Ok(None);
            }
            cap.timeperframe = [1000, (fps * 1000.0).round() as u32];
            p.parm.capture = cap;
            self.ioctl(VIDIOC_S_PARM, &mut p)
                .map_err(|e| self.explain("cannot set the frame rate (VIDIOC_S_PARM)", e))?;
            // SAFETY: as above.
            let [n, d] = unsafe { p.parm.capture.timeperframe };
            Ok((n > 0).then(|| d as f64 / n as f64))
        }

        fn start(&mut self) -> Result<()> {
            let mut req = RequestBuffers {
                count: BUFFERS,
                type_: BUF_TYPE_VIDEO_CAPTURE,
                memory: MEMORY_MMAP,
                ..Default::default()
            };
            self.ioctl(VIDIOC_REQBUFS, &mut req)
                .map_err(|e| self.explain("cannot get buffers (VIDIOC_REQBUFS)", e))?;
            if req.count == 0 {
                bail!("{}: the driver gave no buffers", self.path.display());
            }
            for index in 0..req.count {
                let mut b = self.buffer(index);
                self.ioctl(VIDIOC_QUERYBUF, &mut b)
                    .map_err(|e| self.explain("VIDIOC_QUERYBUF", e))?;
                let len = b.length as usize;
                // SAFETY: maps the driver's buffer `index` at the offset it gave.
                let ptr = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                        self.fd.as_raw_fd(),
                        b.m.offset as libc::off_t,
                    )
                };
                if ptr == libc::MAP_FAILED {
                    return Err(
                        self.explain("cannot map a buffer", std::io::Error::last_os_error())
                    );
                }
                self.buffers.push((ptr, len));
                self.ioctl(VIDIOC_QBUF, &mut b)
                    .map_err(|e| self.explain("VIDIOC_QBUF", e))?;
            }
            let mut t = BUF_TYPE_VIDEO_CAPTURE as i32;
            self.ioctl(VIDIOC_STREAMON, &mut t)
                .map_err(|e| self.explain("cannot start streaming (VIDIOC_STREAMON)", e))?;
            self.streaming = true;
            Ok(())
        }

        fn read_frame(&mut self, buf: &mut Vec<u8>) -> Result<BufferInfo> {
            loop {
                let mut pfd = libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let r = unsafe { libc::poll(&mut pfd, 1, FRAME_TIMEOUT_MS) };
                if r < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(self.explain("poll", e));
                }
                if r == 0 {
                    return Err(CameraLost(format!(
                        "{}: no frame for {} s: the camera stopped sending",
                        self.path.display(),
                        FRAME_TIMEOUT_MS / 1000
                    ))
                    .into());
                }
                if pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                    return Err(CameraLost(format!(
                        "{}: the camera was unplugged or failed (poll error)",
                        self.path.display()
                    ))
                    .into());
                }
                let mut b = self.buffer(0);
                match self.ioctl(VIDIOC_DQBUF, &mut b) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
                    Err(e) => return Err(self.explain("cannot dequeue a frame (VIDIOC_DQBUF)", e)),
                }
                let (ptr, len) = self.buffers[b.index as usize];
                let used = (b.bytesused as usize).min(len);
                // SAFETY: the dequeued buffer is ours until it is queued again.
                let data = unsafe { std::slice::from_raw_parts(ptr as *const u8, used) };
                buf.clear();
                buf.extend_from_slice(data);
                self.ioctl(VIDIOC_QBUF, &mut b)
                    .map_err(|e| self.explain("VIDIOC_QBUF", e))?;
                return Ok(BufferInfo {
                    sequence: b.sequence,
                    error: b.flags & BUF_FLAG_ERROR != 0,
                });
            }
        }
    }

    impl Device {
        fn buffer(&self, index: u32) -> Buffer {
            let mut b: Buffer = zeroed();
            b.index = index;
            b.type_ = BUF_TYPE_VIDEO_CAPTURE;
            b.memory = MEMORY_MMAP;
            b
        }
    }

    // armv7 (DE10-Nano, 32-bit Pi OS): 32-bit pointers and glibc's 32-bit `timeval` make
    // v4l2_format 204 and v4l2_buffer 68 bytes, and the ioctl numbers that encode them differ
    // from 64-bit ones. Runs under qemu-arm in boards/ci.sh.
    #[cfg(all(test, target_pointer_width = "32"))]
    mod tests_32_bit {
        use super::*;

        #[test]
        fn struct_sizes_and_ioctl_numbers_match_the_kernel_on_32_bit() {
            use std::mem::size_of;
            assert_eq!(size_of::<Capability>(), 104);
            assert_eq!(size_of::<FmtDesc>(), 64);
            assert_eq!(size_of::<FrmSizeEnum>(), 44);
            assert_eq!(size_of::<Format>(), 204);
            assert_eq!(size_of::<RequestBuffers>(), 20);
            assert_eq!(size_of::<Buffer>(), 68);
            assert_eq!(size_of::<StreamParm>(), 204);
            // From <linux/videodev2.h> as compiled for armhf (32-bit time_t).
            assert_eq!(VIDIOC_S_FMT, 0xC0CC_5605);
            assert_eq!(VIDIOC_QUERYBUF, 0xC044_5609);
            assert_eq!(VIDIOC_QBUF, 0xC044_560F);
            assert_eq!(VIDIOC_DQBUF, 0xC044_5611);
        }
    }

    #[cfg(all(test, target_pointer_width = "64"))]
    mod tests {
        use super::*;

        #[test]
        fn struct_sizes_and_ioctl_numbers_match_the_kernel_on_64_bit() {
            use std::mem::size_of;
            assert_eq!(size_of::<Capability>(), 104);
            assert_eq!(size_of::<FmtDesc>(), 64);
            assert_eq!(size_of::<FrmSizeEnum>(), 44);
            assert_eq!(size_of::<Format>(), 208);
            assert_eq!(size_of::<RequestBuffers>(), 20);
            assert_eq!(size_of::<Buffer>(), 88);
            assert_eq!(size_of::<StreamParm>(), 204);
            // From <linux/videodev2.h> as compiled on x86_64 / aarch64.
            assert_eq!(VIDIOC_QUERYCAP, 0x8068_5600);
            assert_eq!(VIDIOC_ENUM_FMT, 0xC040_5602);
            assert_eq!(VIDIOC_S_FMT, 0xC0D0_5605);
            assert_eq!(VIDIOC_REQBUFS, 0xC014_5608);
            assert_eq!(VIDIOC_QUERYBUF, 0xC058_5609);
            assert_eq!(VIDIOC_QBUF, 0xC058_560F);
            assert_eq!(VIDIOC_DQBUF, 0xC058_5611);
            assert_eq!(VIDIOC_STREAMON, 0x4004_5612);
            assert_eq!(VIDIOC_S_PARM, 0xC0CC_5616);
            assert_eq!(VIDIOC_ENUM_FRAMESIZES, 0xC02C_564A);
        }

        #[test]
        fn missing_device_is_named() {
            let e = format!(
                "{:#}",
                Device::open(Path::new("/dev/video-lm-missing"))
                    .err()
                    .unwrap()
            );
            assert!(
                e.contains("/dev/video-lm-missing") && e.contains("plugged in"),
                "{e}"
            );
        }

        #[test]
        fn real_device_when_named() {
            let Ok(dev) = std::env::var("LM_V4L2_DEVICE") else {
                eprintln!("skipped: set LM_V4L2_DEVICE=/dev/videoN to test a real camera");
                return;
            };
            let mut src = CameraSource::start(
                Device::open(Path::new(&dev)).unwrap(),
                &dev,
                &Request::default(),
            )
            .unwrap();
            let mut frames = 0;
            for _ in 0..10 {
                if let Next::Frame(f) = src.next_frame().unwrap() {
                    assert_eq!(f.image.width(), src.format().width);
                    frames += 1;
                }
            }
            assert!(frames > 0, "no decodable frame in 10 from {dev}");
        }
    }
}
