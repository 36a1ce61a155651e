//! Comparing an imported graph with Blueoil's per-op outputs.
//!
//! `blueoil convert` leaves `inference_test_data/` beside the model: one
//! `.npy` per output of every op, named `NNN_` + the tensor name with `/` as
//! `_` (`013_conv1_BatchNorm_FusedBatchNorm:0.npy`; the oldest exports write
//! `_0` for `:0`). [`check_dir`] runs the imported graph (float, as imported:
//! the reference form) on the placeholder's file and compares every tensor
//! that has a counterpart.

use super::graph::Imported;
use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tract_hir::internal::*;

/// How one tensor compares with its `.npy`.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub tensor: String,
    pub op: String,
    pub file: PathBuf,
    pub shape: Vec<usize>,
    /// Largest |lm − Blueoil|.
    pub max_abs_diff: f32,
    /// Elements that differ at all.
    pub differing: usize,
    /// Activation quantiser outputs must be equal bit for bit.
    pub exact: bool,
    /// A binarised kernel: signs equal, scales at most 2 units in the last
    /// place apart (TensorFlow's `Mean` sums in f32 in an order that depends
    /// on the shape and the CPU; lm rounds the sum once).
    pub kernel: bool,
    pub ok: bool,
    /// What is wrong, if not `ok`.
    pub why: Option<String>,
}

/// The `.npy` files of a directory by tensor name as the files spell it
/// (`conv1_Conv2D:0`, `images_placeholder_0`).
pub fn counterparts(dir: &Path) -> Result<HashMap<String, PathBuf>> {
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".npy") else {
            continue;
        };
        let (index, rest) = stem.split_at(stem.len().min(4));
        if index.len() == 4
            && index[..3].bytes().all(|b| b.is_ascii_digit())
            && index.ends_with('_')
        {
            files.insert(rest.to_string(), path);
        }
    }
    Ok(files)
}

/// The file of output 0 of TF node `node`, in either spelling.
pub fn file_of<'a>(files: &'a HashMap<String, PathBuf>, node: &str) -> Option<&'a PathBuf> {
    let base = node.replace('/', "_");
    files
        .get(&format!("{base}:0"))
        .or_else(|| files.get(&format!("{base}_0")))
}

/// Reads a little-endian, C-order `.npy` file; `None` if it is not f32.
pub fn read_npy_f32(path: &Path) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = || format!("{} is not a .npy file", path.display());
    ensure!(bytes.len() >= 10 && &bytes[..6] == b"\x93NUMPY", bad());
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => bail!(bad()),
    };
    let header = bytes
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .with_context(bad)?;
    if !header.contains("'descr': '<f4'") {
        return Ok(None);
    }
    ensure!(
        header.contains("'fortran_order': False"),
        "{}: Fortran-order arrays are not supported",
        path.display()
    );
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .with_context(bad)?;
    let shape: Vec<usize> = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().with_context(bad))
        .collect::<Result<_>>()?;
    let data: Vec<f32> = bytes[start + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ensure!(
        data.len() == shape.iter().product::<usize>(),
        "{}: {} values for shape {shape:?}",
        path.display(),
        data.len()
    );
    Ok(Some((shape, data)))
}

/// Runs `imported` on `input` (NHWC) and returns every wired TF tensor in
/// TensorFlow's layout, by node name.
pub fn run_all(imported: &Imported, input: Tensor) -> Result<Vec<(String, Tensor)>> {
    let mut model = imported.model.clone();
    model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), input.shape()))?;
    // Identities share their input's outlet: each outlet once.
    let mut outlets: Vec<OutletId> = vec![];
    for t in &imported.tensors {
        if !outlets.contains(&t.outlet) {
            outlets.push(t.outlet);
        }
    }
    model.select_output_outlets(&outlets)?;
    let plan = model
        .into_typed()
        .context("cannot infer the graph's types and shapes")?
        .into_optimized()?
        .into_runnable()?;
    let outputs = plan.run(tvec!(input.into()))?;
    let mut tensors = vec![];
    for info in &imported.tensors {
        let ix = outlets
            .iter()
            .position(|o| *o == info.outlet)
            .expect("selected above");
        let t = outputs[ix].clone().into_tensor();
        let t = if info.nchw {
            t.permute_axes(&[0, 2, 3, 1])?
        } else {
            t
        };
        tensors.push((info.name.clone(), t));
    }
    Ok(tensors)
}

/// Compares every tensor of the graph at `graph` that has a counterpart in
/// The folders below `dir` (two levels deep) whose `.npy` files include node `node`'s.
fn subfolders_with(dir: &Path, node: &str) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut pending: Vec<(PathBuf, usize)> = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            if counterparts(&path).is_ok_and(|f| file_of(&f, node).is_some()) {
                found.push(path.clone());
            }
            if depth + 1 < 2 {
                pending.push((path, depth + 1));
            }
        }
    }
    found.sort();
    found
}

