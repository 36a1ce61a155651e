//! Graph rewrites applied to the typed tract model between loading and
//! optimisation. Each pass is its own file.

pub mod fold_weights;
pub mod fuse_conv_quant_pack;
pub mod fuse_packed_float_conv;
pub mod fuse_qconv;
pub mod packed_layout;
