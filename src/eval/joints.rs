//! Pairs the model's joints (meta.yaml `KEYPOINTS.names`) with the ground
//! truth's, by name. Names are compared in a canonical spelling (lower case,
//! `_` for spaces and dashes, `l_`/`r_` spelt out) with a few synonyms
//! between joint sets (EfficientPose's `head`/`neck`/`chest` are MPII's
//! `head_top`/`upper_neck`/`thorax`).

/// Synonyms: (alternative, canonical).
const SYNONYMS: [(&str, &str); 8] = [
    ("head", "head_top"),
    ("top_head", "head_top"),
    ("headtop", "head_top"),
    ("neck", "upper_neck"),
    ("chest", "thorax"),
    ("pelvis_center", "pelvis"),
    ("mid_hip", "pelvis"),
    ("nose_tip", "nose"),
];

/// The canonical spelling of a joint name.
pub fn canonical(name: &str) -> String {
    let mut s: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    for (short, long) in [("l_", "left_"), ("r_", "right_")] {
        if let Some(rest) = s.strip_prefix(short) {
            s = format!("{long}{rest}");
        }
    }
    for (alt, canon) in SYNONYMS {
        if s == alt {
            return canon.to_string();
        }
    }
    s
}

/// Which model joint is which ground-truth joint.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JointMap {
    /// (model joint index, ground-truth joint index, canonical name), in the
    /// model's order.
    pub pairs: Vec<(usize, usize, String)>,
    /// Model joints the ground truth does not label.
    pub unmatched_model: Vec<String>,
    /// Ground-truth joints the model does not predict.
    pub unmatched_gt: Vec<String>,
}

impl JointMap {
    pub fn by_name(model: &[String], gt: &[String]) -> JointMap {
        let gt_canon: Vec<String> = gt.iter().map(|n| canonical(n)).collect();
        let mut pairs = vec![];
        let mut unmatched_model = vec![];
        let mut used = vec![false; gt.len()];
        for (m, name) in model.iter().enumerate() {
            let c = canonical(name);
            match gt_canon.iter().position(|g| *g == c) {
                Some(g) if !used[g] => {
                    used[g] = true;
                    pairs.push((m, g, c));
                }
                _ => unmatched_model.push(name.clone()),
            }
        }
        let unmatched_gt = gt
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(n, _)| n.clone())
            .collect();
        JointMap {
            pairs,
            unmatched_model,
            unmatched_gt,
        }
    }

    /// Ground-truth index of a canonical joint name, if paired.
    pub fn gt_index(&self, name: &str) -> Option<usize> {
        self.pairs.iter().find(|p| p.2 == name).map(|p| p.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn canonical_spellings_and_synonyms() {
        assert_eq!(canonical("R_Ankle"), "right_ankle");
        assert_eq!(canonical("left shoulder"), "left_shoulder");
        assert_eq!(canonical("Left-Hip"), "left_hip");
        assert_eq!(canonical("neck"), "upper_neck");
        assert_eq!(canonical("head"), "head_top");
        assert_eq!(canonical("nose"), "nose");
    }

    #[test]
    fn pairs_by_name_and_lists_the_rest() {
        let model = names(&["nose", "left_shoulder", "r_wrist", "tail"]);
        let gt = names(&["right_wrist", "head_top", "left_shoulder"]);
        let m = JointMap::by_name(&model, &gt);
        assert_eq!(
            m.pairs,
            vec![
                (1, 2, "left_shoulder".to_string()),
                (2, 0, "right_wrist".to_string())
            ]
        );
        assert_eq!(m.unmatched_model, names(&["nose", "tail"]));
        assert_eq!(m.unmatched_gt, names(&["head_top"]));
        assert_eq!(m.gt_index("right_wrist"), Some(0));
        assert_eq!(m.gt_index("nose"), None);
    }
}
