//! `lm doctor`: what this board offers to `lm`, what is missing, and how to fix it.
//!
//! Everything is read below a root path (`/` on a board), so tests run on a fake tree in a
//! temporary folder:
//!
//! | area          | read from                                                              |
//! |---------------|------------------------------------------------------------------------|
//! | board         | `<root>/proc/device-tree/model`                                        |
//! | CPU, NEON     | `<root>/proc/cpuinfo` (`model name`/`Processor`, `CPU part`, `Features`/`flags`) |
//! | accelerator   | `<root>/sys/class/uio/uioN/{name,maps/mapM/{addr,size}}`, `<root>/dev/uioN`, `<root>/dev/mem` |
//! | DMA buffers   | `<root>/sys/class/u-dma-buf/<name>/{size,phys_addr}`, `<root>/dev/<name>` |
//! | GPIO          | `<root>/dev/gpiomem`, `<root>/dev/gpiochipN`                           |
//!
//! The accelerator's ID register is read by the FPGA driver (`crate::accel`), not here:
//! **hook** — pass an [`IdProbe`] to [`diagnose`]; it gets the UIO device that looks like the
//! accelerator and returns the raw `ID` register, which is checked against
//! [`crate::accel::regmap::MAGIC`] and [`crate::accel::regmap::VERSION_MAJOR`].
//!
//! Note: under qemu-user `/proc/cpuinfo` is the host's, so an emulated run reports the host CPU.

use crate::accel::regmap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// Name fragment of the accelerator's UIO device: `uio_pdrv_genirq` names it after the
/// device-tree node, `lm-qconv@ff200000` → `lm-qconv` (boards/de10_nano/lm_qconv.dtso).
pub const UIO_NAME_FRAGMENT: &str = "qconv";
/// The u-dma-buf buffer of boards/de10_nano/lm_qconv.dtso and its size.
pub const DEFAULT_UDMABUFS: &[(&str, u64)] = &[("udmabuf0", 16 << 20)];

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Present and usable.
    Ok,
    /// For information (optional parts, what was not checked).
    Info,
    /// Present but not quite right (permissions, sizes, addresses).
    Warn,
    /// Absent: the feature that needs it will not work (lm falls back to the CPU).
    Missing,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Ok => " ok ",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Missing => "MISS",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// `board`, `cpu`, `accel`, `dma`, `gpio`.
    pub area: &'static str,
    pub level: Level,
    pub what: String,
    /// How to fix it (for `Warn` and `Missing`).
    pub fix: Option<String>,
}

/// The doctor's report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub root: PathBuf,
    pub findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, area: &'static str, level: Level, what: String, fix: Option<String>) {
        self.findings.push(Finding {
            area,
            level,
            what,
            fix,
        });
    }

    /// Findings of one area.
    pub fn area<'a>(&'a self, area: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.area == area)
    }

    /// Number of findings at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// Is the FPGA accelerator ready (device found, accessible, ID right or not checked)?
    pub fn accelerator_ready(&self) -> bool {
        self.area("accel").any(|f| f.level == Level::Ok)
            && !self
                .area("accel")
                .chain(self.area("dma"))
                .any(|f| f.level >= Level::Warn)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lm doctor (root {})", self.root.display())?;
        for x in &self.findings {
            writeln!(f, "[{}] {:<5} {}", x.level.tag(), x.area, x.what)?;
            if let Some(fix) = &x.fix {
                writeln!(f, "             fix: {fix}")?;
            }
        }
        writeln!(
            f,
            "{} ok, {} warning(s), {} missing{}",
            self.count(Level::Ok),
            self.count(Level::Warn),
            self.count(Level::Missing),
            if self.accelerator_ready() {
                "; FPGA accelerator ready"
            } else {
                "; CPU only"
            }
        )
    }
}

