//! Blueoil GraphDef → QONNX file (`lm convert`).
//!
//! Writes the model that [`super::graph`] builds in memory as an ONNX file in
//! the contract of `training/README.md` (the training export's form): opset 13
//! plus `qonnx.custom_op.general` v1, IR version 8, NHWC input and output with
//! one `Transpose` at each end, NCHW inside, OIHW kernels, the binary weight
//! quantiser as `BipolarQuant(sign(W), alpha)` (`alpha` `[C_out,1,1,1]`, or a
//! scalar for layer-wise scaling) and the activation quantiser as
//! `Quant(x, max/(2^bit−1), 0, bit)` with `signed=0, narrow=0` and
//! `rounding_mode` `HALF_UP` (or `ROUND` for Blueoil's pre-v0.11 body). So the
//! file goes through the qonnx/FINN tools and back into lm, which fuses it
//! onto the kernels and the FPGA as it fuses an exported model.
//!
//! Names are TensorFlow's: every ONNX tensor that stands for a TF tensor is
//! named after its node (the graph input `images_placeholder`, the output
//! `output`), so meta.yaml's `MODEL.input`/`MODEL.output` and the per-op
//! `.npy` files of `inference_test_data/` name the same tensors in both files.
//!
//! The layout rules are [`super::graph`]'s (rank-4 tensors NCHW inside,
//! others in TF's layout); the shapes (for TF's SAME padding and the resize
//! scales) come from tract's analysis of the imported graph, so a file is only
//! written for a graph that lm itself loads.

use super::graph::{self, Library};
use super::node::TensorRef;
use super::proto::{data_type as dt, GraphDef, NodeDef};
use super::quantizer::{binary_scales, Quantizer, Scaling};
use super::tensor;
use crate::onnx::proto::{
    attribute_type as at, data_type as odt, AttributeProto, Dimension, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    ValueInfoProto,
};
use crate::ops::bipolar_quant::BipolarQuant;
use crate::ops::quant::RoundingMode;
use anyhow::Context;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use tract_hir::internal::*;

/// The default operator set and the QONNX domain of the training export.
pub const OPSET: i64 = 13;
pub const QONNX_DOMAIN: &str = "qonnx.custom_op.general";
pub const IR_VERSION: i64 = 8;

const NHWC_TO_NCHW: [i64; 4] = [0, 3, 1, 2];
const NCHW_TO_NHWC: [i64; 4] = [0, 2, 3, 1];
/// TF (NHWC) axis → the axis of the NCHW tensor.
const AXIS_TO_NCHW: [i64; 4] = [0, 2, 3, 1];

/// What a TensorFlow tensor is while the file is written (as in
/// [`super::graph`]).
#[derive(Clone, Debug)]
enum Value {
    /// An ONNX tensor; `nchw`: a rank-4 NHWC tensor held as NCHW.
    Wire { name: String, nchw: bool },
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

/// What was written, for the command's summary.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// ONNX nodes by operator type.
    pub ops: BTreeMap<String, usize>,
    pub initializers: usize,
    /// Graph inputs and outputs: name and (NHWC) shape.
    pub inputs: Vec<(String, Vec<usize>)>,
    pub outputs: Vec<(String, Vec<usize>)>,
}

impl Summary {
    fn of(model: &ModelProto) -> Summary {
        let mut s = Summary::default();
        let Some(g) = &model.graph else { return s };
        for n in &g.node {
            *s.ops.entry(n.op_type.clone()).or_default() += 1;
        }
        s.initializers = g.initializer.len();
        let shape = |v: &ValueInfoProto| -> Vec<usize> {
            v.r#type
                .iter()
                .flat_map(|t| &t.tensor_type)
                .flat_map(|t| &t.shape)
                .flat_map(|s| &s.dim)
                .map(|d| d.dim_value.unwrap_or(0) as usize)
                .collect()
        };
        s.inputs = g.input.iter().map(|v| (v.name.clone(), shape(v))).collect();
        s.outputs = g
            .output
            .iter()
            .map(|v| (v.name.clone(), shape(v)))
            .collect();
        s
    }
}

