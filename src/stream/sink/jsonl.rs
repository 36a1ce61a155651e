//! `--jsonl FILE|-`: one JSON object per frame (src/stream/jsonl.rs), each line written whole
//! and flushed, so a reader (or a crash) sees complete records.

use super::{FrameSink, SinkFrame};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct JsonlSink {
    path: PathBuf,
    out: Box<dyn Write + Send>,
}

impl JsonlSink {
    /// Creates (truncates) `path`; `-` is stdout.
    pub fn open(path: &Path) -> Result<JsonlSink> {
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            let f = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            Box::new(std::io::BufWriter::new(f))
        };
        Ok(JsonlSink {
            path: path.to_path_buf(),
            out,
        })
    }
}

impl FrameSink for JsonlSink {
    fn write(&mut self, frame: &SinkFrame) -> Result<()> {
        let w = &mut self.out;
        w.write_all(frame.done.line.as_bytes())
            .and_then(|_| w.write_all(b"\n"))
            .and_then(|_| w.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}
