//! TensorFlow `TensorProto` → tract `Tensor` (`Const` values).
//!
//! The values come from `tensor_content` (little-endian, row-major) or from
//! the typed `*_val` field. As in TensorFlow (`Tensor::FromProto`), a typed
//! field shorter than the shape repeats its last value (a scalar splat:
//! `tf.constant(0.5, shape=[64])` stores one value), and an empty one means
//! zeros.

use super::proto::{data_type as dt, TensorProto};
use crate::onnx::tensor::FromLe;
use tract_hir::internal::*;

/// The shape of a TensorProto; `what` names it in errors.
pub fn shape(t: &TensorProto, what: &str) -> TractResult<Vec<usize>> {
    let Some(s) = &t.tensor_shape else {
        return Ok(vec![]);
    };
    ensure!(!s.unknown_rank, "{what}: tensor of unknown rank");
    s.dim
        .iter()
        .map(|d| {
            usize::try_from(d.size)
                .map_err(|_| format_err!("{what}: tensor dimension {} is not known", d.size))
        })
        .collect()
}

/// The tensor a TensorProto holds; `what` (the node) names it in errors.
pub fn to_tensor(t: &TensorProto, what: &str) -> TractResult<Tensor> {
    let shape = shape(t, what)?;
    let len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .with_context(|| format!("{what}: tensor dimensions {shape:?} overflow"))?;
    let tensor = match t.dtype {
        dt::FLOAT => build::<f32>(t, what, len, &t.float_val)?,
        dt::DOUBLE => build::<f64>(t, what, len, &t.double_val)?,
        dt::INT32 => build::<i32>(t, what, len, &t.int_val)?,
        dt::INT64 => build::<i64>(t, what, len, &t.int64_val)?,
        dt::UINT32 => build::<u32>(t, what, len, &t.uint32_val)?,
        dt::UINT64 => build::<u64>(t, what, len, &t.uint64_val)?,
        dt::BOOL => build::<bool>(t, what, len, &t.bool_val)?,
        dt::INT16 => build_narrow::<i16>(t, what, len, |v| v as i16)?,
        dt::UINT16 => build_narrow::<u16>(t, what, len, |v| v as u16)?,
        dt::INT8 => build_narrow::<i8>(t, what, len, |v| v as i8)?,
        dt::UINT8 => build_narrow::<u8>(t, what, len, |v| v as u8)?,
        dt::HALF => {
            let bits: Vec<i32> = t.half_val.clone();
            let values: Vec<f16> = if t.tensor_content.is_empty() {
                splat(what, len, &bits)?
                    .into_iter()
                    .map(|b| f16::from_bits(b as u16))
                    .collect()
            } else {
                le_values::<u16>(t, what, len)?
                    .into_iter()
                    .map(f16::from_bits)
                    .collect()
            };
            tract_ndarray::Array1::from_vec(values).into_tensor()
        }
        other => bail!(
            "{what}: tensor of type {} is not supported",
            dt::name(other)
        ),
    };
    tensor.into_shape(&shape)
}

/// TensorFlow's rule for typed values: exactly `len`, fewer (the last one
/// repeated), or none (zeros).
fn splat<T: Copy + Default>(what: &str, len: usize, values: &[T]) -> TractResult<Vec<T>> {
    ensure!(
        values.len() <= len,
        "{what}: tensor shape holds {len} values, the file has {}",
        values.len()
    );
    let mut out = values.to_vec();
    let last = values.last().copied().unwrap_or_default();
    out.resize(len, last);
    Ok(out)
}

fn le_values<T: FromLe>(t: &TensorProto, what: &str, len: usize) -> TractResult<Vec<T>> {
    let size = std::mem::size_of::<T>();
    let bytes = &t.tensor_content;
    ensure!(
        bytes.len() == len * size,
        "{what}: tensor_content has {} bytes, the shape needs {len} values of {size} bytes",
        bytes.len()
    );
    Ok(bytes.chunks_exact(size).map(T::from_le).collect())
}

