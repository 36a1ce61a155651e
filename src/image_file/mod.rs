//! Image files (PNG, JPEG, BMP) → RGB pixels, for every front end that reads pictures from
//! disk or from bytes (`lm run`, `lm eval`, `lm stream`'s sources, the fuzzers), with limits
//! checked before any pixel is allocated.
//!
//! Pictures come out upright: an EXIF orientation (a phone's portrait) is applied.
//!
//! One decoding path, strict everywhere: a JPEG must be whole ([`jpeg`] walks its structure,
//! as the motion-JPEG splitter does) before it is decoded, so a half-written or damaged file is
//! an error naming it, never a grey-filled picture that a model draws joints on. A JPEG without
//! Huffman tables (a webcam's frame saved as a file) gets the standard ones.

pub mod jpeg;
pub mod listing;

use anyhow::{ensure, Context, Result};
use image::RgbImage;
use std::io::Read as _;
use std::path::Path;

/// The largest image side [`load_image`] decodes, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// The most memory [`load_image`] spends on one image: the decoded pixels and
/// their RGB copy (a 8192 × 8192 RGB photo needs 192 MiB).
pub const MAX_IMAGE_BYTES: u64 = 256 * 1024 * 1024;

/// Decodes an image file to RGB, naming the file on failure. An image whose
/// header asks for more than [`MAX_IMAGE_SIDE`] pixels a side or
/// [`MAX_IMAGE_BYTES`] is refused before any pixel is allocated.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open image {}", path.display()))?;
    let mut input = std::io::BufReader::new(file);
    if starts_with_soi(&mut input) {
        // A JPEG is checked whole before decoding: read it (compressed: small beside
        // MAX_IMAGE_BYTES, and refused past it).
        let mut bytes = Vec::new();
        std::io::Read::take(input, MAX_IMAGE_BYTES + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read image {}", path.display()))?;
        return decode_image_bytes(&bytes, path);
    }
    decode_image(input, path)
}

/// [`load_image`] of the bytes of a file; `name` is used in messages.
pub fn decode_image_bytes(bytes: &[u8], name: &Path) -> Result<RgbImage> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg::check_whole(bytes)
            .with_context(|| format!("cannot decode image {}", name.display()))?;
        let full = jpeg::with_default_huffman_tables(bytes)
            .with_context(|| format!("cannot decode image {}", name.display()))?;
        return decode_image(std::io::Cursor::new(&*full), name);
    }
    decode_image(std::io::Cursor::new(bytes), name)
}

/// A JPEG already known to be whole (a frame the motion-JPEG splitter completed), with its
/// Huffman tables: decoded without walking its structure again.
pub(crate) fn decode_whole_jpeg(jpeg: &[u8], name: &Path) -> Result<RgbImage> {
    decode_image(std::io::Cursor::new(jpeg), name)
}

/// Whether the input starts with a JPEG's SOI marker (nothing is consumed).
fn starts_with_soi(input: &mut impl std::io::BufRead) -> bool {
    input.fill_buf().is_ok_and(|b| b.starts_with(&[0xFF, 0xD8]))
}

fn decode_image<R: std::io::BufRead + std::io::Seek>(
    mut input: R,
    path: &Path,
) -> Result<RgbImage> {
    use image::ImageDecoder as _;
    check_png_palette(&mut input)
        .and_then(|()| input.seek(std::io::SeekFrom::Start(0)).map(drop))
        .with_context(|| format!("cannot read image {}", path.display()))?;
    let mut reader = image::ImageReader::new(input);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    let mut decoder = reader
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", path.display()))?
        .into_decoder()
        .map_err(|e| decode_error(e, path))?;
    // A phone's portrait is stored landscape with an EXIF orientation: turned upright, as
    // every viewer shows it (an unreadable tag leaves the pixels as stored).
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let (w, h) = decoder.dimensions();
    ensure!(
        w > 0 && h > 0,
        "image {} is {w}×{h} pixels: it has no pixels",
        path.display()
    );
    let rgb_copy = if decoder.color_type() == image::ColorType::Rgb8 {
        0
    } else {
        3 * u64::from(w) * u64::from(h)
    };
    let need = decoder.total_bytes().saturating_add(rgb_copy);
    ensure!(
        w <= MAX_IMAGE_SIDE && h <= MAX_IMAGE_SIDE && need <= MAX_IMAGE_BYTES,
        "image {} is {w}×{h} pixels ({} MiB decoded): lm decodes images of at most \
         {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} pixels and {} MiB",
        path.display(),
        need.div_ceil(1 << 20),
        MAX_IMAGE_BYTES >> 20
    );
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, path))?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}

