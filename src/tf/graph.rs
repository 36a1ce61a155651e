//! GraphDef → tract inference graph.
//!
//! TensorFlow graphs are NHWC; tract's convolutions, and our fusion passes,
//! work on NCHW with OIHW kernels. Every rank-4 tensor is therefore held as
//! NCHW inside the graph: the inputs get a transpose after them, the outputs
//! one before them, kernels are transposed as constants, and the NHWC
//! attributes (axes, strides, window sizes) are mapped. Tensors that are not
//! rank-4 images (after a `Reshape`) stay in TensorFlow's layout; the two
//! meet through explicit transposes.
//!
//! `Const` nodes (and the `Identity`s after them) stay values until an op
//! needs them: as parameters (BatchNorm statistics, quantiser bit width,
//! resize sizes, axes) they are read, not wired. The quantisers become the
//! QONNX ops of [`crate::ops`]: `BipolarQuant` on the OIHW kernel with the
//! per-channel (or layer) scale, `Quant` on activations, the exact form of a
//! QONNX export, so that [`crate::passes`] fuse them the same way.

use super::node::TensorRef;
use super::proto::{data_type as dt, GraphDef, NodeDef};
use super::quantizer::{binary_scales, Quantizer, Scaling};
use super::tensor;
use crate::ops::bipolar_quant::BipolarQuant;
use crate::ops::lean_onnx::{batch_norm::BatchNorm, space_to_depth::SpaceToDepth};
use crate::ops::nearest_resize::{NearestMode, NearestResize};
use crate::ops::quant::Quant;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use tract_core::ops::nn::resize::CoordTransformer;
use tract_hir::internal::*;
use tract_hir::ops::binary::BinIntoHir;
use tract_hir::ops::cnn::{PaddingSpec, PoolSpec};
use tract_hir::ops::{activations, array, cnn, nn};

/// The TensorFlow ops the loader maps (besides recognised quantiser calls).
pub const SUPPORTED_OPS: &[&str] = &[
    "AvgPool",
    "BiasAdd",
    "ConcatV2",
    "Const",
    "Conv2D",
    "FusedBatchNorm",
    "FusedBatchNormV2",
    "FusedBatchNormV3",
    "Identity",
    "MaxPool",
    "Placeholder",
    "Relu",
    "Reshape",
    "ResizeNearestNeighbor",
    "Softmax",
    "SpaceToDepth",
];

const NHWC_TO_NCHW: [usize; 4] = [0, 3, 1, 2];
const NCHW_TO_NHWC: [usize; 4] = [0, 2, 3, 1];
/// TF (NHWC) axis → the axis of the NCHW tensor.
const AXIS_TO_NCHW: [usize; 4] = [0, 2, 3, 1];

/// What a TensorFlow tensor is while the graph is being wired.
#[derive(Clone, Debug)]
enum Value {
    /// A tensor in the graph; `nchw`: a rank-4 NHWC tensor held as NCHW.
    Wire { outlet: OutletId, nchw: bool },
    /// A `Const` (through any `Identity`s), named after its node.
    Const { node: String, tensor: Arc<Tensor> },
    /// The binary weight quantiser applied to a constant kernel.
    BinaryKernel {
        node: String,
        kernel: Arc<Tensor>,
        scales: Vec<f32>,
        scaling: Scaling,
    },
}

/// An imported graph.
pub struct Imported {
    pub model: InferenceModel,
    /// Every TensorFlow tensor wired into the graph, in graph order.
    pub tensors: Vec<TensorInfo>,
    /// The binarised kernels (`sign(W) · scale`, HWIO, sign(0) = +1 as lm
    /// computes them), by the name of the quantiser node.
    pub kernels: Vec<(String, Tensor)>,
}

/// Where a TensorFlow tensor (output 0 of node `name`) is in the graph.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    /// The TF op that computes it (or the quantiser function's name).
    pub op: String,
    pub outlet: OutletId,
    /// Held as NCHW (TensorFlow has it NHWC).
    pub nchw: bool,
    /// Computed by a quantiser (its values are exact levels).
    pub quantiser: bool,
}

/// The library functions that are quantisers, and why the others are not.
pub struct Library {
    pub quantizers: HashMap<String, Quantizer>,
    pub unknown: HashMap<String, String>,
}

