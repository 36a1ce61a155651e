//! `meta.yaml`: Blueoil's model description, accepted verbatim, plus a few
//! optional keys of our own (`MODEL`, `KEYPOINTS`, `TEMPORAL`).
//!
//! Parsing is strict: an unknown processor, a misspelt key or a wrong type is
//! an error that names the file, the line and column, and the field. Checks
//! that need the model (input size, output stride) live in [`crate::model`].
//!
//! The YAML parser is `serde_norway`, the maintained fork of the deprecated
//! `serde_yaml`.

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

fn default_threshold_scale() -> f64 {
    10.0
}

/// Blueoil's `GaussianHeatmapToJoints`, with opt-in extensions whose defaults
/// keep Blueoil's behaviour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianHeatmapToJoints {
    pub confidence_threshold: f64,
    #[serde(default = "default_num_dimensions")]
    pub num_dimensions: u32,
    #[serde(default = "default_stride")]
    pub stride: u32,
    /// Peak value of a confident joint: the raw cut-off is
    /// `threshold_scale × confidence_threshold`. Blueoil's training heatmaps
    /// peak at 10; use 1.0 for sigmoid heatmaps in 0..1.
    #[serde(default = "default_threshold_scale")]
    pub threshold_scale: f64,
    /// Layout of the heatmap tensor (Blueoil: NHWC).
    #[serde(default)]
    pub data_format: DataFormat,
    /// Every joint moves a quarter cell towards its larger neighbour on each
    /// axis (off in Blueoil).
    #[serde(default)]
    pub subpixel: bool,
    /// Also run the picture mirrored left–right and average the heatmaps
    /// (mirrored back, left/right joints swapped) before decoding: a second
    /// inference per picture (off in Blueoil; `postprocess::flip_test`).
    #[serde(default)]
    pub flip_test: bool,
    /// Which stack's heatmaps to decode, for stacked hourglasses trained with
    /// intermediate supervision (negative: from the end, `-1` = the last):
    /// an index into the model's outputs when it has one output per stack,
    /// or along axis 1 of a 5-D output `[1, stacks, ...]`. Off in Blueoil.
    #[serde(default)]
    pub stack: Option<i64>,
}

fn default_num_dimensions() -> u32 {
    2
}
fn default_stride() -> u32 {
    1
}

/// How the `2 × joints` channels of an offset tensor are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum OffsetLayout {
    /// PoseNet: all y offsets, then all x offsets (`y0..yK-1, x0..xK-1`).
    #[default]
    planar_yx,
    /// Per joint, y then x (`y0, x0, y1, x1, ...`).
    interleaved_yx,
    /// Per joint, x then y (`x0, y0, x1, y1, ...`).
    interleaved_xy,
}

/// Our extension (PoseNet-style heads): per joint, the argmax cell of the
/// heatmap, refined by a second output holding a pixel offset per joint and
/// cell: `position = cell × stride + offset`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatmapOffsetToJoints {
    /// Cut-off on the score (after the sigmoid, if any); inclusive.
    pub confidence_threshold: f64,
    /// Output stride: heatmaps have `ceil(IMAGE_SIZE / stride)` cells.
    pub stride: u32,
    /// Name of the offset output tensor (the heatmaps are `MODEL.output`).
    pub offsets_output: String,
    #[serde(default)]
    pub offset_layout: OffsetLayout,
    /// Score = sigmoid(heatmap peak) for heatmaps that are logits (PoseNet).
    #[serde(default)]
    pub sigmoid: bool,
    /// Layout of both the heatmap and the offset tensors.
    #[serde(default)]
    pub data_format: DataFormat,
}

/// What each joint's slice of a coordinate-regression output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[allow(non_camel_case_types)]
pub enum Component {
    x,
    y,
    /// A per-joint confidence or visibility.
    score,
}

fn default_components() -> Vec<Component> {
    vec![Component::x, Component::y]
}

fn default_true() -> bool {
    true
}

