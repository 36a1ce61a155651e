//! `TensorProto` → tract `Tensor`: initializers and `Constant` values.

use super::proto::{data_type as dt, TensorProto};
use tract_hir::internal::*;

/// The tensor a `TensorProto` holds, from `raw_data` (little-endian) or the typed
/// `*_data` field, with its length checked against `dims`.
pub fn to_tensor(t: &TensorProto) -> TractResult<Tensor> {
    ensure!(
        t.data_location == 0,
        "tensor {:?} keeps its data in an external file, which this build does not read \
         (save the model with the weights inside the .onnx file)",
        t.name
    );
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| format_err!("tensor {:?}: negative dimension in {:?}", t.name, t.dims))?;
    let len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .with_context(|| format!("tensor {:?}: dimensions {:?} overflow", t.name, t.dims))?;
    let tensor = match t.data_type {
        dt::FLOAT => build::<f32>(t, len, &t.float_data)?,
        dt::DOUBLE => build::<f64>(t, len, &t.double_data)?,
        dt::INT64 => build::<i64>(t, len, &t.int64_data)?,
        dt::UINT64 => build::<u64>(t, len, &t.uint64_data)?,
        dt::INT32 => build::<i32>(t, len, &t.int32_data)?,
        // Narrow types without raw_data are stored one per int32 in int32_data.
        dt::INT16 => build_narrow::<i16>(t, len, |v| v as i16)?,
        dt::UINT16 => build_narrow::<u16>(t, len, |v| v as u16)?,
        dt::INT8 => build_narrow::<i8>(t, len, |v| v as i8)?,
        dt::UINT8 => build_narrow::<u8>(t, len, |v| v as u8)?,
        dt::BOOL => build_narrow::<bool>(t, len, |v| v != 0)?,
        dt::UINT32 => build_narrow::<u32>(t, len, |v| v as u32)?,
        dt::FLOAT16 => {
            let bits = if t.raw_data.is_empty() {
                t.int32_data.iter().map(|&v| v as u16).collect()
            } else {
                le_values::<u16>(t, len)?
            };
            check_len(t, len, bits.len())?;
            let halves: Vec<f16> = bits.into_iter().map(f16::from_bits).collect();
            tract_ndarray::Array1::from_vec(halves).into_tensor()
        }
        other => bail!(
            "tensor {:?}: ONNX data type {other} is not supported by this build",
            t.name
        ),
    };
    tensor.into_shape(&shape)
}

fn check_len(t: &TensorProto, want: usize, got: usize) -> TractResult<()> {
    ensure!(
        want == got,
        "tensor {:?}: dimensions {:?} need {want} values, the file holds {got}",
        t.name,
        t.dims
    );
    Ok(())
}

/// The little-endian values of `raw_data`, checked to fill `len` elements exactly.
fn le_values<T: Datum + Copy + FromLe>(t: &TensorProto, len: usize) -> TractResult<Vec<T>> {
    let size = std::mem::size_of::<T>();
    ensure!(
        t.raw_data.len().is_multiple_of(size),
        "tensor {:?}: raw_data of {} bytes is not a whole number of {size}-byte values",
        t.name,
        t.raw_data.len()
    );
    check_len(t, len, t.raw_data.len() / size)?;
    Ok(t.raw_data.chunks_exact(size).map(T::from_le).collect())
}

fn build<T: Datum + Copy + FromLe>(
    t: &TensorProto,
    len: usize,
    typed: &[T],
) -> TractResult<Tensor> {
    let values = if t.raw_data.is_empty() {
        check_len(t, len, typed.len())?;
        typed.to_vec()
    } else {
        le_values::<T>(t, len)?
    };
    Ok(tract_ndarray::Array1::from_vec(values).into_tensor())
}

fn build_narrow<T: Datum + Copy + FromLe>(
    t: &TensorProto,
    len: usize,
    from_i32: impl Fn(i32) -> T,
) -> TractResult<Tensor> {
    let values: Vec<T> = if t.raw_data.is_empty() {
        check_len(t, len, t.int32_data.len())?;
        t.int32_data.iter().map(|&v| from_i32(v)).collect()
    } else {
        le_values::<T>(t, len)?
    };
    Ok(tract_ndarray::Array1::from_vec(values).into_tensor())
}

/// Decoding one little-endian value from exactly `size_of::<Self>()` bytes.
trait FromLe {
    fn from_le(bytes: &[u8]) -> Self;
}

macro_rules! from_le {
    ($($t:ty),*) => {$(
        impl FromLe for $t {
            fn from_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("chunks_exact gives whole values"))
            }
        }
    )*};
}
from_le!(f32, f64, i64, u64, i32, u32, i16, u16, i8, u8);

impl FromLe for bool {
    fn from_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}