impl Library {
    pub fn new(graph: &GraphDef) -> Library {
        let mut quantizers = HashMap::new();
        let mut unknown = HashMap::new();
        for f in graph.library.iter().flat_map(|l| &l.function) {
            let Some(name) = f.signature.as_ref().map(|s| s.name.clone()) else {
                continue;
            };
            match Quantizer::recognise(f) {
                Ok(q) => {
                    quantizers.insert(name, q);
                }
                Err(why) => {
                    unknown.insert(name, why);
                }
            }
        }
        Library {
            quantizers,
            unknown,
        }
    }
}

/// The graph's outputs: tensors of non-constant nodes that no node reads.
pub(crate) fn output_nodes(graph: &GraphDef) -> Vec<&NodeDef> {
    let consumed: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.data_inputs().map(|r| r.node))
        .collect();
    graph
        .node
        .iter()
        .filter(|n| {
            !consumed.contains(n.name.as_str()) && !matches!(n.op.as_str(), "Const" | "NoOp")
        })
        .collect()
}

/// The nodes the outputs depend on, inputs before consumers.
pub(crate) fn sorted_nodes(graph: &GraphDef) -> TractResult<Vec<&NodeDef>> {
    let by_name: HashMap<&str, &NodeDef> =
        graph.node.iter().map(|n| (n.name.as_str(), n)).collect();
    ensure!(
        by_name.len() == graph.node.len(),
        "the graph has several nodes with the same name"
    );
    // Reachable from the outputs.
    let mut needed: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = output_nodes(graph)
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    while let Some(name) = stack.pop() {
        if !needed.insert(name) {
            continue;
        }
        let node = by_name[name];
        for r in node.data_inputs() {
            ensure!(
                by_name.contains_key(r.node),
                "{}: input {:?} is produced by no node",
                node.describe(),
                r.node
            );
            stack.push(r.node);
        }
    }
    // Kahn's algorithm, in file order among ready nodes.
    let mut pending: HashMap<&str, usize> = HashMap::new();
    let mut consumers: HashMap<&str, Vec<&str>> = HashMap::new();
    for n in graph
        .node
        .iter()
        .filter(|n| needed.contains(n.name.as_str()))
    {
        let inputs: BTreeSet<&str> = n.data_inputs().map(|r| r.node).collect();
        pending.insert(&n.name, inputs.len());
        for i in inputs {
            consumers.entry(i).or_default().push(&n.name);
        }
    }
    let mut ready: VecDeque<&str> = graph
        .node
        .iter()
        .filter(|n| pending.get(n.name.as_str()) == Some(&0))
        .map(|n| n.name.as_str())
        .collect();
    let mut order = vec![];
    while let Some(name) = ready.pop_front() {
        order.push(by_name[name]);
        for c in consumers.get(name).into_iter().flatten() {
            let p = pending.get_mut(c).expect("consumers are needed nodes");
            *p -= 1;
            if *p == 0 {
                ready.push_back(c);
            }
        }
    }
    ensure!(
        order.len() == needed.len(),
        "the graph has a cycle (frozen inference graphs have none)"
    );
    Ok(order)
}

/// The op types and library functions among the needed nodes that the loader
/// cannot map, each once, described.
pub fn missing(graph: &GraphDef, library: &Library) -> TractResult<Vec<String>> {
    let mut missing = BTreeSet::new();
    for n in sorted_nodes(graph)? {
        let op = n.op.as_str();
        if SUPPORTED_OPS.contains(&op) || library.quantizers.contains_key(op) {
            continue;
        }
        missing.insert(match library.unknown.get(op) {
            Some(why) => format!("{op} (a library function that is no known quantiser: {why})"),
            None => format!("{op} (e.g. node {:?})", n.name),
        });
    }
    Ok(missing.into_iter().collect())
}

struct Importer<'g> {
    library: &'g Library,
    model: InferenceModel,
    values: HashMap<(String, usize), Value>,
    /// Constants already wired, by TF node name.
    wired_consts: HashMap<String, OutletId>,
    tensors: Vec<TensorInfo>,
    kernels: Vec<(String, Tensor)>,
}

