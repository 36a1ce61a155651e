//! The project's `gt_coco17.json` (../shared/people/README.md): every
//! person of the eval folder in COCO-17 order, `keypoints_coco17` as
//! 17 × [x, y, v], `bbox_xywh`, and the `dataset` it comes from.

use crate::eval::joints::canonical;
use crate::eval::{BoxXywh, GroundTruth, GtJoint, Sample};
use anyhow::{ensure, Context, Result};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct File {
    coco17_names: Vec<String>,
    persons: Vec<Person>,
}

#[derive(Deserialize)]
struct Person {
    image: String,
    #[serde(default)]
    dataset: Option<String>,
    bbox_xywh: [f64; 4],
    #[serde(default)]
    bbox_from: Option<String>,
    keypoints_coco17: Vec<[f64; 3]>,
    #[serde(default, deserialize_with = "crate::eval::gt::flag")]
    iscrowd: bool,
}

pub fn parse(text: &str) -> Result<GroundTruth> {
    let file: File = serde_json::from_str(text).context("not a gt_coco17.json index")?;
    let names: Vec<String> = file.coco17_names.iter().map(|n| canonical(n)).collect();
    let mut samples = vec![];
    let mut skipped = vec![];
    for (ix, p) in file.persons.iter().enumerate() {
        ensure!(
            p.keypoints_coco17.len() == names.len(),
            "persons[{ix}] ({}): {} keypoints, expected {}",
            p.image,
            p.keypoints_coco17.len(),
            names.len()
        );
        let joints: Vec<GtJoint> = p
            .keypoints_coco17
            .iter()
            .map(|&[x, y, v]| GtJoint {
                x,
                y,
                v: v.clamp(0.0, 2.0) as u8,
            })
            .collect();
        if p.iscrowd {
            skipped.push(format!("{}: crowd region (iscrowd 1)", p.image));
            continue;
        }
        if joints.iter().all(|j| !j.labelled()) {
            skipped.push(format!("{}: no labelled joint", p.image));
            continue;
        }
        let [x, y, w, h] = p.bbox_xywh;
        samples.push(Sample {
            image: PathBuf::from(&p.image),
            dataset: p.dataset.clone().unwrap_or_else(|| "coco17-index".into()),
            bbox: BoxXywh { x, y, w, h },
            bbox_from: p.bbox_from.clone().unwrap_or_else(|| "annotation".into()),
            joints,
            area: w * h,
            head_size: None,
        });
    }
    Ok(GroundTruth {
        joint_names: names,
        samples,
        skipped,
        ignored: vec![],
        notes: vec!["no segmentation area in the index: OKS uses the box area w × h".into()],
    })
}
