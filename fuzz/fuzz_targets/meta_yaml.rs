//! meta.yaml text → parsed and validated `Meta`, or a `ConfigError`; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::config::Meta;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Meta::parse(text, "/fuzz/meta.yaml") {
        Ok(meta) => {
            // What the pipeline reads right after loading.
            let _ = meta.input_hw();
            let _ = meta.model_path();
            let _ = meta.error("MODEL.file", "x").to_string();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
