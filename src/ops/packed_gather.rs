//! `PackedGather`: a layout op (SpaceToDepth, nearest resize, concat, or any
//! chain of them) applied directly to packed 2-bit activations.
//!
//! Between two fused quantised convs the network only moves whole channel
//! groups around: every group of 32 output channels of a pixel is one group of
//! 32 input channels of some input pixel. Such a chain is therefore a gather
//! of `[plane 0, plane 1]` word pairs, computed once when the graph is
//! rewritten (see [`crate::passes::packed_layout`], which derives the map by
//! running the float ops on index tensors) and replayed on every frame.
//!
//! Shape rule: inputs are packed tensors (`u32 [H_i, W_i, G_i, 2]`); the output
//! is `u32 [H, W, G, 2]` for `channels` channels. `sources[p]` names the input
//! and word pair that output pair `p` (pixel-major, then group) copies.

use super::pack::{packed_fact, packed_tensor};
use crate::kernels;
use tract_hir::internal::*;

/// Where one output word pair comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairSource {
    /// Which input of the op.
    pub input: u32,
    /// Pair index in that input (`(y · W_i + x) · G_i + g`).
    pub pair: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedGather {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Pairs per input, to check the inputs at run time.
    pub input_pairs: Vec<usize>,
    pub sources: Arc<Vec<PairSource>>,
    /// Threads the copy is split over when it is large (0 = all cores; see [`crate::parallel`]).
    pub threads: usize,
}

/// Gathers smaller than this many pairs run on one thread (waking a helper costs more).
const PARALLEL_PAIRS: usize = 4096;

impl PackedGather {
    /// Checks the map: one source per output pair, every source inside its input.
    pub fn new(
        height: usize,
        width: usize,
        channels: usize,
        input_pairs: Vec<usize>,
        sources: Vec<PairSource>,
    ) -> TractResult<Self> {
        ensure!(
            sources.len() == height * width * kernels::groups(channels),
            "PackedGather: {} sources for {height}×{width}×{channels}",
            sources.len()
        );
        for s in &sources {
            ensure!(
                input_pairs
                    .get(s.input as usize)
                    .is_some_and(|&n| (s.pair as usize) < n),
                "PackedGather: source {s:?} outside the inputs {input_pairs:?}"
            );
        }
        Ok(PackedGather {
            height,
            width,
            channels,
            input_pairs,
            sources: Arc::new(sources),
            threads: 1,
        })
    }

    /// The same gather split over `threads` threads (0 = all cores).
    pub fn with_threads(self, threads: usize) -> Self {
        PackedGather { threads, ..self }
    }

    /// Whether the map copies its single input unchanged.
    pub fn is_identity(&self) -> bool {
        self.input_pairs == [self.sources.len()]
            && self
                .sources
                .iter()
                .enumerate()
                .all(|(i, s)| s.input == 0 && s.pair as usize == i)
    }
}

impl Op for PackedGather {
    fn name(&self) -> StaticName {
        "PackedGather".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}×{}×{} from {} input(s)",
            self.height,
            self.width,
            self.channels,
            self.input_pairs.len()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PackedGather {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == self.input_pairs.len(),
            "PackedGather: inputs"
        );
        // Each input as word pairs, so that a pair is one 8-byte copy.
        let mut pairs: Vec<&[[u32; 2]]> = Vec::with_capacity(inputs.len());
        for (t, &n) in inputs.iter().zip(&self.input_pairs) {
            let w = t.try_as_plain_ram()?.as_slice::<u32>()?;
            ensure!(
                w.len() == 2 * n,
                "PackedGather: input has {} words",
                w.len()
            );
            pairs.push(w.as_chunks::<2>().0);
        }
        let pair_of = |s: &PairSource| pairs[s.input as usize][s.pair as usize];
        let threads = if self.sources.len() < PARALLEL_PAIRS {
            1
        } else {
            crate::parallel::resolve(self.threads)
        };
        let out: Vec<[u32; 2]> = if threads == 1 {
            // Collected, not written into a zeroed buffer (a memset of the whole output).
            self.sources.iter().map(pair_of).collect()
        } else {
            let mut out = vec![[0u32; 2]; self.sources.len()];
            crate::parallel::for_each_range_mut(&mut out, 1, 1, threads, |p0, out| {
                for (dst, s) in out.iter_mut().zip(&self.sources[p0..]) {
                    *dst = pair_of(s);
                }
            });
            out
        };
        let out = out.into_flattened();
        let t = packed_tensor(self.height, self.width, self.channels, out)?;
        Ok(tvec!(t.into_tvalue()))
    }
}

impl TypedOp for PackedGather {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == self.input_pairs.len(),
            "PackedGather: {} inputs, map has {}",
            inputs.len(),
            self.input_pairs.len()
        );
        for (f, &pairs) in inputs.iter().zip(&self.input_pairs) {
            let n: usize = f
                .shape
                .as_concrete()
                .context("PackedGather: concrete input shapes")?
                .iter()
                .product();
            ensure!(
                f.datum_type == u32::datum_type() && n == 2 * pairs,
                "PackedGather: input {f:?} is not a packed tensor of {pairs} pairs"
            );
        }
        Ok(tvec!(packed_fact(self.height, self.width, self.channels)))
    }

    as_op!();
}
