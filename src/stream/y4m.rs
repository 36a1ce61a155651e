//! YUV4MPEG2 (`.y4m`, `ffmpeg -f yuv4mpegpipe`): 8-bit 4:2:0, 4:2:2, 4:4:4 or mono planes → RGB.
//!
//! Header: `YUV4MPEG2 W<w> H<h> [F<n>:<d>] [I<p>] [A<a>:<b>] [C<colourspace>] [X<ext>]...\n`,
//! then per frame `FRAME[ params]\n` and the Y, U, V planes. Colour spaces 420jpeg (the default),
//! 420, 420paldv, 420mpeg2 (chroma siting differs; we sample nearest), 422, 444, mono.
//! `XCOLORRANGE=FULL` marks full-range samples; the default is limited (TV) range.

use super::source::{Frame, FrameSource, Next};
use super::uri::SourceUri;
use super::yuv::{planar_to_rgb, Range};
use crate::image_file::{MAX_IMAGE_BYTES, MAX_IMAGE_SIDE};
use anyhow::{anyhow, bail, ensure, Context, Result};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// What a Y4M header says.
#[derive(Debug, Clone, PartialEq)]
pub struct Y4mHeader {
    pub width: u32,
    pub height: u32,
    /// Chroma subsampling (x, y); `None` = mono.
    pub subsampling: Option<(u32, u32)>,
    pub range: Range,
    pub fps: Option<(u32, u32)>,
}

impl Y4mHeader {
    pub fn parse(line: &str) -> Result<Y4mHeader> {
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some("YUV4MPEG2") {
            bail!("not a Y4M stream (no YUV4MPEG2 signature)");
        }
        let (mut width, mut height, mut fps) = (None, None, None);
        let mut subsampling = Some((2, 2));
        let mut range = Range::Limited;
        for w in words {
            // The tag is one character; splitting at byte 1 panicked on a multi-byte one
            // (found by fuzz/y4m_stream).
            let mut chars = w.chars();
            let tag = chars.next().map(String::from).unwrap_or_default();
            let value = chars.as_str();
            match tag.as_str() {
                "W" => width = value.parse::<u32>().ok().filter(|&v| v > 0),
                "H" => height = value.parse::<u32>().ok().filter(|&v| v > 0),
                "F" => {
                    fps = value
                        .split_once(':')
                        .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
                }
                "C" => {
                    subsampling = match value {
                        "420jpeg" | "420" | "420paldv" | "420mpeg2" => Some((2, 2)),
                        "422" => Some((2, 1)),
                        "444" => Some((1, 1)),
                        "mono" => None,
                        other => bail!(
                            "Y4M colour space C{other} is not supported \
                             (8-bit 420jpeg, 420, 420paldv, 420mpeg2, 422, 444, mono)"
                        ),
                    }
                }
                "X" if value.eq_ignore_ascii_case("COLORRANGE=FULL") => range = Range::Full,
                "I" if value != "p" && value != "?" => {
                    tracing::warn!("Y4M interlacing I{value}: frames are read as progressive")
                }
                _ => {}
            }
        }
        let (Some(width), Some(height)) = (width, height) else {
            bail!("Y4M header without a valid W (width) and H (height): {line:?}");
        };
        let header = Y4mHeader {
            width,
            height,
            subsampling,
            range,
            fps,
        };
        // The frame buffer and its RGB image are allocated from the header: the same limits as
        // for image files, checked before any allocation.
        // (Sides first: their product must not overflow a 32-bit usize.)
        let sides_ok = width <= MAX_IMAGE_SIDE && height <= MAX_IMAGE_SIDE;
        let (y, c) = if sides_ok {
            header.plane_sizes()
        } else {
            (0, 0)
        };
        let need = (y as u64 + 2 * c as u64) + 3 * y as u64;
        ensure!(
            sides_ok && need <= MAX_IMAGE_BYTES,
            "Y4M frames of {width}×{height} pixels ({} MiB a frame): lm reads frames of at most \
             {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} pixels and {} MiB",
            need.div_ceil(1 << 20),
            MAX_IMAGE_BYTES >> 20
        );
        Ok(header)
    }

    /// Bytes of (Y, each chroma plane) per frame.
    pub fn plane_sizes(&self) -> (usize, usize) {
        let (w, h) = (self.width as usize, self.height as usize);
        let c = match self.subsampling {
            Some((sx, sy)) => w.div_ceil(sx as usize) * h.div_ceil(sy as usize),
            None => 0,
        };
        (w * h, c)
    }
}

pub struct Y4mSource {
    input: Box<dyn BufRead + Send>,
    name: String,
    header: Y4mHeader,
    file: Option<PathBuf>,
    looped: bool,
    number: u64,
    frame: Vec<u8>,
    good_since_open: u64,
}

/// Reads one `\n`-terminated line of at most `limit` bytes (`None` at a clean end).
fn read_line(input: &mut dyn BufRead, limit: usize) -> Result<Option<String>> {
    let mut line = vec![];
    input.take(limit as u64).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        bail!(
            "line longer than {limit} bytes or cut short: {:?}",
            String::from_utf8_lossy(&line)
        );
    }
    line.pop();
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

