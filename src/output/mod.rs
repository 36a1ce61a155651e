//! What a run writes: Blueoil's `output.json` ([`json`]) and a picture of
//! the skeleton on each input image ([`overlay`]).

pub mod json;
pub mod overlay;
