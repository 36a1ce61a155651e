//! Images of a folder, or of a `*` glob over file names, in name order.

use super::source::{Frame, FrameSource, Next};
use super::uri::{SourceKind, SourceUri};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

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
            SourceKind::Folder(dir) => list(dir, |name| {
                let ext = Path::new(name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
            })?,
            SourceKind::Glob(pattern) => {
                let dir = match pattern.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if dir.to_string_lossy().contains('*') {
                    bail!(
                        "source {uri}: `*` is allowed in the file name only, not in the folder {}",
                        dir.display()
                    );
                }
                let pat = pattern
                    .file_name()
                    .and_then(|n| n.to_str())
                    .with_context(|| format!("source {uri}: no file-name pattern"))?
                    .to_string();
                list(&dir, |name| glob_match(&pat, name))?
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

/// Regular files of `dir` whose names pass `keep`, sorted by name.
fn list(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut files = vec![];
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))?
    {
        let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if keep(name) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
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

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_patterns() {
        assert!(glob_match("*.jpg", "a.jpg"));
        assert!(!glob_match("*.jpg", "a.jpeg"));
        assert!(glob_match("f_*_*.png", "f_1_2.png"));
        assert!(!glob_match("f_*_*.png", "f_1.png"));
        assert!(glob_match("a*a", "aa"));
        assert!(!glob_match("a*a", "a"));
        assert!(glob_match("x.png", "x.png"));
    }
}