fn open_reader(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("cannot open Y4M file {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f)))
}

impl Y4mSource {
    pub fn new(mut input: Box<dyn BufRead + Send>, name: String) -> Result<Y4mSource> {
        let line = read_line(&mut *input, 4096)
            .and_then(|l| l.ok_or_else(|| anyhow!("empty stream")))
            .with_context(|| format!("{name}: cannot read the Y4M header"))?;
        let header = Y4mHeader::parse(&line).with_context(|| format!("{name}: bad Y4M header"))?;
        let (y, c) = header.plane_sizes();
        Ok(Y4mSource {
            input,
            name,
            frame: vec![0; y + 2 * c],
            header,
            file: None,
            looped: false,
            number: 0,
            good_since_open: 0,
        })
    }

    pub fn open_file(path: &Path, uri: &SourceUri) -> Result<Y4mSource> {
        let mut s = Y4mSource::new(open_reader(path)?, path.display().to_string())?;
        s.file = Some(path.to_path_buf());
        s.looped = uri.looped;
        Ok(s)
    }

    pub fn header(&self) -> &Y4mHeader {
        &self.header
    }

    fn reopen(&mut self) -> Result<()> {
        let path = self.file.clone().expect("only files loop");
        let again = Y4mSource::new(open_reader(&path)?, self.name.clone())?;
        if again.header != self.header {
            bail!("{}: the header changed on reopening", self.name);
        }
        self.input = again.input;
        self.good_since_open = 0;
        Ok(())
    }
}

impl FrameSource for Y4mSource {
    fn next_frame(&mut self) -> Result<Next> {
        let line = loop {
            match read_line(&mut *self.input, 1024).with_context(|| {
                format!("{}: cannot read frame {} header", self.name, self.number)
            })? {
                Some(line) => break line,
                None if self.looped && self.file.is_some() && self.good_since_open > 0 => {
                    self.reopen()?
                }
                None => return Ok(Next::End),
            }
        };
        if line != "FRAME" && !line.starts_with("FRAME ") {
            // Without a frame header the plane boundaries are lost: stop rather than guess.
            bail!(
                "{}: frame {}: expected a FRAME header, found {:?}",
                self.name,
                self.number,
                line.chars().take(40).collect::<String>()
            );
        }
        let number = self.number;
        self.number += 1;
        let mut got = 0;
        while got < self.frame.len() {
            match self.input.read(&mut self.frame[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.name)),
            }
        }
        if got < self.frame.len() {
            return Ok(Next::Corrupt {
                number,
                error: anyhow!(
                    "{} frame {number}: truncated ({got} of {} bytes)",
                    self.name,
                    self.frame.len()
                ),
            });
        }
        let h = &self.header;
        let (ys, cs) = h.plane_sizes();
        let (y, rest) = self.frame.split_at(ys);
        let uv = h.subsampling.map(|_| (&rest[..cs], &rest[cs..2 * cs]));
        let image = planar_to_rgb(
            y,
            uv,
            (h.width, h.height),
            h.subsampling.unwrap_or((1, 1)),
            h.range,
        );
        self.good_since_open += 1;
        let mut frame = Frame::new(image, number);
        // The file's own rate (`F30000:1001`) is its timeline.
        if let Some((num, den)) = h.fps.filter(|&(n, d)| n > 0 && d > 0) {
            frame.media_time = Some(std::time::Duration::from_secs_f64(
                number as f64 * f64::from(den) / f64::from(num),
            ));
        }
        Ok(Next::Frame(frame))
    }

    fn is_live(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_past_the_image_limits_are_refused_before_allocating() {
        for (line, size) in [
            ("YUV4MPEG2 W4000000000 H4000000000", "4000000000×4000000000"),
            ("YUV4MPEG2 W16384 H16384 C444", "16384×16384"),
        ] {
            let e = Y4mHeader::parse(line).unwrap_err().to_string();
            assert!(
                e.contains(size) && e.contains("at most 16384×16384 pixels"),
                "{e}"
            );
        }
        // 4:2:0 at the largest side is still too big (4.5 bytes a pixel: 1,152 MiB a frame);
        // 8K (142 MiB a frame) is read.
        assert!(Y4mHeader::parse("YUV4MPEG2 W16384 H16384").is_err());
        assert!(Y4mHeader::parse("YUV4MPEG2 W7680 H4320").is_ok());
    }

    #[test]
    fn a_header_word_starting_with_a_multi_byte_character_is_skipped() {
        let h = Y4mHeader::parse("YUV4MPEG2 W3 H3 \u{fffd}\u{fffd}C420").unwrap();
        assert_eq!((h.width, h.height), (3, 3));
    }

    #[test]
    fn headers() {
        let h = Y4mHeader::parse("YUV4MPEG2 W6 H4 F30:1 Ip A1:1 C422 XCOLORRANGE=FULL").unwrap();
        assert_eq!((h.width, h.height, h.subsampling), (6, 4, Some((2, 1))));
        assert_eq!((h.range, h.fps), (Range::Full, Some((30, 1))));
        assert_eq!(h.plane_sizes(), (24, 12));
        let h = Y4mHeader::parse("YUV4MPEG2 W5 H3").unwrap();
        assert_eq!((h.subsampling, h.plane_sizes()), (Some((2, 2)), (15, 6)));
        let e = |s: &str| format!("{:#}", Y4mHeader::parse(s).unwrap_err());
        assert!(e("YUV4MPEG2 W5 H3 C420p10").contains("not supported"));
        assert!(e("YUV4MPEG2 W5").contains("valid W"));
        assert!(e("RIFF").contains("signature"));
    }
}
