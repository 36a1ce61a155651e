//! The [`FrameSource`] trait and [`open_source`], which opens the source a URI names.

use anyhow::Result;
use image::RgbImage;
use std::time::{Instant, SystemTime};

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
}

impl Frame {
    pub fn new(image: RgbImage, number: u64) -> Frame {
        Frame {
            image,
            number,
            captured: SystemTime::now(),
            captured_at: Instant::now(),
        }
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
    period: std::time::Duration,
    next_due: Option<Instant>,
}

impl Paced {
    pub fn new(inner: Box<dyn FrameSource>, fps: f64) -> Paced {
        Paced {
            inner,
            period: std::time::Duration::from_secs_f64(1.0 / fps),
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
            // The capture time is when the paced frame is released.
            Next::Frame(f) => Ok(Next::Frame(Frame::new(f.image, f.number))),
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
