//! ONNX files → tract inference graphs.
//!
//! Two loaders implement [`OnnxLoader`]:
//! * [`LeanOnnx`] decodes the protobuf itself ([`proto`]) and parses only the
//!   operators registered with it: those of LmSinglePose-style networks
//!   (`ops::lean_onnx`) and the QONNX quantisers. It does not link tract-onnx:
//!   tract-onnx depends on tract-nnef, which registers (through `inventory`, at
//!   start-up, so the linker keeps it) a transform that reaches every tract-core
//!   operator and rustfft, about 1.7 MB of the x86 binary. The board binaries
//!   (`boards/dist.sh`, built without the `all-onnx-ops` feature) use it.
//! * `tract_onnx::Onnx` (feature `all-onnx-ops`, on by default): every ONNX
//!   operator tract knows, plus ours (`ops::tract_onnx`).
//!
//! `tests/integration/lean_onnx.rs` checks that both give bit-identical results on the
//! shipped models and the test fixtures.

mod arity;
pub mod check;
pub mod node;
pub mod proto;
pub mod tensor;

use anyhow::{Context, Result};
use prost::Message;
use proto::{data_type as dt, ModelProto, NodeProto, ValueInfoProto};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use tract_hir::internal::*;

/// Something that turns an ONNX file into tract's inference graph.
pub trait OnnxLoader {
    /// The operator types of the model at `path` this loader cannot parse,
    /// sorted, once each.
    fn unsupported_ops(&self, path: &Path) -> Result<Vec<String>>;

    /// The inference graph of the model at `path` (inputs and outputs as the
    /// file declares them), or an error naming the file — and, if the model
    /// uses operators this loader lacks, all of them.
    fn load(&self, path: &Path) -> Result<InferenceModel>;
}

/// The error for a model with operators a loader cannot parse.
fn missing_ops_error(path: &Path, missing: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "model {} uses ONNX operator(s) {} that this build of lm cannot parse{}",
        path.display(),
        missing.join(", "),
        if cfg!(feature = "all-onnx-ops") {
            ""
        } else {
            " (it is built for LmSinglePose-style networks only: rebuild with the \
             `all-onnx-ops` feature for other models)"
        }
    )
}

/// The operator types that `known` rejects, sorted, once each.
fn unknown_op_types<'a>(
    op_types: impl Iterator<Item = &'a String>,
    known: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut missing: Vec<String> = op_types.filter(|op| !known(op)).cloned().collect();
    missing.sort();
    missing.dedup();
    missing
}

/// What a parser may need besides its node.
#[derive(Clone, Debug)]
pub struct ParseContext {
    /// The model's version of the default (`ai.onnx`) operator set.
    pub opset: i64,
}

/// Builds the inference op of one node (its inputs are wired by the loader).
pub type Parser = fn(&ParseContext, &NodeProto) -> TractResult<Box<dyn InferenceOp>>;

/// The lean ONNX loader: our protobuf decoding and graph wiring, and a registry
/// of parsers by operator type (the node's domain is not looked at, as in
/// tract-onnx).
#[derive(Clone, Default)]
pub struct LeanOnnx {
    parsers: HashMap<&'static str, Parser>,
}

impl LeanOnnx {
    pub fn insert(&mut self, op_type: &'static str, parser: Parser) {
        self.parsers.insert(op_type, parser);
    }

    /// Reads and decodes an ONNX file. The file is memory-mapped and the
    /// initializers' `raw_data` are slices of the mapping, not heap copies: the
    /// weights are read from the page cache straight into their tensors, and
    /// the mapping goes away with the last initializer.
    pub fn read_proto(path: &Path) -> Result<ModelProto> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        // Safety: the mapping is read-only; like any reader of a file, we assume that
        // nobody truncates or rewrites the model while it is being loaded.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .with_context(|| format!("cannot map {}", path.display()))?;
        ModelProto::decode(bytes::Bytes::from_owner(map)).with_context(|| {
            format!(
                "{} is not an ONNX model (protobuf decoding failed)",
                path.display()
            )
        })
    }

    fn missing(&self, proto: &ModelProto) -> Vec<String> {
        let op_types = proto.graph.iter().flat_map(|g| &g.node).map(|n| &n.op_type);
        unknown_op_types(op_types, |op| self.parsers.contains_key(op))
    }

    /// Wires the graph of a decoded model. Initializers are moved out of
    /// `proto` one at a time, so that the weights are never held twice over.
    pub fn parse(&self, mut proto: ModelProto) -> TractResult<InferenceModel> {
        let opset = proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .context("the model imports no ai.onnx operator set")?;
        let ctx = ParseContext { opset };
        let mut graph = proto.graph.take().context("the model has no graph")?;
        check::check_graph(&graph)?;
        ensure!(
            graph.sparse_initializer.is_empty(),
            "sparse initializers are not supported by this build"
        );
        let mut model = InferenceModel::default();
        let mut outlets: HashMap<String, OutletId> = HashMap::new();

        for init in std::mem::take(&mut graph.initializer) {
            let t = tensor::to_tensor(&init)?;
            let id = model.add_const(init.name.clone(), t)?;
            outlets.insert(init.name, id);
        }
        for input in &graph.input {
            // Before IR version 4 initializers are listed among the inputs too.
            if outlets.contains_key(&input.name) {
                continue;
            }
            let fact = input_fact(&mut model, input)?;
            let id = model.add_source(input.name.clone(), fact)?;
            outlets.insert(input.name.clone(), id);
        }

        let mut names: HashSet<String> = model.nodes().iter().map(|n| n.name.clone()).collect();
        for (ix, node) in graph.node.iter().enumerate() {
            let parser = self
                .parsers
                .get(node.op_type.as_str())
                .with_context(|| format!("no parser for {}", node.describe()))?;
            let op = parser(&ctx, node).with_context(|| format!("parsing {}", node.describe()))?;
            let name = if node.name.is_empty() || names.contains(&node.name) {
                format!("{}_{ix}", node.op_type)
            } else {
                node.name.clone()
            };
            names.insert(name.clone());
            let facts = tvec!(InferenceFact::default(); node.output.len());
            let id = model.add_node(name, op, facts)?;
            for (slot, input) in node.present_inputs().enumerate() {
                let from = outlets.get(input).with_context(|| {
                    format!(
                        "{}: input {input:?} is neither a graph input, an initializer nor \
                         the output of an earlier node",
                        node.describe()
                    )
                })?;
                model.add_edge(*from, InletId::new(id, slot))?;
            }
            for (slot, output) in node.output.iter().enumerate() {
                if output.is_empty() {
                    continue;
                }
                let outlet = OutletId::new(id, slot);
                model.set_outlet_label(outlet, output.clone())?;
                outlets.insert(output.clone(), outlet);
            }
        }

        let outputs = graph
            .output
            .iter()
            .map(|o| {
                outlets
                    .get(&o.name)
                    .copied()
                    .with_context(|| format!("graph output {:?} is produced by no node", o.name))
            })
            .collect::<TractResult<Vec<_>>>()?;
        model.select_output_outlets(&outputs)?;
        Ok(model)
    }
}

