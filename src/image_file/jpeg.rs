//! JPEG frames out of a byte stream, and decoding of motion-JPEG frames.
//!
//! [`JpegSplitter`] finds one JPEG after another in concatenated JPEGs (`ffmpeg -f mjpeg`, an
//! IP camera's multipart body, a V4L2 MJPG buffer) by walking the marker segments by their
//! lengths (so an EXIF thumbnail's own SOI/EOI inside APP1 does not end the frame) and the
//! entropy-coded data by its byte stuffing. Bytes between frames (multipart headers) are skipped.
//! A frame cut short (a new SOI before EOI, the end of the stream, a broken marker) is reported
//! as corrupt and the splitter resynchronises on the next SOI.
//!
//! Webcams' motion-JPEG omits the Huffman tables (DHT) and relies on the standard ones of
//! ITU-T T.81 Annex K.3; [`with_default_huffman_tables`] inserts them so any JPEG decoder reads
//! the frame.

use anyhow::{bail, Result};
use image::RgbImage;

use std::io::{BufRead, ErrorKind};

/// Frames larger than this are refused (a stream without EOI would otherwise grow forever).
pub const MAX_FRAME_BYTES: usize = 32 << 20;

/// One split result.
#[derive(Debug)]
pub enum Piece {
    Jpeg(Vec<u8>),
    /// A frame that could not be completed, with why.
    Broken(String),
}

pub struct JpegSplitter<R> {
    input: R,
    /// Bytes to read again before `input`: after a frame broken in its header (whose segment
    /// lengths may have swallowed the next frame), from the first SOI found inside it.
    replay: Vec<u8>,
    replay_at: usize,
    /// An SOI already consumed while finishing the previous (truncated) frame.
    pending_soi: bool,
    eof: bool,
    /// A frame past this many bytes is broken ([`MAX_FRAME_BYTES`] unless set).
    max_bytes: usize,
}

impl<R: BufRead> JpegSplitter<R> {
    pub fn new(input: R) -> Self {
        JpegSplitter {
            input,
            replay: vec![],
            replay_at: 0,
            pending_soi: false,
            eof: false,
            max_bytes: MAX_FRAME_BYTES,
        }
    }

    /// Frames past `max_bytes` are broken (a whole file in memory cannot grow: its size).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    fn byte(&mut self) -> std::io::Result<Option<u8>> {
        if self.replay_at < self.replay.len() {
            self.replay_at += 1;
            return Ok(Some(self.replay[self.replay_at - 1]));
        }
        loop {
            let b = match self.input.fill_buf() {
                Ok([]) => return Ok(None),
                Ok(buf) => buf[0],
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.input.consume(1);
            return Ok(Some(b));
        }
    }

