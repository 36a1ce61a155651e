//! Writes a motion-JPEG clip (concatenated JPEGs) for `benches/stream_fps.sh`:
//! `cargo run --release --example make_mjpeg -- OUT.mjpg WIDTH HEIGHT FRAMES [IMAGE]`.
//! Each frame is IMAGE (default tests/images/astronaut.png) resized to WIDTH×HEIGHT and shifted
//! by a few pixels, so consecutive frames differ as a camera's do.

use anyhow::{Context, Result};
use std::io::Write;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        anyhow::bail!("usage: make_mjpeg OUT.mjpg WIDTH HEIGHT FRAMES [IMAGE]");
    }
    let (w, h, n): (u32, u32, usize) = (args[2].parse()?, args[3].parse()?, args[4].parse()?);
    let src = args.get(5).cloned().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/images/astronaut.png").into()
    });
    let base = lm::image_file::load_image(std::path::Path::new(&src))?;
    let base =
        image::imageops::resize(&base, w + 16, h + 16, image::imageops::FilterType::Triangle);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args[1]).with_context(|| format!("cannot create {}", args[1]))?,
    );
    for i in 0..n {
        let (dx, dy) = ((i % 16) as u32, ((i / 4) % 16) as u32);
        let frame = image::imageops::crop_imm(&base, dx, dy, w, h).to_image();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&frame)?;
    }
    out.flush()?;
    Ok(())
}
