//! Structural checks of an ONNX graph before any loader wires it.
//!
//! tract's inference rules assume a node is valid ONNX: a `Transpose` node
//! without inputs, or with a `perm` that is not a permutation, makes them
//! index out of bounds — a panic (and, with `panic = "abort"`, a crash) instead
//! of an error. Both loaders run these checks first, so such a file is refused
//! with an error naming the node. Found by `fuzz/onnx_model`.

use super::arity::ARITY;
use anyhow::{bail, Result};

/// What the checks read of one node, from either loader's protobuf type.
pub struct NodeView<'a> {
    pub name: &'a str,
    pub op_type: &'a str,
    /// `input.len()`, optional inputs given as `""` included (ONNX counts them).
    pub inputs: usize,
    pub outputs: usize,
    /// The node's attributes that hold ints, by name (`perm`, `strides`, ...).
    pub ints: Vec<(&'a str, &'a [i64])>,
    /// The rank of input 1 (a Conv's weights) where the graph fixes it: an
    /// initializer, directly or through a quantiser or `Identity`.
    pub weight_rank: Option<usize>,
}

impl NodeView<'_> {
    fn ints(&self, name: &str) -> Option<&[i64]> {
        self.ints.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// Operators whose `kernel_shape`, `strides`, `dilations` and `pads` all
/// describe the same spatial axes: tract indexes one by the other's length.
const SPATIAL_OPS: &[&str] = &[
    "AveragePool",
    "Conv",
    "ConvInteger",
    "ConvTranspose",
    "LpPool",
    "MaxPool",
    "QLinearConv",
];

/// The (min, max) inputs and outputs of an ONNX operator, over all its versions.
pub fn arity(op_type: &str) -> Option<((usize, usize), (usize, usize))> {
    ARITY
        .binary_search_by(|(name, ..)| name.cmp(&op_type))
        .ok()
        .map(|ix| {
            let (_, lo_in, hi_in, lo_out, hi_out) = ARITY[ix];
            ((lo_in, hi_in), (lo_out, hi_out))
        })
}

/// Refuses a node with an input or output count ONNX does not allow for its
/// operator type (types ONNX does not define, such as QONNX's, are left to
/// their parsers), or a Transpose whose `perm` is not a permutation. The
/// node's domain is not looked at: both loaders pick a parser by type alone.
pub fn check_node(node: &NodeView) -> Result<()> {
    let describe = || format!("node {:?} ({})", node.name, node.op_type);
    if let Some(((lo_in, hi_in), (lo_out, hi_out))) = arity(node.op_type) {
        if !(lo_in..=hi_in).contains(&node.inputs) {
            bail!(
                "{}: has {} input(s); ONNX {} takes {}",
                describe(),
                node.inputs,
                node.op_type,
                range(lo_in, hi_in)
            );
        }
        if !(lo_out..=hi_out).contains(&node.outputs) {
            bail!(
                "{}: has {} output(s); ONNX {} gives {}",
                describe(),
                node.outputs,
                node.op_type,
                range(lo_out, hi_out)
            );
        }
    }
    if SPATIAL_OPS.contains(&node.op_type) {
        check_spatial(node).map_err(|e| anyhow::anyhow!("{}: {e}", describe()))?;
    }
    if let Some(perm) = node.ints("perm").filter(|_| node.op_type == "Transpose") {
        let mut seen = vec![false; perm.len()];
        for &axis in perm {
            match usize::try_from(axis).ok().filter(|&a| a < perm.len()) {
                Some(a) if !seen[a] => seen[a] = true,
                _ => bail!(
                    "{}: attribute perm {perm:?} is not a permutation of 0..{}",
                    describe(),
                    perm.len()
                ),
            }
        }
    }
    Ok(())
}

/// `kernel_shape`, `strides` and `dilations` name one value per spatial axis,
/// `pads` two; the weights of a Conv have two axes more. fuzz/onnx_model
/// found `strides: [4]` on a 2-D Conv: tract-core's padding code indexed
/// past the end of the strides.
fn check_spatial(node: &NodeView) -> Result<()> {
    let mut axes: Option<(usize, String)> = node
        .weight_rank
        // Input 1 is the weights of these three (QLinearConv's are input 3).
        .filter(|_| matches!(node.op_type, "Conv" | "ConvInteger" | "ConvTranspose"))
        .map(|rank| {
            (
                rank.saturating_sub(2),
                format!("the weights' rank {rank} minus 2"),
            )
        });
    for (name, per_axis) in [
        ("kernel_shape", 1),
        ("strides", 1),
        ("dilations", 1),
        ("pads", 2),
    ] {
        let Some(v) = node.ints(name) else { continue };
        if v.len() % per_axis != 0 {
            bail!(
                "attribute {name} has {} values, not a multiple of {per_axis}",
                v.len()
            );
        }
        let n = v.len() / per_axis;
        match &axes {
            Some((want, from)) if *want != n => {
                bail!("attribute {name} {v:?} is for {n} spatial axes, but {from} gives {want}")
            }
            Some(_) => {}
            None => axes = Some((n, format!("attribute {name}"))),
        }
    }
    Ok(())
}

fn range(lo: usize, hi: usize) -> String {
    match (lo, hi) {
        (lo, hi) if lo == hi => format!("{lo}"),
        (lo, usize::MAX) => format!("at least {lo}"),
        (lo, hi) => format!("{lo} to {hi}"),
    }
}

/// Refuses a graph output that nothing in the graph defines (no graph input,
/// initializer or node output of that name): tract-onnx looks each output up
/// by name with `map[name]` and panicked on one (found by `fuzz/onnx_tract`).
pub fn check_outputs_defined<'a>(
    outputs: impl IntoIterator<Item = &'a str>,
    defined: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let defined: std::collections::HashSet<&str> = defined.into_iter().collect();
    for output in outputs {
        if !defined.contains(output) {
            bail!(
                "graph output {output:?} is not produced by any node, \
                 nor a graph input or initializer"
            );
        }
    }
    Ok(())
}