/// A UIO device as seen in sysfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UioDevice {
    /// `N` of `uioN`.
    pub index: u32,
    /// Contents of `name`.
    pub name: String,
    /// `<root>/dev/uioN`.
    pub dev: PathBuf,
    /// `<root>/sys/class/uio/uioN`.
    pub sysfs: PathBuf,
    /// `(addr, size)` of each `maps/mapM`, in order.
    pub maps: Vec<(u64, u64)>,
}

/// **Accelerator driver hook**: reads the `ID` register (offset 0) of the accelerator behind a
/// UIO device and returns it raw, or why it could not. Implemented by `crate::accel`.
pub type IdProbe<'a> = &'a dyn Fn(&UioDevice) -> anyhow::Result<u32>;

/// What to look for.
#[derive(Clone, Debug)]
pub struct DoctorOptions {
    /// `/` on a board.
    pub root: PathBuf,
    /// Name fragment of the accelerator's UIO device.
    pub uio_name: String,
    /// u-dma-buf buffers `lm` needs, with their minimum size in bytes.
    pub udmabufs: Vec<(String, u64)>,
}

impl DoctorOptions {
    /// Defaults for the DE10-Nano overlay, below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            uio_name: UIO_NAME_FRAGMENT.to_string(),
            udmabufs: DEFAULT_UDMABUFS
                .iter()
                .map(|(n, s)| (n.to_string(), *s))
                .collect(),
        }
    }
}

fn read_trim(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| {
        s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string()
    })
}

/// `0x...` or decimal.
fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Can this process open `p` for reading and writing? `Err` carries the reason.
fn rw_access(p: &Path) -> Result<(), String> {
    match fs::OpenOptions::new().read(true).write(true).open(p) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn mode_of(p: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if let Ok(m) = fs::metadata(p) {
            return format!(
                "mode {:04o}, uid {}, gid {}",
                m.permissions().mode() & 0o7777,
                m.uid(),
                m.gid()
            );
        }
    }
    let _ = p;
    String::new()
}

/// Known ARM CPU parts (`CPU part` of /proc/cpuinfo, implementer 0x41).
fn arm_part_name(part: u64) -> Option<&'static str> {
    Some(match part {
        0xc07 => "Cortex-A7",
        0xc08 => "Cortex-A8",
        0xc09 => "Cortex-A9",
        0xc0f => "Cortex-A15",
        0xd03 => "Cortex-A53",
        0xd04 => "Cortex-A35",
        0xd05 => "Cortex-A55",
        0xd07 => "Cortex-A57",
        0xd08 => "Cortex-A72",
        0xd09 => "Cortex-A73",
        0xd0b => "Cortex-A76",
        _ => return None,
    })
}

fn check_board(root: &Path, r: &mut Report) {
    match read_trim(&root.join("proc/device-tree/model")) {
        Some(m) if !m.is_empty() => r.push("board", Level::Info, m, None),
        _ => r.push(
            "board",
            Level::Info,
            "no device-tree model (not an embedded ARM board, or no /proc/device-tree)".into(),
            None,
        ),
    }
}

