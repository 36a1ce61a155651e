//! Folds each `BipolarQuant` of a constant (binarised weights the fusion pass
//! left to tract: every layer on the float backend, unfused layers otherwise)
//! into a constant, one layer at a time.
//!
//! `BipolarQuant` opts out of tract's own constant folding, which would
//! binarise all weights at once and hold both float copies while the model
//! loads (see [`crate::ops::bipolar_quant`]). Here each folded layer's float
//! weights are dropped before the next layer is binarised, unless they are
//! still used elsewhere.

use crate::ops::bipolar_quant::BipolarQuant;
use tract_hir::internal::*;

/// Replaces every `BipolarQuant` whose input is a constant by its value;
/// returns how many were folded.
pub fn fold_weights(model: &mut TypedModel) -> TractResult<usize> {
    // By name: compacting renumbers the nodes.
    let names: Vec<String> = model
        .nodes()
        .iter()
        .filter(|n| n.op_is::<BipolarQuant>())
        .map(|n| n.name.clone())
        .collect();
    let mut folded = 0;
    for name in names {
        let node = model.node_by_name(&name)?;
        let id = node.id;
        let op = node.op_as::<BipolarQuant>().context("BipolarQuant")?;
        let Some(weights) = model.outlet_fact(node.inputs[0])?.konst.clone() else {
            continue;
        };
        let value = op
            .binarize(&weights)
            .with_context(|| format!("folding {name}"))?;
        drop(weights);
        let mut patch = TypedModelPatch::default();
        let konst = patch.add_const(format!("{name}.folded"), value)?;
        patch.shunt_outside(model, OutletId::new(id, 0), konst)?;
        patch.apply(model)?;
        // Drops the float weights this layer no longer needs.
        model.compact()?;
        folded += 1;
    }
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_constant_weights_and_keeps_the_value() {
        let mut model = TypedModel::default();
        let w = tensor1(&[0.5f32, -0.0, -2.0, 0.0]);
        let scale = rctensor0(3.0f32);
        let k = model.add_const("w", w.clone()).unwrap();
        let q = model
            .wire_node(
                "q",
                BipolarQuant {
                    scale: scale.clone(),
                },
                &[k],
            )
            .unwrap();
        model.select_output_outlets(&q).unwrap();
        assert_eq!(fold_weights(&mut model).unwrap(), 1);
        assert!(model.nodes().iter().all(|n| !n.op_is::<BipolarQuant>()));
        let out = model.output_outlets().unwrap()[0];
        let got = model.outlet_fact(out).unwrap().konst.clone().unwrap();
        // sign(-0.0) = +1, like qonnx (`x >= 0`).
        assert_eq!(*got, tensor1(&[3.0f32, 3.0, -3.0, 3.0]));
    }

    #[test]
    fn leaves_computed_inputs_alone() {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([4])).unwrap();
        let q = model
            .wire_node(
                "q",
                BipolarQuant {
                    scale: rctensor0(1.0f32),
                },
                &[x],
            )
            .unwrap();
        model.select_output_outlets(&q).unwrap();
        assert_eq!(fold_weights(&mut model).unwrap(), 0);
        assert!(model.nodes().iter().any(|n| n.op_is::<BipolarQuant>()));
    }
}
