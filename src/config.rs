//! `meta.yaml`: Blueoil's model description, accepted verbatim, plus a few
//! optional keys of our own (`MODEL`, `KEYPOINTS`, `TEMPORAL`).
//!
//! Parsing is strict: an unknown processor, a misspelt key or a wrong type is
//! an error that names the file, the line and column, and the field. Checks
//! that need the model (input size, output stride) live in [`crate::model`].
//!
//! The YAML parser is `serde_norway`, the maintained fork of the deprecated
//! `serde_yaml`.

pub use crate::postprocess::PostProcessor;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A meta.yaml error, with where it happened.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Which way round an image or heatmap tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
pub enum DataFormat {
    #[default]
    NHWC,
    NCHW,
}

/// Resampling filter of the resize pre-processors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Resample {
    #[default]
    NEAREST,
    BILINEAR,
}

/// A processor that takes no attributes: `Name: null` (or `Name: {}`).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NoAttributes {}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeWithJoints {
    /// [height, width]
    pub image_size: [u32; 2],
    #[serde(default)]
    pub resample: Resample,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    /// [height, width]
    pub size: [u32; 2],
    #[serde(default)]
    pub resample: Resample,
}

/// Training-time target generation; accepted and ignored at inference.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointsToGaussianHeatmap {
    pub image_size: [u32; 2],
    pub num_joints: usize,
    pub sigma: f64,
    pub stride: u32,
}

/// Our extension: `x * scale + offset` on 0..255 pixel values, e.g. for models
/// that expect -1..1 (`scale: 0.00784313725`, `offset: -1.0`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rescale {
    pub scale: f32,
    #[serde(default)]
    pub offset: f32,
}

/// One entry of `PRE_PROCESSOR`, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum PreProcessor {
    ResizeWithJoints(ResizeWithJoints),
    Resize(Resize),
    JointsToGaussianHeatmap(JointsToGaussianHeatmap),
    DivideBy255(Option<NoAttributes>),
    PerImageStandardization(Option<NoAttributes>),
    Rescale(Rescale),
}

/// A processor list entry is a one-key map `Name: attributes` (Blueoil's
/// layout). serde's own enum support in serde_norway wants YAML tags
/// (`!Name`), so entries are read by hand; attribute errors keep their
/// line and column.
trait Processor: Sized {
    const NAMES: &'static [&'static str];
    fn from_entry<'de, A: serde::de::MapAccess<'de>>(
        name: &str,
        map: &mut A,
    ) -> Result<Self, A::Error>;
}

struct ProcessorVisitor<P>(std::marker::PhantomData<P>);

impl<'de, P: Processor> serde::de::Visitor<'de> for ProcessorVisitor<P> {
    type Value = P;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a one-key map `Name: attributes` with Name one of {:?}",
            P::NAMES
        )
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<P, A::Error> {
        use serde::de::Error;
        let name: String = map
            .next_key()?
            .ok_or_else(|| A::Error::custom("empty processor entry"))?;
        if !P::NAMES.contains(&name.as_str()) {
            return Err(A::Error::unknown_variant(&name, P::NAMES));
        }
        let processor = P::from_entry(&name, &mut map)?;
        if let Some(extra) = map.next_key::<String>()? {
            return Err(A::Error::custom(format!(
                "`{extra}` in the same entry as `{name}`: write one processor per list item (`- {extra}: ...`)"
            )));
        }
        Ok(processor)
    }
}

impl<'de> Deserialize<'de> for PreProcessor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ProcessorVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for PostProcessor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ProcessorVisitor(std::marker::PhantomData))
    }
}

