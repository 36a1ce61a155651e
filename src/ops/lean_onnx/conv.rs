//! ONNX `Conv` (float, optional bias) → tract-hir's `Conv`.

use super::Parsed;
use crate::onnx::{proto::NodeProto, ParseContext};
use tract_hir::internal::*;
use tract_hir::ops::cnn::{Conv, PaddingSpec};

pub fn parse(_ctx: &ParseContext, node: &NodeProto) -> Parsed {
    let kernel_shape = node.attr_usizes("kernel_shape")?;
    let mut op = Conv::default().padding(padding(node, kernel_shape.as_deref())?);
    if let Some(k) = kernel_shape {
        op = op.kernel_shape(k);
    }
    if let Some(group) = node.attr_usize("group")? {
        op = op.group(group);
    }
    if let Some(d) = node.attr_usizes("dilations")? {
        op = op.dilations(d);
    }
    if let Some(s) = node.attr_usizes("strides")? {
        op = op.strides(s);
    }
    if node.input.len() == 3 && !node.input[2].is_empty() {
        op = op.bias_input(2);
    }
    Ok(expand(op))
}

/// `pads` (begins then ends) win over `auto_pad`; no padding by default.
fn padding(node: &NodeProto, kernel_shape: Option<&[usize]>) -> TractResult<PaddingSpec> {
    if let Some(pads) = node.attr_usizes("pads")? {
        ensure!(
            pads.len() % 2 == 0,
            "{}: odd number of pads",
            node.describe()
        );
        let (begin, end) = pads.split_at(pads.len() / 2);
        return Ok(PaddingSpec::Explicit(begin.into(), end.into()));
    }
    Ok(match node.attr_str("auto_pad")?.unwrap_or("NOTSET") {
        "NOTSET" => match kernel_shape {
            Some(k) => PaddingSpec::Explicit(tvec!(0; k.len()), tvec!(0; k.len())),
            None => PaddingSpec::Valid,
        },
        "VALID" => PaddingSpec::Valid,
        "SAME_UPPER" => PaddingSpec::SameUpper,
        "SAME_LOWER" => PaddingSpec::SameLower,
        other => bail!("{}: unknown auto_pad {other:?}", node.describe()),
    })
}
