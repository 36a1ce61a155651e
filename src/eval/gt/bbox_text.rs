//! `filename xmin,ymin,xmax,ymax px,py px,py ...`: one instance a line
//! (the Hourglass-71 seed's labels). A point may carry a third value, the
//! visibility (`px,py,v`); negative coordinates mark an unlabelled joint.
//! Blank lines and lines starting with `#` are skipped. The format has no
//! joint names: 17 points are COCO-17, 16 MPII (mmpose order), any other
//! count `joint_0`, `joint_1`, ….

use crate::config::COCO17_NAMES;
use crate::eval::gt::mpii::MPII16_NAMES;
use crate::eval::{BoxXywh, GroundTruth, GtJoint, Sample};
use anyhow::{bail, ensure, Context, Result};
use std::path::PathBuf;

fn numbers(field: &str, line: usize) -> Result<Vec<f64>> {
    field
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .with_context(|| format!("line {line}: `{s}` in `{field}` is not a number"))
        })
        .collect()
}

pub fn parse(text: &str) -> Result<GroundTruth> {
    let mut samples = vec![];
    let mut points: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let mut fields = raw.split_whitespace();
        let file = fields.next().expect("non-empty line");
        let bbox = fields
            .next()
            .with_context(|| format!("line {line}: no `xmin,ymin,xmax,ymax` after {file}"))?;
        let b = numbers(bbox, line)?;
        ensure!(
            b.len() == 4,
            "line {line}: box `{bbox}` has {} values, expected xmin,ymin,xmax,ymax",
            b.len()
        );
        ensure!(
            b[2] > b[0] && b[3] > b[1],
            "line {line}: box `{bbox}` is empty (xmax <= xmin or ymax <= ymin)"
        );
        let mut joints = vec![];
        for p in fields {
            let v = numbers(p, line)?;
            let joint = match v[..] {
                [x, y] | [x, y, _] if x < 0.0 || y < 0.0 => GtJoint::UNLABELLED,
                [_, _, vis] if vis <= 0.0 => GtJoint::UNLABELLED,
                [x, y] => GtJoint { x, y, v: 2 },
                [x, y, vis] => GtJoint {
                    x,
                    y,
                    v: if vis >= 2.0 { 2 } else { 1 },
                },
                _ => bail!("line {line}: point `{p}` is not px,py or px,py,v"),
            };
            joints.push(joint);
        }
        // (Found by fuzz/gt_readers: a file of boxes alone named its joints `joint_0..joint_-1`.)
        ensure!(
            !joints.is_empty(),
            "line {line}: no `px,py` points after the box `{bbox}`"
        );
        match points {
            None => points = Some(joints.len()),
            Some(n) if n != joints.len() => bail!(
                "line {line}: {} points, but the first instance has {n}",
                joints.len()
            ),
            _ => {}
        }
        let bbox = BoxXywh {
            x: b[0],
            y: b[1],
            w: b[2] - b[0],
            h: b[3] - b[1],
        };
        samples.push(Sample {
            image: PathBuf::from(file),
            dataset: "bbox-text".into(),
            bbox,
            bbox_from: "annotation".into(),
            joints,
            area: bbox.w * bbox.h,
            head_size: None,
        });
    }
    let n = points.context("no instance (every line blank or a comment)")?;
    let (names, note): (Vec<String>, String) = match n {
        17 => (
            COCO17_NAMES.iter().map(|s| s.to_string()).collect(),
            "17 points per line: read as COCO-17".into(),
        ),
        16 => (
            MPII16_NAMES.iter().map(|s| s.to_string()).collect(),
            "16 points per line: read as MPII-16 (mmpose order)".into(),
        ),
        _ => (
            (0..n).map(|i| format!("joint_{i}")).collect(),
            format!(
                "{n} points per line: no known joint set, named joint_0..joint_{}",
                n - 1
            ),
        ),
    };
    Ok(GroundTruth {
        joint_names: names,
        samples,
        skipped: vec![],
        ignored: vec![],
        notes: vec![note],
    })
}
