//! Which image files a folder or a `*` pattern names, in name order: `lm stream`'s folder
//! source and `lm run -i DIR` / `-i 'shots/*.jpg'` read the same list.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The extensions of the formats lm decodes.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Whether `name` ends in one of [`IMAGE_EXTENSIONS`] (any case).
pub fn is_image_name(name: &str) -> bool {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// The image files of `dir`, sorted by name.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    list(dir, is_image_name)
}

/// The files a `*` pattern in the file name names (`shots/*.jpg`), sorted by name.
pub fn matching(pattern: &Path) -> Result<Vec<PathBuf>> {
    let dir = match pattern.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if dir.to_string_lossy().contains('*') {
        bail!(
            "`*` is allowed in the file name only, not in the folder {}",
            dir.display()
        );
    }
    let pat = pattern
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: no file-name pattern", pattern.display()))?
        .to_string();
    list(&dir, |name| glob_match(&pat, name))
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

#[cfg(test)]
mod tests {
    use super::*;

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
