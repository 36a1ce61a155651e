//! One URI syntax for every frame source:
//!
//! ```text
//! [SCHEME:]TARGET[?OPTION&OPTION...]
//!
//! v4l2:/dev/video0?width=320&height=240&fps=30&format=MJPG   a V4L2 camera (/dev/videoN alone works too)
//! folder:frames/?fps=10&loop                                 images of a folder, in name order
//! glob:frames/*.jpg   or   frames/*.jpg                      images matching a `*` pattern (file names only)
//! mjpeg:clip.mjpg?loop   or   clip.mjpg / clip.mjpeg         concatenated JPEGs (ffmpeg -f mjpeg, IP cameras)
//! y4m:clip.y4m   or   clip.y4m                               YUV4MPEG2 video (C420jpeg/420/422/444/mono, 8 bit)
//! stdin:   or   -                                            Y4M or concatenated JPEGs on standard input
//! ```
//! Without a scheme, a directory is a folder, a name with `*` a glob, `.y4m` is Y4M and
//! `.mjpg`/`.mjpeg` is MJPEG. Options: `fps=F` (files and folders: pace to F frames/s, which
//! makes the source live; cameras: the frame rate asked for), `loop` (files and folders: start
//! again at the end), `width=`, `height=`, `format=MJPG|YUYV`, `reconnect[=SECONDS]` (cameras
//! only: reopen a camera lost mid-stream, see [`super::reconnect`]). `?` always starts the
//! options, so globs take `*` only.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    Folder(PathBuf),
    /// A folder and a file-name pattern with `*`.
    Glob(PathBuf),
    Mjpeg(PathBuf),
    Y4m(PathBuf),
    Stdin,
    V4l2(PathBuf),
}

/// A parsed source URI.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUri {
    /// The URI as given (the JSON Lines `source`).
    pub text: String,
    pub kind: SourceKind,
    pub fps: Option<f64>,
    pub looped: bool,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Camera pixel format, as a FourCC (`MJPG`, `YUYV`).
    pub format: Option<String>,
    /// Cameras: reopen a lost camera (`Some(None)`: forever; `Some(Some(d))`: give up `d`
    /// after the loss); `None`: a lost camera ends the stream.
    pub reconnect: Option<Option<std::time::Duration>>,
}

impl std::fmt::Display for SourceUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

const SCHEMES: [&str; 6] = ["v4l2", "folder", "glob", "mjpeg", "y4m", "stdin"];

impl std::str::FromStr for SourceUri {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<SourceUri> {
        SourceUri::parse(s)
    }
}

