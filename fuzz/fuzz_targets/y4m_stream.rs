//! A Y4M (YUV4MPEG2) stream → `lm stream`'s Y4M source: header parsing (size, chroma
//! subsampling, colour range, frame rate), frame headers, planar YUV → RGB. Frames or an
//! error; never a panic or an allocation past the limits (the header names the frame size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::stream::y4m::Y4mSource;
use lm::stream::{FrameSource, Next};

fuzz_target!(|data: &[u8]| {
    let input = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut source) = Y4mSource::new(input, "/fuzz/video.y4m".into()) else {
        return;
    };
    // Every frame starts with a `FRAME` line (6 bytes at least): the loop ends.
    for _ in 0..=data.len() / 6 {
        match source.next_frame() {
            Ok(Next::Frame(f)) => {
                assert_eq!(f.image.width(), source.header().width);
                assert_eq!(f.image.height(), source.header().height);
            }
            Ok(Next::Corrupt { error, .. }) => {
                let _ = error.to_string();
            }
            Ok(Next::End) | Err(_) => return,
        }
    }
    panic!("the Y4M source gave more frames than its input can hold");
});
