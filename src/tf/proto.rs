//! The part of TensorFlow's GraphDef schema that the loader reads.
//!
//! Messages and field numbers follow tensorflow/core/framework/{graph,node_def,
//! attr_value,tensor,tensor_shape,function,op_def}.proto; fields we never read
//! are left out and skipped by prost while decoding.

use prost::Message;
use std::collections::HashMap;

#[derive(Clone, PartialEq, Message)]
pub struct GraphDef {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
    #[prost(message, optional, tag = "2")]
    pub library: Option<FunctionDefLibrary>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub op: String,
    /// `node`, `node:1` (output 1) or `^node` (control dependency); inside a
    /// function body `node:out_arg:0` or an argument name.
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    #[prost(map = "string, message", tag = "5")]
    pub attr: HashMap<String, AttrValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AttrValue {
    #[prost(oneof = "attr_value::Value", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10")]
    pub value: Option<attr_value::Value>,
}

pub mod attr_value {
    use super::*;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(message, tag = "1")]
        List(ListValue),
        #[prost(bytes = "vec", tag = "2")]
        S(Vec<u8>),
        #[prost(int64, tag = "3")]
        I(i64),
        #[prost(float, tag = "4")]
        F(f32),
        #[prost(bool, tag = "5")]
        B(bool),
        /// A [`data_type`] value.
        #[prost(int32, tag = "6")]
        Type(i32),
        #[prost(message, tag = "7")]
        Shape(TensorShapeProto),
        #[prost(message, tag = "8")]
        Tensor(TensorProto),
        #[prost(string, tag = "9")]
        Placeholder(String),
        #[prost(message, tag = "10")]
        Func(NameAttrList),
    }

    impl Value {
        /// The schema's name of this case, for error messages.
        pub fn kind(&self) -> &'static str {
            match self {
                Value::List(_) => "list",
                Value::S(_) => "string",
                Value::I(_) => "int",
                Value::F(_) => "float",
                Value::B(_) => "bool",
                Value::Type(_) => "type",
                Value::Shape(_) => "shape",
                Value::Tensor(_) => "tensor",
                Value::Placeholder(_) => "placeholder",
                Value::Func(_) => "func",
            }
        }
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct ListValue {
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub s: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "3")]
    pub i: Vec<i64>,
    #[prost(float, repeated, tag = "4")]
    pub f: Vec<f32>,
    #[prost(bool, repeated, tag = "5")]
    pub b: Vec<bool>,
    #[prost(int32, repeated, tag = "6")]
    pub r#type: Vec<i32>,
    #[prost(message, repeated, tag = "7")]
    pub shape: Vec<TensorShapeProto>,
    #[prost(message, repeated, tag = "8")]
    pub tensor: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NameAttrList {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(map = "string, message", tag = "2")]
    pub attr: HashMap<String, AttrValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// A [`data_type`] value.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// Little-endian values, row-major; a slice of the file's mapping.
    #[prost(bytes = "bytes", tag = "4")]
    pub tensor_content: bytes::Bytes,
    #[prost(int32, repeated, tag = "13")]
    pub half_val: Vec<i32>,
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    /// Also holds int16, int8, uint8 and uint16 values, one per int32.
    #[prost(int32, repeated, tag = "7")]
    pub int_val: Vec<i32>,
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: Vec<i64>,
    #[prost(bool, repeated, tag = "11")]
    pub bool_val: Vec<bool>,
    #[prost(uint32, repeated, tag = "16")]
    pub uint32_val: Vec<u32>,
    #[prost(uint64, repeated, tag = "17")]
    pub uint64_val: Vec<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Dim {
    /// -1 for an unknown size.
    #[prost(int64, tag = "1")]
    pub size: i64,
    #[prost(string, tag = "2")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct FunctionDefLibrary {
    #[prost(message, repeated, tag = "1")]
    pub function: Vec<FunctionDef>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FunctionDef {
    #[prost(message, optional, tag = "1")]
    pub signature: Option<OpDef>,
    #[prost(message, repeated, tag = "3")]
    pub node_def: Vec<NodeDef>,
    /// Output argument name → the body tensor returned.
    #[prost(map = "string, string", tag = "4")]
    pub ret: HashMap<String, String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OpDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, repeated, tag = "2")]
    pub input_arg: Vec<ArgDef>,
    #[prost(message, repeated, tag = "3")]
    pub output_arg: Vec<ArgDef>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ArgDef {
    #[prost(string, tag = "1")]
    pub name: String,
    /// A [`data_type`] value (0 when given through `type_attr`).
    #[prost(int32, tag = "3")]
    pub r#type: i32,
}

/// `DataType` values (`types.proto`); reference types (`+ 100`) are not used
/// in frozen graphs.
pub mod data_type {
    pub const FLOAT: i32 = 1;
    pub const DOUBLE: i32 = 2;
    pub const INT32: i32 = 3;
    pub const UINT8: i32 = 4;
    pub const INT16: i32 = 5;
    pub const INT8: i32 = 6;
    pub const STRING: i32 = 7;
    pub const INT64: i32 = 9;
    pub const BOOL: i32 = 10;
    pub const UINT16: i32 = 17;
    pub const HALF: i32 = 19;
    pub const UINT32: i32 = 22;
    pub const UINT64: i32 = 23;

    /// The schema's name of a data type, for error messages.
    pub fn name(t: i32) -> String {
        match t {
            FLOAT => "DT_FLOAT".into(),
            DOUBLE => "DT_DOUBLE".into(),
            INT32 => "DT_INT32".into(),
            UINT8 => "DT_UINT8".into(),
            INT16 => "DT_INT16".into(),
            INT8 => "DT_INT8".into(),
            STRING => "DT_STRING".into(),
            INT64 => "DT_INT64".into(),
            BOOL => "DT_BOOL".into(),
            UINT16 => "DT_UINT16".into(),
            HALF => "DT_HALF".into(),
            UINT32 => "DT_UINT32".into(),
            UINT64 => "DT_UINT64".into(),
            other => format!("DataType {other}"),
        }
    }
}
