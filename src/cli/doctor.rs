//! `lm doctor`: what this board offers to lm and how to fix what is missing.

use anyhow::{bail, Result};
use lm::board::doctor::{diagnose, DoctorOptions, IdProbe, Level, UioDevice};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Root of the file system to inspect (a mounted SD card image, tests).
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Fail (exit status 1) when something is missing or wrong.
    #[arg(long)]
    strict: bool,
}

pub fn run(args: Args) -> Result<()> {
    // The FPGA driver's hook: the accelerator's ID register through the UIO device found.
    let read_id = |dev: &UioDevice| -> Result<u32> {
        use lm::accel::RegisterAccess as _;
        let mut uio = lm::accel::uio::Uio::open(&dev.dev)?;
        Ok(uio.read(lm::accel::regmap::id::OFFSET))
    };
    report(&args.root, args.strict, Some(&read_id))
}

/// Prints the report for the board mounted at `root`; with `strict`, fails when something is
/// missing or wrong.
fn report(root: &Path, strict: bool, probe: Option<IdProbe>) -> Result<()> {
    let report = diagnose(&DoctorOptions::new(root), probe);
    print!("{report}");
    let bad = report.count(Level::Missing) + report.count(Level::Warn);
    if strict && bad > 0 {
        bail!("{bad} problem(s) found (see the fixes above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn strict_fails_on_empty_root() {
        let t = tempfile::tempdir().unwrap();
        assert!(super::report(t.path(), false, None).is_ok());
        assert!(super::report(t.path(), true, None).is_err());
    }
}
