//! Typed access to a NodeDef's attributes and inputs, with errors that name
//! the node, its op and the attribute.

use super::proto::{attr_value::Value, data_type, NodeDef, TensorProto, TensorShapeProto};
use tract_hir::internal::*;

/// One input of a node: which node, which of its outputs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorRef<'a> {
    pub node: &'a str,
    pub port: usize,
}

impl NodeDef {
    /// `Conv2D "conv1/conv2d/Conv2D"`: how errors name this node.
    pub fn describe(&self) -> String {
        format!("{} {:?}", self.op, self.name)
    }

    fn attr(&self, name: &str) -> Option<&Value> {
        self.attr.get(name).and_then(|a| a.value.as_ref())
    }

    fn misfit(&self, name: &str, got: &Value, want: &str) -> TractError {
        format_err!(
            "{}: attribute `{name}` is of kind `{}`, expected {want}",
            self.describe(),
            got.kind()
        )
    }

    /// The attribute, which must be present.
    pub fn required<T>(&self, name: &str, v: TractResult<Option<T>>) -> TractResult<T> {
        v?.with_context(|| format!("{}: attribute `{name}` is missing", self.describe()))
    }

    pub fn attr_i64(&self, name: &str) -> TractResult<Option<i64>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::I(i)) => Ok(Some(*i)),
            Some(v) => Err(self.misfit(name, v, "an int")),
        }
    }

    pub fn attr_f32(&self, name: &str) -> TractResult<Option<f32>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::F(f)) => Ok(Some(*f)),
            Some(v) => Err(self.misfit(name, v, "a float")),
        }
    }

    pub fn attr_bool(&self, name: &str) -> TractResult<Option<bool>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::B(b)) => Ok(Some(*b)),
            Some(v) => Err(self.misfit(name, v, "a bool")),
        }
    }

    pub fn attr_str(&self, name: &str) -> TractResult<Option<&str>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::S(s)) => std::str::from_utf8(s)
                .map(Some)
                .map_err(|_| format_err!("{}: attribute `{name}` is not UTF-8", self.describe())),
            Some(v) => Err(self.misfit(name, v, "a string")),
        }
    }

    /// A `DataType` attribute (`T`, `dtype`).
    pub fn attr_type(&self, name: &str) -> TractResult<Option<i32>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::Type(t)) => Ok(Some(*t)),
            Some(v) => Err(self.misfit(name, v, "a type")),
        }
    }

    pub fn attr_ints(&self, name: &str) -> TractResult<Option<&[i64]>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::List(l)) => Ok(Some(&l.i)),
            Some(v) => Err(self.misfit(name, v, "a list of ints")),
        }
    }

    pub fn attr_tensor(&self, name: &str) -> TractResult<Option<&TensorProto>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::Tensor(t)) => Ok(Some(t)),
            Some(v) => Err(self.misfit(name, v, "a tensor")),
        }
    }

    pub fn attr_shape(&self, name: &str) -> TractResult<Option<&TensorShapeProto>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::Shape(s)) => Ok(Some(s)),
            Some(v) => Err(self.misfit(name, v, "a shape")),
        }
    }

    /// `data_format`, which must be NHWC (the TF default) for the ops we map.
    pub fn require_nhwc(&self) -> TractResult<()> {
        let format = self.attr_str("data_format")?.unwrap_or("NHWC");
        ensure!(
            format == "NHWC",
            "{}: attribute `data_format` is {format:?}; only NHWC is supported",
            self.describe()
        );
        Ok(())
    }

    /// If the node carries a `T`/`dtype` attribute, it must be DT_FLOAT.
    pub fn require_float(&self, name: &str) -> TractResult<()> {
        if let Some(t) = self.attr_type(name)? {
            ensure!(
                t == data_type::FLOAT,
                "{}: attribute `{name}` is {}; only DT_FLOAT is supported",
                self.describe(),
                data_type::name(t)
            );
        }
        Ok(())
    }

    /// The four per-axis values of an NHWC `strides`/`ksize`/`dilations`
    /// attribute as (height, width), checking that batch and channel are 1.
    pub fn attr_hw(&self, name: &str) -> TractResult<Option<[usize; 2]>> {
        let Some(v) = self.attr_ints(name)? else {
            return Ok(None);
        };
        match v {
            [1, h, w, 1] if *h > 0 && *w > 0 => Ok(Some([*h as usize, *w as usize])),
            _ => bail!(
                "{}: attribute `{name}` = {v:?}; expected [1, h, w, 1] with h, w > 0",
                self.describe()
            ),
        }
    }

    /// The data inputs (control dependencies `^x` left out), parsed.
    pub fn data_inputs(&self) -> impl Iterator<Item = TensorRef<'_>> {
        self.input
            .iter()
            .filter(|i| !i.starts_with('^'))
            .map(|i| parse_ref(i))
    }
}

/// `name` → (name, 0), `name:3` → (name, 3).
pub fn parse_ref(s: &str) -> TensorRef<'_> {
    if let Some((node, port)) = s.rsplit_once(':') {
        if let Ok(port) = port.parse() {
            return TensorRef { node, port };
        }
    }
    TensorRef { node: s, port: 0 }
}

#[cfg(test)]
mod tests {
    use super::super::proto::{AttrValue, ListValue};
    use super::*;

    fn attr(v: Value) -> AttrValue {
        AttrValue { value: Some(v) }
    }

    #[test]
    fn attributes_are_read_by_type_and_misfits_named() {
        let mut n = NodeDef {
            name: "conv1/Conv2D".into(),
            op: "Conv2D".into(),
            input: vec!["x".into(), "w/read:0".into(), "^ctl".into(), "y:2".into()],
            ..Default::default()
        };
        n.attr
            .insert("padding".into(), attr(Value::S(b"SAME".to_vec())));
        n.attr.insert(
            "strides".into(),
            attr(Value::List(ListValue {
                i: vec![1, 2, 2, 1],
                ..Default::default()
            })),
        );
        n.attr.insert("epsilon".into(), attr(Value::F(0.001)));
        n.attr
            .insert("data_format".into(), attr(Value::S(b"NCHW".to_vec())));
        assert_eq!(n.attr_str("padding").unwrap(), Some("SAME"));
        assert_eq!(n.attr_hw("strides").unwrap(), Some([2, 2]));
        assert_eq!(n.attr_f32("epsilon").unwrap(), Some(0.001));
        assert_eq!(n.attr_i64("absent").unwrap(), None);
        let inputs: Vec<_> = n.data_inputs().map(|r| (r.node, r.port)).collect();
        assert_eq!(inputs, [("x", 0), ("w/read", 0), ("y", 2)]);
        let msg = format!("{:#}", n.attr_i64("padding").unwrap_err());
        assert!(
            msg.contains("Conv2D \"conv1/Conv2D\"")
                && msg.contains("`padding` is of kind `string`, expected an int"),
            "{msg}"
        );
        let msg = format!("{:#}", n.require_nhwc().unwrap_err());
        assert!(msg.contains("`data_format` is \"NCHW\""), "{msg}");
        let msg = format!(
            "{:#}",
            n.required("ksize", n.attr_ints("ksize")).unwrap_err()
        );
        assert!(msg.contains("`ksize` is missing"), "{msg}");
    }
}