impl Processor for PreProcessor {
    const NAMES: &'static [&'static str] = &[
        "ResizeWithJoints",
        "Resize",
        "JointsToGaussianHeatmap",
        "DivideBy255",
        "PerImageStandardization",
        "Rescale",
    ];

    fn from_entry<'de, A: serde::de::MapAccess<'de>>(
        name: &str,
        map: &mut A,
    ) -> Result<Self, A::Error> {
        Ok(match name {
            "ResizeWithJoints" => PreProcessor::ResizeWithJoints(map.next_value()?),
            "Resize" => PreProcessor::Resize(map.next_value()?),
            "JointsToGaussianHeatmap" => PreProcessor::JointsToGaussianHeatmap(map.next_value()?),
            "DivideBy255" => PreProcessor::DivideBy255(map.next_value()?),
            "PerImageStandardization" => PreProcessor::PerImageStandardization(map.next_value()?),
            "Rescale" => PreProcessor::Rescale(map.next_value()?),
            _ => unreachable!("checked against NAMES"),
        })
    }
}

impl Processor for PostProcessor {
    const NAMES: &'static [&'static str] = PostProcessor::NAMES;

    fn from_entry<'de, A: serde::de::MapAccess<'de>>(
        name: &str,
        map: &mut A,
    ) -> Result<Self, A::Error> {
        PostProcessor::parse_entry(name, map)
    }
}

/// Our extension: where the model is and which tensors to use.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Model file, relative to the meta.yaml that names it.
    pub file: Option<PathBuf>,
    /// Input tensor name (default: the model's only input).
    pub input: Option<String>,
    /// Heatmap output tensor name (default: the model's only output).
    pub output: Option<String>,
}

/// Our extension: joint names and the limbs to draw.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeypointsSection {
    pub names: Vec<String>,
    #[serde(default)]
    pub skeleton: Vec<[usize; 2]>,
}

/// The COCO-17 joints that Blueoil's keypoint models predict.
pub const COCO17_NAMES: [&str; 17] = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
];

/// COCO-17 limbs, as pairs of joint indices.
pub const COCO17_SKELETON: [[usize; 2]; 16] = [
    [0, 1],
    [1, 3],
    [0, 2],
    [2, 4],
    [5, 6],
    [5, 7],
    [7, 9],
    [6, 8],
    [8, 10],
    [5, 11],
    [6, 12],
    [11, 12],
    [11, 13],
    [12, 14],
    [13, 15],
    [14, 16],
];

impl Default for KeypointsSection {
    fn default() -> Self {
        KeypointsSection {
            names: COCO17_NAMES.iter().map(|s| s.to_string()).collect(),
            skeleton: COCO17_SKELETON.to_vec(),
        }
    }
}

/// Our extension: `lm stream`'s temporal filters. Each is off unless its key is present
/// (`smoothing:` or `smoothing: {}` turns it on with the defaults), so a Blueoil meta.yaml keeps
/// the per-frame behaviour. `lm run` treats its images independently and ignores this section.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TemporalSection {
    #[serde(default, deserialize_with = "present_is_on")]
    pub smoothing: Option<Smoothing>,
    #[serde(default, deserialize_with = "present_is_on")]
    pub crop: Option<Crop>,
}

/// A key that is present turns its section on, also when its value is null (`crop:`).
fn present_is_on<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// A One Euro filter (Casiez et al., CHI 2012) on each joint's position, in frame pixels and
/// capture-time seconds, and a first-order low-pass on each joint's score.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smoothing {
    /// Cut-off frequency at rest, Hz: lower is steadier but lags more.
    pub min_cutoff: f64,
    /// How fast the cut-off rises with speed, per (pixel/s): higher lags less on fast moves.
    pub beta: f64,
    /// Cut-off of the speed estimate, Hz.
    pub d_cutoff: f64,
    /// Cut-off of the score low-pass, Hz; a joint is visible when its smoothed score reaches
    /// the post-processor's `confidence_threshold`.
    pub score_cutoff: f64,
}

impl Default for Smoothing {
    fn default() -> Self {
        Smoothing {
            min_cutoff: 1.0,
            beta: 0.01,
            d_cutoff: 1.0,
            score_cutoff: 3.0,
        }
    }
}

