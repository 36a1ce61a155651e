//! Image files (PNG, JPEG, BMP) → RGB pixels, for every front end that reads pictures from
//! disk or from bytes (`lm run`, `lm eval`, `lm stream`'s folder source, the fuzzers), with
//! limits checked before any pixel is allocated.

use anyhow::{ensure, Context, Result};
use image::RgbImage;
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
    decode_image(std::io::BufReader::new(file), path)
}

/// [`load_image`] of the bytes of a file; `name` is used in messages.
pub fn decode_image_bytes(bytes: &[u8], name: &Path) -> Result<RgbImage> {
    decode_image(std::io::Cursor::new(bytes), name)
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
    let decoder = reader
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", path.display()))?
        .into_decoder()
        .map_err(|e| decode_error(e, path))?;
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
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, path))?;
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
}
