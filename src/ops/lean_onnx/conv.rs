//! ONNX `Conv` (float, optional bias) → tract-hir's `Conv`.

use super::Parsed;
use crate::onnx::{proto::NodeProto, ParseContext};
use tract_hir::internal::*;
use tract_hir::ops::cnn::{Conv, PaddingSpec};

pub fn parse(_ctx: &ParseContext, node: &NodeProto) -> Parsed {
    // A zero stride, dilation, kernel side or group would divide by zero in tract's shape
    // inference (found by fuzz/fuzz_targets/onnx_model.rs): refused here, by name.
    for name in ["kernel_shape", "dilations", "strides"] {
        if let Some(v) = node.attr_usizes(name)? {
            ensure!(
                v.iter().all(|&x| x > 0),
                "{}: attribute `{name}` = {v:?} must be positive",
                node.describe()
            );
        }
    }
    ensure!(
        node.attr_usize("group")? != Some(0),
        "{}: attribute `group` = 0 must be positive",
        node.describe()
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::{attribute_type, AttributeProto};

    fn conv(attr: &str, ints: Vec<i64>) -> NodeProto {
        NodeProto {
            op_type: "Conv".into(),
            name: "c".into(),
            input: vec!["x".into(), "w".into()],
            output: vec!["y".into()],
            attribute: vec![AttributeProto {
                name: attr.into(),
                r#type: if ints.len() == 1 && attr == "group" {
                    attribute_type::INT
                } else {
                    attribute_type::INTS
                },
                i: ints.first().copied().unwrap_or(0),
                ints,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn zero_strides_dilations_kernels_and_groups_are_refused_by_name() {
        let ctx = ParseContext { opset: 13 };
        // The fuzzer's input: strides [4, 0] (tract divided by zero).
        for (attr, ints) in [
            ("strides", vec![4, 0]),
            ("dilations", vec![0, 1]),
            ("kernel_shape", vec![3, 0]),
            ("group", vec![0]),
        ] {
            let e = format!("{:#}", parse(&ctx, &conv(attr, ints)).err().unwrap());
            assert!(e.contains(attr) && e.contains("must be positive"), "{e}");
        }
        assert!(parse(&ctx, &conv("strides", vec![2, 2])).is_ok());
    }
}
