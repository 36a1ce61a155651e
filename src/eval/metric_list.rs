//! `lm eval --metric`: which figures the terminal tables show.
//!
//! A comma-separated list (or the option repeated): `pck@A` (PCK by the box's longer side at
//! α = A), `tpck@A` (by the torso), `pckh@A` (MPII's head size), `oks` (COCOeval AP, AP50, AR;
//! data-set rows only, OKS has no per-joint figure) and `px` (mean and median pixel error).
//! `report.json` always carries the fixed α set of [`super::report::Scores`] plus every α asked
//! for here, so a script reading it does not depend on the columns chosen.

use anyhow::{bail, Result};
use std::fmt;
use std::str::FromStr;

/// One reported figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// PCK@α normalised by the box's longer side.
    Pck(f64),
    /// PCK@α normalised by the torso (left shoulder – right hip).
    PckTorso(f64),
    /// PCKh@α (pelvis and thorax left out, as MPII's mean).
    Pckh(f64),
    /// COCO OKS AP, AP50 and AR.
    Oks,
    /// Mean and median distance in image pixels.
    PixelError,
}

/// The columns without `--metric`.
pub const DEFAULT_METRICS: [Metric; 7] = [
    Metric::Pck(0.1),
    Metric::Pck(0.2),
    Metric::PckTorso(0.2),
    Metric::Pckh(0.1),
    Metric::Pckh(0.5),
    Metric::Oks,
    Metric::PixelError,
];

const SYNTAX: &str = "pck@A, tpck@A, pckh@A (A in (0, 1]), oks or px";

impl FromStr for Metric {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Metric> {
        let spec = s.trim().to_ascii_lowercase();
        match spec.as_str() {
            "oks" | "ap" => return Ok(Metric::Oks),
            "px" | "error" => return Ok(Metric::PixelError),
            _ => {}
        }
        let Some((name, alpha)) = spec.split_once('@') else {
            bail!("--metric {s:?}: expected {SYNTAX}");
        };
        let a: f64 = match alpha.parse() {
            Ok(a) if a > 0.0 && a <= 1.0 => a,
            _ => bail!("--metric {s:?}: α {alpha:?} is not a number in (0, 1]"),
        };
        Ok(match name {
            "pck" => Metric::Pck(a),
            "tpck" | "pck-torso" => Metric::PckTorso(a),
            "pckh" => Metric::Pckh(a),
            _ => bail!("--metric {s:?}: unknown metric {name:?}; expected {SYNTAX}"),
        })
    }
}

/// `.2` for 0.2, as the column headers write α.
fn short(alpha: f64) -> String {
    let s = format!("{alpha}");
    s.strip_prefix('0').map(str::to_string).unwrap_or(s)
}

impl fmt::Display for Metric {
    /// The metric as `--metric` spells it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Pck(a) => write!(f, "pck@{a}"),
            Metric::PckTorso(a) => write!(f, "tpck@{a}"),
            Metric::Pckh(a) => write!(f, "pckh@{a}"),
            Metric::Oks => write!(f, "oks"),
            Metric::PixelError => write!(f, "px"),
        }
    }
}

/// In report.json as `--metric` spells it.
impl serde::Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Metric {
    /// Column headers of this metric in the per-joint table (OKS has none there).
    pub fn joint_columns(&self) -> Vec<String> {
        match self {
            Metric::Oks => vec![],
            _ => self.dataset_columns(),
        }
    }

    /// Column headers of this metric in the per-data-set table.
    pub fn dataset_columns(&self) -> Vec<String> {
        match self {
            Metric::Pck(a) => vec![format!("PCK@{}", short(*a))],
            Metric::PckTorso(a) => vec![format!("tPCK@{}", short(*a))],
            Metric::Pckh(a) => vec![format!("PCKh@{}", short(*a))],
            Metric::Oks => vec!["AP".into(), "AP50".into(), "AR".into()],
            Metric::PixelError => vec!["mean px".into(), "median px".into()],
        }
    }
}

/// Parses `--metric` values (each may be a comma-separated list); empty: [`DEFAULT_METRICS`].
/// A metric named twice is reported once.
pub fn parse_metrics<S: AsRef<str>>(values: &[S]) -> Result<Vec<Metric>> {
    let mut out: Vec<Metric> = vec![];
    for v in values {
        for part in v.as_ref().split(',').filter(|p| !p.trim().is_empty()) {
            let m: Metric = part.parse()?;
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    if out.is_empty() {
        out = DEFAULT_METRICS.to_vec();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_repeats_and_defaults() {
        assert_eq!(
            parse_metrics(&["pck@0.15,PCKh@0.5", "oks", "pck@0.15"]).unwrap(),
            vec![Metric::Pck(0.15), Metric::Pckh(0.5), Metric::Oks]
        );
        assert_eq!(
            parse_metrics(&["tpck@1", "pck-torso@0.3", "px"]).unwrap(),
            vec![
                Metric::PckTorso(1.0),
                Metric::PckTorso(0.3),
                Metric::PixelError
            ]
        );
        assert_eq!(
            parse_metrics::<&str>(&[]).unwrap(),
            DEFAULT_METRICS.to_vec()
        );
        for m in DEFAULT_METRICS {
            assert_eq!(m.to_string().parse::<Metric>().unwrap(), m);
        }
    }

    #[test]
    fn refuses_unknown_names_and_alphas_out_of_range() {
        for (bad, says) in [
            ("pck", "expected pck@A"),
            ("pck@0", "not a number in (0, 1]"),
            ("pckh@1.5", "not a number in (0, 1]"),
            ("pck@x", "not a number"),
            ("pck@NaN", "not a number"),
            ("auc@0.2", "unknown metric \"auc\""),
        ] {
            let e = parse_metrics(&[bad]).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn column_headers() {
        assert_eq!(Metric::Pck(0.2).dataset_columns(), ["PCK@.2"]);
        assert_eq!(Metric::Pckh(0.05).joint_columns(), ["PCKh@.05"]);
        assert_eq!(Metric::PckTorso(1.0).joint_columns(), ["tPCK@1"]);
        assert!(Metric::Oks.joint_columns().is_empty());
        assert_eq!(Metric::Oks.dataset_columns(), ["AP", "AP50", "AR"]);
    }
}
