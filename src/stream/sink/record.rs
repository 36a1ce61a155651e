//! `--record DIR`: `DIR/stream.jsonl` and each frame's overlay as `DIR/frames/<frame>.png`,
//! every picture written whole or not at all.

use super::jsonl::JsonlSink;
use super::{FrameSink, SinkFrame};
use crate::output::atomic::save_png_atomic;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The overlay pictures of `--record`.
pub struct FramePictures {
    dir: PathBuf,
}

/// Creates `dir/frames` and `dir/stream.jsonl`: the record's JSON Lines and its pictures.
pub fn open(dir: &Path) -> Result<(JsonlSink, FramePictures)> {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames)
        .with_context(|| format!("cannot create {}", frames.display()))?;
    let lines = JsonlSink::open(&dir.join("stream.jsonl"))?;
    Ok((lines, FramePictures { dir: frames }))
}

impl FrameSink for FramePictures {
    fn write(&mut self, frame: &SinkFrame) -> Result<()> {
        let path = self.dir.join(format!("{:08}.png", frame.done.frame.number));
        save_png_atomic(frame.overlay(), &path)
    }
}