fn check_cpu(root: &Path, r: &mut Report) {
    let path = root.join("proc/cpuinfo");
    let Some(info) = read_trim(&path) else {
        r.push(
            "cpu",
            Level::Warn,
            format!("cannot read {}", path.display()),
            Some("mount /proc".into()),
        );
        return;
    };
    let field = |key: &str| -> Option<String> {
        info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let cores = info
        .lines()
        .filter(|l| l.split(':').next().map(str::trim) == Some("processor"))
        .count();
    let mut model = field("model name")
        .or_else(|| field("Processor"))
        .or_else(|| field("Hardware"))
        .or_else(|| field("Model"))
        .unwrap_or_else(|| "unknown CPU".into());
    if let Some(part) = field("CPU part")
        .and_then(|p| parse_num(&p))
        .and_then(arm_part_name)
    {
        model = format!("{model}, {part}");
    }
    let what = format!("{model}, {cores} core(s)");
    if let Some(features) = field("Features") {
        // ARM: `neon` on 32-bit kernels, `asimd` on 64-bit ones.
        let f: Vec<&str> = features.split_whitespace().collect();
        if f.contains(&"neon") || f.contains(&"asimd") {
            r.push("cpu", Level::Ok, format!("{what}; NEON yes"), None);
        } else {
            r.push(
                "cpu",
                Level::Warn,
                format!("{what}; NEON no (Features: {features})"),
                Some(
                    "lm still runs (scalar bit-serial kernels, tract's generic kernels) but \
                     several times slower; the DE10-Nano's Cortex-A9 and every Raspberry Pi \
                     have NEON, so check the kernel's VFP/NEON support"
                        .into(),
                ),
            );
        }
    } else if let Some(flags) = field("flags") {
        let f: Vec<&str> = flags.split_whitespace().collect();
        let simd: Vec<&str> = ["popcnt", "avx2", "avx512f", "avx512_vpopcntdq"]
            .into_iter()
            .filter(|x| f.contains(x))
            .collect();
        r.push(
            "cpu",
            Level::Ok,
            format!("{what}; x86 ({})", simd.join(" ")),
            None,
        );
    } else {
        r.push("cpu", Level::Info, format!("{what}; SIMD unknown"), None);
    }
}

/// The UIO devices below `<root>/sys/class/uio`, by index.
pub fn uio_devices(root: &Path) -> Vec<UioDevice> {
    let class = root.join("sys/class/uio");
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(&class) else {
        return out;
    };
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(index) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix("uio"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let sysfs = e.path();
        let name = read_trim(&sysfs.join("name")).unwrap_or_default();
        let mut maps = Vec::new();
        for m in 0.. {
            let dir = sysfs.join(format!("maps/map{m}"));
            let (Some(addr), Some(size)) = (
                read_trim(&dir.join("addr")).and_then(|s| parse_num(&s)),
                read_trim(&dir.join("size")).and_then(|s| parse_num(&s)),
            ) else {
                break;
            };
            maps.push((addr, size));
        }
        out.push(UioDevice {
            index,
            name,
            dev: root.join(format!("dev/uio{index}")),
            sysfs,
            maps,
        });
    }
    out.sort_by_key(|u| u.index);
    out
}

/// The same fix as the FPGA backend's error when the UIO device is missing.
const ACCEL_FIX: &str = crate::accel::uio::UIO_HINT;
const UDEV_FIX: &str = "install boards/de10_nano/99-lm.rules (udev: group lm, mode 0660), \
    add your user to group lm, then udevadm trigger or reboot";

fn check_accel(opts: &DoctorOptions, probe: Option<IdProbe>, r: &mut Report) {
    let root = &opts.root;
    let all = uio_devices(root);
    let (accel, others): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|u| u.name.contains(&opts.uio_name));
    if !others.is_empty() {
        let names: Vec<String> = others
            .iter()
            .map(|u| format!("uio{} ({})", u.index, u.name))
            .collect();
        r.push(
            "accel",
            Level::Info,
            format!("other UIO devices: {}", names.join(", ")),
            None,
        );
    }
    let Some(dev) = accel.first() else {
        r.push(
            "accel",
            Level::Missing,
            format!(
                "no UIO device named *{}* in {}",
                opts.uio_name,
                root.join("sys/class/uio").display()
            ),
            Some(ACCEL_FIX.into()),
        );
        check_devmem(root, r);
        return;
    };
    let maps: Vec<String> = dev
        .maps
        .iter()
        .map(|(a, s)| format!("{a:#x}+{s:#x}"))
        .collect();
    let what = format!(
        "uio{} \"{}\" ({}) map {}",
        dev.index,
        dev.name,
        dev.dev.display(),
        if maps.is_empty() {
            "none".into()
        } else {
            maps.join(", ")
        }
    );
    match dev.maps.first() {
        Some(&(addr, size)) if addr == regmap::CSR_BASE_PHYS && size >= regmap::CSR_SPAN as u64 => {
        }
        Some(_) => r.push(
            "accel",
            Level::Warn,
            format!(
                "{what}: expected the CSR block at {:#x}, span {:#x}",
                regmap::CSR_BASE_PHYS,
                regmap::CSR_SPAN
            ),
            Some(
                "the overlay's reg must match the component's bridge address \
                 (fpga/quartus/README.md step 3); the driver uses map 0 as is"
                    .into(),
            ),
        ),
        None => r.push(
            "accel",
            Level::Missing,
            format!("{what}: no memory map"),
            Some("the device-tree node needs reg = <0xff200000 0x100>".into()),
        ),
    }
    if !dev.dev.exists() {
        r.push(
            "accel",
            Level::Missing,
            format!("{what}: device node missing"),
            Some("is devtmpfs mounted on /dev? (udev creates /dev/uioN)".into()),
        );
        return;
    }
    if let Err(e) = rw_access(&dev.dev) {
        r.push(
            "accel",
            Level::Warn,
            format!(
                "{what}: cannot open read/write: {e} ({})",
                mode_of(&dev.dev)
            ),
            Some(UDEV_FIX.into()),
        );
        return;
    }
    match probe {
        None => r.push(
            "accel",
            Level::Ok,
            format!("{what}; ID register not read (no accelerator driver in this build)"),
            None,
        ),
        Some(probe) => match probe(dev) {
            Ok(id) => {
                let magic = id >> 16;
                let (major, minor) = ((id >> 8) & 0xff, id & 0xff);
                if magic == regmap::MAGIC && major == regmap::VERSION_MAJOR {
                    r.push(
                        "accel",
                        Level::Ok,
                        format!("{what}; lm_qconv v{major}.{minor} (ID {id:#010x})"),
                        None,
                    );
                } else {
                    r.push(
                        "accel",
                        Level::Missing,
                        format!(
                            "{what}: ID {id:#010x} is not lm_qconv v{}.x (magic {:#06x})",
                            regmap::VERSION_MAJOR,
                            regmap::MAGIC
                        ),
                        Some(
                            "load the lm_qconv bitstream matching this lm version; \
                             0xffffffff or 0 usually means the bridge is disabled \
                             (U-Boot: bridge enable)"
                                .into(),
                        ),
                    );
                }
            }
            Err(e) => r.push(
                "accel",
                Level::Missing,
                format!("{what}: cannot read the ID register: {e:#}"),
                Some(ACCEL_FIX.into()),
            ),
        },
    }
}

