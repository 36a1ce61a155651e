//! The [`FrameSource`] trait and [`open_source`], which opens the source a URI names.

use anyhow::Result;
use image::RgbImage;
use std::time::{Duration, Instant, SystemTime};

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub image: RgbImage,
    /// The source's frame number, from 0; a corrupt frame uses up its number.
    pub number: u64,
    /// Wall-clock capture time (the JSON Lines timestamp).
    pub captured: SystemTime,
    /// Monotonic capture time (latency is measured from here).
    pub captured_at: Instant,
    /// The frame's time in its media, from the start: what `TEMPORAL`'s filters run on, so
    /// that a file gives the same poses however fast it is read. `None` for a live camera,
    /// whose capture times are its timeline.
    pub media_time: Option<Duration>,
    /// The file the frame was read from (an image folder's), for the JSON Lines.
    pub file: Option<std::path::PathBuf>,
}

impl Frame {
    pub fn new(image: RgbImage, number: u64) -> Frame {
        Frame {
            image,
            number,
            captured: SystemTime::now(),
            captured_at: Instant::now(),
            media_time: None,
            file: None,
        }
    }
}

/// The media rate of files that state none (image folders, motion JPEG) and are read without
/// `?fps=`: frame k is at k / 30 s.
pub const DEFAULT_MEDIA_FPS: f64 = 30.0;

/// Gives each frame of a file source that has no media time of its own (only Y4M states a
/// rate) the time `number / fps`: `?fps=` if given, else [`DEFAULT_MEDIA_FPS`].
pub struct MediaClock {
    inner: Box<dyn FrameSource>,
    fps: f64,
}

impl MediaClock {
    pub fn new(inner: Box<dyn FrameSource>, fps: f64) -> MediaClock {
        MediaClock { inner, fps }
    }
}

impl FrameSource for MediaClock {
    fn next_frame(&mut self) -> Result<Next> {
        Ok(match self.inner.next_frame()? {
            Next::Frame(mut f) => {
                if f.media_time.is_none() {
                    f.media_time = Some(Duration::from_secs_f64(f.number as f64 / self.fps));
                }
                Next::Frame(f)
            }
            other => other,
        })
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn reconnects(&self) -> u64 {
        self.inner.reconnects()
    }
}

/// What a source gives next.
#[derive(Debug)]
pub enum Next {
    Frame(Frame),
    /// A frame that could not be decoded: counted and skipped; the source goes on.
    Corrupt {
        number: u64,
        error: anyhow::Error,
    },
    /// The source has no more frames.
    End,
}

/// A source of frames. `Err` from [`FrameSource::next_frame`] is fatal (device gone, unreadable
/// file); a bad single frame is [`Next::Corrupt`].
pub trait FrameSource: Send {
    fn next_frame(&mut self) -> Result<Next>;
    /// Whether frames come in real time (a camera, or a paced file): then the capture thread
    /// never waits for inference and older frames are dropped. A file read as fast as possible
    /// waits instead, so that every frame is processed.
    fn is_live(&self) -> bool;
    /// Times the source was reopened after losing its device ([`super::reconnect`]).
    fn reconnects(&self) -> u64 {
        0
    }
}

/// Paces a file source to `fps` frames per second (from `?fps=`): frame k is given at
/// start + k / fps; a source slower than that is not waited for. Paced sources are live.
pub struct Paced {
    inner: Box<dyn FrameSource>,
    period: Duration,
    next_due: Option<Instant>,
}

impl Paced {
    pub fn new(inner: Box<dyn FrameSource>, fps: f64) -> Paced {
        Paced {
            inner,
            period: Duration::from_secs_f64(1.0 / fps),
            next_due: None,
        }
    }
}

impl FrameSource for Paced {
    fn next_frame(&mut self) -> Result<Next> {
        let now = Instant::now();
        let due = *self.next_due.get_or_insert(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        // A late source does not build up a burst of catch-up frames.
        self.next_due = Some(due.max(now) + self.period);
        match self.inner.next_frame()? {
            // The capture time is when the paced frame is released; its media time stays.
            Next::Frame(f) => Ok(Next::Frame(Frame {
                captured: SystemTime::now(),
                captured_at: Instant::now(),
                ..f
            })),
            other => Ok(other),
        }
    }

    fn is_live(&self) -> bool {
        true
    }

    fn reconnects(&self) -> u64 {
        self.inner.reconnects()
    }
}
