//! TensorFlow frozen GraphDef files (Blueoil's `minimal_graph_with_shape.pb`)
//! → tract inference graphs, the same graphs the ONNX loaders ([`crate::onnx`])
//! give for a QONNX export of the network.
//!
//! * [`proto`]: the GraphDef messages, decoded with prost;
//! * [`node`]: typed attribute access, errors naming node, op and attribute;
//! * [`tensor`]: `TensorProto` → tract `Tensor`;
//! * [`quantizer`]: Blueoil's quantiser functions, recognised by their body;
//! * [`graph`]: the wiring (NHWC → NCHW, quantisers → QONNX ops);
//! * [`convert`]: the same graph written as a QONNX file (`lm convert`).
//!
//! Blueoil's graphs use few ops ([`graph::SUPPORTED_OPS`]); a graph with
//! others, or with library functions that are no known quantiser, is refused
//! with one error listing all of them.

#[cfg(feature = "tensorflow")]
pub mod check;
#[cfg(feature = "tensorflow")]
pub mod convert;
#[cfg(feature = "tensorflow")]
pub mod graph;
#[cfg(feature = "tensorflow")]
pub mod node;
#[cfg(feature = "tensorflow")]
pub mod proto;
#[cfg(feature = "tensorflow")]
pub mod quantizer;
#[cfg(feature = "tensorflow")]
pub mod tensor;

use anyhow::{Context, Result};
#[cfg(feature = "tensorflow")]
use prost::Message;
#[cfg(feature = "tensorflow")]
use proto::GraphDef;
use std::io::Read;
use std::path::Path;
use tract_hir::internal::*;

/// Whether the file at `path` is a TensorFlow GraphDef rather than an ONNX
/// model: by content (a GraphDef starts with a node, field 1 length-delimited,
/// byte 0x0a; an ONNX ModelProto with its `ir_version`, field 1 varint, 0x08),
/// else by the `.pb` extension. (Blueoil's 2018 `onnx_*.pb` files are ONNX.)
pub fn is_graphdef(path: &Path) -> Result<bool> {
    let mut first = [0u8; 1];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut first))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(match (n, first[0]) {
        (1, 0x0a) => true,
        (1, 0x08) => false,
        _ => path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pb")),
    })
}

/// Reads and decodes a GraphDef file (memory-mapped: the weights'
/// `tensor_content` are slices of the mapping, not copies).
#[cfg(feature = "tensorflow")]
pub fn read_graph(path: &Path) -> Result<GraphDef> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Safety: read-only mapping; like any reader, we assume nobody truncates
    // or rewrites the file while it is being loaded.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", path.display()))?;
    let graph = GraphDef::decode(bytes::Bytes::from_owner(map)).with_context(|| {
        format!(
            "{} is not a TensorFlow GraphDef (protobuf decoding failed)",
            path.display()
        )
    })?;
    anyhow::ensure!(
        !graph.node.is_empty(),
        "{} is not a TensorFlow GraphDef (it holds no nodes)",
        path.display()
    );
    Ok(graph)
}

/// Imports a decoded graph; `path` names it in errors.
#[cfg(feature = "tensorflow")]
pub fn import(graph: &GraphDef, path: &Path) -> Result<graph::Imported> {
    let library = graph::Library::new(graph);
    let missing = graph::missing(graph, &library)
        .with_context(|| format!("cannot load TensorFlow graph {}", path.display()))?;
    if !missing.is_empty() {
        anyhow::bail!(
            "TensorFlow graph {} uses operator(s) that lm cannot map: {}",
            path.display(),
            missing.join("; ")
        );
    }
    graph::import(graph, &library)
        .with_context(|| format!("cannot load TensorFlow graph {}", path.display()))
}

/// The inference graph of the GraphDef file at `path`, inputs and outputs in
/// TensorFlow's (NHWC) layout.
#[cfg(feature = "tensorflow")]
pub fn load(path: &Path) -> Result<InferenceModel> {
    Ok(import(&read_graph(path)?, path)?.model)
}

/// Without the `tensorflow` feature (the board binaries of boards/dist.sh) a
/// GraphDef is refused by name: convert it on a desktop build, or build with it.
#[cfg(not(feature = "tensorflow"))]
pub fn load(path: &Path) -> Result<InferenceModel> {
    anyhow::bail!(
        "{} is a TensorFlow GraphDef, and this build of lm has no TensorFlow loader \
         (cargo feature `tensorflow`, left out of the board binaries to keep them under 8 MB)",
        path.display()
    )
}
