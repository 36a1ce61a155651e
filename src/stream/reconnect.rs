//! [`Reconnecting`]: a camera that is lost mid-stream is reopened, with backoff (URI option
//! `reconnect` or `reconnect=SECONDS`, cameras only).
//!
//! Only a [`CameraLost`] error — the device went away (`ENODEV`, a poll error: unplugged, a
//! USB reset) or sent nothing for 5 s — is retried: the same device node is opened again
//! after 0.25 s, then 0.5, 1, 2, 4 and every 5 s, until it opens and streams (the format is
//! negotiated again) or, with `reconnect=SECONDS`, until that long after the loss, when the
//! stream ends with an error naming the last failure. Every other error (a format the camera
//! does not offer, permissions) ends the stream at once. The first open is not retried: a
//! camera missing at start is a clear error. Frame numbers go on across a reconnection, and
//! reconnections are counted in the stats.
//!
//! The old device is closed before the new open, so a camera plugged back into the same port
//! usually gets the same `/dev/videoN` back; `/dev/v4l/by-id/...` names stay the same across
//! ports.

use super::source::{FrameSource, Next};
use super::v4l2::CameraLost;
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// Opens the source again.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn FrameSource>> + Send>;

pub struct Reconnecting {
    name: String,
    open: Opener,
    inner: Option<Box<dyn FrameSource>>,
    /// Give up this long after the loss (`None`: never).
    give_up: Option<Duration>,
    first_delay: Duration,
    max_delay: Duration,
    /// Added to the inner source's frame numbers (it counts from 0 again).
    offset: u64,
    next_number: u64,
    reconnects: u64,
}

impl Reconnecting {
    /// `source`: the source already opened (the first open is not retried); `open` opens it
    /// again.
    pub fn new(
        name: &str,
        source: Box<dyn FrameSource>,
        open: Opener,
        give_up: Option<Duration>,
    ) -> Reconnecting {
        Reconnecting {
            name: name.to_string(),
            open,
            inner: Some(source),
            give_up,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            offset: 0,
            next_number: 0,
            reconnects: 0,
        }
    }

    /// Backoff from `first` doubling up to `max` (tests use short ones).
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Reconnecting {
        self.first_delay = first;
        self.max_delay = max.max(first);
        self
    }

    /// Waits and reopens until it works; `Ok(false)` when a signal asked to stop meanwhile.
    fn reopen(&mut self, lost: &anyhow::Error) -> Result<bool> {
        let since = Instant::now();
        let mut delay = self.first_delay;
        let mut attempt = 0u32;
        loop {
            // Sleep in short steps so that SIGINT/SIGTERM end the stream promptly.
            let wake = Instant::now() + delay;
            while Instant::now() < wake {
                if super::signal::requested() {
                    return Ok(false);
                }
                std::thread::sleep((wake - Instant::now()).min(Duration::from_millis(50)));
            }
            attempt += 1;
            match (self.open)() {
                Ok(source) => {
                    self.reconnects += 1;
                    tracing::warn!(
                        "{}: camera back after {:.1} s ({attempt} attempts)",
                        self.name,
                        since.elapsed().as_secs_f64()
                    );
                    self.inner = Some(source);
                    return Ok(true);
                }
                Err(e) => {
                    if let Some(limit) = self.give_up {
                        if since.elapsed() >= limit {
                            bail!(
                                "{}: the camera did not come back within {} s ({attempt} \
                                 attempts; it was lost: {lost:#}); last attempt: {e:#}",
                                self.name,
                                limit.as_secs_f64()
                            );
                        }
                    }
                    if attempt <= 3 || attempt.is_multiple_of(20) {
                        tracing::warn!(
                            "{}: reopening failed (attempt {attempt}): {e:#}",
                            self.name
                        );
                    }
                    delay = (delay * 2).min(self.max_delay);
                }
            }
        }
    }
}

impl FrameSource for Reconnecting {
    fn next_frame(&mut self) -> Result<Next> {
        loop {
            let Some(inner) = self.inner.as_mut() else {
                unreachable!("reopened before use")
            };
            let next = match inner.next_frame() {
                Err(e) if CameraLost::is(&e) => {
                    tracing::warn!("{e:#}: reconnecting");
                    self.inner = None; // closes the device before it is opened again
                    self.offset = self.next_number;
                    if !self.reopen(&e)? {
                        return Ok(Next::End);
                    }
                    continue;
                }
                other => other?,
            };
            return Ok(match next {
                Next::Frame(mut f) => {
                    f.number += self.offset;
                    self.next_number = f.number + 1;
                    Next::Frame(f)
                }
                Next::Corrupt { number, error } => {
                    self.next_number = number + self.offset + 1;
                    Next::Corrupt {
                        number: number + self.offset,
                        error,
                    }
                }
                Next::End => Next::End,
            });
        }
    }

    fn is_live(&self) -> bool {
        true
    }

    fn reconnects(&self) -> u64 {
        self.reconnects
    }
}
