//! Build script. Two jobs:
//! - on 32-bit ARM, sets `cfg(lm_arm_neon)` when the build enables NEON, which stable Rust
//!   cannot test in code (`cfg(target_feature = "neon")` is unstable there): the NEON lane
//!   kernel `src/kernels/neon_arm.rs` is compiled only then;
//! - with the `verilator` feature, verilates the FPGA accelerator RTL (`fpga/rtl/*.v`) into
//!   `OUT_DIR` and links it, with Verilator's runtime and the C ABI shim
//!   `fpga/sim/lm_qconv_shim.cpp`, into a static library used by `src/accel/verilator.rs`
//!   (see fpga/README.md, "Rust driver").

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(lm_arm_neon)");
    if arm_neon() {
        println!("cargo:rustc-cfg=lm_arm_neon");
    }
    #[cfg(feature = "verilator")]
    verilator::build();
}

/// Whether the target is 32-bit ARM with NEON: a `thumbv7neon-*` triple, or `+neon` (last
/// mention wins) in the `-C target-feature` of the target's rustflags, which cargo hands build
/// scripts as `CARGO_ENCODED_RUSTFLAGS` (flags separated by `\x1f`).
fn arm_neon() -> bool {
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") != "arm" {
        return false;
    }
    let mut neon = var("TARGET").starts_with("thumbv7neon");
    for flag in var("CARGO_ENCODED_RUSTFLAGS").split('\x1f') {
        if let Some((_, features)) = flag.split_once("target-feature=") {
            for f in features.split(',') {
                match f {
                    "+neon" => neon = true,
                    "-neon" => neon = false,
                    _ => {}
                }
            }
        }
    }
    neon
}

#[cfg(feature = "verilator")]
mod verilator {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// RTL files in dependency order (as fpga/sim/Makefile lists them).
    const RTL: [&str; 4] = [
        "fpga/rtl/lm_qconv_sdp_ram.v",
        "fpga/rtl/lm_qconv_fifo.v",
        "fpga/rtl/lm_qconv_core.v",
        "fpga/rtl/lm_qconv_top.v",
    ];
    const WATCH: [&str; 4] = [
        "fpga/rtl",
        "fpga/sim/lm_qconv_shim.cpp",
        "fpga/sim/lm_qconv_shim.h",
        "fpga/sim/lm_qconv_regs.h",
    ];

    fn fail(msg: &str) -> ! {
        panic!(
            "feature `verilator`: {msg}\n(install Verilator >= 5 and a C++17 compiler, e.g. \
             `apt-get install verilator g++`, or set VERILATOR=/path/to/verilator)"
        )
    }

    pub fn build() {
        let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
        let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("vlm_qconv");
        for w in WATCH {
            println!("cargo:rerun-if-changed={w}");
        }
        for r in RTL {
            println!("cargo:rerun-if-changed={r}");
        }
        println!("cargo:rerun-if-changed=fpga/rtl/lm_qconv_regs.vh");
        println!("cargo:rerun-if-env-changed=VERILATOR");
        let verilator = std::env::var("VERILATOR").unwrap_or_else(|_| "verilator".into());

        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let mut cmd = Command::new(&verilator);
        cmd.current_dir(&manifest)
            .args([
                "--cc",
                "-Wall",
                "-Ifpga/rtl",
                "--top-module",
                "lm_qconv_top",
            ])
            .args([
                "-O3",
                "--x-assign",
                "fast",
                "--x-initial",
                "fast",
                "--noassert",
            ])
            .arg("-Mdir")
            .arg(&out)
            .args(RTL);
        let status = cmd
            .status()
            .unwrap_or_else(|e| fail(&format!("cannot run `{verilator}`: {e}")));
        if !status.success() {
            fail(&format!("`{verilator} --cc` failed ({status})"));
        }

        let root = Command::new(&verilator)
            .args(["--getenv", "VERILATOR_ROOT"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .unwrap_or_else(|| PathBuf::from("/usr/share/verilator"));
        let include = root.join("include");
        if !include.join("verilated.cpp").exists() {
            fail(&format!(
                "{} not found",
                include.join("verilated.cpp").display()
            ));
        }

        // Every generated model file (the class lists of Vlm_qconv_top_classes.mk are exactly
        // the .cpp files of the directory with --cc and no --exe).
        let mut sources: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
            .collect();
        sources.sort();
        sources.push(include.join("verilated.cpp"));
        sources.push(include.join("verilated_threads.cpp"));
        sources.push(manifest.join("fpga/sim/lm_qconv_shim.cpp"));

        let mut b = cc::Build::new();
        b.cpp(true)
            .std("c++17")
            .files(&sources)
            .include(&out)
            .include(&include)
            .include(include.join("vltstd"))
            .include(manifest.join("fpga/sim"))
            // simulation speed matters more than compile time, even in debug builds
            .opt_level(2)
            .debug(false)
            .warnings(false)
            .define("VM_COVERAGE", "0")
            .define("VM_SC", "0")
            .define("VM_TRACE", "0")
            .define("VM_TRACE_FST", "0")
            .define("VM_TRACE_VCD", "0");
        for f in [
            "-faligned-new",
            "-Wno-unused-parameter",
            "-Wno-sign-compare",
        ] {
            b.flag_if_supported(f);
        }
        b.compile("lm_qconv_vsim");
        println!("cargo:rustc-link-lib=pthread");
        if has_libatomic(Path::new("/usr/lib")) {
            println!("cargo:rustc-link-lib=atomic");
        }
    }

    /// Verilator's runtime may need libatomic on some targets; link it when it is present.
    fn has_libatomic(_hint: &Path) -> bool {
        Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()))
            .arg("-print-file-name=libatomic.so")
            .output()
            .ok()
            .map(|o| {
                let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
                Path::new(&p).is_absolute() && Path::new(&p).exists()
            })
            .unwrap_or(false)
    }
}