fn check_devmem(root: &Path, r: &mut Report) {
    let mem = root.join("dev/mem");
    if !mem.exists() {
        return;
    }
    match rw_access(&mem) {
        Ok(()) => r.push(
            "accel",
            Level::Info,
            format!(
                "{} is writable: the /dev/mem fallback (polling, no interrupt) can reach the \
                 CSR block at {:#x} if a bitstream is loaded",
                mem.display(),
                regmap::CSR_BASE_PHYS
            ),
            None,
        ),
        Err(_) => r.push(
            "accel",
            Level::Info,
            format!("{} needs root (fallback backend only)", mem.display()),
            None,
        ),
    }
}

fn check_udmabuf(opts: &DoctorOptions, r: &mut Report) {
    let class = opts.root.join("sys/class/u-dma-buf");
    for (name, min_size) in &opts.udmabufs {
        let sys = class.join(name);
        let dev = opts.root.join("dev").join(name);
        if !sys.exists() {
            r.push(
                "dma",
                Level::Missing,
                format!("u-dma-buf {name} not found in {}", class.display()),
                Some(format!(
                    "build and load the u-dma-buf module (insmod u-dma-buf.ko, or modprobe \
                     u-dma-buf) with the overlay's {name} node, or without the overlay: \
                     insmod u-dma-buf.ko {name}={min_size} (boards/de10_nano/SETUP.md)"
                )),
            );
            continue;
        }
        let size = read_trim(&sys.join("size")).and_then(|s| parse_num(&s));
        let phys = read_trim(&sys.join("phys_addr")).and_then(|s| parse_num(&s));
        let what = format!(
            "u-dma-buf {name}: size {}, phys_addr {}",
            size.map_or("?".into(), |s| format!("{s} B")),
            phys.map_or("?".into(), |p| format!("{p:#x}"))
        );
        if size.is_none_or(|s| s < *min_size) {
            r.push(
                "dma",
                Level::Warn,
                format!("{what}: smaller than the {min_size} B lm needs"),
                Some(format!(
                    "set size = <{min_size:#x}> in the overlay's {name} node (or {name}={min_size} \
                     as module parameter)"
                )),
            );
        } else if phys.is_none_or(|p| p + size.unwrap_or(0) > 1 << 32) {
            r.push(
                "dma",
                Level::Warn,
                format!("{what}: the accelerator only takes 32-bit physical addresses"),
                Some("allocate the buffer below 4 GiB (CMA / dma-mask)".into()),
            );
        } else if !dev.exists() {
            r.push(
                "dma",
                Level::Missing,
                format!("{what}: {} missing", dev.display()),
                Some("is devtmpfs mounted on /dev? (udev creates the node)".into()),
            );
        } else if let Err(e) = rw_access(&dev) {
            r.push(
                "dma",
                Level::Warn,
                format!(
                    "{what}: cannot open {} read/write: {e} ({})",
                    dev.display(),
                    mode_of(&dev)
                ),
                Some(UDEV_FIX.into()),
            );
        } else {
            r.push("dma", Level::Ok, what, None);
        }
    }
}