    /// Skips to just past the next SOI (FF D8). `false` at the end of the stream.
    fn find_soi(&mut self) -> std::io::Result<bool> {
        if std::mem::take(&mut self.pending_soi) {
            return Ok(true);
        }
        let mut prev = 0u8;
        while self.replay_at < self.replay.len() {
            let b = self.replay[self.replay_at];
            self.replay_at += 1;
            if prev == 0xFF && b == 0xD8 {
                return Ok(true);
            }
            prev = b;
        }
        loop {
            // Fast path: jump over whole buffered chunks that hold no 0xFF.
            let (skip, found) = {
                let buf = match self.input.fill_buf() {
                    Ok([]) => return Ok(false),
                    Ok(buf) => buf,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let mut found = None;
                for (i, &b) in buf.iter().enumerate() {
                    if prev == 0xFF && b == 0xD8 {
                        found = Some(i + 1);
                        break;
                    }
                    prev = b;
                }
                (found.unwrap_or(buf.len()), found.is_some())
            };
            self.input.consume(skip);
            if found {
                return Ok(true);
            }
        }
    }

    /// The next JPEG or broken frame; `None` at the end of the stream. `Err` only for I/O errors.
    pub fn next_piece(&mut self) -> std::io::Result<Option<Piece>> {
        let mut frame = vec![];
        let piece = self.read_piece(&mut frame)?;
        // (Not after a new SOI: nothing was swallowed then. A truncated frame's own EXIF
        // thumbnail may come back as a frame: rare in video, and better than losing frames.)
        if matches!(&piece, Some(Piece::Broken(_))) && !self.pending_soi {
            // Bytes taken as segment payload may hold the next frame: read them again from the
            // first SOI after this frame's own.
            if let Some(p) = frame
                .windows(3)
                .skip(2)
                .position(|w| w == [0xFF, 0xD8, 0xFF])
            {
                let mut replay = frame.split_off(p + 2);
                replay.extend_from_slice(&self.replay[self.replay_at..]);
                self.replay = replay;
                self.replay_at = 0;
                self.eof = false;
            }
        }
        Ok(piece)
    }

    fn read_piece(&mut self, out: &mut Vec<u8>) -> std::io::Result<Option<Piece>> {
        if self.eof || !self.find_soi()? {
            self.eof = true;
            return Ok(None);
        }
        out.extend_from_slice(&[0xFF, 0xD8]);
        macro_rules! next_or_truncated {
            () => {
                match self.byte()? {
                    Some(b) => b,
                    None => {
                        self.eof = true;
                        return Ok(Some(Piece::Broken(format!(
                            "truncated JPEG: the stream ends after {} bytes of the frame",
                            out.len()
                        ))));
                    }
                }
            };
        }
        // Marker segments up to SOS; again after each scan (progressive / multi-scan JPEGs).
        let mut marker: Option<u8> = None;
        loop {
            let m = match marker.take() {
                Some(m) => m,
                None => {
                    let ff = next_or_truncated!();
                    if ff != 0xFF {
                        out.push(ff); // kept for the replay of the swallowed bytes
                        return Ok(Some(Piece::Broken(format!(
                            "corrupt JPEG: byte {ff:#04x} where a marker was expected at offset {}",
                            out.len()
                        ))));
                    }
                    let mut m = next_or_truncated!();
                    while m == 0xFF {
                        m = next_or_truncated!(); // fill bytes
                    }
                    m
                }
            };
            match m {
                0xD8 => {
                    self.pending_soi = true;
                    return Ok(Some(Piece::Broken(format!(
                        "truncated JPEG: a new frame starts after {} bytes",
                        out.len()
                    ))));
                }
                0xD9 => {
                    out.extend_from_slice(&[0xFF, 0xD9]);
                    return Ok(Some(Piece::Jpeg(std::mem::take(out))));
                }
                0x01 | 0xD0..=0xD7 => out.extend_from_slice(&[0xFF, m]),
                _ => {
                    let hi = next_or_truncated!();
                    let lo = next_or_truncated!();
                    let len = u16::from_be_bytes([hi, lo]) as usize;
                    out.extend_from_slice(&[0xFF, m, hi, lo]);
                    if len < 2 {
                        return Ok(Some(Piece::Broken(format!(
                            "corrupt JPEG: marker {m:#04x} with length {len}"
                        ))));
                    }
                    for _ in 0..len - 2 {
                        let b = next_or_truncated!();
                        out.push(b);
                    }
                    if m == 0xDA {
                        // Entropy-coded data: ends at the first marker that is not a stuffed
                        // 0x00 or a restart marker.
                        loop {
                            let b = next_or_truncated!();
                            if b != 0xFF {
                                out.push(b);
                            } else {
                                let mut n = next_or_truncated!();
                                while n == 0xFF {
                                    n = next_or_truncated!();
                                }
                                if n == 0x00 || (0xD0..=0xD7).contains(&n) {
                                    out.extend_from_slice(&[0xFF, n]);
                                } else {
                                    marker = Some(n);
                                    break;
                                }
                            }
                            if out.len() > self.max_bytes {
                                return Ok(Some(Piece::Broken(format!(
                                    "JPEG frame larger than {} bytes (no EOI)",
                                    self.max_bytes
                                ))));
                            }
                        }
                    }
                }
            }
            if out.len() > self.max_bytes {
                return Ok(Some(Piece::Broken(format!(
                    "JPEG frame larger than {} bytes (no EOI)",
                    self.max_bytes
                ))));
            }
        }
    }
}

/// T.81 Annex K.3: code-length counts (16) and symbols of the four standard tables.
const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

/// The DHT segment (FF C4 ...) with the four standard tables.
pub fn default_dht_segment() -> Vec<u8> {
    let tables: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &DC_LUMA_BITS, &DC_VALUES),
        (0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES),
        (0x01, &DC_CHROMA_BITS, &DC_VALUES),
        (0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES),
    ];
    let mut body = vec![];
    for (class_id, bits, values) in tables {
        debug_assert_eq!(
            bits.iter().map(|&b| b as usize).sum::<usize>(),
            values.len()
        );
        body.push(class_id);
        body.extend_from_slice(bits);
        body.extend_from_slice(values);
    }
    let len = (body.len() + 2) as u16;
    let mut seg = vec![0xFF, 0xC4];
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend(body);
    seg
}