/// A graph's output names, the names it defines (inputs, initializers, node
/// outputs) and its nodes as [`NodeView`]s. Both loaders' protobuf types name
/// their fields alike, so this one body reads either.
macro_rules! graph_view {
    ($graph:expr) => {{
        let graph = $graph;
        let outputs = graph.output.iter().map(|o| o.name.as_str());
        let defined = graph
            .input
            .iter()
            .map(|i| i.name.as_str())
            .chain(graph.initializer.iter().map(|t| t.name.as_str()))
            .chain(
                graph
                    .node
                    .iter()
                    .flat_map(|n| n.output.iter().map(String::as_str)),
            );
        let ranks = static_ranks(
            graph
                .initializer
                .iter()
                .map(|t| (t.name.as_str(), t.dims.len())),
            graph
                .node
                .iter()
                .map(|n| (n.op_type.as_str(), &n.input[..], &n.output[..])),
        );
        let nodes: Vec<NodeView> = graph
            .node
            .iter()
            .map(|node| NodeView {
                name: &node.name,
                op_type: &node.op_type,
                inputs: node.input.len(),
                outputs: node.output.len(),
                ints: int_attributes(&node.attribute, |a| (&a.name, &a.ints)),
                weight_rank: node
                    .input
                    .get(1)
                    .and_then(|w| ranks.get(w.as_str()).copied()),
            })
            .collect();
        (outputs, defined, nodes)
    }};
}

/// Checks every node of our protobuf's graph, and that its outputs exist.
/// (The lean loader parses no operator with a subgraph, so `If`/`Loop`
/// bodies never get this far.)
pub fn check_graph(graph: &super::proto::GraphProto) -> Result<()> {
    let (outputs, defined, nodes) = graph_view!(graph);
    check_outputs_defined(outputs, defined)?;
    nodes.iter().try_for_each(check_node)
}

/// [`check_graph`] for tract-onnx's protobuf type, subgraphs (`If`, `Loop`,
/// `Scan` bodies) included.
#[cfg(feature = "all-onnx-ops")]
pub fn check_tract_graph(graph: &tract_onnx::pb::GraphProto) -> Result<()> {
    use anyhow::Context;
    let (outputs, defined, nodes) = graph_view!(graph);
    check_outputs_defined(outputs, defined).with_context(|| format!("graph {:?}", graph.name))?;
    for (view, node) in nodes.iter().zip(&graph.node) {
        check_node(view)?;
        for attr in &node.attribute {
            for sub in attr.g.iter().chain(&attr.graphs) {
                check_tract_graph(sub)?;
            }
        }
    }
    Ok(())
}

/// A node's attributes that hold ints, as (name, ints).
fn int_attributes<'a, A>(
    attributes: &'a [A],
    name_and_ints: impl Fn(&'a A) -> (&'a String, &'a Vec<i64>),
) -> Vec<(&'a str, &'a [i64])> {
    attributes
        .iter()
        .map(name_and_ints)
        .filter(|(_, ints)| !ints.is_empty())
        .map(|(name, ints)| (name.as_str(), ints.as_slice()))
        .collect()
}