fn check_gpio(root: &Path, r: &mut Report) {
    let dev = root.join("dev");
    let mut chips: Vec<String> = fs::read_dir(&dev)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("gpiochip"))
                .collect()
        })
        .unwrap_or_default();
    chips.sort();
    let gpiomem = dev.join("gpiomem");
    if gpiomem.exists() {
        match rw_access(&gpiomem) {
            Ok(()) => r.push(
                "gpio",
                Level::Ok,
                "Raspberry Pi GPIO: /dev/gpiomem (pins rpi:<bcm>)".into(),
                None,
            ),
            Err(e) => r.push(
                "gpio",
                Level::Warn,
                format!("/dev/gpiomem: {e} ({})", mode_of(&gpiomem)),
                Some("sudo usermod -aG gpio $USER, then log in again".into()),
            ),
        }
    }
    if chips.is_empty() {
        r.push(
            "gpio",
            Level::Info,
            "no GPIO character device (/dev/gpiochipN): no status LED / trigger button".into(),
            None,
        );
        return;
    }
    let denied: Vec<&String> = chips
        .iter()
        .filter(|c| rw_access(&dev.join(c)).is_err())
        .collect();
    if denied.is_empty() {
        r.push(
            "gpio",
            Level::Ok,
            format!("GPIO chips: {} (pins gpiochipN:<line>)", chips.join(", ")),
            None,
        );
    } else {
        let d: Vec<&str> = denied.iter().map(|s| s.as_str()).collect();
        r.push(
            "gpio",
            Level::Warn,
            format!("GPIO chips {} not accessible", d.join(", ")),
            Some(
                "udev rule SUBSYSTEM==\"gpio\", GROUP=\"gpio\", MODE=\"0660\" and \
                 usermod -aG gpio $USER (boards/generic_aarch64/README.md)"
                    .into(),
            ),
        );
    }
}