/// Offsets of the marker segments before the first SOS: (marker, offset of its FF).
fn header_markers(jpeg: &[u8]) -> Result<Vec<(u8, usize)>> {
    let mut markers = vec![];
    let mut i = 2;
    loop {
        if i + 4 > jpeg.len() || jpeg[i] != 0xFF {
            bail!("corrupt JPEG header at offset {i}");
        }
        let m = jpeg[i + 1];
        markers.push((m, i));
        if m == 0xDA {
            return Ok(markers);
        }
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        i += 2 + len;
    }
}

/// `jpeg` itself if it has Huffman tables, else a copy with the standard tables inserted
/// before the first SOS.
pub fn with_default_huffman_tables(jpeg: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
    if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] {
        bail!("not a JPEG (no SOI marker)");
    }
    let markers = header_markers(jpeg)?;
    if markers.iter().any(|&(m, _)| m == 0xC4) {
        return Ok(std::borrow::Cow::Borrowed(jpeg));
    }
    let sos = markers.last().expect("ends with SOS").1;
    let mut out = Vec::with_capacity(jpeg.len() + 432);
    out.extend_from_slice(&jpeg[..sos]);
    out.extend(default_dht_segment());
    out.extend_from_slice(&jpeg[sos..]);
    Ok(std::borrow::Cow::Owned(out))
}

/// Decodes one (motion-)JPEG frame, whole as [`JpegSplitter`] gives it, to RGB: lm's image
/// decoding, with the size limits of image files checked from the frame header before any
/// pixel is allocated.
pub fn decode_jpeg(jpeg: &[u8]) -> Result<RgbImage> {
    let full = with_default_huffman_tables(jpeg)?;
    super::decode_whole_jpeg(&full, std::path::Path::new("(JPEG frame)"))
}

