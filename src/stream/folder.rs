//! Images of a folder, or of a `*` glob over file names, in name order.

use super::source::{Frame, FrameSource, Next};
use super::uri::{SourceKind, SourceUri};
use crate::image_file::listing::{images_in, matching};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

pub struct FolderSource {
    files: Vec<PathBuf>,
    next: usize,
    number: u64,
    looped: bool,
    /// Images decoded in this pass: a looped folder of only broken files would spin.
    good_this_pass: u64,
}

impl FolderSource {
    pub fn open(uri: &SourceUri) -> Result<FolderSource> {
        let files = match &uri.kind {
            SourceKind::Folder(dir) => images_in(dir)?,
            SourceKind::Glob(pattern) => {
                matching(pattern).with_context(|| format!("source {uri}"))?
            }
            other => bail!("not a folder source: {other:?}"),
        };
        if files.is_empty() {
            bail!("source {uri}: no images (png, jpg, jpeg, bmp) found");
        }
        Ok(FolderSource {
            files,
            next: 0,
            number: 0,
            looped: uri.looped,
            good_this_pass: 0,
        })
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl FrameSource for FolderSource {
    fn next_frame(&mut self) -> Result<Next> {
        if self.next == self.files.len() {
            if !self.looped || self.good_this_pass == 0 {
                return Ok(Next::End);
            }
            self.next = 0;
            self.good_this_pass = 0;
        }
        let path = &self.files[self.next];
        self.next += 1;
        let number = self.number;
        self.number += 1;
        Ok(match crate::image_file::load_image(path) {
            Ok(image) => {
                self.good_this_pass += 1;
                let mut frame = Frame::new(image, number);
                frame.file = Some(path.clone());
                Next::Frame(frame)
            }
            Err(error) => Next::Corrupt { number, error },
        })
    }

    fn is_live(&self) -> bool {
        false
    }
}