/// Builds the inference graph (call [`missing`] first for a complete list of
/// what is unsupported).
pub fn import(graph: &GraphDef, library: &Library) -> TractResult<Imported> {
    let mut imp = Importer {
        library,
        model: InferenceModel::default(),
        values: HashMap::new(),
        wired_consts: HashMap::new(),
        tensors: vec![],
        kernels: vec![],
    };
    let order = sorted_nodes(graph)?;
    let mut sources = vec![];
    for node in &order {
        let value = imp.node(node)?;
        if node.op == "Placeholder" {
            sources.push(node.name.clone());
        }
        let quantiser = library.quantizers.contains_key(&node.op);
        match &value {
            Value::Wire { outlet, nchw } => imp.tensors.push(TensorInfo {
                name: node.name.clone(),
                op: node.op.clone(),
                outlet: *outlet,
                nchw: *nchw,
                quantiser,
            }),
            Value::BinaryKernel { kernel, scales, .. } if quantiser => {
                let w = kernel.to_plain_array_view::<f32>()?;
                let last = w.ndim().saturating_sub(1);
                let mut q = w.to_owned();
                for (ix, v) in q.indexed_iter_mut() {
                    let s = if scales.len() == 1 {
                        scales[0]
                    } else {
                        scales[ix[last]]
                    };
                    *v = BipolarQuant::sign(*v) * s;
                }
                imp.kernels.push((node.name.clone(), q.into_tensor()));
            }
            _ => (),
        }
        imp.values.insert((node.name.clone(), 0), value);
    }
    let mut outputs = vec![];
    for node in output_nodes(graph) {
        let value = imp.value(&TensorRef {
            node: &node.name,
            port: 0,
        })?;
        let outlet = imp.plain(&value, &format!("{}.nhwc", node.name))?;
        imp.model.set_outlet_label(outlet, node.name.clone())?;
        outputs.push(outlet);
    }
    ensure!(!outputs.is_empty(), "the graph has no output");
    let inputs: Vec<OutletId> = sources
        .iter()
        .map(|s| imp.model.node_by_name(s).map(|n| OutletId::new(n.id, 0)))
        .collect::<TractResult<_>>()?;
    imp.model.set_input_outlets(&inputs)?;
    imp.model.select_output_outlets(&outputs)?;
    Ok(Imported {
        model: imp.model,
        tensors: imp.tensors,
        kernels: imp.kernels,
    })
}

