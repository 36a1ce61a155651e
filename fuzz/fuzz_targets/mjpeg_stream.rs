//! An MJPEG stream (concatenated JPEGs, as `ffmpeg -f mjpeg` or an IP camera sends them) →
//! `lm stream`'s MJPEG source: splitting at the markers, default Huffman tables inserted into
//! webcam frames that have none, JPEG decoding. Frames, corrupt frames counted, or a fatal
//! error; never a panic or an allocation past the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::stream::mjpeg::MjpegSource;
use lm::stream::{FrameSource, Next};

fuzz_target!(|data: &[u8]| {
    let input = Box::new(std::io::Cursor::new(data.to_vec()));
    let mut source = MjpegSource::new(input, "/fuzz/stream.mjpg".into());
    // Every frame, whole or corrupt, starts with a 2-byte SOI, and then comes the end: a stream
    // of n bytes gives at most n / 2 + 1 results, so the loop ends.
    for _ in 0..data.len() / 2 + 2 {
        match source.next_frame() {
            Ok(Next::Frame(f)) => assert!(f.image.width() > 0 && f.image.height() > 0),
            Ok(Next::Corrupt { error, .. }) => {
                let _ = error.to_string();
            }
            Ok(Next::End) | Err(_) => return,
        }
    }
    panic!("the MJPEG source gave more frames than its input can hold");
});