/// Refuses a PNG whose palette (`PLTE` chunk) is not a whole number of RGB entries, at most
/// 256: png 0.18.1 panics on one while expanding it (found by
/// fuzz/fuzz_targets/image_preprocess.rs). Reads chunk headers up to the first `IDAT`;
/// anything else is left to the decoder.
fn check_png_palette<R: std::io::Read + std::io::Seek>(r: &mut R) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind, SeekFrom};
    let mut signature = [0u8; 8];
    if r.read_exact(&mut signature).is_err() || &signature != b"\x89PNG\r\n\x1a\n" {
        return Ok(());
    }
    let mut header = [0u8; 8];
    while r.read_exact(&mut header).is_ok() {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        match &header[4..] {
            b"IDAT" | b"IEND" => break,
            b"PLTE" if len % 3 != 0 || len > 3 * 256 => {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!("corrupt PNG: a PLTE chunk of {len} bytes is not 1 to 256 RGB entries"),
                ));
            }
            _ => {}
        }
        // The data and the CRC.
        r.seek(SeekFrom::Current(i64::from(len) + 4))?;
    }
    Ok(())
}

/// A decoder's error naming the file; a limit is said as such, not as a corrupt file.
fn decode_error(e: image::ImageError, path: &Path) -> anyhow::Error {
    match e {
        image::ImageError::Limits(l) => anyhow::anyhow!(
            "image {} needs more memory than lm allows for one image ({} MiB): {l}",
            path.display(),
            MAX_IMAGE_BYTES >> 20
        ),
        other => anyhow::Error::new(other).context(format!(
            "cannot decode image {} (corrupt or unsupported format)",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fuzz/artifacts/image_preprocess/crash-a85a44d7…: a 5 × 12288 palette PNG whose PLTE
    /// chunk holds 25 bytes; png 0.18.1 panicked on it.
    const BAD_PALETTE_PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x30, 0x03, 0x08, 0x03, 0x00, 0x00, 0x00, 0x6c,
        0xe8, 0x32, 0xca, 0x00, 0x00, 0x00, 0x19, 0x50, 0x4c, 0x54, 0x45, 0x00, 0x20, 0x40, 0xff,
        0x60, 0x80, 0xa0, 0xc0, 0xe0, 0x00, 0x20, 0x40, 0x60, 0x80, 0xa0, 0xc0, 0xe0, 0x00, 0x20,
        0x40, 0x71, 0x00, 0xa0, 0xc0, 0xe0, 0xe5, 0xe4, 0x6c, 0x30, 0x00, 0x00, 0x00, 0x14, 0x49,
        0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x60, 0x64, 0x62, 0x66, 0x40, 0x01, 0x10, 0xa0,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0xae, 0x0c, 0x20, 0x82, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn a_png_palette_of_a_partial_entry_is_an_error_not_a_panic() {
        let e = decode_image_bytes(BAD_PALETTE_PNG, Path::new("bad.png")).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("bad.png") && e.contains("PLTE chunk of 25 bytes"),
            "{e}"
        );
        // The same image with a whole palette (24 bytes, CRC not checked before IDAT by us)
        // gets past the check, to the decoder.
        let mut fixed = BAD_PALETTE_PNG.to_vec();
        fixed[36] = 24;
        let e = format!(
            "{:#}",
            decode_image_bytes(&fixed, Path::new("b.png")).unwrap_err()
        );
        assert!(!e.contains("PLTE chunk of"), "{e}");
    }

    #[test]
    fn a_valid_png_still_decodes() {
        let img = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let back = decode_image_bytes(png.get_ref(), Path::new("ok.png")).unwrap();
        assert_eq!(back, img);
    }

    fn photo_jpeg() -> Vec<u8> {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 77])
        });
        let mut j = vec![];
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut j, 90)
            .encode_image(&img)
            .unwrap();
        j
    }

    #[test]
    fn a_half_written_jpeg_is_an_error_naming_the_file() {
        let whole = photo_jpeg();
        assert!(decode_image_bytes(&whole, Path::new("ok.jpg")).is_ok());
        let half = &whole[..whole.len() * 2 / 3];
        let e = format!(
            "{:#}",
            decode_image_bytes(half, Path::new("half.jpg")).unwrap_err()
        );
        assert!(
            e.contains("half.jpg") && e.contains("truncated JPEG"),
            "{e}"
        );
    }

    #[test]
    fn a_jpeg_header_followed_by_noise_is_an_error() {
        let whole = photo_jpeg();
        let sos = whole.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mut noisy = whole[..sos + 20].to_vec();
        let mut x = 12345u32;
        noisy.extend((0..20_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        let e = decode_image_bytes(&noisy, Path::new("noise.jpg")).unwrap_err();
        assert!(format!("{e:#}").contains("noise.jpg"), "{e:#}");
    }

    #[test]
    fn a_jpeg_file_is_read_whole_and_checked_from_disk_too() {
        let dir = tempfile::tempdir().unwrap();
        let whole = photo_jpeg();
        let (ok, cut) = (dir.path().join("ok.jpg"), dir.path().join("cut.jpg"));
        std::fs::write(&ok, &whole).unwrap();
        std::fs::write(&cut, &whole[..whole.len() - 10]).unwrap();
        assert_eq!(load_image(&ok).unwrap().dimensions(), (64, 48));
        let e = format!("{:#}", load_image(&cut).unwrap_err());
        assert!(e.contains("cut.jpg") && e.contains("truncated JPEG"), "{e}");
    }

    #[test]
    fn a_jpeg_without_huffman_tables_decodes_as_in_motion_jpeg() {
        let whole = photo_jpeg();
        // Drop the DHT segments (a webcam's MJPEG frame saved as a file).
        let mut stripped = whole[..2].to_vec();
        let mut i = 2;
        while whole[i + 1] != 0xDA {
            let len = u16::from_be_bytes([whole[i + 2], whole[i + 3]]) as usize;
            if whole[i + 1] != 0xC4 {
                stripped.extend_from_slice(&whole[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        stripped.extend_from_slice(&whole[i..]);
        let a = decode_image_bytes(&whole, Path::new("a.jpg")).unwrap();
        let b = decode_image_bytes(&stripped, Path::new("b.jpg")).unwrap();
        assert_eq!(a, b);
    }

    /// `jpeg` with an APP1 Exif segment holding only an orientation tag, after SOI.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes());
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, next IFD = 0
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend(tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend(app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn an_exif_portrait_comes_out_upright() {
        let plain = photo_jpeg(); // 64 x 48
        let stored = decode_image_bytes(&plain, Path::new("plain.jpg")).unwrap();
        // 6: the stored picture is shown turned 90 degrees clockwise.
        let rotated = with_exif_orientation(&plain, 6);
        let upright = decode_image_bytes(&rotated, Path::new("portrait.jpg")).unwrap();
        assert_eq!(upright.dimensions(), (48, 64));
        assert_eq!(upright, image::imageops::rotate90(&stored));
        // 1: as stored.
        let one = decode_image_bytes(&with_exif_orientation(&plain, 1), Path::new("1.jpg"));
        assert_eq!(one.unwrap(), stored);
    }
}
