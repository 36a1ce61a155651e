//! What a compiled [`Model`] holds: its fused quantised convolutions, its ops.

use super::Model;

impl Model {
    /// Geometry of every fused quantised conv in the compiled plan, in plan
    /// order.
    pub fn qconv_layers(&self) -> Vec<QConvLayer> {
        let model = self.plan.model();
        model
            .nodes()
            .iter()
            .filter_map(|n| {
                let op = n.op_as::<crate::ops::qconv2d::QConv2d>()?;
                // Packed input: u32 [H, W, G, 2].
                let shape = model
                    .outlet_fact(n.inputs[0])
                    .ok()?
                    .shape
                    .as_concrete()?
                    .to_vec();
                Some(QConvLayer {
                    node: n.name.clone(),
                    height: shape[0],
                    width: shape[1],
                    in_channels: op.weights.in_channels(),
                    out_channels: op.weights.out_channels(),
                    kernel: op.weights.kernel(),
                })
            })
            .collect()
    }

    /// How many nodes of each op (by tract op name) the compiled plan has.
    pub fn op_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for n in self.plan.model().nodes() {
            *counts.entry(n.op().name().to_string()).or_insert(0) += 1;
        }
        counts
    }

    /// Number of nodes in the compiled plan.
    pub fn node_count(&self) -> usize {
        self.plan.model().nodes().len()
    }
}

/// Shape of one fused quantised convolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QConvLayer {
    pub node: String,
    pub height: usize,
    pub width: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
}

impl QConvLayer {
    /// 1-bit × 1-bit AND-popcount operations of one run (see
    /// [`crate::kernels::binary_ops`]).
    pub fn binary_ops(&self) -> u64 {
        crate::kernels::binary_ops(
            self.height,
            self.width,
            self.in_channels,
            self.out_channels,
            self.kernel,
        )
    }
}
