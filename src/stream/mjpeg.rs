//! Concatenated JPEGs (an `.mjpg` file, `ffmpeg -f mjpeg` on stdin, an IP camera's stream
//! saved or piped in) as frames.

use super::source::{Frame, FrameSource, Next};
use super::uri::SourceUri;
use crate::image_file::jpeg::{decode_jpeg, JpegSplitter, Piece};
use anyhow::{anyhow, Context, Result};
use std::io::BufRead;
use std::path::{Path, PathBuf};

pub struct MjpegSource {
    splitter: JpegSplitter<Box<dyn BufRead + Send>>,
    name: String,
    /// Reopened at the end with `?loop`.
    file: Option<PathBuf>,
    looped: bool,
    number: u64,
    /// Frames decoded since (re)opening: a looped file with none would spin.
    good_since_open: u64,
}

fn open_reader(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("cannot open MJPEG file {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f)))
}

impl MjpegSource {
    pub fn new(input: Box<dyn BufRead + Send>, name: String) -> MjpegSource {
        MjpegSource {
            splitter: JpegSplitter::new(input),
            name,
            file: None,
            looped: false,
            number: 0,
            good_since_open: 0,
        }
    }

    pub fn open_file(path: &Path, uri: &SourceUri) -> Result<MjpegSource> {
        let mut s = MjpegSource::new(open_reader(path)?, path.display().to_string());
        s.file = Some(path.to_path_buf());
        s.looped = uri.looped;
        Ok(s)
    }
}

impl FrameSource for MjpegSource {
    fn next_frame(&mut self) -> Result<Next> {
        let piece = loop {
            match self
                .splitter
                .next_piece()
                .with_context(|| format!("cannot read {}", self.name))?
            {
                Some(p) => break p,
                None => match (&self.file, self.looped) {
                    (Some(path), true) if self.good_since_open > 0 => {
                        self.splitter = JpegSplitter::new(open_reader(path)?);
                        self.good_since_open = 0;
                    }
                    _ => return Ok(Next::End),
                },
            }
        };
        let number = self.number;
        self.number += 1;
        Ok(match piece {
            Piece::Jpeg(bytes) => match decode_jpeg(&bytes) {
                Ok(image) => {
                    self.good_since_open += 1;
                    Next::Frame(Frame::new(image, number))
                }
                Err(error) => Next::Corrupt {
                    number,
                    error: error.context(format!("{} frame {number}", self.name)),
                },
            },
            Piece::Broken(why) => Next::Corrupt {
                number,
                error: anyhow!("{} frame {number}: {why}", self.name),
            },
        })
    }

    fn is_live(&self) -> bool {
        false
    }
}