impl Importer<'_> {
    fn value(&self, r: &TensorRef) -> TractResult<Value> {
        self.values
            .get(&(r.node.to_string(), r.port))
            .cloned()
            .with_context(|| match r.port {
                0 => format!("tensor {:?} is not available", r.node),
                p => format!(
                    "output {p} of node {:?} is used, but only output 0 is supported",
                    r.node
                ),
            })
    }

    fn inputs(&self, node: &NodeDef, n: usize) -> TractResult<Vec<Value>> {
        let refs: Vec<TensorRef> = node.data_inputs().collect();
        ensure!(
            refs.len() == n,
            "{}: {} inputs, expected {n}",
            node.describe(),
            refs.len()
        );
        refs.iter().map(|r| self.value(r)).collect()
    }

    fn wire(
        &mut self,
        name: impl Into<String>,
        op: Box<dyn InferenceOp>,
        inputs: &[OutletId],
    ) -> TractResult<OutletId> {
        let id = self
            .model
            .add_node(name, op, tvec!(InferenceFact::default()))?;
        for (slot, i) in inputs.iter().enumerate() {
            self.model.add_edge(*i, InletId::new(id, slot))?;
        }
        Ok(OutletId::new(id, 0))
    }

    fn permute(&mut self, name: String, from: OutletId, perm: [usize; 4]) -> TractResult<OutletId> {
        self.wire(
            name,
            expand(array::PermuteAxes::new(Some(perm.into()))),
            &[from],
        )
    }

    fn konst(&mut self, name: String, t: Tensor) -> TractResult<OutletId> {
        self.model.add_const(name, t)
    }

    /// A constant's outlet, wired once.
    fn wired_const(&mut self, node: &str, t: &Arc<Tensor>) -> TractResult<OutletId> {
        if let Some(o) = self.wired_consts.get(node) {
            return Ok(*o);
        }
        let o = self.model.add_const(node, t.clone())?;
        self.wired_consts.insert(node.to_string(), o);
        Ok(o)
    }

    /// The value as a tensor in TF's layout.
    fn plain(&mut self, v: &Value, name: &str) -> TractResult<OutletId> {
        match v {
            Value::Wire {
                outlet,
                nchw: false,
            } => Ok(*outlet),
            Value::Wire { outlet, nchw: true } => self.permute(name.into(), *outlet, NCHW_TO_NHWC),
            Value::Const { node, tensor } => self.wired_const(node, tensor),
            Value::BinaryKernel {
                node,
                kernel,
                scales,
                ..
            } => {
                // Scales broadcast on the last (output channel) axis of HWIO.
                let w = self.wired_const(&format!("{node}.kernel"), kernel)?;
                let scale = tract_ndarray::Array1::from_vec(scales.clone()).into_tensor();
                self.wire(
                    node.clone(),
                    typed(BipolarQuant {
                        scale: scale.into_arc_tensor(),
                    }),
                    &[w],
                )
            }
        }
    }

    /// The value as an NCHW tensor (it must be rank 4 in TF).
    fn nchw(&mut self, v: &Value, name: &str, user: &NodeDef) -> TractResult<OutletId> {
        match v {
            Value::Wire { outlet, nchw: true } => Ok(*outlet),
            Value::Wire {
                outlet,
                nchw: false,
            } => self.permute(name.into(), *outlet, NHWC_TO_NCHW),
            Value::Const { node, tensor } => {
                ensure!(
                    tensor.rank() == 4,
                    "{}: input {node:?} is a constant of shape {:?}, not an NHWC image",
                    user.describe(),
                    tensor.shape()
                );
                let t = tensor.clone().into_tensor().permute_axes(&NHWC_TO_NCHW)?;
                self.konst(format!("{node}.nchw"), t)
            }
            Value::BinaryKernel { node, .. } => bail!(
                "{}: input {node:?} is a quantised kernel, not an NHWC image",
                user.describe()
            ),
        }
    }

    fn konst_param(&self, v: &Value, user: &NodeDef, what: &str) -> TractResult<Arc<Tensor>> {
        match v {
            Value::Const { tensor, .. } => Ok(tensor.clone()),
            _ => bail!(
                "{}: {what} must be a constant (a Const node, through Identities)",
                user.describe()
            ),
        }
    }

    fn node(&mut self, node: &NodeDef) -> TractResult<Value> {
        let op = node.op.as_str();
        if let Some(q) = self.library.quantizers.get(op).copied() {
            return self.quantizer(node, q);
        }
        let name = node.name.clone();
        let wire = |outlet| Value::Wire { outlet, nchw: true };
        Ok(match op {
            "Const" => {
                let t = node.required("value", node.attr_tensor("value"))?;
                let t = tensor::to_tensor(t, &node.describe())?;
                Value::Const {
                    node: name,
                    tensor: t.into_arc_tensor(),
                }
            }
            "Identity" => self.inputs(node, 1)?.remove(0),
            "Placeholder" => self.placeholder(node)?,
            "Conv2D" => wire(self.conv2d(node)?),
            "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => {
                wire(self.batch_norm(node)?)
            }
            "BiasAdd" => self.bias_add(node)?,
            "Relu" => {
                node.require_float("T")?;
                let x = self.inputs(node, 1)?.remove(0);
                let (outlet, nchw) = self.same_layout(&x, &name)?;
                let relu = expand(activations::Clip::new(Some(0.0), None));
                Value::Wire {
                    outlet: self.wire(name, relu, &[outlet])?,
                    nchw,
                }
            }
            "SpaceToDepth" => {
                node.require_nhwc()?;
                let block = node.required("block_size", node.attr_i64("block_size"))?;
                ensure!(
                    block > 1,
                    "{}: attribute `block_size` = {block}",
                    node.describe()
                );
                let x = self.inputs(node, 1)?.remove(0);
                let x = self.nchw(&x, &format!("{name}.nchw"), node)?;
                let op = expand(SpaceToDepth {
                    block: block as usize,
                });
                wire(self.wire(name, op, &[x])?)
            }
            "ResizeNearestNeighbor" => wire(self.resize(node)?),
            "ConcatV2" => self.concat(node)?,
            "AvgPool" | "MaxPool" => wire(self.pool(node)?),
            "Reshape" => {
                let inputs = self.inputs(node, 2)?;
                let shape = self.konst_param(&inputs[1], node, "the shape")?;
                let shape = shape.cast_to::<i64>()?.into_owned();
                ensure!(
                    shape.to_plain_array_view::<i64>()?.iter().all(|d| *d != 0),
                    "{}: a zero in the target shape is not supported",
                    node.describe()
                );
                let x = self.plain(&inputs[0], &format!("{name}.nhwc"))?;
                let shape = self.konst(format!("{name}.shape"), shape)?;
                let op = expand(array::Reshape::default());
                Value::Wire {
                    outlet: self.wire(name, op, &[x, shape])?,
                    nchw: false,
                }
            }
            "Softmax" => {
                node.require_float("T")?;
                let x = self.inputs(node, 1)?.remove(0);
                let (outlet, nchw) = self.same_layout(&x, &name)?;
                // TF: the last axis, the channels of an NHWC tensor.
                let axis = if nchw { 1 } else { -1 };
                let op = expand(nn::Softmax::new(axis));
                Value::Wire {
                    outlet: self.wire(name, op, &[outlet])?,
                    nchw,
                }
            }
            other => bail!("{}: operator {other} is not supported", node.describe()),
        })
    }

    /// An element-wise op's input, in whichever layout it is.
    fn same_layout(&mut self, v: &Value, name: &str) -> TractResult<(OutletId, bool)> {
        Ok(match v {
            Value::Wire { outlet, nchw } => (*outlet, *nchw),
            other => (self.plain(other, name)?, false),
        })
    }

    fn placeholder(&mut self, node: &NodeDef) -> TractResult<Value> {
        let dtype = node.attr_type("dtype")?.unwrap_or(dt::FLOAT);
        let datum = match dtype {
            dt::FLOAT => f32::datum_type(),
            dt::UINT8 => u8::datum_type(),
            dt::INT32 => i32::datum_type(),
            other => bail!(
                "{}: input of type {} is not supported",
                node.describe(),
                dt::name(other)
            ),
        };
        let mut fact = InferenceFact::dt(datum);
        if let Some(shape) = node.attr_shape("shape")? {
            if !shape.unknown_rank {
                let dims: TVec<DimFact> = shape
                    .dim
                    .iter()
                    .map(|d| {
                        if d.size >= 0 {
                            DimFact::from((d.size as usize).to_dim())
                        } else {
                            DimFact::default()
                        }
                    })
                    .collect();
                fact = fact.with_shape(ShapeFactoid::closed(dims));
            }
        }
        let rank4 = fact.shape.rank().concretize() == Some(4);
        let source = self.model.add_source(node.name.clone(), fact)?;
        if rank4 {
            let outlet = self.permute(format!("{}.nchw", node.name), source, NHWC_TO_NCHW)?;
            Ok(Value::Wire { outlet, nchw: true })
        } else {
            Ok(Value::Wire {
                outlet: source,
                nchw: false,
            })
        }
    }

    fn quantizer(&mut self, node: &NodeDef, q: Quantizer) -> TractResult<Value> {
        match q {
            Quantizer::BinaryMeanScaling {
                scaling,
                zero_is_positive,
            } => {
                let x = self.inputs(node, 1)?.remove(0);
                let kernel = self.konst_param(&x, node, "the quantised weights")?;
                let kernel = kernel.cast_to::<f32>()?.into_owned().into_arc_tensor();
                let scales = binary_scales(&kernel, scaling, &node.describe())?;
                ensure!(
                    scales.iter().all(|s| *s > 0.0),
                    "{}: a kernel (or output channel) of zero weights has scale 0",
                    node.describe()
                );
                if !zero_is_positive {
                    let zeros = kernel
                        .to_plain_array_view::<f32>()?
                        .iter()
                        .filter(|w| **w == 0.0)
                        .count();
                    if zeros > 0 {
                        // tf.sign(0) = 0 but BipolarQuant (and the kernels) give +scale.
                        tracing::warn!(
                            node = %node.name,
                            zeros,
                            "weights exactly 0: TensorFlow's sign gives 0, lm binarises them to +scale"
                        );
                    }
                }
                Ok(Value::BinaryKernel {
                    node: node.name.clone(),
                    kernel,
                    scales,
                    scaling,
                })
            }
            Quantizer::LinearMidTreadHalf { rounding } => {
                let inputs = self.inputs(node, 3)?;
                let bit = self.konst_param(&inputs[1], node, "the bit width")?;
                let max = self.konst_param(&inputs[2], node, "max_value")?;
                ensure!(
                    bit.len() == 1 && max.len() == 1,
                    "{}: bit width and max_value must be scalars",
                    node.describe()
                );
                let bit = bit.cast_to_scalar::<i64>()?;
                let max = max.cast_to_scalar::<f32>()?;
                ensure!(
                    (1..=16).contains(&bit),
                    "{}: bit width {bit} is not in 1..=16",
                    node.describe()
                );
                ensure!(
                    max > 0.0 && max.is_finite(),
                    "{}: max_value {max} is not positive",
                    node.describe()
                );
                let levels = ((1u32 << bit) - 1) as f32;
                let mut op = Quant::unsigned_half_up(bit as u32, max / levels);
                op.rounding = rounding;
                let (outlet, nchw) = self.same_layout(&inputs[0], &node.name)?;
                let outlet = self.wire(node.name.clone(), typed(op), &[outlet])?;
                Ok(Value::Wire { outlet, nchw })
            }
        }
    }

    /// A conv's kernel as an OIHW tensor in the graph (binarised if quantised).
    fn kernel(&mut self, v: &Value, node: &NodeDef) -> TractResult<(OutletId, [usize; 2])> {
        let (kernel, quantised, name) = match v {
            Value::Const { node, tensor } => (tensor.clone(), None, node.clone()),
            Value::BinaryKernel {
                node,
                kernel,
                scales,
                scaling,
            } => (kernel.clone(), Some((scales, *scaling)), node.clone()),
            Value::Wire { .. } => bail!(
                "{}: the filter is computed; only constant (or quantised constant) \
                 filters are supported",
                node.describe()
            ),
        };
        ensure!(
            kernel.rank() == 4,
            "{}: filter {name:?} has shape {:?}, not HWIO",
            node.describe(),
            kernel.shape()
        );
        let hw = [kernel.shape()[0], kernel.shape()[1]];
        let c_out = kernel.shape()[3];
        let oihw = kernel
            .cast_to::<f32>()?
            .into_owned()
            .permute_axes(&[3, 2, 0, 1])?;
        let outlet = match quantised {
            None => self.konst(format!("{name}.oihw"), oihw)?,
            Some((scales, scaling)) => {
                let w = self.konst(format!("{name}.oihw"), oihw)?;
                let scale = match scaling {
                    Scaling::ChannelWise => tensor1(scales).into_shape(&[c_out, 1, 1, 1])?,
                    Scaling::LayerWise => tensor0(scales[0]),
                };
                let op = BipolarQuant {
                    scale: scale.into_arc_tensor(),
                };
                self.wire(format!("{name}.oihw.q"), typed(op), &[w])?
            }
        };
        Ok((outlet, hw))
    }

    fn padding(node: &NodeDef) -> TractResult<PaddingSpec> {
        Ok(match node.required("padding", node.attr_str("padding"))? {
            // TF's SAME puts the odd pixel at the end, as SAME_UPPER does.
            "SAME" => PaddingSpec::SameUpper,
            "VALID" => PaddingSpec::Valid,
            other => bail!(
                "{}: attribute `padding` = {other:?}; only SAME and VALID are supported",
                node.describe()
            ),
        })
    }

    fn conv2d(&mut self, node: &NodeDef) -> TractResult<OutletId> {
        node.require_nhwc()?;
        node.require_float("T")?;
        let inputs = self.inputs(node, 2)?;
        let name = node.name.clone();
        let x = self.nchw(&inputs[0], &format!("{name}.nchw"), node)?;
        let (w, hw) = self.kernel(&inputs[1], node)?;
        let strides = node.attr_hw("strides")?.unwrap_or([1, 1]);
        let dilations = node.attr_hw("dilations")?.unwrap_or([1, 1]);
        let op = cnn::Conv::default()
            .padding(Self::padding(node)?)
            .kernel_shape(hw.as_slice().into())
            .strides(strides.as_slice().into())
            .dilations(dilations.as_slice().into());
        self.wire(name, expand(op), &[x, w])
    }

    fn batch_norm(&mut self, node: &NodeDef) -> TractResult<OutletId> {
        node.require_nhwc()?;
        node.require_float("T")?;
        ensure!(
            !node.attr_bool("is_training")?.unwrap_or(true),
            "{}: is_training is true (or unset); an inference graph has is_training = false",
            node.describe()
        );
        let epsilon = node.attr_f32("epsilon")?.unwrap_or(1e-4);
        let inputs = self.inputs(node, 5)?;
        let name = node.name.clone();
        let x = self.nchw(&inputs[0], &format!("{name}.nchw"), node)?;
        let mut wires = vec![x];
        for (ix, what) in [(1, "scale"), (2, "offset"), (3, "mean"), (4, "variance")] {
            let t = self.konst_param(&inputs[ix], node, what)?;
            ensure!(
                t.rank() == 1,
                "{}: {what} has shape {:?}, expected [C]",
                node.describe(),
                t.shape()
            );
            let t = t.cast_to::<f32>()?.into_owned();
            wires.push(self.konst(format!("{name}.{what}"), t)?);
        }
        self.wire(name, expand(BatchNorm { epsilon }), &wires)
    }

    fn bias_add(&mut self, node: &NodeDef) -> TractResult<Value> {
        node.require_nhwc()?;
        node.require_float("T")?;
        let inputs = self.inputs(node, 2)?;
        let name = node.name.clone();
        let bias = self.konst_param(&inputs[1], node, "the bias")?;
        ensure!(
            bias.rank() == 1,
            "{}: bias has shape {:?}, expected [C]",
            node.describe(),
            bias.shape()
        );
        let (x, nchw) = self.same_layout(&inputs[0], &format!("{name}.nhwc"))?;
        let c = bias.len();
        let bias = bias.cast_to::<f32>()?.into_owned();
        let bias = if nchw {
            bias.into_shape(&[1, c, 1, 1])?
        } else {
            bias
        };
        let b = self.konst(format!("{name}.bias"), bias)?;
        let outlet = self.wire(name, tract_hir::ops::math::Add.into_hir(), &[x, b])?;
        Ok(Value::Wire { outlet, nchw })
    }

    fn resize(&mut self, node: &NodeDef) -> TractResult<OutletId> {
        let inputs = self.inputs(node, 2)?;
        let name = node.name.clone();
        let size = self.konst_param(&inputs[1], node, "the size")?;
        let size: Vec<i64> = size
            .cast_to::<i64>()?
            .to_plain_array_view::<i64>()?
            .iter()
            .copied()
            .collect();
        let [h, w] = size.as_slice() else {
            bail!("{}: size {size:?} is not [height, width]", node.describe());
        };
        ensure!(
            *h > 0 && *w > 0,
            "{}: size {size:?} is not positive",
            node.describe()
        );
        let align_corners = node.attr_bool("align_corners")?.unwrap_or(false);
        let x = self.nchw(&inputs[0], &format!("{name}.nchw"), node)?;
        let op = expand(ResizeNearest {
            size: [*h as usize, *w as usize],
            align_corners,
            node: node.describe(),
        });
        self.wire(name, op, &[x])
    }

    fn concat(&mut self, node: &NodeDef) -> TractResult<Value> {
        let refs: Vec<TensorRef> = node.data_inputs().collect();
        ensure!(refs.len() >= 2, "{}: no axis input", node.describe());
        let n = refs.len() - 1;
        if let Some(want) = node.attr_i64("N")? {
            ensure!(
                want as usize == n,
                "{}: attribute `N` = {want} but {n} tensors are given",
                node.describe()
            );
        }
        let values: Vec<Value> = refs
            .iter()
            .map(|r| self.value(r))
            .collect::<TractResult<_>>()?;
        let axis = self.konst_param(&values[n], node, "the axis")?;
        let axis = axis.cast_to_scalar::<i64>()?;
        let name = node.name.clone();
        let all_nchw = values[..n]
            .iter()
            .all(|v| matches!(v, Value::Wire { nchw: true, .. }));
        let mut wires = vec![];
        for (ix, v) in values[..n].iter().enumerate() {
            wires.push(if all_nchw {
                self.nchw(v, &format!("{name}.{ix}.nchw"), node)?
            } else {
                self.plain(v, &format!("{name}.{ix}.nhwc"))?
            });
        }
        let axis = if all_nchw {
            let a = if axis < 0 { axis + 4 } else { axis };
            ensure!(
                (0..4).contains(&a),
                "{}: axis {axis} of a rank-4 tensor",
                node.describe()
            );
            AXIS_TO_NCHW[a as usize] as i64
        } else {
            axis
        };
        let outlet = self.wire(name, expand(array::Concat::new(axis)), &wires)?;
        Ok(Value::Wire {
            outlet,
            nchw: all_nchw,
        })
    }

    fn pool(&mut self, node: &NodeDef) -> TractResult<OutletId> {
        node.require_nhwc()?;
        node.require_float("T")?;
        let x = self.inputs(node, 1)?.remove(0);
        let name = node.name.clone();
        let x = self.nchw(&x, &format!("{name}.nchw"), node)?;
        let ksize = node.required("ksize", node.attr_hw("ksize"))?;
        let strides = node.attr_hw("strides")?.unwrap_or([1, 1]);
        let spec = PoolSpec {
            data_format: nn::DataFormat::NCHW,
            kernel_shape: ksize.as_slice().into(),
            padding: Self::padding(node)?,
            dilations: None,
            strides: Some(strides.as_slice().into()),
            input_channels: 0,
            output_channels: 0,
        };
        let op = if node.op == "MaxPool" {
            expand(cnn::HirMaxPool::new(spec, None))
        } else {
            // TF's average leaves the SAME padding out of the count.
            expand(cnn::HirSumPool::new(spec, false, true))
        };
        self.wire(name, op, &[x])
    }
}