/// A graph input's declared element type and shape (`dim_param`s become symbols).
fn input_fact(model: &mut InferenceModel, input: &ValueInfoProto) -> TractResult<InferenceFact> {
    let Some(tensor_type) = input.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()) else {
        return Ok(InferenceFact::default());
    };
    let mut fact = InferenceFact::default();
    if tensor_type.elem_type != 0 {
        fact = fact.with_datum_type(datum_type(tensor_type.elem_type).with_context(|| {
            format!(
                "graph input {:?}: element type {} is not supported by this build",
                input.name, tensor_type.elem_type
            )
        })?);
    }
    if let Some(shape) = &tensor_type.shape {
        let dims: TVec<DimFact> = shape
            .dim
            .iter()
            .map(|d| match (d.dim_value, &d.dim_param) {
                (Some(v), _) if v > 0 => DimFact::from(v.to_dim()),
                (_, Some(p)) if !p.is_empty() => DimFact::from(TDim::Sym(model.symbols.sym(p))),
                _ => DimFact::default(),
            })
            .collect();
        fact = fact.with_shape(ShapeFactoid::closed(dims));
    }
    Ok(fact)
}

/// tract's datum type for an ONNX `TensorProto.DataType`.
fn datum_type(t: i32) -> Option<DatumType> {
    Some(match t {
        dt::FLOAT => DatumType::F32,
        dt::DOUBLE => DatumType::F64,
        dt::FLOAT16 => DatumType::F16,
        dt::INT64 => DatumType::I64,
        dt::INT32 => DatumType::I32,
        dt::INT16 => DatumType::I16,
        dt::INT8 => DatumType::I8,
        dt::UINT64 => DatumType::U64,
        dt::UINT32 => DatumType::U32,
        dt::UINT16 => DatumType::U16,
        dt::UINT8 => DatumType::U8,
        dt::BOOL => DatumType::Bool,
        _ => return None,
    })
}

impl OnnxLoader for LeanOnnx {
    fn unsupported_ops(&self, path: &Path) -> Result<Vec<String>> {
        Ok(self.missing(&Self::read_proto(path)?))
    }

    fn load(&self, path: &Path) -> Result<InferenceModel> {
        let proto = Self::read_proto(path)?;
        let missing = self.missing(&proto);
        if !missing.is_empty() {
            return Err(missing_ops_error(path, &missing));
        }
        self.parse(proto)
            .with_context(|| format!("cannot load model {}", path.display()))
    }
}

/// tract-onnx's registry lacks these operator types of `proto`.
#[cfg(feature = "all-onnx-ops")]
fn tract_missing(onnx: &tract_onnx::Onnx, proto: &tract_onnx::pb::ModelProto) -> Vec<String> {
    let op_types = proto.graph.iter().flat_map(|g| &g.node).map(|n| &n.op_type);
    unknown_op_types(op_types, |op| onnx.op_register.0.contains_key(op))
}

#[cfg(feature = "all-onnx-ops")]
impl OnnxLoader for tract_onnx::Onnx {
    fn unsupported_ops(&self, path: &Path) -> Result<Vec<String>> {
        use tract_onnx::prelude::Framework;
        let proto = self
            .proto_model_for_path(path)
            .with_context(|| format!("cannot load model {}", path.display()))?;
        Ok(tract_missing(self, &proto))
    }

    fn load(&self, path: &Path) -> Result<InferenceModel> {
        use tract_onnx::prelude::Framework;
        let proto = self
            .proto_model_for_path(path)
            .with_context(|| format!("cannot load model {}", path.display()))?;
        let missing = tract_missing(self, &proto);
        if !missing.is_empty() {
            return Err(missing_ops_error(path, &missing));
        }
        if let Some(graph) = &proto.graph {
            check::check_tract_graph(graph)
                .with_context(|| format!("cannot load model {}", path.display()))?;
        }
        let parsed = self
            .parse(&proto, path.parent().and_then(Path::to_str))
            .with_context(|| format!("cannot load model {}", path.display()))?;
        ensure!(
            parsed.unresolved_inputs.is_empty(),
            "model {}: unresolved inputs {:?}",
            path.display(),
            parsed.unresolved_inputs
        );
        Ok(parsed.model)
    }
}