fn build<T: Datum + Copy + Default + FromLe>(
    t: &TensorProto,
    what: &str,
    len: usize,
    typed: &[T],
) -> TractResult<Tensor> {
    let values = if t.tensor_content.is_empty() {
        splat(what, len, typed)?
    } else {
        le_values::<T>(t, what, len)?
    };
    Ok(tract_ndarray::Array1::from_vec(values).into_tensor())
}

fn build_narrow<T: Datum + Copy + Default + FromLe>(
    t: &TensorProto,
    what: &str,
    len: usize,
    from_i32: impl Fn(i32) -> T,
) -> TractResult<Tensor> {
    let values: Vec<T> = if t.tensor_content.is_empty() {
        let wide: Vec<T> = t.int_val.iter().map(|&v| from_i32(v)).collect();
        splat(what, len, &wide)?
    } else {
        le_values::<T>(t, what, len)?
    };
    Ok(tract_ndarray::Array1::from_vec(values).into_tensor())
}

#[cfg(test)]
mod tests {
    use super::super::proto::{Dim, TensorShapeProto};
    use super::*;

    fn proto(dtype: i32, dims: &[i64]) -> TensorProto {
        TensorProto {
            dtype,
            tensor_shape: Some(TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&size| Dim {
                        size,
                        ..Default::default()
                    })
                    .collect(),
                unknown_rank: false,
            }),
            ..Default::default()
        }
    }

    fn read<T: Datum + Copy>(t: &Tensor) -> Vec<T> {
        t.to_plain_array_view::<T>()
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn content_typed_values_and_splats() {
        let values = [1.5f32, -2.0, 0.25, 8.0, -0.0, 3.0];
        let mut raw = proto(dt::FLOAT, &[2, 3]);
        raw.tensor_content = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut typed = proto(dt::FLOAT, &[2, 3]);
        typed.float_val = values.to_vec();
        let (a, b) = (
            to_tensor(&raw, "w").unwrap(),
            to_tensor(&typed, "w").unwrap(),
        );
        assert_eq!(a.shape(), &[2, 3]);
        assert_eq!(a, b);
        // One stored value fills the shape (TF's splat); none means zeros.
        let mut splat = proto(dt::FLOAT, &[4]);
        splat.float_val = vec![0.5];
        assert_eq!(read::<f32>(&to_tensor(&splat, "s").unwrap()), [0.5; 4]);
        let mut partial = proto(dt::INT32, &[4]);
        partial.int_val = vec![1, 2];
        assert_eq!(
            read::<i32>(&to_tensor(&partial, "p").unwrap()),
            [1, 2, 2, 2]
        );
        let zeros = proto(dt::INT64, &[3]);
        assert_eq!(read::<i64>(&to_tensor(&zeros, "z").unwrap()), [0; 3]);
        // A scalar: no dims.
        let mut scalar = proto(dt::INT32, &[]);
        scalar.int_val = vec![2];
        let t = to_tensor(&scalar, "bit").unwrap();
        assert_eq!((t.rank(), read::<i32>(&t)), (0, vec![2]));
        let mut u8s = proto(dt::UINT8, &[3]);
        u8s.int_val = vec![0, 7, 255];
        assert_eq!(read::<u8>(&to_tensor(&u8s, "u").unwrap()), [0, 7, 255]);
    }

    #[test]
    fn inconsistent_tensors_are_refused_by_name() {
        let err = |t: &TensorProto| format!("{:#}", to_tensor(t, "conv1/kernel").unwrap_err());
        let mut long = proto(dt::FLOAT, &[2]);
        long.float_val = vec![0.0; 3];
        assert!(err(&long).contains("conv1/kernel") && err(&long).contains("holds 2 values"));
        let mut ragged = proto(dt::FLOAT, &[2]);
        ragged.tensor_content = vec![0u8; 7].into();
        assert!(err(&ragged).contains("tensor_content has 7 bytes"));
        let unknown = proto(dt::FLOAT, &[-1]);
        assert!(err(&unknown).contains("dimension -1"));
        let strings = proto(dt::STRING, &[1]);
        assert!(err(&strings).contains("DT_STRING"));
    }
}