/// A typed op wired as it is, output like its first input (element-wise).
fn typed<O: TypedOp + Clone>(op: O) -> Box<dyn InferenceOp> {
    expand(Typed(Box::new(op)))
}

#[derive(Clone, Debug)]
struct Typed(Box<dyn TypedOp>);

impl Expansion for Typed {
    fn name(&self) -> StaticName {
        self.0.name()
    }

    // Our quantisers decide for themselves whether they may be folded.
    fn runs_out_of_plan(&self) -> bool {
        false
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0.clone(), inputs)
    }
}

/// `ResizeNearestNeighbor` on NCHW, as our [`NearestResize`]: TensorFlow's
/// index rule `floor(x · in / out)` (neither `align_corners` nor
/// `half_pixel_centers`, which agree with it for whole-number upscales) is
/// the asymmetric/floor one for whole-number factors, the only ones accepted.
#[derive(Clone, Debug)]
struct ResizeNearest {
    size: [usize; 2],
    align_corners: bool,
    node: String,
}

impl Expansion for ResizeNearest {
    fn name(&self) -> StaticName {
        "ResizeNearestNeighbor".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 4)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], &inputs[0].shape[1])?;
        s.equals(&outputs[0].shape[2], self.size[0].to_dim())?;
        s.equals(&outputs[0].shape[3], self.size[1].to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let shape = model
            .outlet_fact(inputs[0])?
            .shape
            .as_concrete()
            .with_context(|| format!("{}: the input shape must be known", self.node))?
            .to_vec();
        let mut scales = tvec![1f32, 1.0];
        for (len_in, len_out) in [(shape[2], self.size[0]), (shape[3], self.size[1])] {
            ensure!(
                len_in > 0 && len_out % len_in == 0,
                "{}: resizing {len_in} to {len_out} pixels; only whole-number upscales are supported",
                self.node
            );
            ensure!(
                !self.align_corners || len_in == len_out,
                "{}: align_corners = true is not supported",
                self.node
            );
            scales.push((len_out / len_in) as f32);
        }
        let mut output_shape: TVec<usize> = shape[..2].into();
        output_shape.extend(self.size);
        let op = NearestResize {
            coord: CoordTransformer::Asymmetric,
            nearest: NearestMode::Floor,
            scale_bits: scales.iter().map(|s| s.to_bits()).collect(),
            output_shape,
        };
        model.wire_node(prefix, op, inputs)
    }
}