/// Converts the GraphDef file at `input` and writes the QONNX file `output`.
pub fn convert_file(input: &Path, output: &Path) -> anyhow::Result<Summary> {
    let graph = super::read_graph(input)?;
    let model = convert(&graph, input)?;
    let bytes = prost::Message::encode_to_vec(&model);
    std::fs::write(output, bytes).with_context(|| format!("cannot write {}", output.display()))?;
    Ok(Summary::of(&model))
}

/// The QONNX model of a decoded GraphDef; `path` names it in errors and in the
/// model's doc string.
pub fn convert(graph: &GraphDef, path: &Path) -> anyhow::Result<ModelProto> {
    // The import refuses what lm cannot map (one error listing all of it) and
    // gives every tensor's shape.
    let imported = super::import(graph, path)?;
    let library = Library::new(graph);
    let shapes = tf_shapes(imported).with_context(|| {
        format!(
            "cannot convert TensorFlow graph {}: its shapes are not all known",
            path.display()
        )
    })?;
    let mut conv = Converter {
        library: &library,
        shapes,
        values: HashMap::new(),
        nodes: vec![],
        initializers: vec![],
        names: HashSet::new(),
        wired: HashMap::new(),
        act_params: HashMap::new(),
        inputs: vec![],
        outputs: vec![],
    };
    conv.graph(graph)
        .with_context(|| format!("cannot convert TensorFlow graph {}", path.display()))?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("graph")
        .to_string();
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            },
            OperatorSetIdProto {
                domain: QONNX_DOMAIN.into(),
                version: 1,
            },
        ],
        producer_name: "lm convert".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "Converted by lm convert from the TensorFlow GraphDef {}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ),
        graph: Some(GraphProto {
            node: conv.nodes,
            name,
            initializer: conv.initializers,
            sparse_initializer: vec![],
            input: conv.inputs,
            output: conv.outputs,
        }),
    })
}

/// Every wired TF tensor's concrete shape in TF's (NHWC) layout, by node.
fn tf_shapes(imported: graph::Imported) -> TractResult<HashMap<String, Vec<usize>>> {
    let mut model = imported.model;
    // Facts are solved in place, so the importer's outlets stay valid.
    model.analyse(false)?;
    let mut shapes = HashMap::new();
    for t in &imported.tensors {
        let fact = model.outlet_fact(t.outlet)?;
        let dims = fact
            .shape
            .concretize()
            .with_context(|| format!("{} {:?}: shape unknown", t.op, t.name))?;
        let mut dims: Vec<usize> = dims
            .iter()
            .map(|d| d.to_usize().ok())
            .collect::<Option<_>>()
            .with_context(|| format!("{} {:?}: shape {dims:?} is not concrete", t.op, t.name))?;
        if t.nchw {
            dims = vec![dims[0], dims[2], dims[3], dims[1]];
        }
        shapes.insert(t.name.clone(), dims);
    }
    Ok(shapes)
}

struct Converter<'g> {
    library: &'g Library,
    shapes: HashMap<String, Vec<usize>>,
    values: HashMap<String, Value>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// Tensor names in use (ONNX names each tensor once).
    names: HashSet<String>,
    /// Constants (and binarised kernels) already written, by TF node and form.
    wired: HashMap<(String, &'static str), String>,
    /// The activation quantisers' shared scalars, by (scale bits, bit width).
    act_params: HashMap<(u32, u32), [String; 3]>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: at::INT,
        i,
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: at::INTS,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: at::FLOAT,
        f,
        ..Default::default()
    }
}