/// `dir` (see the module doc). A tensor matches if its shape is the same and
/// it is equal bit for bit (activation quantiser outputs), has the same signs
/// and scales within 2 ulp (binarised kernels, see
/// [`Comparison::kernel`]), or is within `tolerance · max(1, max |Blueoil|)`
/// (everything else).
pub fn check_dir(graph: &Path, dir: &Path, tolerance: f32) -> Result<Vec<Comparison>> {
    let def = super::read_graph(graph)?;
    let imported = super::import(&def, graph)?;
    let files = counterparts(dir)?;
    let inputs = imported.model.input_outlets()?.to_vec();
    ensure!(
        inputs.len() == 1,
        "{} has {} inputs; one expected",
        graph.display(),
        inputs.len()
    );
    let input_name = imported.model.node(inputs[0].node).name.clone();
    let input_file = file_of(&files, &input_name).with_context(|| {
        let base = input_name.replace('/', "_");
        let mut why = format!(
            "{} holds no NNN_{base}:0.npy or NNN_{base}_0.npy (the input of {}; `blueoil \
             convert` writes them into inference_test_data/)",
            dir.display(),
            graph.display()
        );
        // Pointed at the folder above: name the subfolders that do hold it.
        let found = subfolders_with(dir, &input_name);
        if !found.is_empty() {
            let list: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            why += &format!("; found in: {}", list.join(", "));
        }
        why
    })?;
    let (shape, data) = read_npy_f32(input_file)?
        .with_context(|| format!("{} is not f32", input_file.display()))?;
    let input = tract_ndarray::ArrayD::from_shape_vec(shape, data)?.into_tensor();
    let computed = run_all(&imported, input)?;
    // (tensor, op, exact, kernel, value)
    let mut found: Vec<(String, String, bool, bool, Tensor)> = imported
        .tensors
        .iter()
        .zip(computed)
        .map(|(info, (_, t))| (info.name.clone(), info.op.clone(), info.quantiser, false, t))
        .collect();
    for (name, t) in &imported.kernels {
        let op = def
            .node
            .iter()
            .find(|n| &n.name == name)
            .map(|n| n.op.clone())
            .unwrap_or_default();
        found.push((name.clone(), op, false, true, t.clone()));
    }
    let mut out = vec![];
    for (name, op, exact, kernel, t) in found {
        let Some(file) = file_of(&files, &name) else {
            continue;
        };
        let Some((shape, want)) = read_npy_f32(file)? else {
            continue;
        };
        let got: Vec<f32> = t
            .cast_to::<f32>()?
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect();
        let mut c = Comparison {
            tensor: name,
            op,
            file: file.clone(),
            shape: shape.clone(),
            max_abs_diff: 0.0,
            differing: 0,
            exact,
            kernel,
            ok: true,
            why: None,
        };
        if t.shape() != shape.as_slice() {
            c.ok = false;
            c.why = Some(format!("shape {:?}, Blueoil's is {shape:?}", t.shape()));
            out.push(c);
            continue;
        }
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (a, b) in got.iter().zip(&want) {
            let d = (a - b).abs();
            if a.to_bits() != b.to_bits() && d != 0.0 {
                c.differing += 1;
            }
            if d.is_nan() {
                c.max_abs_diff = f32::NAN;
            } else if !c.max_abs_diff.is_nan() {
                c.max_abs_diff = c.max_abs_diff.max(d);
            }
        }
        // Same sign, at most 2 units in the last place apart.
        let one_rounding = |a: f32, b: f32| {
            a.signum() == b.signum() && (a.to_bits() as i64 - b.to_bits() as i64).abs() <= 2
        };
        c.ok = if exact {
            c.differing == 0
        } else if kernel {
            got.iter().zip(&want).all(|(a, b)| one_rounding(*a, *b))
        } else {
            c.max_abs_diff <= tolerance * scale
        };
        if !c.ok {
            c.why = Some(if kernel {
                format!(
                    "{} of {} binarised weights differ in sign or by more than 2 units \
                     in the last place (max |diff| {:e})",
                    got.iter()
                        .zip(&want)
                        .filter(|(a, b)| !one_rounding(**a, **b))
                        .count(),
                    want.len(),
                    c.max_abs_diff
                )
            } else if exact {
                format!(
                    "{} of {} values differ (max |diff| {:e}); quantiser outputs must be equal",
                    c.differing,
                    want.len(),
                    c.max_abs_diff
                )
            } else {
                format!(
                    "max |diff| {:e} exceeds {:e} ({} of {} values differ)",
                    c.max_abs_diff,
                    tolerance * scale,
                    c.differing,
                    want.len()
                )
            });
        }
        out.push(c);
    }
    Ok(out)
}

/// One line per compared tensor, in graph order, then the verdict; `false`
/// if any differs (the first one is named last).
pub fn summary(comparisons: &[Comparison]) -> (String, bool) {
    let mut text = String::new();
    for c in comparisons {
        let rule = if c.exact {
            "exact"
        } else if c.kernel {
            "sign, 2 ulp"
        } else {
            "tolerance"
        };
        text.push_str(&format!(
            "{:<5} {} ({}) {:?}: max |diff| {:e} [{rule}]\n",
            if c.ok { "ok" } else { "DIFF" },
            c.tensor,
            c.op,
            c.shape,
            c.max_abs_diff
        ));
    }
    let first = comparisons.iter().find(|c| !c.ok);
    match first {
        None => text.push_str(&format!(
            "{} tensors compared, all match\n",
            comparisons.len()
        )),
        Some(c) => text.push_str(&format!(
            "first difference: {} ({}), {}: {}\n",
            c.tensor,
            c.op,
            c.file.display(),
            c.why.as_deref().unwrap_or("differs")
        )),
    }
    (text, first.is_none() && !comparisons.is_empty())
}
