//! `--http`: each frame's overlay (as JPEG, only while someone watches `/stream.mjpg`) and
//! pose record go to the web view's hub (src/stream/http.rs), which serves them.

use super::{FrameSink, SinkFrame};
use crate::stream::http::Hub;
use anyhow::{Context, Result};
use std::sync::Arc;

pub struct HubSink {
    hub: Arc<Hub>,
    jpeg_quality: u8,
}

impl HubSink {
    pub fn new(hub: Arc<Hub>, jpeg_quality: u8) -> HubSink {
        HubSink { hub, jpeg_quality }
    }
}

impl FrameSink for HubSink {
    fn write(&mut self, frame: &SinkFrame) -> Result<()> {
        if self.hub.wants_jpeg() {
            let mut jpeg = Vec::with_capacity(32 << 10);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, self.jpeg_quality)
                .encode_image(frame.overlay())
                .context("cannot encode the overlay as JPEG")?;
            self.hub.publish_jpeg(jpeg);
        }
        self.hub.publish_pose(frame.done.line.clone());
        Ok(())
    }
}
