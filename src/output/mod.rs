//! What a run writes: Blueoil's `output.json` ([`json`], filled from an inference by
//! [`blueoil`]) and a picture of the skeleton on each input image ([`overlay`]), each written
//! whole or not at all ([`atomic`]).

pub mod atomic;
pub mod blueoil;
pub mod json;
pub mod overlay;