/// Runs every check below `opts.root`. `probe` is the accelerator driver's ID reader (see the
/// module docs); `None` skips the ID check.
pub fn diagnose(opts: &DoctorOptions, probe: Option<IdProbe>) -> Report {
    let mut r = Report {
        root: opts.root.clone(),
        findings: Vec::new(),
    };
    check_board(&opts.root, &mut r);
    check_cpu(&opts.root, &mut r);
    check_accel(opts, probe, &mut r);
    check_udmabuf(opts, &mut r);
    check_gpio(&opts.root, &mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const DE10_CPUINFO: &str = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 0 (v7l)\n\
        BogoMIPS\t: 1594.16\nFeatures\t: half thumb fastmult vfp edsp thumbee neon vfpv3 tls \
        vfpd32\nCPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x3\n\
        CPU part\t: 0xc09\nCPU revision\t: 0\n\nprocessor\t: 1\n\
        model name\t: ARMv7 Processor rev 0 (v7l)\nFeatures\t: half thumb fastmult vfp edsp \
        thumbee neon vfpv3 tls vfpd32\nCPU part\t: 0xc09\n\nHardware\t: Altera SOCFPGA\n";

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// A DE10-Nano with the overlay applied and everything in place.
    fn de10(root: &Path) {
        write(root, "proc/device-tree/model", "Terasic DE10-Nano\0");
        write(root, "proc/cpuinfo", DE10_CPUINFO);
        write(root, "sys/class/uio/uio0/name", "lm-qconv\n");
        write(root, "sys/class/uio/uio0/maps/map0/addr", "0xff200000\n");
        write(root, "sys/class/uio/uio0/maps/map0/size", "0x00000100\n");
        write(root, "dev/uio0", "");
        write(root, "sys/class/u-dma-buf/udmabuf0/size", "16777216\n");
        write(
            root,
            "sys/class/u-dma-buf/udmabuf0/phys_addr",
            "0x3f000000\n",
        );
        write(root, "dev/udmabuf0", "");
        write(root, "dev/gpiochip0", "");
    }

    #[test]
    fn complete_de10_nano() {
        let t = tempfile::tempdir().unwrap();
        de10(t.path());
        let probe = |u: &UioDevice| -> anyhow::Result<u32> {
            assert_eq!(u.maps, vec![(0xff20_0000, 0x100)]);
            Ok(0x4c51_0100)
        };
        let r = diagnose(&DoctorOptions::new(t.path()), Some(&probe));
        let text = r.to_string();
        assert_eq!(r.count(Level::Missing), 0, "{text}");
        assert_eq!(r.count(Level::Warn), 0, "{text}");
        assert!(r.accelerator_ready(), "{text}");
        assert!(text.contains("Terasic DE10-Nano"), "{text}");
        assert!(text.contains("Cortex-A9, 2 core(s); NEON yes"), "{text}");
        assert!(text.contains("lm_qconv v1.0"), "{text}");
        assert!(text.contains("phys_addr 0x3f000000"), "{text}");
        assert!(text.ends_with("FPGA accelerator ready\n"), "{text}");
    }

    #[test]
    fn empty_root_reports_every_fix_without_panicking() {
        let t = tempfile::tempdir().unwrap();
        let r = diagnose(&DoctorOptions::new(t.path()), None);
        let text = r.to_string();
        assert!(!r.accelerator_ready());
        let accel: Vec<_> = r.area("accel").collect();
        assert_eq!(accel.len(), 1, "{text}");
        assert_eq!(accel[0].level, Level::Missing);
        assert!(accel[0].fix.as_deref().unwrap().contains("uio_pdrv_genirq"));
        // The FPGA backend's error gives the same fix.
        assert_eq!(accel[0].fix.as_deref(), Some(crate::accel::uio::UIO_HINT));
        let dma: Vec<_> = r.area("dma").collect();
        assert_eq!(dma[0].level, Level::Missing);
        assert!(dma[0].fix.as_deref().unwrap().contains("u-dma-buf"));
        assert!(text.contains("cannot read"), "{text}");
        assert!(text.contains("CPU only"), "{text}");
    }

    #[test]
    fn wrong_bitstream_and_probe_errors() {
        let t = tempfile::tempdir().unwrap();
        de10(t.path());
        let opts = DoctorOptions::new(t.path());
        let wrong = |_: &UioDevice| -> anyhow::Result<u32> { Ok(0xffff_ffff) };
        let r = diagnose(&opts, Some(&wrong));
        let f = r.area("accel").find(|f| f.level == Level::Missing).unwrap();
        assert!(f.what.contains("0xffffffff"), "{r}");
        assert!(f.fix.as_deref().unwrap().contains("bridge enable"));
        let failing = |_: &UioDevice| -> anyhow::Result<u32> { anyhow::bail!("mmap failed") };
        let r = diagnose(&opts, Some(&failing));
        assert!(r.to_string().contains("mmap failed"), "{r}");
        assert!(!r.accelerator_ready());
        // Without a driver the ID is not read, the device still counts as present.
        let r = diagnose(&opts, None);
        assert!(r.accelerator_ready(), "{r}");
        assert!(r.to_string().contains("ID register not read"));
    }

    #[test]
    fn misplaced_map_small_buffer_and_other_uio() {
        let t = tempfile::tempdir().unwrap();
        de10(t.path());
        write(t.path(), "sys/class/uio/uio0/maps/map0/addr", "0xff210000");
        write(t.path(), "sys/class/u-dma-buf/udmabuf0/size", "1048576");
        write(t.path(), "sys/class/uio/uio3/name", "fpga-bridge");
        let r = diagnose(&DoctorOptions::new(t.path()), None);
        let text = r.to_string();
        assert!(
            text.contains("other UIO devices: uio3 (fpga-bridge)"),
            "{text}"
        );
        assert!(
            text.contains("expected the CSR block at 0xff200000"),
            "{text}"
        );
        assert!(text.contains("smaller than the 16777216 B"), "{text}");
        assert_eq!(r.count(Level::Warn), 2, "{text}");
        assert!(!r.accelerator_ready());
    }

    #[test]
    fn missing_device_nodes() {
        let t = tempfile::tempdir().unwrap();
        de10(t.path());
        fs::remove_file(t.path().join("dev/uio0")).unwrap();
        fs::remove_file(t.path().join("dev/udmabuf0")).unwrap();
        let r = diagnose(&DoctorOptions::new(t.path()), None);
        assert_eq!(r.count(Level::Missing), 2, "{r}");
        assert!(r.to_string().contains("device node missing"));
    }

    #[test]
    fn raspberry_pi_and_x86_cpus() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "proc/cpuinfo",
            "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n\
             CPU implementer\t: 0x41\nCPU part\t: 0xd08\n\nprocessor\t: 1\n\n\
             Model\t: Raspberry Pi 4 Model B Rev 1.4\n",
        );
        write(t.path(), "dev/gpiomem", "");
        write(t.path(), "dev/gpiochip0", "");
        let r = diagnose(&DoctorOptions::new(t.path()), None);
        let text = r.to_string();
        assert!(
            text.contains("Raspberry Pi 4 Model B Rev 1.4, Cortex-A72, 2 core(s); NEON yes"),
            "{text}"
        );
        assert!(text.contains("/dev/gpiomem"), "{text}");

        write(
            t.path(),
            "proc/cpuinfo",
            "processor\t: 0\nmodel name\t: Some x86\nflags\t\t: fpu sse popcnt avx2\n",
        );
        let r = diagnose(&DoctorOptions::new(t.path()), None);
        assert!(r
            .to_string()
            .contains("Some x86, 1 core(s); x86 (popcnt avx2)"));

        write(
            t.path(),
            "proc/cpuinfo",
            "processor\t: 0\nmodel name\t: ARMv7\nFeatures\t: half thumb vfp\n",
        );
        let r = diagnose(&DoctorOptions::new(t.path()), None);
        let cpu = r.area("cpu").next().unwrap();
        assert_eq!(cpu.level, Level::Warn);
        assert!(cpu.what.contains("NEON no"));
    }

    #[test]
    fn real_root_does_not_panic() {
        let r = diagnose(&DoctorOptions::new("/"), None);
        assert!(r.area("cpu").count() == 1, "{r}");
    }
}
