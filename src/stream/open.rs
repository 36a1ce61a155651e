//! [`open_source`]: a source URI → the [`FrameSource`] that reads it, with the decorators it
//! asks for (`?reconnect` for cameras; for files a media clock, and `?fps=` pacing).

use super::source::{FrameSource, MediaClock, Paced, DEFAULT_MEDIA_FPS};
use super::uri::{SourceKind, SourceUri};
use anyhow::Result;

/// Opens the source `uri` names (see [`super::uri`] for the syntax).
pub fn open_source(uri: &SourceUri) -> Result<Box<dyn FrameSource>> {
    let source: Box<dyn FrameSource> = match &uri.kind {
        SourceKind::Folder(_) | SourceKind::Glob(_) => {
            Box::new(super::folder::FolderSource::open(uri)?)
        }
        SourceKind::Mjpeg(path) => Box::new(super::mjpeg::MjpegSource::open_file(path, uri)?),
        SourceKind::Y4m(path) => Box::new(super::y4m::Y4mSource::open_file(path, uri)?),
        SourceKind::Stdin => open_stdin(uri)?,
        SourceKind::V4l2(path) => {
            let camera: Box<dyn FrameSource> = Box::new(super::v4l2::V4l2Source::open(path, uri)?);
            match uri.reconnect {
                None => camera,
                Some(give_up) => {
                    let (path, again) = (path.clone(), uri.clone());
                    let open: super::reconnect::Opener = Box::new(move || {
                        Ok(Box::new(super::v4l2::V4l2Source::open(&path, &again)?) as _)
                    });
                    Box::new(super::reconnect::Reconnecting::new(
                        &uri.text, camera, open, give_up,
                    ))
                }
            }
        }
    };
    if source.is_live() {
        return Ok(source); // a camera: its capture times are its timeline
    }
    let source = Box::new(MediaClock::new(
        source,
        uri.fps.unwrap_or(DEFAULT_MEDIA_FPS),
    ));
    Ok(match uri.fps {
        Some(fps) => Box::new(Paced::new(source, fps)),
        None => source,
    })
}

/// Stdin carries Y4M (starts with `YUV4MPEG2`) or concatenated JPEGs. Which one is seen at
/// the first frame, on the capture thread: nothing waits for stdin before the stream starts
/// (the web view listens at once, its `/health` says `starting`).
fn open_stdin(_uri: &SourceUri) -> Result<Box<dyn FrameSource>> {
    Ok(Box::new(Stdin { source: None }))
}

struct Stdin {
    source: Option<Box<dyn FrameSource>>,
}

impl Stdin {
    fn sniff() -> Result<Box<dyn FrameSource>> {
        use std::io::BufRead;
        let mut input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin());
        let head = input.fill_buf()?;
        Ok(if head.starts_with(b"YUV4MPEG2") {
            Box::new(super::y4m::Y4mSource::new(Box::new(input), "stdin".into())?)
        } else {
            Box::new(super::mjpeg::MjpegSource::new(
                Box::new(input),
                "stdin".into(),
            ))
        })
    }
}

impl FrameSource for Stdin {
    fn next_frame(&mut self) -> Result<super::Next> {
        if self.source.is_none() {
            self.source = Some(Stdin::sniff()?);
        }
        self.source.as_mut().expect("just set").next_frame()
    }

    fn is_live(&self) -> bool {
        false // a pipe is read as a file: every frame, waited for
    }
}
