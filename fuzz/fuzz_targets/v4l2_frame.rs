//! One dequeued V4L2 buffer → `v4l2::decode_frame`, as the camera source decodes it: YUYV
//! with the driver's stride, or MJPG / JPEG (webcam frames usually without Huffman tables).
//! The first 9 bytes give the negotiated format (fourcc pick, width, height, stride), the
//! rest is the buffer; a driver can hand over a short or garbage buffer. An image of the
//! negotiated size or an error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::stream::v4l2::{decode_frame, ActualFormat, FourCc};

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let u16_at = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]) as u32;
    let fourcc = match data[0] % 3 {
        0 => FourCc::YUYV,
        1 => FourCc::MJPG,
        _ => FourCc::JPEG,
    };
    let format = ActualFormat {
        fourcc,
        width: u16_at(1),
        height: u16_at(3),
        stride: u16_at(5) + u16_at(7),
    };
    if let Ok(image) = decode_frame(&format, &data[9..]) {
        if fourcc == FourCc::YUYV {
            assert_eq!(
                (image.width(), image.height()),
                (format.width, format.height)
            );
        }
    }
});
