//! Where `lm stream`'s results go: each output is a [`FrameSink`] (JSON Lines to a file or
//! stdout, `--record`'s overlay pictures, the web view's hub), fed in turn by the outputs
//! thread (src/stream/runner.rs). A new output is one file here and one line in
//! [`open_sinks`].

pub mod hub;
pub mod jsonl;
pub mod record;

use super::options::StreamOptions;
use super::temporal::crop::Region;
use super::Frame;
use crate::config::KeypointsSection;
use crate::output::overlay::{draw_inference, draw_line};
use crate::pose::Inference;
use anyhow::Result;
use image::RgbImage;
use std::cell::OnceCell;
use std::sync::Arc;
use std::time::Duration;

/// One inferred frame, as the inference thread hands it to the outputs.
pub struct Processed {
    pub frame: Frame,
    pub inference: Inference,
    /// The region inferred on (meta.yaml `TEMPORAL.crop`), drawn on the overlay.
    pub crop: Option<Region>,
    /// The frame's JSON Lines record.
    pub line: String,
    /// From capture to the end of inference.
    pub latency: Duration,
}

/// A processed frame as the sinks see it: the overlay picture is drawn at most once, by the
/// first sink that asks for it.
pub struct SinkFrame<'a> {
    pub done: &'a Processed,
    keypoints: &'a KeypointsSection,
    overlay: OnceCell<RgbImage>,
}

impl<'a> SinkFrame<'a> {
    pub fn new(done: &'a Processed, keypoints: &'a KeypointsSection) -> SinkFrame<'a> {
        SinkFrame {
            done,
            keypoints,
            overlay: OnceCell::new(),
        }
    }

    /// The frame with the crop's outline and the skeleton drawn on it.
    pub fn overlay(&self) -> &RgbImage {
        self.overlay.get_or_init(|| {
            let mut picture = self.done.frame.image.clone();
            if let Some(r) = &self.done.crop {
                draw_region(&mut picture, r);
            }
            draw_inference(&mut picture, &self.done.inference.pose, self.keypoints);
            picture
        })
    }
}

/// One output of `lm stream`. Sinks run on the outputs thread, one frame at a time, in the
/// order [`open_sinks`] gives; an error stops the stream (after its summary).
pub trait FrameSink: Send {
    fn write(&mut self, frame: &SinkFrame) -> Result<()>;
}

/// The sinks `opts` asks for: `--jsonl`, `--record` (its JSON Lines, then its pictures), then
/// the web view's hub when `--http` serves one.
pub fn open_sinks(
    opts: &StreamOptions,
    hub: Option<Arc<super::http::Hub>>,
) -> Result<Vec<Box<dyn FrameSink>>> {
    let mut sinks: Vec<Box<dyn FrameSink>> = vec![];
    if let Some(path) = &opts.jsonl {
        sinks.push(Box::new(jsonl::JsonlSink::open(path)?));
    }
    if let Some(dir) = &opts.record {
        let (lines, pictures) = record::open(dir)?;
        sinks.push(Box::new(lines));
        sinks.push(Box::new(pictures));
    }
    if let Some(hub) = hub {
        sinks.push(Box::new(hub::HubSink::new(hub, opts.jpeg_quality)));
    }
    Ok(sinks)
}

/// The crop's outline, thin and grey, under the skeleton.
fn draw_region(image: &mut RgbImage, r: &Region) {
    let (x0, y0) = (r.x as f32, r.y as f32);
    let (x1, y1) = (x0 + r.width as f32 - 1.0, y0 + r.height as f32 - 1.0);
    let grey = image::Rgb([160, 160, 160]);
    for (a, b) in [
        ((x0, y0), (x1, y0)),
        ((x1, y0), (x1, y1)),
        ((x1, y1), (x0, y1)),
        ((x0, y1), (x0, y0)),
    ] {
        draw_line(image, a, b, 0, grey);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::{Pose, StageTimes};
    use crate::postprocess::Joint;

    fn processed(number: u64) -> Processed {
        let joint = Joint {
            x: 4.0,
            y: 3.0,
            score: 0.9,
            visible: true,
        };
        Processed {
            frame: Frame::new(RgbImage::new(8, 6), number),
            inference: Inference {
                heatmaps: None,
                network_joints: vec![joint],
                pose: Pose {
                    image_size: (8, 6),
                    joints: vec![joint],
                    points: None,
                },
                times: StageTimes::default(),
            },
            crop: None,
            line: format!("{{\"frame\":{number}}}"),
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn jsonl_and_record_sinks_write_every_frame_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StreamOptions {
            jsonl: Some(dir.path().join("out.jsonl")),
            record: Some(dir.path().join("rec")),
            ..Default::default()
        };
        let mut sinks = open_sinks(&opts, None).unwrap();
        assert_eq!(sinks.len(), 3, "--jsonl, the record's lines, its pictures");
        let keypoints = KeypointsSection {
            names: vec!["nose".into()],
            ..Default::default()
        };
        for n in [3, 4] {
            let done = processed(n);
            let frame = SinkFrame::new(&done, &keypoints);
            for sink in &mut sinks {
                sink.write(&frame).unwrap();
            }
            // The skeleton's joint is drawn on the overlay, not on the frame.
            assert_ne!(
                frame.overlay().get_pixel(4, 3),
                done.frame.image.get_pixel(4, 3)
            );
        }
        let want = "{\"frame\":3}\n{\"frame\":4}\n";
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap(),
            want
        );
        let rec = dir.path().join("rec");
        assert_eq!(
            std::fs::read_to_string(rec.join("stream.jsonl")).unwrap(),
            want
        );
        for n in ["00000003.png", "00000004.png"] {
            assert!(rec.join("frames").join(n).is_file(), "{n}");
        }
    }

    #[test]
    fn an_unwritable_jsonl_path_names_the_file() {
        let opts = StreamOptions {
            jsonl: Some("/nonexistent/dir/out.jsonl".into()),
            ..Default::default()
        };
        let e = open_sinks(&opts, None).err().expect("an error");
        assert!(
            format!("{e:#}").contains("/nonexistent/dir/out.jsonl"),
            "{e:#}"
        );
    }
}
