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
    ensure!(
        t.dims.iter().all(|&d| d >= 0),
        "tensor {:?}: negative dimension in {:?}",
        t.name,
        t.dims
    );
    // A dimension past usize (2^32 on the 32-bit boards) cannot be held either.
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| format_err!("tensor {:?}: dimensions {:?} overflow", t.name, t.dims))?;
    // Zero dimensions are left out: `[0, 2^40, 2^40]` holds no value, but its strides
    // would still overflow. 8 bytes is the widest element type read here.
    let len = shape
        .iter()
        .filter(|&&d| d > 0)
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n.checked_mul(8).is_some_and(|b| b <= isize::MAX as usize))
        .with_context(|| format!("tensor {:?}: dimensions {:?} overflow", t.name, t.dims))?;
    let len = if shape.contains(&0) { 0 } else { len };
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

/// Decoding one little-endian value from exactly `size_of::<Self>()` bytes
/// (ONNX `raw_data` here, TensorFlow `tensor_content` in [`crate::tf`]).
pub(crate) trait FromLe {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: Datum + Copy>(t: &Tensor) -> Vec<T> {
        t.to_plain_array_view::<T>()
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    fn proto(data_type: i32, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: "w".into(),
            data_type,
            dims: dims.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn typed_and_raw_data_give_the_same_tensor() {
        let values = [1.5f32, -2.0, 0.25, 8.0, -0.0, 3.0];
        let mut typed = proto(dt::FLOAT, &[2, 3]);
        typed.float_data = values.to_vec();
        let mut raw = proto(dt::FLOAT, &[2, 3]);
        raw.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let (a, b) = (to_tensor(&typed).unwrap(), to_tensor(&raw).unwrap());
        assert_eq!(a.shape(), &[2, 3]);
        assert_eq!(a, b);
        let got: Vec<u32> = read::<f32>(&a).iter().map(|v| v.to_bits()).collect();
        let want: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn integer_types_from_raw_and_from_int32_data() {
        let mut i64s = proto(dt::INT64, &[2]);
        i64s.raw_data = [-3i64, 1 << 40]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(read::<i64>(&to_tensor(&i64s).unwrap()), [-3, 1 << 40]);
        // Narrow types without raw_data: one value per int32.
        let mut u8s = proto(dt::UINT8, &[3]);
        u8s.int32_data = vec![0, 7, 255];
        assert_eq!(read::<u8>(&to_tensor(&u8s).unwrap()), [0, 7, 255]);
        let mut i8s = proto(dt::INT8, &[2]);
        i8s.raw_data = vec![0xff, 0x01].into();
        assert_eq!(read::<i8>(&to_tensor(&i8s).unwrap()), [-1, 1]);
        // A scalar: no dims, one value.
        let mut scalar = proto(dt::FLOAT, &[]);
        scalar.float_data = vec![2.0];
        let t = to_tensor(&scalar).unwrap();
        assert_eq!((t.rank(), read::<f32>(&t)), (0, vec![2.0f32]));
    }

    #[test]
    fn inconsistent_tensors_are_refused_by_name() {
        let err = |t: &TensorProto| format!("{:#}", to_tensor(t).unwrap_err());
        let mut short = proto(dt::FLOAT, &[2, 3]);
        short.float_data = vec![0.0; 5];
        assert!(err(&short).contains("\"w\"") && err(&short).contains("need 6 values"));
        let mut ragged = proto(dt::FLOAT, &[2]);
        ragged.raw_data = vec![0u8; 7].into();
        assert!(err(&ragged).contains("not a whole number of 4-byte values"));
        // More values than memory can hold, with or without a zero dimension: refused
        // before anything is allocated.
        let huge = proto(dt::FLOAT, &[1 << 31, 1 << 31, 1 << 31]);
        assert!(err(&huge).contains("overflow"), "{}", err(&huge));
        let empty_huge = proto(dt::FLOAT, &[0, 1 << 40, 1 << 40]);
        assert!(
            err(&empty_huge).contains("overflow"),
            "{}",
            err(&empty_huge)
        );
        // (2^24 values: a size that 32-bit boards can address too.)
        let mut absent = proto(dt::FLOAT, &[1 << 12, 1 << 12]);
        absent.raw_data = vec![0u8; 16].into();
        assert!(
            err(&absent).contains("need 16777216 values, the file holds 4"),
            "{}",
            err(&absent)
        );
        let negative = proto(dt::FLOAT, &[-1]);
        assert!(err(&negative).contains("negative dimension"));
        let mut external = proto(dt::FLOAT, &[1]);
        external.data_location = 1;
        assert!(err(&external).contains("external file"));
        let strings = proto(8, &[1]);
        assert!(err(&strings).contains("data type 8"));
    }
}
