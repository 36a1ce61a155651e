//! Typed access to a node's attributes, with errors that name the node.

use super::proto::{attribute_type as at, AttributeProto, NodeProto, TensorProto};
use tract_hir::internal::*;

impl NodeProto {
    /// `Conv "conv1"`: how errors name this node.
    pub fn describe(&self) -> String {
        format!("{} {:?}", self.op_type, self.name)
    }

    fn attr(&self, name: &str, want: i32) -> TractResult<Option<&AttributeProto>> {
        let Some(a) = self.attribute.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        // Files older than IR version 3 leave `type` unset (0).
        ensure!(
            a.r#type == want || a.r#type == 0,
            "{}: attribute `{name}` is {}, expected {}",
            self.describe(),
            at::name(a.r#type),
            at::name(want)
        );
        Ok(Some(a))
    }

    pub fn attr_i64(&self, name: &str) -> TractResult<Option<i64>> {
        Ok(self.attr(name, at::INT)?.map(|a| a.i))
    }

    pub fn attr_f32(&self, name: &str) -> TractResult<Option<f32>> {
        Ok(self.attr(name, at::FLOAT)?.map(|a| a.f))
    }

    pub fn attr_str(&self, name: &str) -> TractResult<Option<&str>> {
        self.attr(name, at::STRING)?
            .map(|a| {
                std::str::from_utf8(&a.s).with_context(|| {
                    format!("{}: attribute `{name}` is not UTF-8", self.describe())
                })
            })
            .transpose()
    }

    pub fn attr_ints(&self, name: &str) -> TractResult<Option<&[i64]>> {
        Ok(self.attr(name, at::INTS)?.map(|a| a.ints.as_slice()))
    }

    pub fn attr_floats(&self, name: &str) -> TractResult<Option<&[f32]>> {
        Ok(self.attr(name, at::FLOATS)?.map(|a| a.floats.as_slice()))
    }

    /// A non-negative integer attribute (sizes, counts, axes that cannot be negative).
    pub fn attr_usize(&self, name: &str) -> TractResult<Option<usize>> {
        self.attr_i64(name)?
            .map(|v| {
                usize::try_from(v).map_err(|_| {
                    format_err!("{}: attribute `{name}` = {v} is negative", self.describe())
                })
            })
            .transpose()
    }

    /// A list of non-negative integers (kernel shapes, strides, pads, permutations).
    pub fn attr_usizes(&self, name: &str) -> TractResult<Option<TVec<usize>>> {
        self.attr_ints(name)?
            .map(|v| {
                v.iter()
                    .map(|&x| {
                        usize::try_from(x).map_err(|_| {
                            format_err!(
                                "{}: attribute `{name}` = {v:?} has a negative value",
                                self.describe()
                            )
                        })
                    })
                    .collect()
            })
            .transpose()
    }

    pub fn attr_tensor(&self, name: &str) -> TractResult<Option<&TensorProto>> {
        self.attr(name, at::TENSOR)?
            .map(|a| {
                a.t.as_ref().with_context(|| {
                    format!("{}: attribute `{name}` holds no tensor", self.describe())
                })
            })
            .transpose()
    }

    /// The names of the inputs that are wired (an empty name marks an omitted optional input).
    pub fn present_inputs(&self) -> impl Iterator<Item = &str> {
        self.input
            .iter()
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: "Conv".into(),
            name: "conv7".into(),
            input: vec!["x".into(), String::new(), "w".into()],
            attribute,
            ..Default::default()
        }
    }

    #[test]
    fn attributes_are_read_by_type_and_misfits_named() {
        let n = node(vec![
            AttributeProto {
                name: "group".into(),
                r#type: at::INT,
                i: 2,
                ..Default::default()
            },
            AttributeProto {
                name: "pads".into(),
                r#type: at::INTS,
                ints: vec![1, -1],
                ..Default::default()
            },
            AttributeProto {
                name: "auto_pad".into(),
                r#type: at::STRING,
                s: b"VALID".to_vec(),
                ..Default::default()
            },
        ]);
        assert_eq!(n.attr_usize("group").unwrap(), Some(2));
        assert_eq!(n.attr_str("auto_pad").unwrap(), Some("VALID"));
        assert_eq!(n.attr_i64("absent").unwrap(), None);
        assert_eq!(n.present_inputs().collect::<Vec<_>>(), ["x", "w"]);
        let msg = format!("{:#}", n.attr_f32("group").unwrap_err());
        assert!(msg.contains("Conv \"conv7\"") && msg.contains("`group` is INT, expected FLOAT"));
        let msg = format!("{:#}", n.attr_usizes("pads").unwrap_err());
        assert!(msg.contains("`pads`") && msg.contains("negative"), "{msg}");
    }
}