/// Infer on a crop of the frame around the previous frame's visible joints.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Crop {
    /// The joints' bounding box grows by this fraction of its longer side on each side.
    pub margin: f64,
    /// Joints that make up the torso (names from `KEYPOINTS.names`; default: COCO's shoulders
    /// and hips).
    pub torso: Vec<String>,
    /// The crop is used only when at least this many torso joints were visible; otherwise the
    /// next frame is seen whole.
    pub min_torso_joints: usize,
}

impl Default for Crop {
    fn default() -> Self {
        Crop {
            margin: 0.25,
            torso: ["left_shoulder", "right_shoulder", "left_hip", "right_hip"]
                .map(String::from)
                .to_vec(),
            min_torso_joints: 2,
        }
    }
}

/// The file as written (serde's view).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct RawMeta {
    CLASSES: Vec<String>,
    #[serde(default)]
    DATA_FORMAT: DataFormat,
    IMAGE_SIZE: [u32; 2],
    POST_PROCESSOR: Vec<PostProcessor>,
    #[serde(default)]
    PRE_PROCESSOR: Vec<PreProcessor>,
    TASK: String,
    /// Written by some Blueoil versions; informative only.
    #[serde(default)]
    NETWORK_NAME: Option<String>,
    #[serde(default)]
    MODEL: ModelSection,
    #[serde(default)]
    KEYPOINTS: Option<KeypointsSection>,
    #[serde(default)]
    TEMPORAL: TemporalSection,
}

/// The largest `IMAGE_SIZE` side: an input (and its activations) that big is a typo, and
/// would ask for gigabytes before the model could refuse it.
pub const MAX_INPUT_SIDE: u32 = 8192;

/// The only task this runtime implements.
pub const KEYPOINT_TASK: &str = "IMAGE.KEYPOINT_DETECTION";

/// A validated meta.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// The file it came from (for messages and relative paths).
    pub path: PathBuf,
    /// The text it was parsed from (for locating fields in messages).
    pub source: String,
    pub classes: Vec<String>,
    /// Layout of the network input.
    pub data_format: DataFormat,
    /// Network input [height, width].
    pub image_size: [u32; 2],
    pub pre_processors: Vec<PreProcessor>,
    /// The one post-processor (Blueoil: GaussianHeatmapToJoints).
    pub post: PostProcessor,
    pub task: String,
    pub network_name: Option<String>,
    pub model: ModelSection,
    pub keypoints: KeypointsSection,
    /// `lm stream`'s opt-in temporal filters.
    pub temporal: TemporalSection,
}