impl SourceUri {
    pub fn parse(text: &str) -> Result<SourceUri> {
        let (body, query) = match text.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (text, None),
        };
        let (scheme, target) = match body.split_once(':') {
            Some((s, t)) if SCHEMES.contains(&s) => (Some(s), t),
            _ => (None, body),
        };
        let path = PathBuf::from(target);
        let kind = match scheme {
            Some("v4l2") => SourceKind::V4l2(path),
            Some("folder") => SourceKind::Folder(path),
            Some("glob") => SourceKind::Glob(path),
            Some("mjpeg") => SourceKind::Mjpeg(path),
            Some("y4m") => SourceKind::Y4m(path),
            Some("stdin") => SourceKind::Stdin,
            _ if target == "-" || target == "stdin" => SourceKind::Stdin,
            _ if target.starts_with("/dev/video") => SourceKind::V4l2(path),
            _ if target.contains('*') => SourceKind::Glob(path),
            _ if path.is_dir() => SourceKind::Folder(path),
            _ => {
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                match ext.as_deref() {
                    Some("y4m") => SourceKind::Y4m(path),
                    Some("mjpg" | "mjpeg") => SourceKind::Mjpeg(path),
                    _ => bail!(
                        "source {text:?}: not a folder, glob, .y4m, .mjpg/.mjpeg, /dev/videoN or -; \
                         name the kind with a scheme (v4l2:, folder:, glob:, mjpeg:, y4m:, stdin:)"
                    ),
                }
            }
        };
        let mut uri = SourceUri {
            text: text.to_string(),
            kind,
            fps: None,
            looped: false,
            width: None,
            height: None,
            format: None,
            reconnect: None,
        };
        for opt in query.unwrap_or("").split('&').filter(|o| !o.is_empty()) {
            uri.apply_option(opt)
                .with_context(|| format!("source {text:?}: option {opt:?}"))?;
        }
        Ok(uri)
    }

    fn apply_option(&mut self, opt: &str) -> Result<()> {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let camera = matches!(self.kind, SourceKind::V4l2(_));
        fn need<'a>(key: &str, v: Option<&'a str>) -> Result<&'a str> {
            v.with_context(|| format!("{key} needs a value ({key}=...)"))
        }
        let positive = |v: &str| -> Result<u32> {
            match v.parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("{key} must be a positive integer, not {v:?}"),
            }
        };
        match key {
            "fps" => {
                let v = need(key, value)?;
                match v.parse::<f64>() {
                    Ok(f) if f.is_finite() && f > 0.0 => self.fps = Some(f),
                    _ => bail!("fps must be a positive number, not {v:?}"),
                }
            }
            "loop" if camera => bail!("loop is for files and folders, not cameras"),
            "loop" => {
                self.looped = match value {
                    None | Some("1" | "true" | "yes") => true,
                    Some("0" | "false" | "no") => false,
                    Some(v) => bail!("loop takes no value (or true/false), not {v:?}"),
                }
            }
            "width" | "height" | "format" | "reconnect" if !camera => {
                bail!("{key} is for cameras (v4l2:) only")
            }
            "reconnect" => {
                self.reconnect = Some(match value {
                    None => None,
                    Some(v) => match v.parse::<f64>() {
                        Ok(s) if s.is_finite() && s > 0.0 => {
                            Some(std::time::Duration::from_secs_f64(s))
                        }
                        _ => bail!("reconnect takes seconds (a positive number), not {v:?}"),
                    },
                });
            }
            "width" => self.width = Some(positive(need(key, value)?)?),
            "height" => self.height = Some(positive(need(key, value)?)?),
            "format" => {
                let v = need(key, value)?.to_ascii_uppercase();
                if v.len() != 4 || !v.is_ascii() {
                    bail!("format is a FourCC such as MJPG or YUYV, not {v:?}");
                }
                self.format = Some(v);
            }
            _ => bail!("unknown option (known: fps, loop, width, height, format, reconnect)"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_uri_with_options() {
        let u =
            SourceUri::parse("v4l2:/dev/video2?width=320&height=240&fps=30&format=yuyv").unwrap();
        assert_eq!(u.kind, SourceKind::V4l2("/dev/video2".into()));
        assert_eq!(
            (u.width, u.height, u.fps),
            (Some(320), Some(240), Some(30.0))
        );
        assert_eq!(u.format.as_deref(), Some("YUYV"));
        assert_eq!(u.reconnect, None);
        let r = |s: &str| SourceUri::parse(s).unwrap().reconnect;
        assert_eq!(r("/dev/video0?reconnect"), Some(None));
        assert_eq!(
            r("/dev/video0?reconnect=2.5"),
            Some(Some(std::time::Duration::from_millis(2500)))
        );
        assert_eq!(
            SourceUri::parse("/dev/video0").unwrap().kind,
            SourceKind::V4l2("/dev/video0".into())
        );
    }

    #[test]
    fn files_by_scheme_or_extension() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_str().unwrap();
        let f = SourceUri::parse(&format!("{dir}?fps=5&loop")).unwrap();
        assert_eq!(f.kind, SourceKind::Folder(d.path().into()));
        assert_eq!((f.fps, f.looped), (Some(5.0), true));
        assert_eq!(
            SourceUri::parse("frames/*.png").unwrap().kind,
            SourceKind::Glob("frames/*.png".into())
        );
        assert_eq!(
            SourceUri::parse("a.MJPG").unwrap().kind,
            SourceKind::Mjpeg("a.MJPG".into())
        );
        assert_eq!(
            SourceUri::parse("mjpeg:cam.bin").unwrap().kind,
            SourceKind::Mjpeg("cam.bin".into())
        );
        assert_eq!(
            SourceUri::parse("v.y4m").unwrap().kind,
            SourceKind::Y4m("v.y4m".into())
        );
        assert_eq!(SourceUri::parse("-").unwrap().kind, SourceKind::Stdin);
    }

    #[test]
    fn bad_uris_are_explained() {
        let e = |s: &str| format!("{:#}", SourceUri::parse(s).unwrap_err());
        assert!(e("clip.mp4").contains("name the kind with a scheme"));
        assert!(e("v4l2:/dev/video0?width=0").contains("positive integer"));
        assert!(e("v4l2:/dev/video0?loop").contains("not cameras"));
        assert!(e("a.y4m?width=3").contains("cameras (v4l2:) only"));
        assert!(e("a.y4m?fps=-1").contains("positive number"));
        assert!(e("a.y4m?speed=2").contains("unknown option"));
        assert!(e("v4l2:/dev/video0?format=MJPEG").contains("FourCC"));
        assert!(e("v4l2:/dev/video0?reconnect=0").contains("seconds"));
        assert!(e("clip.mjpg?reconnect").contains("cameras (v4l2:) only"));
    }
}
