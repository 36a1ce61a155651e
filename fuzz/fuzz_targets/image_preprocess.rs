//! Image file bytes → lm's decoding (`image_file::decode_image_bytes`: format
//! guess, size limits, RGB conversion) and meta.yaml's pre-processing to the
//! 160×160 network input: an input tensor or an error, never a panic or an
//! allocation past the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::config::Meta;
use std::path::Path;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static META: OnceLock<Meta> = OnceLock::new();
    let meta = META.get_or_init(|| {
        let text = include_str!("../../meta/lm_single_pose_v1_quantize.yaml");
        Meta::parse(text, "/fuzz/meta.yaml").unwrap()
    });
    let Ok(image) = lm::image_file::decode_image_bytes(data, Path::new("/fuzz/image")) else {
        return;
    };
    let input = lm::preprocess::preprocess(meta, &image).unwrap();
    let (h, w) = meta.input_hw();
    assert_eq!(input.data.len(), h * w * 3);
});
