//! Ground-truth files of `lm eval` → every reader (COCO person_keypoints, the coco17 index,
//! MPII as HRNet/mmpose write it, StanfordExtra, `filename xmin,ymin,xmax,ymax px,py ...`
//! text, CSV) and the format guess: annotations or an error, never a panic. The first byte
//! picks the reader; the rest is the file's text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::eval::gt::{self, Format};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let parsed = match pick % 7 {
        0 => gt::coco::parse(text),
        1 => gt::coco17_index::parse(text),
        2 => gt::mpii::parse(text),
        3 => gt::bbox_text::parse(text),
        4 => gt::csv::parse(text, Path::new("/fuzz/images")),
        5 => gt::stanford_extra::parse(text),
        _ => match Format::detect(Path::new("/fuzz/gt.json"), text) {
            Ok(_) => return,
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        },
    };
    if let Ok(gt) = parsed {
        // What lm eval reads next: the joint names and each sample's box and joints.
        let _ = format!("{gt:?}");
    }
});
