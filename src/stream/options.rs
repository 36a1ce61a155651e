//! What `lm stream` is asked to do.

use std::path::PathBuf;
use std::time::Duration;

/// What `lm stream` was asked to do.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// The source's name in the JSON Lines.
    pub source_name: String,
    /// `-` = stdout.
    pub jsonl: Option<PathBuf>,
    /// Writes `DIR/stream.jsonl` and `DIR/frames/<frame>.png` overlays.
    pub record: Option<PathBuf>,
    /// Stop after this many frames are output.
    pub frames: Option<u64>,
    /// `ADDR:PORT` of the web view.
    pub http: Option<String>,
    /// Interval of the stats line on stderr (`None`: summary only).
    pub report_every: Option<Duration>,
    /// JPEG quality of `/stream.mjpg`.
    pub jpeg_quality: u8,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            source_name: String::new(),
            jsonl: None,
            record: None,
            frames: None,
            http: None,
            report_every: Some(Duration::from_secs(5)),
            jpeg_quality: 80,
        }
    }
}
