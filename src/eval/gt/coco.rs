//! COCO `person_keypoints` json: one sample per annotation of the keypoint
//! category. As COCOeval does, crowd regions (`iscrowd: 1`) and persons with
//! `num_keypoints == 0` are not scored (they are listed as skipped).

use crate::eval::gt::number;
use crate::eval::joints::canonical;
use crate::eval::{BoxXywh, GroundTruth, GtJoint, IgnoredInstance, Sample};
use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Deserialize)]
struct File {
    images: Vec<Image>,
    annotations: Vec<Annotation>,
    categories: Vec<Category>,
}

#[derive(Deserialize)]
struct Image {
    id: u64,
    file_name: String,
}

#[derive(Deserialize)]
struct Category {
    id: u64,
    name: String,
    #[serde(default)]
    keypoints: Vec<String>,
}

#[derive(Deserialize)]
struct Annotation {
    id: Option<u64>,
    image_id: u64,
    category_id: u64,
    keypoints: Option<Vec<serde_json::Value>>,
    num_keypoints: Option<u64>,
    #[serde(default, deserialize_with = "crate::eval::gt::flag")]
    iscrowd: bool,
    bbox: Option<[f64; 4]>,
    area: Option<f64>,
}

pub fn parse(text: &str) -> Result<GroundTruth> {
    let file: File = serde_json::from_str(text).context("not COCO keypoint json")?;
    let category = file
        .categories
        .iter()
        .find(|c| !c.keypoints.is_empty())
        .context("no category with `keypoints` names")?;
    let names: Vec<String> = category.keypoints.iter().map(|n| canonical(n)).collect();
    let images: HashMap<u64, &str> = file
        .images
        .iter()
        .map(|i| (i.id, i.file_name.as_str()))
        .collect();
    let mut samples = vec![];
    let mut skipped = vec![];
    let mut ignored = vec![];
    for (ix, a) in file.annotations.iter().enumerate() {
        if a.category_id != category.id {
            continue;
        }
        let what = || format!("annotation {} (id {:?})", ix, a.id);
        let image = *images
            .get(&a.image_id)
            .with_context(|| format!("{}: image_id {} not in `images`", what(), a.image_id))?;
        let flat = a
            .keypoints
            .as_ref()
            .with_context(|| format!("{}: no `keypoints`", what()))?;
        ensure!(
            flat.len() == 3 * names.len(),
            "{}: {} keypoint values, expected 3 × {} ({} names)",
            what(),
            flat.len(),
            names.len(),
            category.name
        );
        let mut joints = Vec::with_capacity(names.len());
        for (k, t) in flat.chunks(3).enumerate() {
            let at = |c: usize| number(&t[c], || format!("{}: keypoint {k}", what()));
            let v = at(2)?;
            if !(v == 0.0 || v == 1.0 || v == 2.0) {
                bail!(
                    "{}: keypoint {k} has visibility {v} (COCO: 0, 1 or 2)",
                    what()
                );
            }
            joints.push(GtJoint {
                x: at(0)?,
                y: at(1)?,
                v: v as u8,
            });
        }
        let labelled = joints.iter().filter(|j| j.labelled()).count() as u64;
        let num_keypoints = a.num_keypoints.unwrap_or(labelled);
        let (bbox, bbox_from) = match (a.bbox, BoxXywh::around(&joints)) {
            (Some([x, y, w, h]), _) => (BoxXywh { x, y, w, h }, "annotation"),
            (None, Some(b)) => (b, "keypoint extent"),
            (None, None) => (
                BoxXywh {
                    x: 0.0,
                    y: 0.0,
                    w: 0.0,
                    h: 0.0,
                },
                "none",
            ),
        };
        let area = a.area.unwrap_or(bbox.w * bbox.h);
        if a.iscrowd || num_keypoints == 0 {
            skipped.push(format!(
                "{image}: {}, ignored as COCOeval does",
                if a.iscrowd {
                    "crowd region (iscrowd 1)"
                } else {
                    "num_keypoints 0"
                }
            ));
            ignored.push(IgnoredInstance {
                image: PathBuf::from(image),
                joints,
                bbox,
                area,
                iscrowd: a.iscrowd,
            });
            continue;
        }
        samples.push(Sample {
            image: PathBuf::from(image),
            dataset: "coco".into(),
            bbox,
            bbox_from: bbox_from.into(),
            joints,
            area,
            head_size: None,
        });
    }
    Ok(GroundTruth {
        joint_names: names,
        samples,
        skipped,
        ignored,
        notes: vec![],
    })
}