/// Our extension (direct coordinate regression, e.g. a MobileNetV2 with a
/// dense head): one output vector holding, per joint, the `components` in
/// order (`x0, y0, x1, y1, ...`), or component by component with `planar`
/// (`x0..xK-1, y0..yK-1`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinateRegressionToJoints {
    #[serde(default = "default_components")]
    pub components: Vec<Component>,
    #[serde(default)]
    pub planar: bool,
    /// Coordinates are fractions of the input's width and height (keras-io's
    /// `keypoints / IMG_SIZE`); `false`: network-input pixels.
    #[serde(default = "default_true")]
    pub normalized: bool,
    /// Coordinates are logits: x = sigmoid(value).
    #[serde(default)]
    pub sigmoid: bool,
    /// The score is a logit: score = sigmoid(value).
    #[serde(default)]
    pub score_sigmoid: bool,
    /// Cut-off on the score, inclusive; only with a `score` component
    /// (without one, every joint is visible).
    #[serde(default)]
    pub confidence_threshold: Option<f64>,
}

/// Channel order of a grid detector's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum GridChannels {
    /// `[dx, dy, class 0, ..., class K-1]`.
    #[default]
    offsets_first,
    /// `[class 0, ..., class K-1, dx, dy]`.
    offsets_last,
}

/// Order of the two offset channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum AxisOrder {
    #[default]
    xy,
    yx,
}

/// What an offset of 1 means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum OffsetUnit {
    /// One cell: `x = (cell_x + dx) × stride`.
    #[default]
    cell,
    /// One network-input pixel: `x = cell_x × stride + dx`.
    pixel,
}

/// Where an offset of 0 lies in its cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum OffsetOrigin {
    #[default]
    corner,
    center,
}

/// Applied to the class channels before the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum ScoreActivation {
    /// The channels are probabilities already.
    #[default]
    none,
    sigmoid,
    /// Over the class channels of a cell (and the background channel).
    softmax,
}

/// Our extension (grid keypoint detectors): one cell per `stride × stride`
/// pixels with an offset `(dx, dy)` and a score per class (a class per
/// `KEYPOINTS.names` entry); every cell whose class score reaches the
/// threshold is a point of that class, and points of a class closer than
/// `nms_distance` to a better one are dropped.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridOffsetToPoints {
    /// Cut-off on the class score (after `score_activation`); inclusive.
    pub confidence_threshold: f64,
    /// Cell size in network-input pixels: `ceil(IMAGE_SIZE / stride)` cells.
    pub stride: u32,
    /// Points of one class closer than this (network-input pixels) to a
    /// higher-scoring kept point are suppressed; default: `stride`; 0: none.
    #[serde(default)]
    pub nms_distance: Option<f64>,
    #[serde(default)]
    pub channels: GridChannels,
    #[serde(default)]
    pub offset_order: AxisOrder,
    #[serde(default)]
    pub offset_unit: OffsetUnit,
    #[serde(default)]
    pub offset_origin: OffsetOrigin,
    #[serde(default)]
    pub score_activation: ScoreActivation,
    /// One more class channel after the named classes ("no point"): part of
    /// the softmax, never reported.
    #[serde(default)]
    pub background: bool,
    #[serde(default)]
    pub data_format: DataFormat,
}

impl GridOffsetToPoints {
    /// `nms_distance`, or its default (one cell).
    pub fn nms_distance(&self) -> f64 {
        self.nms_distance.unwrap_or(self.stride as f64)
    }
}

/// One entry of `POST_PROCESSOR`.
#[derive(Debug, Clone, PartialEq)]
pub enum PostProcessor {
    GaussianHeatmapToJoints(GaussianHeatmapToJoints),
    HeatmapOffsetToJoints(HeatmapOffsetToJoints),
    CoordinateRegressionToJoints(CoordinateRegressionToJoints),
    GridOffsetToPoints(GridOffsetToPoints),
}