/// Tensors whose rank the graph fixes without running inference: the
/// initializers, and what a rank-preserving op (the QONNX quantisers,
/// `Identity`) makes of one. Nodes are visited in file order, as ONNX sorts
/// them topologically.
fn static_ranks<'a>(
    initializers: impl Iterator<Item = (&'a str, usize)>,
    nodes: impl Iterator<Item = (&'a str, &'a [String], &'a [String])>,
) -> std::collections::HashMap<&'a str, usize> {
    let mut ranks: std::collections::HashMap<&str, usize> = initializers.collect();
    for (op_type, inputs, outputs) in nodes {
        if matches!(op_type, "Quant" | "IntQuant" | "BipolarQuant" | "Identity") {
            if let (Some(i), Some(o)) = (inputs.first(), outputs.first()) {
                if let Some(&rank) = ranks.get(i.as_str()) {
                    ranks.insert(o.as_str(), rank);
                }
            }
        }
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'a>(op_type: &'a str, inputs: usize, outputs: usize) -> NodeView<'a> {
        NodeView {
            name: "n",
            op_type,
            inputs,
            outputs,
            ints: vec![],
            weight_rank: None,
        }
    }

    #[test]
    fn the_table_is_sorted_so_lookups_find_every_operator() {
        assert!(ARITY.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(arity("Transpose"), Some(((1, 1), (1, 1))));
        assert_eq!(arity("Conv"), Some(((2, 3), (1, 1))));
        assert_eq!(arity("Concat"), Some(((1, usize::MAX), (1, 1))));
        assert_eq!(arity("Quant"), None);
    }

    #[test]
    fn counts_outside_onnx_bounds_are_refused_by_node_and_operator() {
        let err = check_node(&node("Transpose", 0, 1))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "node \"n\" (Transpose): has 0 input(s); ONNX Transpose takes 1"
        );
        let err = check_node(&node("Conv", 4, 1)).unwrap_err().to_string();
        assert!(err.contains("takes 2 to 3"), "{err}");
        let err = check_node(&node("Concat", 0, 1)).unwrap_err().to_string();
        assert!(err.contains("takes at least 1"), "{err}");
        let err = check_node(&node("Relu", 1, 2)).unwrap_err().to_string();
        assert!(err.contains("has 2 output(s); ONNX Relu gives 1"), "{err}");
        check_node(&node("Conv", 2, 1)).unwrap();
        check_node(&node("Concat", 5, 1)).unwrap();
        // Not ONNX's: left to its parser.
        check_node(&node("Quant", 0, 9)).unwrap();
    }

    #[test]
    fn spatial_attributes_must_agree_with_each_other_and_the_weights() {
        let conv = |ints: Vec<(&'static str, &'static [i64])>, weight_rank| NodeView {
            ints,
            weight_rank,
            ..node("Conv", 2, 1)
        };
        // fuzz/onnx_model's input: a 2-D kernel with one stride.
        let err = check_node(&conv(
            vec![("kernel_shape", &[4, 4]), ("strides", &[4])],
            Some(4),
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "node \"n\" (Conv): attribute strides [4] is for 1 spatial axes, \
             but the weights' rank 4 minus 2 gives 2"
        );
        // Without weights of known rank, the attributes still agree with each other.
        let err = check_node(&conv(
            vec![("strides", &[1, 1]), ("pads", &[0, 0, 0])],
            None,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("pads has 3 values, not a multiple of 2"),
            "{err}"
        );
        let err = check_node(&conv(vec![("dilations", &[1, 1]), ("pads", &[1, 1])], None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "attribute pads [1, 1] is for 1 spatial axes, but attribute dilations gives 2"
            ),
            "{err}"
        );
        let pool = NodeView {
            ints: vec![("kernel_shape", &[2, 2]), ("strides", &[2, 2, 2])],
            ..node("MaxPool", 1, 1)
        };
        assert!(check_node(&pool).is_err());
        check_node(&conv(
            vec![
                ("kernel_shape", &[3, 3]),
                ("strides", &[2, 2]),
                ("pads", &[1, 1, 1, 1]),
            ],
            Some(4),
        ))
        .unwrap();
        check_node(&conv(vec![("strides", &[2])], Some(3))).unwrap();
    }

    #[test]
    fn graph_outputs_must_be_defined() {
        check_outputs_defined(["y", "x"], ["x", "w", "y"]).unwrap();
        let err = check_outputs_defined(["y", "z"], ["x", "y"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("graph output \"z\" is not produced"), "{err}");
        // An empty name is not an output either.
        assert!(check_outputs_defined([""], ["x"]).is_err());
    }

    #[test]
    fn transpose_perms_must_be_permutations() {
        let with = |perm: &'static [i64]| NodeView {
            ints: vec![("perm", perm)],
            ..node("Transpose", 1, 1)
        };
        check_node(&with(&[0, 3, 1, 2])).unwrap();
        check_node(&with(&[])).unwrap();
        for bad in [&[0, 0][..], &[0, 2], &[-1, 0], &[1]] {
            let err = check_node(&with(bad)).unwrap_err().to_string();
            assert!(err.contains("is not a permutation"), "{bad:?}: {err}");
        }
    }
}