fn attr_str(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: at::STRING,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, elem_type: i32, shape: &[usize]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: Some(d as i64),
                            dim_param: None,
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// An ONNX initializer (`raw_data`, little-endian) holding `t`.
fn onnx_tensor(name: &str, t: &Tensor) -> TractResult<TensorProto> {
    let (data_type, raw): (i32, Vec<u8>) = match t.datum_type() {
        DatumType::F32 => (
            odt::FLOAT,
            t.to_plain_array_view::<f32>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DatumType::I64 => (
            odt::INT64,
            t.to_plain_array_view::<i64>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        other => bail!("tensor {name:?}: type {other:?} is not written"),
    };
    Ok(TensorProto {
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type,
        name: name.into(),
        raw_data: raw.into(),
        ..Default::default()
    })
}

/// TensorFlow's SAME padding of one axis: (begin, end), the odd pixel at the end.
fn same_pads(input: usize, k: usize, stride: usize, dilation: usize) -> (i64, i64) {
    let out = input.div_ceil(stride);
    let reach = (k - 1) * dilation + 1;
    let total = ((out.max(1) - 1) * stride + reach).saturating_sub(input) as i64;
    (total / 2, total - total / 2)
}

impl Converter<'_> {
    fn graph(&mut self, graph: &GraphDef) -> TractResult<()> {
        for node in graph::sorted_nodes(graph)? {
            let value = self.node(node)?;
            self.values.insert(node.name.clone(), value);
        }
        for node in graph::output_nodes(graph) {
            let value = self.value(&TensorRef {
                node: &node.name,
                port: 0,
            })?;
            let shape = self.shape_of(&node.name, node)?;
            let name = self.output(&value, &node.name)?;
            self.outputs.push(value_info(&name, odt::FLOAT, &shape));
        }
        ensure!(!self.outputs.is_empty(), "the graph has no output");
        Ok(())
    }

    /// The graph output for TF tensor `name`: a tensor of that name in TF's
    /// layout.
    fn output(&mut self, v: &Value, name: &str) -> TractResult<String> {
        let taken = self.names.contains(name);
        match v {
            Value::Wire { name: t, nchw } if t == name && !*nchw => Ok(name.into()),
            Value::Wire {
                name: t,
                nchw: true,
            } if t == name => {
                // The NCHW tensor itself carries the name: it becomes `NAME.nchw`.
                let inner = self.fresh(&format!("{name}.nchw"));
                self.rename(name, &inner);
                self.names.remove(name);
                self.emit_named("Transpose", "", name, &[&inner], vec![perm(NCHW_TO_NHWC)])
            }
            _ if taken => bail!("graph output {name:?} collides with another tensor's name"),
            Value::Wire {
                name: t,
                nchw: true,
            } => {
                let t = t.clone();
                self.emit_named("Transpose", "", name, &[&t], vec![perm(NCHW_TO_NHWC)])
            }
            other => {
                let t = self.plain(other, &format!("{name}.value"))?;
                self.emit_named("Identity", "", name, &[&t], vec![])
            }
        }
    }

    fn rename(&mut self, from: &str, to: &str) {
        for n in &mut self.nodes {
            if n.name == from {
                n.name = to.into();
            }
            for t in n.input.iter_mut().chain(n.output.iter_mut()) {
                if t == from {
                    *t = to.into();
                }
            }
        }
    }

    /// `base`, or `base_1`, `base_2`... if taken.
    fn fresh(&self, base: &str) -> String {
        if !self.names.contains(base) {
            return base.into();
        }
        (1..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !self.names.contains(n))
            .expect("an unused name")
    }

    /// Adds a node whose output (and node name) is `output`, made unique.
    fn emit_named(
        &mut self,
        op_type: &str,
        domain: &str,
        output: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> TractResult<String> {
        let output = self.fresh(output);
        self.names.insert(output.clone());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name: output.clone(),
            op_type: op_type.into(),
            domain: domain.into(),
            attribute,
        });
        Ok(output)
    }

    fn initializer(&mut self, name: &str, t: &Tensor) -> TractResult<String> {
        let name = self.fresh(name);
        self.names.insert(name.clone());
        self.initializers.push(onnx_tensor(&name, t)?);
        Ok(name)
    }

    fn value(&self, r: &TensorRef) -> TractResult<Value> {
        ensure!(
            r.port == 0,
            "output {} of node {:?} is used, but only output 0 is supported",
            r.port,
            r.node
        );
        self.values
            .get(r.node)
            .cloned()
            .with_context(|| format!("tensor {:?} is not available", r.node))
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

    /// The TF (NHWC) shape of input `ix` of `node` (a wired tensor).
    fn input_shape(&self, node: &NodeDef, ix: usize) -> TractResult<Vec<usize>> {
        let r = node
            .data_inputs()
            .nth(ix)
            .with_context(|| format!("{}: no input {ix}", node.describe()))?;
        self.shape_of(r.node, node)
    }

    fn shape_of(&self, tensor: &str, user: &NodeDef) -> TractResult<Vec<usize>> {
        self.shapes
            .get(tensor)
            .cloned()
            .with_context(|| format!("{}: the shape of {tensor:?} is not known", user.describe()))
    }

    /// A constant written once per form (`plain`, `oihw`, `nchw`, ...).
    fn wired_const(
        &mut self,
        node: &str,
        form: &'static str,
        make: impl FnOnce(&mut Self) -> TractResult<String>,
    ) -> TractResult<String> {
        if let Some(n) = self.wired.get(&(node.to_string(), form)) {
            return Ok(n.clone());
        }
        let n = make(self)?;
        self.wired.insert((node.to_string(), form), n.clone());
        Ok(n)
    }

    /// The value as a tensor in TF's layout.
    fn plain(&mut self, v: &Value, name: &str) -> TractResult<String> {
        match v {
            Value::Wire { name, nchw: false } => Ok(name.clone()),
            Value::Wire {
                name: t,
                nchw: true,
            } => {
                let t = t.clone();
                self.emit_named("Transpose", "", name, &[&t], vec![perm(NCHW_TO_NHWC)])
            }
            Value::Const { node, tensor } => {
                let tensor = tensor.clone();
                self.wired_const(node, "plain", |c| {
                    c.initializer(node, &f32_or_i64(&tensor)?)
                })
            }
            Value::BinaryKernel {
                node,
                kernel,
                scales,
                ..
            } => {
                // HWIO: the scales broadcast on the last (output channel) axis.
                let (kernel, scales) = (kernel.clone(), scales.clone());
                self.wired_const(node, "plain", |c| {
                    let scale = if scales.len() == 1 {
                        tensor0(scales[0])
                    } else {
                        tensor1(&scales)
                    };
                    c.bipolar(node, &kernel, scale)
                })
            }
        }
    }

    /// `BipolarQuant(sign(W), scale)` named `node`: the kernel stored as ±1
    /// (the training export's form; BipolarQuant(sign W, α) = BipolarQuant(W, α)).
    fn bipolar(&mut self, node: &str, kernel: &Tensor, scale: Tensor) -> TractResult<String> {
        let signs = kernel
            .to_plain_array_view::<f32>()?
            .mapv(BipolarQuant::sign)
            .into_tensor();
        let w = self.initializer(&format!("{node}/W"), &signs)?;
        let alpha = self.initializer(&format!("{node}/alpha"), &scale)?;
        self.emit_named("BipolarQuant", QONNX_DOMAIN, node, &[&w, &alpha], vec![])
    }

    /// The value as an NCHW tensor (it must be rank 4 in TF).
    fn nchw(&mut self, v: &Value, name: &str, user: &NodeDef) -> TractResult<String> {
        match v {
            Value::Wire { name, nchw: true } => Ok(name.clone()),
            Value::Wire {
                name: t,
                nchw: false,
            } => {
                let t = t.clone();
                self.emit_named("Transpose", "", name, &[&t], vec![perm(NHWC_TO_NCHW)])
            }
            Value::Const { node, tensor } => {
                ensure!(
                    tensor.rank() == 4,
                    "{}: input {node:?} is a constant of shape {:?}, not an NHWC image",
                    user.describe(),
                    tensor.shape()
                );
                let t = f32_or_i64(tensor)?.permute_axes(&[0, 3, 1, 2])?;
                self.wired_const(node, "nchw", |c| c.initializer(&format!("{node}.nchw"), &t))
            }
            Value::BinaryKernel { node, .. } => bail!(
                "{}: input {node:?} is a quantised kernel, not an NHWC image",
                user.describe()
            ),
        }
    }

    /// An element-wise op's input, in whichever layout it is.
    fn same_layout(&mut self, v: &Value, name: &str) -> TractResult<(String, bool)> {
        Ok(match v {
            Value::Wire { name, nchw } => (name.clone(), *nchw),
            other => (self.plain(other, name)?, false),
        })
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
        let nchw = |name| Value::Wire { name, nchw: true };
        Ok(match op {
            "Const" => {
                let t = node.required("value", node.attr_tensor("value"))?;
                Value::Const {
                    node: name,
                    tensor: tensor::to_tensor(t, &node.describe())?.into_arc_tensor(),
                }
            }
            "Identity" => self.inputs(node, 1)?.remove(0),
            "Placeholder" => self.placeholder(node)?,
            "Conv2D" => nchw(self.conv2d(node)?),
            "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => {
                nchw(self.batch_norm(node)?)
            }
            "BiasAdd" => self.bias_add(node)?,
            "Relu" => {
                let x = self.inputs(node, 1)?.remove(0);
                let (x, nchw) = self.same_layout(&x, &format!("{name}.input"))?;
                let name = self.emit_named("Relu", "", &name, &[&x], vec![])?;
                Value::Wire { name, nchw }
            }
            "SpaceToDepth" => {
                let block = node.required("block_size", node.attr_i64("block_size"))?;
                let x = self.inputs(node, 1)?.remove(0);
                let x = self.nchw(&x, &format!("{name}.nchw"), node)?;
                let attrs = vec![attr_int("blocksize", block)];
                nchw(self.emit_named("SpaceToDepth", "", &name, &[&x], attrs)?)
            }
            "ResizeNearestNeighbor" => nchw(self.resize(node)?),
            "ConcatV2" => self.concat(node)?,
            "AvgPool" | "MaxPool" => nchw(self.pool(node)?),
            "Reshape" => {
                let inputs = self.inputs(node, 2)?;
                let shape = self.konst_param(&inputs[1], node, "the shape")?;
                let shape = shape.cast_to::<i64>()?.into_owned();
                let x = self.plain(&inputs[0], &format!("{name}.nhwc"))?;
                let shape = self.initializer(&format!("{name}/shape"), &shape)?;
                let name = self.emit_named("Reshape", "", &name, &[&x, &shape], vec![])?;
                Value::Wire { name, nchw: false }
            }
            "Softmax" => {
                let x = self.inputs(node, 1)?.remove(0);
                let (x, nchw) = self.same_layout(&x, &format!("{name}.input"))?;
                // TF: the last axis, the channels of an NHWC tensor.
                let axis = attr_int("axis", if nchw { 1 } else { -1 });
                let name = self.emit_named("Softmax", "", &name, &[&x], vec![axis])?;
                Value::Wire { name, nchw }
            }
            other => bail!("{}: operator {other} is not supported", node.describe()),
        })
    }

    fn placeholder(&mut self, node: &NodeDef) -> TractResult<Value> {
        let elem_type = match node.attr_type("dtype")?.unwrap_or(dt::FLOAT) {
            dt::FLOAT => odt::FLOAT,
            dt::UINT8 => odt::UINT8,
            dt::INT32 => odt::INT32,
            other => bail!(
                "{}: input of type {} is not supported",
                node.describe(),
                dt::name(other)
            ),
        };
        let shape = self.shape_of(&node.name, node)?;
        ensure!(
            !self.names.contains(&node.name),
            "{}: the name is taken",
            node.describe()
        );
        self.names.insert(node.name.clone());
        self.inputs.push(value_info(&node.name, elem_type, &shape));
        if shape.len() == 4 {
            let name = self.emit_named(
                "Transpose",
                "",
                &format!("{}.nchw", node.name),
                &[&node.name],
                vec![perm(NHWC_TO_NCHW)],
            )?;
            Ok(Value::Wire { name, nchw: true })
        } else {
            Ok(Value::Wire {
                name: node.name.clone(),
                nchw: false,
            })
        }
    }

    fn quantizer(&mut self, node: &NodeDef, q: Quantizer) -> TractResult<Value> {
        match q {
            Quantizer::BinaryMeanScaling { scaling, .. } => {
                // The import has checked the kernel (constant, finite, scales > 0)
                // and warned about exact zeros.
                let x = self.inputs(node, 1)?.remove(0);
                let kernel = self.konst_param(&x, node, "the quantised weights")?;
                let kernel = kernel.cast_to::<f32>()?.into_owned().into_arc_tensor();
                let scales = binary_scales(&kernel, scaling, &node.describe())?;
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
                let bit = bit.cast_to_scalar::<i64>()?;
                let max = max.cast_to_scalar::<f32>()?;
                ensure!(
                    (1..=16).contains(&bit),
                    "{}: bit width {bit} is not in 1..=16",
                    node.describe()
                );
                // The importer's scale, to the bit.
                let scale = max / ((1u32 << bit) - 1) as f32;
                let [s, z, b] = self.act_params(scale, bit as u32)?;
                let (x, nchw) = self.same_layout(&inputs[0], &format!("{}.input", node.name))?;
                let mode = match rounding {
                    RoundingMode::Round => "ROUND",
                    RoundingMode::HalfUp => "HALF_UP",
                    other => bail!("{}: rounding {other:?} is not written", node.describe()),
                };
                let attrs = vec![
                    attr_int("signed", 0),
                    attr_int("narrow", 0),
                    attr_str("rounding_mode", mode),
                ];
                let name =
                    self.emit_named("Quant", QONNX_DOMAIN, &node.name, &[&x, &s, &z, &b], attrs)?;
                Ok(Value::Wire { name, nchw })
            }
        }
    }

    /// The shared scalar initialisers of the activation quantisers with this
    /// scale and bit width (`act_scale`, `act_zeropt`, `act_bitwidth`, as the
    /// training export names them; `_1`... for further pairs).
    fn act_params(&mut self, scale: f32, bits: u32) -> TractResult<[String; 3]> {
        if let Some(p) = self.act_params.get(&(scale.to_bits(), bits)) {
            return Ok(p.clone());
        }
        let p = [
            self.initializer("act_scale", &tensor0(scale))?,
            self.initializer("act_zeropt", &tensor0(0f32))?,
            self.initializer("act_bitwidth", &tensor0(bits as f32))?,
        ];
        self.act_params.insert((scale.to_bits(), bits), p.clone());
        Ok(p)
    }

    /// A conv's kernel as an OIHW tensor (binarised if quantised).
    fn kernel(&mut self, v: &Value, node: &NodeDef) -> TractResult<(String, [usize; 2])> {
        let (kernel, name) = match v {
            Value::Const { node, tensor } => (tensor.clone(), node.clone()),
            Value::BinaryKernel { node, kernel, .. } => (kernel.clone(), node.clone()),
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
        let outlet = match v {
            Value::BinaryKernel {
                scales, scaling, ..
            } => {
                let scale = match scaling {
                    Scaling::ChannelWise => tensor1(scales).into_shape(&[c_out, 1, 1, 1])?,
                    Scaling::LayerWise => tensor0(scales[0]),
                };
                self.wired_const(&name, "oihw", |c| c.bipolar(&name, &oihw, scale))?
            }
            _ => self.wired_const(&name, "oihw", |c| c.initializer(&name, &oihw))?,
        };
        Ok((outlet, hw))
    }

    /// ONNX `pads` (begins, then ends) of a SAME/VALID window op on `input`
    /// (NHWC).
    fn pads(
        node: &NodeDef,
        input: &[usize],
        window: [usize; 2],
        strides: [usize; 2],
        dilations: [usize; 2],
    ) -> TractResult<Vec<i64>> {
        ensure!(
            input.len() == 4,
            "{}: input of shape {input:?} is not NHWC",
            node.describe()
        );
        Ok(match node.required("padding", node.attr_str("padding"))? {
            "VALID" => vec![0; 4],
            "SAME" => {
                let (top, bottom) = same_pads(input[1], window[0], strides[0], dilations[0]);
                let (left, right) = same_pads(input[2], window[1], strides[1], dilations[1]);
                vec![top, left, bottom, right]
            }
            other => bail!(
                "{}: attribute `padding` = {other:?}; only SAME and VALID are supported",
                node.describe()
            ),
        })
    }

    fn conv2d(&mut self, node: &NodeDef) -> TractResult<String> {
        let inputs = self.inputs(node, 2)?;
        let name = node.name.clone();
        let x = self.nchw(&inputs[0], &format!("{name}.nchw"), node)?;
        let (w, hw) = self.kernel(&inputs[1], node)?;
        let strides = node.attr_hw("strides")?.unwrap_or([1, 1]);
        let dilations = node.attr_hw("dilations")?.unwrap_or([1, 1]);
        let pads = Self::pads(node, &self.input_shape(node, 0)?, hw, strides, dilations)?;
        let ints = |v: [usize; 2]| [v[0] as i64, v[1] as i64];
        let attrs = vec![
            attr_ints("kernel_shape", &ints(hw)),
            attr_ints("pads", &pads),
            attr_ints("strides", &ints(strides)),
            attr_ints("dilations", &ints(dilations)),
            attr_int("group", 1),
        ];
        self.emit_named("Conv", "", &name, &[&x, &w], attrs)
    }

    fn batch_norm(&mut self, node: &NodeDef) -> TractResult<String> {
        let epsilon = node.attr_f32("epsilon")?.unwrap_or(1e-4);
        let inputs = self.inputs(node, 5)?;
        let name = node.name.clone();
        let x = self.nchw(&inputs[0], &format!("{name}.nchw"), node)?;
        let mut wires = vec![x];
        for (ix, what) in [(1, "scale"), (2, "offset"), (3, "mean"), (4, "variance")] {
            let Value::Const { node: c, tensor } = &inputs[ix] else {
                bail!(
                    "{}: {what} must be a constant (a Const node, through Identities)",
                    node.describe()
                );
            };
            ensure!(
                tensor.rank() == 1,
                "{}: {what} has shape {:?}, expected [C]",
                node.describe(),
                tensor.shape()
            );
            let t = tensor.cast_to::<f32>()?.into_owned();
            wires.push(self.wired_const(c, "plain", |s| s.initializer(c, &t))?);
        }
        let refs: Vec<&str> = wires.iter().map(String::as_str).collect();
        let attrs = vec![attr_float("epsilon", epsilon)];
        self.emit_named("BatchNormalization", "", &name, &refs, attrs)
    }

    fn bias_add(&mut self, node: &NodeDef) -> TractResult<Value> {
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
        let b = self.initializer(&format!("{name}/bias"), &bias)?;
        let name = self.emit_named("Add", "", &name, &[&x, &b], vec![])?;
        Ok(Value::Wire { name, nchw })
    }

    fn resize(&mut self, node: &NodeDef) -> TractResult<String> {
        let inputs = self.inputs(node, 2)?;
        let name = node.name.clone();
        let input = self.input_shape(node, 0)?;
        let output = self.shape_of(&node.name, node)?;
        ensure!(
            input.len() == 4 && output.len() == 4,
            "{}: resizing {input:?} to {output:?}, not NHWC images",
            node.describe()
        );
        let align_corners = node.attr_bool("align_corners")?.unwrap_or(false);
        let mut scales = vec![1f32, 1.0];
        for (len_in, len_out) in [(input[1], output[1]), (input[2], output[2])] {
            ensure!(
                len_in > 0 && len_out % len_in == 0,
                "{}: resizing {len_in} to {len_out} pixels; only whole-number upscales are supported",
                node.describe()
            );
            ensure!(
                !align_corners || len_in == len_out,
                "{}: align_corners = true is not supported",
                node.describe()
            );
            scales.push((len_out / len_in) as f32);
        }
        let x = self.nchw(&inputs[0], &format!("{name}.nchw"), node)?;
        let scales = self.initializer(&format!("{name}/scales"), &tensor1(&scales))?;
        let attrs = vec![
            attr_str("mode", "nearest"),
            attr_str("coordinate_transformation_mode", "asymmetric"),
            attr_str("nearest_mode", "floor"),
        ];
        self.emit_named("Resize", "", &name, &[&x, "", &scales], attrs)
    }

    fn concat(&mut self, node: &NodeDef) -> TractResult<Value> {
        let refs: Vec<TensorRef> = node.data_inputs().collect();
        ensure!(refs.len() >= 2, "{}: no axis input", node.describe());
        let n = refs.len() - 1;
        let values: Vec<Value> = refs
            .iter()
            .map(|r| self.value(r))
            .collect::<TractResult<_>>()?;
        let axis = self
            .konst_param(&values[n], node, "the axis")?
            .cast_to_scalar::<i64>()?;
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
            AXIS_TO_NCHW[a as usize]
        } else {
            axis
        };
        let refs: Vec<&str> = wires.iter().map(String::as_str).collect();
        let name = self.emit_named("Concat", "", &name, &refs, vec![attr_int("axis", axis)])?;
        Ok(Value::Wire {
            name,
            nchw: all_nchw,
        })
    }

    fn pool(&mut self, node: &NodeDef) -> TractResult<String> {
        let x = self.inputs(node, 1)?.remove(0);
        let name = node.name.clone();
        let x = self.nchw(&x, &format!("{name}.nchw"), node)?;
        let ksize = node.required("ksize", node.attr_hw("ksize"))?;
        let strides = node.attr_hw("strides")?.unwrap_or([1, 1]);
        let pads = Self::pads(node, &self.input_shape(node, 0)?, ksize, strides, [1, 1])?;
        let ints = |v: [usize; 2]| [v[0] as i64, v[1] as i64];
        let mut attrs = vec![
            attr_ints("kernel_shape", &ints(ksize)),
            attr_ints("pads", &pads),
            attr_ints("strides", &ints(strides)),
        ];
        let op = if node.op == "MaxPool" {
            "MaxPool"
        } else {
            // TF's average leaves the SAME padding out of the count.
            attrs.push(attr_int("count_include_pad", 0));
            "AveragePool"
        };
        self.emit_named(op, "", &name, &[&x], attrs)
    }
}

fn perm(p: [i64; 4]) -> AttributeProto {
    attr_ints("perm", &p)
}

/// Constants are written as f32 (weights, statistics) or i64 (shapes, axes).
fn f32_or_i64(t: &Tensor) -> TractResult<Tensor> {
    Ok(if t.datum_type().is_float() {
        t.cast_to::<f32>()?.into_owned()
    } else {
        t.cast_to::<i64>()?.into_owned()
    })
}

/// Runs the GraphDef as lm imports it and the ONNX file as lm loads it, float
/// (tract's evaluation of the fake-quant graph), on the same deterministic
/// input in [0, 1]; returns the largest |difference| between their outputs and
/// the largest |output|.
pub fn compare_runs(pb: &Path, onnx: &Path) -> anyhow::Result<(f32, f32)> {
    let run = |model: InferenceModel, what: &Path| -> anyhow::Result<Vec<Vec<f32>>> {
        let fact = model.input_fact(0)?.clone();
        let shape: Vec<usize> = fact
            .shape
            .concretize()
            .and_then(|d| d.iter().map(|d| d.to_usize().ok()).collect())
            .with_context(|| format!("{}: input shape not fixed", what.display()))?;
        let len: usize = shape.iter().product();
        let data: Vec<f32> = (0..len)
            .map(|i| ((i * 7919 + 13) % 256) as f32 / 255.0)
            .collect();
        let input = tract_ndarray::ArrayD::from_shape_vec(tract_ndarray::IxDyn(&shape), data)?
            .into_tensor();
        let mut typed = model
            .into_typed()
            .with_context(|| format!("cannot load {}", what.display()))?;
        crate::passes::fold_weights::fold_weights(&mut typed)?;
        let plan = typed.into_optimized()?.into_runnable()?;
        let out = plan.run(tvec!(input.into()))?;
        out.iter()
            .map(|t| -> anyhow::Result<Vec<f32>> {
                Ok(t.cast_to::<f32>()?
                    .to_plain_array_view::<f32>()?
                    .iter()
                    .copied()
                    .collect())
            })
            .collect()
    };
    let a = run(super::load(pb)?, pb)?;
    let b = run(crate::ops::onnx().load(onnx)?, onnx)?;
    anyhow::ensure!(
        a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.len() == y.len()),
        "{} and {} have different outputs",
        pb.display(),
        onnx.display()
    );
    let (mut diff, mut scale) = (0f32, 0f32);
    for (x, y) in a.iter().zip(&b) {
        for (p, q) in x.iter().zip(y) {
            diff = diff.max((p - q).abs());
            scale = scale.max(p.abs());
        }
    }
    Ok((diff, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_follows_tensorflow() {
        // Stride 1, odd kernels: k/2 on each side.
        assert_eq!(same_pads(20, 3, 1, 1), (1, 1));
        assert_eq!(same_pads(20, 1, 1, 1), (0, 0));
        // Stride 2 on an even size: the odd pixel at the end.
        assert_eq!(same_pads(32, 3, 2, 1), (0, 1));
        assert_eq!(same_pads(33, 3, 2, 1), (1, 1));
        // Dilation widens the window: 3×3 dilated 2 reaches 5.
        assert_eq!(same_pads(16, 3, 1, 2), (2, 2));
        // A 2×2 window, stride 2, even size: no padding.
        assert_eq!(same_pads(16, 2, 2, 1), (0, 0));
    }
}
