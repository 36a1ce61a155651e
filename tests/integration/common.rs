//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests").join("fixtures").join(name)
}

/// `../shared` beside the checkout (reference models and photos), if present.
pub fn shared() -> Option<PathBuf> {
    let p = repo().join("..").join("shared");
    p.join("README.md").exists().then_some(p)
}

/// Reads a little-endian f32 C-order `.npy` file: (shape, values).
pub fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not .npy", path.display());
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f4'"),
        "{}: not little-endian f32: {header}",
        path.display()
    );
    assert!(
        header.contains("'fortran_order': False"),
        "{}: Fortran order",
        path.display()
    );
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_txt
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let data: Vec<f32> = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(
        data.len(),
        shape.iter().product::<usize>(),
        "{}",
        path.display()
    );
    (shape, data)
}

/// Runs `model` on a raw square NHWC input (already pre-processed) and
/// returns its heatmaps.
pub fn run_raw(model: &lm::model::Model, size: usize, input: &[f32]) -> lm::postprocess::Heatmaps {
    let image = lm::preprocess::InputImage {
        height: size,
        width: size,
        data: input.to_vec(),
    };
    model.run(model.input_tensor(&image).unwrap()).unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Asserts two joint lists agree: same positions and visibility, scores within `tol` (the
/// float head's sums may be rounded in another order than tract's, so scores can differ in
/// their last bits).
pub fn assert_same_joints(
    a: &[lm::postprocess::Joint],
    b: &[lm::postprocess::Joint],
    tol: f32,
    what: &str,
) {
    assert_eq!(a.len(), b.len(), "{what}: joint counts");
    for (k, (ja, jb)) in a.iter().zip(b).enumerate() {
        assert!(
            ja.x == jb.x
                && ja.y == jb.y
                && ja.visible == jb.visible
                && (ja.score - jb.score).abs() <= tol,
            "{what}: joint {k} differs: {ja:?} vs {jb:?}"
        );
    }
}

/// Writes a meta.yaml into `dir` and returns its path.
pub fn write_meta(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Blueoil's meta.yaml for a 160×160 keypoint model, verbatim.
pub const BLUEOIL_META: &str = "CLASSES:
- person
DATA_FORMAT: NHWC
IMAGE_SIZE:
- 160
- 160
POST_PROCESSOR:
- GaussianHeatmapToJoints:
    confidence_threshold: 0.1
    num_dimensions: 2
    stride: 8
PRE_PROCESSOR:
- ResizeWithJoints:
    image_size:
    - 160
    - 160
    resample: NEAREST
- JointsToGaussianHeatmap:
    image_size:
    - 160
    - 160
    num_joints: 17
    sigma: 2
    stride: 8
- DivideBy255: null
TASK: IMAGE.KEYPOINT_DETECTION
";

/// A meta.yaml for the 32×32, stride-4 fixtures, with a model file.
pub fn small_meta(model_file: &str, threshold: f64) -> String {
    format!(
        "CLASSES:
- person
DATA_FORMAT: NHWC
IMAGE_SIZE:
- 32
- 32
POST_PROCESSOR:
- GaussianHeatmapToJoints:
    confidence_threshold: {threshold}
    num_dimensions: 2
    stride: 4
PRE_PROCESSOR:
- ResizeWithJoints:
    image_size:
    - 32
    - 32
    resample: NEAREST
- DivideBy255: null
TASK: IMAGE.KEYPOINT_DETECTION
MODEL:
  file: {model_file}
"
    )
}

/// Runs every layer of [`lm::accel::workload::MODEL_LAYERS`] on `acc` (any register backend)
/// with random operands (seed `1000 + index`), checks that the driver accepts its geometry and
/// that the output equals the reference kernel bit for bit, and returns each layer's stats.
pub fn model_layers_bit_exact<R: lm::accel::RegisterAccess>(
    acc: &mut lm::accel::Accelerator<R>,
) -> Vec<(lm::accel::workload::LayerShape, lm::accel::LayerStats)> {
    use lm::accel::workload::{random_operands, MODEL_LAYERS};
    use lm::kernels::{reference, QConvOutput};
    let mut stats = Vec::new();
    for (i, l) in MODEL_LAYERS.iter().enumerate() {
        let (h, w, c_in, c_out, k) = (l.height, l.width, l.in_channels, l.out_channels, l.kernel);
        let ops = random_operands(1000 + i as u64, h, w, c_in, c_out, k).unwrap();
        acc.supports(l.name, h, w, c_in, c_out, k)
            .unwrap_or_else(|e| panic!("{e}"));
        let (out, s) = acc
            .conv(l.name, &ops.input, &ops.weights, Some(&ops.thresholds))
            .unwrap_or_else(|e| panic!("{e}"));
        let want = reference::conv_threshold(&ops.input, &ops.weights, &ops.thresholds).unwrap();
        assert_eq!(out, QConvOutput::Packed(want), "{}", l.name);
        assert_eq!(s.macs, l.macs(), "{}", l.name);
        stats.push((*l, s));
    }
    stats
}