impl Meta {
    /// Reads and validates a meta.yaml file.
    /// A file larger than [`Meta::MAX_BYTES`] is refused without being read whole.
    pub fn load(path: impl AsRef<Path>) -> Result<Meta, ConfigError> {
        use std::io::Read as _;
        let path = path.as_ref();
        let error = |message: String| ConfigError {
            file: path.to_path_buf(),
            location: None,
            message,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            // One byte more than allowed tells a file of exactly MAX_BYTES from a larger one
            // (also for files whose size the metadata does not give, such as pipes).
            .and_then(|f| f.take(Meta::MAX_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| error(format!("cannot read: {e}")))?;
        if text.len() as u64 > Meta::MAX_BYTES {
            return Err(error(format!(
                "more than {} KiB: not a meta.yaml (Blueoil's are about 2 KiB)",
                Meta::MAX_BYTES >> 10
            )));
        }
        Meta::parse(&text, path)
    }

    /// The largest meta.yaml [`Meta::load`] reads.
    pub const MAX_BYTES: u64 = 1 << 20;

    /// Parses and validates meta.yaml text; `path` is used in messages and to
    /// resolve `MODEL.file`.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Meta, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let raw: RawMeta = serde_norway::from_str(text).map_err(|e| ConfigError {
            file: path.clone(),
            location: e.location().map(|l| (l.line(), l.column())),
            message: e.to_string(),
        })?;
        let post = match raw.POST_PROCESSOR.as_slice() {
            [p] => p.clone(),
            other => {
                return Err(ConfigError {
                    location: locate(text, "POST_PROCESSOR"),
                    file: path,
                    message: format!(
                        "POST_PROCESSOR: expected exactly one post-processor ({}), found {}",
                        one_of(PostProcessor::NAMES),
                        other.len()
                    ),
                })
            }
        };
        let meta = Meta {
            path,
            source: text.to_string(),
            classes: raw.CLASSES,
            data_format: raw.DATA_FORMAT,
            image_size: raw.IMAGE_SIZE,
            pre_processors: raw.PRE_PROCESSOR,
            post,
            task: raw.TASK,
            network_name: raw.NETWORK_NAME,
            model: raw.MODEL,
            keypoints: raw.KEYPOINTS.unwrap_or_default(),
            temporal: raw.TEMPORAL,
        };
        meta.validate()?;
        Ok(meta)
    }

    /// An error about `field`, located at its first occurrence in the file (or, for a field
    /// left at its default, at its section's: `TEMPORAL.crop.torso` at `crop:`).
    pub fn error(&self, field: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            location: field.rsplit('.').find_map(|key| locate(&self.source, key)),
            message: format!("{field}: {message}"),
        }
    }

    /// Whether each picture also runs mirrored (`GaussianHeatmapToJoints.flip_test`).
    pub fn flip_test(&self) -> bool {
        matches!(&self.post, PostProcessor::GaussianHeatmapToJoints(p) if p.flip_test)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.task != KEYPOINT_TASK {
            return Err(self.error(
                "TASK",
                format!(
                    "{:?} is not supported; this runtime runs {KEYPOINT_TASK}",
                    self.task
                ),
            ));
        }
        if self.classes.is_empty() {
            return Err(self.error("CLASSES", "must name at least one class"));
        }
        let [h, w] = self.image_size;
        if h == 0 || w == 0 {
            return Err(self.error("IMAGE_SIZE", format!("[{h}, {w}] must be positive")));
        }
        if h > MAX_INPUT_SIDE || w > MAX_INPUT_SIDE {
            return Err(self.error(
                "IMAGE_SIZE",
                format!("[{h}, {w}]: lm runs networks of at most {MAX_INPUT_SIDE} pixels a side"),
            ));
        }
        self.post.head().validate(self)?;
        let stride = self.post.head().stride();
        for pre in &self.pre_processors {
            match pre {
                PreProcessor::ResizeWithJoints(r) if r.image_size != self.image_size => {
                    return Err(self.error(
                        "PRE_PROCESSOR.ResizeWithJoints.image_size",
                        format!(
                            "{:?} disagrees with IMAGE_SIZE {:?}",
                            r.image_size, self.image_size
                        ),
                    ))
                }
                PreProcessor::Resize(r) if r.size != self.image_size => {
                    return Err(self.error(
                        "PRE_PROCESSOR.Resize.size",
                        format!(
                            "{:?} disagrees with IMAGE_SIZE {:?}",
                            r.size, self.image_size
                        ),
                    ))
                }
                PreProcessor::JointsToGaussianHeatmap(j) => {
                    if j.stride != stride {
                        return Err(self.error(
                            "PRE_PROCESSOR.JointsToGaussianHeatmap.stride",
                            format!(
                                "{} disagrees with the post-processor's stride {}",
                                j.stride, stride
                            ),
                        ));
                    }
                    if j.num_joints != self.keypoints.names.len() {
                        return Err(self.error(
                            "PRE_PROCESSOR.JointsToGaussianHeatmap.num_joints",
                            format!(
                                "{} disagrees with the {} joint names (KEYPOINTS.names, default COCO-17)",
                                j.num_joints,
                                self.keypoints.names.len()
                            ),
                        ));
                    }
                }
                PreProcessor::Rescale(r) if !(r.scale.is_finite() && r.offset.is_finite()) => {
                    return Err(
                        self.error("PRE_PROCESSOR.Rescale", "scale and offset must be finite")
                    )
                }
                _ => {}
            }
        }
        let joints = self.keypoints.names.len();
        if joints == 0 {
            return Err(self.error("KEYPOINTS.names", "must name at least one joint"));
        }
        for limb in &self.keypoints.skeleton {
            if limb[0] >= joints || limb[1] >= joints {
                return Err(self.error(
                    "KEYPOINTS.skeleton",
                    format!("limb {limb:?} refers to a joint beyond the {joints} names"),
                ));
            }
        }
        self.validate_temporal()
    }

    fn validate_temporal(&self) -> Result<(), ConfigError> {
        if let Some(s) = &self.temporal.smoothing {
            for (name, v, min) in [
                ("min_cutoff", s.min_cutoff, false),
                ("beta", s.beta, true),
                ("d_cutoff", s.d_cutoff, false),
                ("score_cutoff", s.score_cutoff, false),
            ] {
                let ok = v.is_finite() && (v > 0.0 || (min && v == 0.0));
                if !ok {
                    let want = if min { "≥ 0" } else { "> 0 (Hz)" };
                    return Err(self.error(
                        &format!("TEMPORAL.smoothing.{name}"),
                        format!("{v} must be a finite number {want}"),
                    ));
                }
            }
        }
        if let Some(c) = &self.temporal.crop {
            if !(c.margin.is_finite() && (0.0..=4.0).contains(&c.margin)) {
                return Err(self.error(
                    "TEMPORAL.crop.margin",
                    format!(
                        "{} is outside 0..=4 (a fraction of the box's side)",
                        c.margin
                    ),
                ));
            }
            if c.torso.is_empty() {
                return Err(self.error("TEMPORAL.crop.torso", "must name at least one joint"));
            }
            for name in &c.torso {
                if !self.keypoints.names.contains(name) {
                    return Err(self.error(
                        "TEMPORAL.crop.torso",
                        format!(
                            "{name:?} is not a joint name (KEYPOINTS.names: {})",
                            self.keypoints.names.join(", ")
                        ),
                    ));
                }
            }
            if c.min_torso_joints == 0 || c.min_torso_joints > c.torso.len() {
                return Err(self.error(
                    "TEMPORAL.crop.min_torso_joints",
                    format!(
                        "{} is outside 1..={} (the torso joints)",
                        c.min_torso_joints,
                        c.torso.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The score at and above which the post-processor calls a joint visible.
    pub fn confidence_threshold(&self) -> f64 {
        self.post.head().confidence_threshold()
    }

    /// The GaussianHeatmapToJoints post-processor, if that is the one.
    pub fn gaussian(&self) -> Option<&crate::postprocess::GaussianHeatmapToJoints> {
        match &self.post {
            PostProcessor::GaussianHeatmapToJoints(p) => Some(p),
            _ => None,
        }
    }

    /// The model file named by `MODEL.file`, resolved against this file's folder.
    pub fn model_path(&self) -> Option<PathBuf> {
        let file = self.model.file.as_ref()?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        Some(dir.join(file))
    }

    /// Network input (height, width).
    pub fn input_hw(&self) -> (usize, usize) {
        (self.image_size[0] as usize, self.image_size[1] as usize)
    }
}

/// `a, b or c`.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// 1-based (line, column) of the first `key:` in the text, for messages about
/// values that are only wrong in context.
fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let col = line.find(&format!("{key}:"))?;
        // Only a whole key: preceded by indentation, "- " or "{"/", ".
        let before = line[..col].trim_end();
        (before.is_empty()
            || before.ends_with('-')
            || before.ends_with('{')
            || before.ends_with(','))
        .then_some((i + 1, col + 1))
    })
}