impl PostProcessor {
    pub fn name(&self) -> &'static str {
        match self {
            PostProcessor::GaussianHeatmapToJoints(_) => "GaussianHeatmapToJoints",
            PostProcessor::HeatmapOffsetToJoints(_) => "HeatmapOffsetToJoints",
            PostProcessor::CoordinateRegressionToJoints(_) => "CoordinateRegressionToJoints",
            PostProcessor::GridOffsetToPoints(_) => "GridOffsetToPoints",
        }
    }

    /// Layout of the (first) output tensor; NHWC for a regression vector.
    pub fn data_format(&self) -> DataFormat {
        match self {
            PostProcessor::GaussianHeatmapToJoints(p) => p.data_format,
            PostProcessor::HeatmapOffsetToJoints(p) => p.data_format,
            PostProcessor::CoordinateRegressionToJoints(_) => DataFormat::NHWC,
            PostProcessor::GridOffsetToPoints(p) => p.data_format,
        }
    }

    /// Output stride of the grid the post-processor reads (1 for a vector).
    pub fn stride(&self) -> u32 {
        match self {
            PostProcessor::GaussianHeatmapToJoints(p) => p.stride,
            PostProcessor::HeatmapOffsetToJoints(p) => p.stride,
            PostProcessor::CoordinateRegressionToJoints(_) => 1,
            PostProcessor::GridOffsetToPoints(p) => p.stride,
        }
    }

    /// Output tensors needed besides the heatmaps (`MODEL.output`), with the
    /// meta.yaml field naming each.
    pub fn extra_outputs(&self) -> Vec<(&'static str, &str)> {
        match self {
            PostProcessor::GaussianHeatmapToJoints(_)
            | PostProcessor::CoordinateRegressionToJoints(_)
            | PostProcessor::GridOffsetToPoints(_) => vec![],
            PostProcessor::HeatmapOffsetToJoints(p) => vec![(
                "POST_PROCESSOR.HeatmapOffsetToJoints.offsets_output",
                p.offsets_output.as_str(),
            )],
        }
    }
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
    const NAMES: &'static [&'static str] = &[
        "GaussianHeatmapToJoints",
        "HeatmapOffsetToJoints",
        "CoordinateRegressionToJoints",
        "GridOffsetToPoints",
    ];

    fn from_entry<'de, A: serde::de::MapAccess<'de>>(
        name: &str,
        map: &mut A,
    ) -> Result<Self, A::Error> {
        Ok(match name {
            "GaussianHeatmapToJoints" => PostProcessor::GaussianHeatmapToJoints(map.next_value()?),
            "HeatmapOffsetToJoints" => PostProcessor::HeatmapOffsetToJoints(map.next_value()?),
            "CoordinateRegressionToJoints" => {
                PostProcessor::CoordinateRegressionToJoints(map.next_value()?)
            }
            "GridOffsetToPoints" => PostProcessor::GridOffsetToPoints(map.next_value()?),
            _ => unreachable!("checked against NAMES"),
        })
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
                        "POST_PROCESSOR: expected exactly one post-processor (GaussianHeatmapToJoints, HeatmapOffsetToJoints, CoordinateRegressionToJoints or GridOffsetToPoints), found {}",
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
        match &self.post {
            PostProcessor::GaussianHeatmapToJoints(p) => self.validate_gaussian(p)?,
            PostProcessor::HeatmapOffsetToJoints(p) => self.validate_heatmap_offset(p)?,
            PostProcessor::CoordinateRegressionToJoints(p) => self.validate_regression(p)?,
            PostProcessor::GridOffsetToPoints(p) => self.validate_grid(p)?,
        }
        let stride = self.post.stride();
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
        match &self.post {
            PostProcessor::GaussianHeatmapToJoints(p) => p.confidence_threshold,
            PostProcessor::HeatmapOffsetToJoints(p) => p.confidence_threshold,
            // Without a score component every joint is visible.
            PostProcessor::CoordinateRegressionToJoints(p) => p.confidence_threshold.unwrap_or(0.0),
            PostProcessor::GridOffsetToPoints(p) => p.confidence_threshold,
        }
    }

    fn validate_gaussian(&self, p: &GaussianHeatmapToJoints) -> Result<(), ConfigError> {
        let [h, w] = self.image_size;
        let field = "POST_PROCESSOR.GaussianHeatmapToJoints";
        if !(0.0..=1.0).contains(&p.confidence_threshold) {
            return Err(self.error(
                &format!("{field}.confidence_threshold"),
                format!("{} is outside 0..=1", p.confidence_threshold),
            ));
        }
        if p.num_dimensions != 2 {
            return Err(self.error(
                &format!("{field}.num_dimensions"),
                format!("{} is not supported (only 2)", p.num_dimensions),
            ));
        }
        if p.stride == 0 {
            return Err(self.error(&format!("{field}.stride"), "must be positive"));
        }
        if !(p.threshold_scale.is_finite() && p.threshold_scale > 0.0) {
            return Err(self.error(
                &format!("{field}.threshold_scale"),
                format!("{} must be a positive number", p.threshold_scale),
            ));
        }
        if h % p.stride != 0 || w % p.stride != 0 {
            return Err(self.error(
                &format!("{field}.stride"),
                format!("{} does not divide IMAGE_SIZE [{h}, {w}]", p.stride),
            ));
        }
        if p.flip_test {
            crate::postprocess::flip_test::mirror_pairs(&self.keypoints.names).map_err(|e| {
                self.error(
                    &format!("{field}.flip_test"),
                    format!("{e} (KEYPOINTS.names, default COCO-17)"),
                )
            })?;
        }
        Ok(())
    }

    fn validate_heatmap_offset(&self, p: &HeatmapOffsetToJoints) -> Result<(), ConfigError> {
        let field = "POST_PROCESSOR.HeatmapOffsetToJoints";
        if !(0.0..=1.0).contains(&p.confidence_threshold) && p.sigmoid {
            return Err(self.error(
                &format!("{field}.confidence_threshold"),
                format!(
                    "{} is outside 0..=1 (the score is a sigmoid)",
                    p.confidence_threshold
                ),
            ));
        }
        if !p.confidence_threshold.is_finite() {
            return Err(self.error(
                &format!("{field}.confidence_threshold"),
                "must be a finite number",
            ));
        }
        if p.stride == 0 {
            return Err(self.error(&format!("{field}.stride"), "must be positive"));
        }
        if p.offsets_output.is_empty() {
            return Err(self.error(
                &format!("{field}.offsets_output"),
                "must name the model's offset output tensor",
            ));
        }
        if self.model.output.as_deref() == Some(p.offsets_output.as_str()) {
            return Err(self.error(
                &format!("{field}.offsets_output"),
                format!(
                    "{:?} is also MODEL.output (the heatmaps): name the offset tensor",
                    p.offsets_output
                ),
            ));
        }
        Ok(())
    }

    fn validate_regression(&self, p: &CoordinateRegressionToJoints) -> Result<(), ConfigError> {
        let field = "POST_PROCESSOR.CoordinateRegressionToJoints";
        let count = |c: Component| p.components.iter().filter(|&&d| d == c).count();
        if count(Component::x) != 1 || count(Component::y) != 1 || count(Component::score) > 1 {
            return Err(self.error(
                &format!("{field}.components"),
                format!(
                    "{:?} must hold x and y once each and score at most once",
                    p.components
                ),
            ));
        }
        let has_score = count(Component::score) == 1;
        match (p.confidence_threshold, has_score) {
            (Some(_), false) => {
                return Err(self.error(
                    &format!("{field}.confidence_threshold"),
                    "needs a `score` in `components` (without one every joint is visible)",
                ))
            }
            (None, true) => {
                return Err(self.error(
                    &format!("{field}.components"),
                    "a `score` component needs `confidence_threshold`",
                ))
            }
            (Some(t), true) if !t.is_finite() || (p.score_sigmoid && !(0.0..=1.0).contains(&t)) => {
                return Err(self.error(
                    &format!("{field}.confidence_threshold"),
                    format!("{t} must be finite (and within 0..=1 with score_sigmoid)"),
                ))
            }
            _ => {}
        }
        if p.score_sigmoid && !has_score {
            return Err(self.error(
                &format!("{field}.score_sigmoid"),
                "there is no `score` in `components` to apply it to",
            ));
        }
        Ok(())
    }

    fn validate_grid(&self, p: &GridOffsetToPoints) -> Result<(), ConfigError> {
        let field = "POST_PROCESSOR.GridOffsetToPoints";
        let t = p.confidence_threshold;
        let bounded = p.score_activation != ScoreActivation::none;
        if !t.is_finite() || (bounded && !(0.0..=1.0).contains(&t)) {
            return Err(self.error(
                &format!("{field}.confidence_threshold"),
                format!(
                    "{t} must be finite (and within 0..=1 with score_activation {:?})",
                    p.score_activation
                ),
            ));
        }
        if p.stride == 0 {
            return Err(self.error(&format!("{field}.stride"), "must be positive"));
        }
        if let Some(d) = p.nms_distance {
            if !(d.is_finite() && d >= 0.0) {
                return Err(self.error(
                    &format!("{field}.nms_distance"),
                    format!("{d} must be a distance in pixels, ≥ 0"),
                ));
            }
        }
        if p.background && p.score_activation != ScoreActivation::softmax {
            return Err(self.error(
                &format!("{field}.background"),
                "a background channel only makes sense with score_activation: softmax",
            ));
        }
        Ok(())
    }

    /// The GaussianHeatmapToJoints post-processor, if that is the one.
    pub fn gaussian(&self) -> Option<&GaussianHeatmapToJoints> {
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
