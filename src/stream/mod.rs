//! `lm stream`: poses from a camera, a video file or an image folder, live.
//!
//! ```text
//! FrameSource ─ capture thread ─ LatestFrame (1 slot) ─ inference thread ─ outputs thread
//!  (source.rs)                   (queue.rs: live        (Pipeline::infer)  (JSON Lines, --record,
//!                                 sources drop the                          HTTP hub: http.rs)
//!                                 older frame)
//! ```
//! Sources are named by one URI syntax ([`uri`]); each source is one module behind the
//! [`FrameSource`] trait: [`folder`] (image folder or glob), [`mjpeg`] (concatenated JPEGs from a
//! file or stdin), [`y4m`] (YUV4MPEG2 video) and [`v4l2`] (Linux cameras, direct ioctls).
//! Outputs are [`sink::FrameSink`]s ([`sink`]: JSON Lines, `--record`, the web view's hub).
//! [`runner`] wires the threads; [`stats`] measures rates and latency; [`temporal`] holds the
//! opt-in crop tracking and smoothing (meta.yaml `TEMPORAL`).

pub mod folder;
pub mod http;
pub mod jsonl;
pub mod mjpeg;
pub mod open;
pub mod options;
pub mod queue;
pub mod reconnect;
pub mod runner;
pub mod signal;
pub mod sink;
pub mod source;
pub mod stats;
pub mod temporal;
pub mod uri;
pub mod v4l2;
pub mod y4m;
pub mod yuv;

pub use open::open_source;
pub use options::StreamOptions;
pub use source::{Frame, FrameSource, Next};
pub use uri::SourceUri;
