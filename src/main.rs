//! The `lm` command line: parses arguments and hands off to the library (`src/cli/`).

mod cli;

use std::process::ExitCode;

// Counts heap bytes: `run` and `bench` report the peak (see lm::heap).
#[global_allocator]
static HEAP: lm::heap::CountingAllocator = lm::heap::CountingAllocator;

fn main() -> ExitCode {
    cli::main()
}
