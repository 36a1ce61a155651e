//! ONNX `SpaceToDepth` (NCHW): output channel `(by·b + bx)·C + c` takes input
//! `(c, y·b + by, x·b + bx)`; wired as reshape/move axis ops, which the
//! packed-layout pass replays on index tensors.

use super::Parsed;
use crate::onnx::{proto::NodeProto, ParseContext};
use tract_hir::internal::*;

pub fn parse(_ctx: &ParseContext, node: &NodeProto) -> Parsed {
    let block = node
        .attr_usize("blocksize")?
        .with_context(|| format!("{}: no blocksize", node.describe()))?;
    ensure!(block > 0, "{}: blocksize 0", node.describe());
    Ok(expand(SpaceToDepth { block }))
}

#[derive(Debug, Clone)]
pub(crate) struct SpaceToDepth {
    pub(crate) block: usize,
}

impl Expansion for SpaceToDepth {
    fn name(&self) -> StaticName {
        "SpaceToDepth".into()
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
        s.given(&inputs[0].shape, move |s, shape| {
            let b = self.block;
            let out: TVec<TDim> = tvec!(
                shape[0].clone(),
                shape[1].clone() * (b * b),
                shape[2].clone() / b,
                shape[3].clone() / b
            );
            s.equals(&outputs[0].shape, ShapeFactoid::from(out))
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let shape = model.outlet_fact(inputs[0])?.shape.to_tvec();
        let b = self.block;
        for (axis, what) in [(2, "height"), (3, "width")] {
            ensure!(
                shape[axis].to_usize()? % b == 0,
                "{prefix}: input {what} {} is not a multiple of blocksize {b}",
                shape[axis]
            );
        }
        let (c, h, w) = (shape[1].clone(), shape[2].clone(), shape[3].clone());
        let bd: TDim = b.into();
        // [N, C, H, W] → [N, C, H/b, b, W/b, b] → [N, b(y), b(x), C, H/b, W/b] → [N, b·b·C, H/b, W/b]
        let ops = [
            AxisOp::Reshape(
                2,
                tvec!(h.clone(), w.clone()),
                tvec!(h / b, bd.clone(), w / b, bd.clone()),
            ),
            AxisOp::Move(3, 1),
            AxisOp::Move(5, 2),
            AxisOp::Reshape(1, tvec!(bd.clone(), bd, c.clone()), tvec!(c * (b * b))),
        ];
        let mut wire = tvec!(inputs[0]);
        for (ix, op) in ops.into_iter().enumerate() {
            wire = model.wire_node(format!("{prefix}.{ix}"), op, &wire)?;
        }
        Ok(wire)
    }
}