/// Fails unless `bytes` hold one whole JPEG (SOI, marker segments, scans, EOI), as the
/// motion-JPEG splitter requires of a frame: a file cut short or damaged is refused here,
/// whose decoder would fill the missing part with grey.
pub fn check_whole(bytes: &[u8]) -> Result<()> {
    match JpegSplitter::new(bytes)
        .with_max_bytes(bytes.len())
        .next_piece()?
    {
        Some(Piece::Jpeg(_)) => Ok(()),
        Some(Piece::Broken(why)) => bail!("{why}"),
        None => bail!("not a JPEG (no SOI marker)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 8) as u8 ^ seed, (y * 8) as u8, seed.wrapping_mul(3)])
        });
        let mut out = vec![];
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// The JPEG with its DHT segments removed (what webcams send).
    fn strip_dht(jpeg: &[u8]) -> Vec<u8> {
        let markers = header_markers(jpeg).unwrap();
        let mut out = jpeg[..2].to_vec();
        for w in markers.windows(2) {
            if w[0].0 != 0xC4 {
                out.extend_from_slice(&jpeg[w[0].1..w[1].1]);
            }
        }
        out.extend_from_slice(&jpeg[markers.last().unwrap().1..]);
        out
    }

    fn split(bytes: &[u8]) -> Vec<Piece> {
        let mut s = JpegSplitter::new(std::io::BufReader::with_capacity(7, bytes));
        let mut out = vec![];
        while let Some(p) = s.next_piece().unwrap() {
            out.push(p);
        }
        out
    }

    #[test]
    fn frames_past_the_image_limits_are_refused_from_the_header() {
        let mut jpeg = test_jpeg(8, 8, 1);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        // SOF0: marker, length (2), precision (1), height (2), width (2).
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        let e = format!("{:#}", decode_jpeg(&jpeg).unwrap_err());
        assert!(
            e.contains("60000×60000") && e.contains("at most 16384×16384"),
            "{e}"
        );
    }

    #[test]
    fn dht_segment_matches_the_encoders_standard_tables() {
        // The image crate's encoder writes the Annex K tables: its DHT bodies must be ours.
        let jpeg = test_jpeg(16, 16, 1);
        let ours = default_dht_segment();
        let mut theirs = vec![];
        for (m, off) in header_markers(&jpeg).unwrap() {
            if m == 0xC4 {
                let len = u16::from_be_bytes([jpeg[off + 2], jpeg[off + 3]]) as usize;
                theirs.extend_from_slice(&jpeg[off + 4..off + 2 + len]);
            }
        }
        let mut ours_tables: Vec<Vec<u8>> = vec![];
        let mut t = &ours[4..];
        while !t.is_empty() {
            let n = 17 + t[1..17].iter().map(|&b| b as usize).sum::<usize>();
            ours_tables.push(t[..n].to_vec());
            t = &t[n..];
        }
        for table in ours_tables {
            assert!(
                theirs.windows(table.len()).any(|w| w == table.as_slice()),
                "table class/id {:#x} not in the encoder's DHT",
                table[0]
            );
        }
    }

    #[test]
    fn frames_without_huffman_tables_decode_like_the_original() {
        let jpeg = test_jpeg(40, 24, 7);
        let stripped = strip_dht(&jpeg);
        assert!(stripped.len() < jpeg.len());
        assert!(
            image::load_from_memory_with_format(&stripped, image::ImageFormat::Jpeg).is_err(),
            "the decoder should need the tables"
        );
        let want = decode_jpeg(&jpeg).unwrap();
        assert_eq!(decode_jpeg(&stripped).unwrap(), want);
    }

    #[test]
    fn splits_concatenated_jpegs_with_junk_between() {
        let (a, b) = (test_jpeg(16, 8, 1), test_jpeg(8, 16, 2));
        let mut s = b"--boundary\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
        s.extend(&a);
        s.extend(b"\r\n--boundary\r\n\r\n");
        s.extend(&b);
        s.extend(b"trailing");
        let pieces = split(&s);
        assert_eq!(pieces.len(), 2);
        match (&pieces[0], &pieces[1]) {
            (Piece::Jpeg(x), Piece::Jpeg(y)) => assert!(x == &a && y == &b),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exif_thumbnail_markers_inside_app1_do_not_split() {
        let (a, thumb) = (test_jpeg(16, 16, 3), test_jpeg(8, 8, 4));
        // An APP1 segment holding a whole JPEG (as EXIF thumbnails do), right after SOI.
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend(((thumb.len() + 2) as u16).to_be_bytes());
        app1.extend(&thumb);
        let mut with_thumb = a[..2].to_vec();
        with_thumb.extend(&app1);
        with_thumb.extend(&a[2..]);
        let pieces = split(&with_thumb);
        assert_eq!(pieces.len(), 1);
        match &pieces[0] {
            Piece::Jpeg(x) => {
                assert_eq!(x, &with_thumb);
                assert_eq!(decode_jpeg(x).unwrap().dimensions(), (16, 16));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_frames_are_reported_and_the_next_one_found() {
        let (a, b) = (test_jpeg(16, 16, 5), test_jpeg(16, 16, 6));
        let mut s = a[..a.len() / 2].to_vec(); // cut inside the scan
        s.extend(&b);
        s.extend(&a[..30]); // cut inside the header, at the end of the stream
        let pieces = split(&s);
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        // Cut inside the header: its segment lengths swallow the next SOI, which is found
        // again by replaying the swallowed bytes.
        assert!(matches!(&pieces[0], Piece::Broken(e) if e.contains("marker was expected")));
        assert!(matches!(&pieces[1], Piece::Jpeg(x) if x == &b));
        assert!(matches!(&pieces[2], Piece::Broken(e) if e.contains("stream ends")));

        // Cut inside the entropy-coded data: the next SOI ends the frame.
        let big = {
            let img = RgbImage::from_fn(64, 64, |x, y| {
                image::Rgb([(x * y) as u8, (x * 7 + y * 13) as u8, (x ^ y) as u8])
            });
            let mut out = vec![];
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
                .encode_image(&img)
                .unwrap();
            out
        };
        let mut s = big[..big.len() - 200].to_vec();
        s.extend(&b);
        let pieces = split(&s);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert!(matches!(&pieces[0], Piece::Broken(e) if e.contains("new frame")));
        assert!(matches!(&pieces[1], Piece::Jpeg(x) if x == &b));
    }

    #[test]
    fn garbage_after_soi_is_a_broken_frame_not_a_panic() {
        let b = test_jpeg(8, 8, 9);
        let mut s = vec![0xFF, 0xD8, 0x12, 0x34, 0x00];
        s.extend(&b);
        let pieces = split(&s);
        assert!(matches!(&pieces[0], Piece::Broken(e) if e.contains("marker was expected")));
        assert!(matches!(pieces.last(), Some(Piece::Jpeg(x)) if x == &b));
        assert!(decode_jpeg(&[0xFF, 0xD8, 0xFF]).is_err());
        assert!(decode_jpeg(b"GIF89a").is_err());
    }
}
