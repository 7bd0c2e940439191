//! A paired data set in memory: the images every pair names, their partners (captions or
//! recordings, through the text and audio crates' readers), which pairs exist, and each item's
//! split.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::pairs::{PairsFile, PairsLayout, Partner, Split, read_splits};
use autodidact_audio::wav::read_wav;
use autodidact_core::error::DataError;
use autodidact_vision::data::ImageSet;
use autodidact_vision::data::named::read_named_images;

/// The other side of every pair.
#[derive(Clone, Debug)]
pub enum Partners {
    /// One caption per row of the pairs file.
    Captions(Vec<String>),
    /// One clip per distinct recording, resampled to `rate`.
    Audio {
        clips: Vec<Vec<f32>>,
        rate: u32,
        /// Each recording's path as the pairs file wrote it.
        names: Vec<String>,
    },
}

impl Partners {
    pub fn len(&self) -> usize {
        match self {
            Partners::Captions(c) => c.len(),
            Partners::Audio { clips, .. } => clips.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind(&self) -> Partner {
        match self {
            Partners::Captions(_) => Partner::Caption,
            Partners::Audio { .. } => Partner::Audio,
        }
    }
}

/// Images, their partners, the pairs between them and the splits.
#[derive(Clone, Debug)]
pub struct PairData {
    pub layout: PairsLayout,
    /// The images named by some pair, in the order of the image folder or archive.
    pub image_names: Vec<String>,
    pub images: ImageSet,
    pub partners: Partners,
    /// `(image, partner)` indices, one per row of the pairs file.
    pub pairs: Vec<(usize, usize)>,
    /// `None`: in no split (an image the split file does not name).
    pub image_split: Vec<Option<Split>>,
    pub partner_split: Vec<Option<Split>>,
}

impl PairData {
    /// Reads the paired data set at `path` (see [`PairsLayout::find`]); recordings are resampled
    /// to `rate`.
    pub fn load(path: &Path, rate: u32) -> anyhow::Result<Self> {
        let layout = PairsLayout::find(path)?;
        let file = PairsFile::read(&layout.pairs)?;
        let named = read_named_images(&layout.images, None)?;
        let index = named.index();
        let at = |row: &crate::pairs::PairRow| {
            index.get(row.image.as_str()).copied().ok_or_else(|| {
                DataError::invalid(
                    &file.path,
                    format!(
                        "line {}: image {} is not among the images of {}",
                        row.line,
                        row.image,
                        layout.images.display()
                    ),
                )
            })
        };
        // Keep the named images some pair uses, in their own order.
        let mut used = vec![false; named.names.len()];
        for row in &file.rows {
            used[at(row)?] = true;
        }
        let kept: Vec<usize> = (0..used.len()).filter(|&i| used[i]).collect();
        let mut new_index = vec![usize::MAX; used.len()];
        for (new, &old) in kept.iter().enumerate() {
            new_index[old] = new;
        }
        let images = named.images.subset(&kept);
        let image_names: Vec<String> = kept.iter().map(|&i| named.names[i].clone()).collect();

        let (partners, partner_of_row) = read_partners(&file, rate)?;
        let pairs: Vec<(usize, usize)> = file
            .rows
            .iter()
            .zip(&partner_of_row)
            .map(|(row, &p)| Ok((new_index[at(row)?], p)))
            .collect::<Result<_, DataError>>()?;

        let file_splits = layout.splits.as_deref().map(read_splits).transpose()?;
        // Each image and each partner takes the split of its first row; a later row giving it
        // another is refused.
        let mut image_split: Vec<Option<Option<Split>>> = vec![None; images.len()];
        let mut partner_split: Vec<Option<Option<Split>>> = vec![None; partners.len()];
        for (row, &(image, partner)) in file.rows.iter().zip(&pairs) {
            let split = match (&file_splits, row.split) {
                (_, Some(s)) => Some(s),
                (Some(map), None) => map.get(&row.image).copied(),
                (None, None) => Some(Split::Train),
            };
            let problem =
                |what: String| DataError::invalid(&file.path, format!("line {}: {what}", row.line));
            if *image_split[image].get_or_insert(split) != split {
                return Err(problem(format!("image {} is given two splits", row.image)).into());
            }
            if *partner_split[partner].get_or_insert(split) != split {
                return Err(problem(format!(
                    "{} {} is paired with images of two splits",
                    file.partner.name(),
                    row.partner
                ))
                .into());
            }
        }
        let image_split = image_split.into_iter().map(Option::flatten).collect();
        let partner_split = partner_split.into_iter().map(Option::flatten).collect();
        Ok(Self {
            layout,
            image_names,
            images,
            partners,
            pairs,
            image_split,
            partner_split,
        })
    }

    /// The images of `split`, in order.
    pub fn images_in(&self, split: Split) -> Vec<usize> {
        (0..self.images.len())
            .filter(|&i| self.image_split[i] == Some(split))
            .collect()
    }

    /// The partners of `split`, in order.
    pub fn partners_in(&self, split: Split) -> Vec<usize> {
        (0..self.partners.len())
            .filter(|&i| self.partner_split[i] == Some(split))
            .collect()
    }

    /// Each image's partners.
    pub fn partners_of_images(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.images.len()];
        for &(i, p) in &self.pairs {
            out[i].push(p);
        }
        out
    }
}

/// The partners of `file` and each row's partner index: a caption per row, a clip per distinct
/// recording.
fn read_partners(file: &PairsFile, rate: u32) -> anyhow::Result<(Partners, Vec<usize>)> {
    match file.partner {
        Partner::Caption => Ok((
            Partners::Captions(file.rows.iter().map(|r| r.partner.clone()).collect()),
            (0..file.rows.len()).collect(),
        )),
        Partner::Audio => {
            let base = file.path.parent().unwrap_or(Path::new("."));
            let mut index: HashMap<&str, usize> = HashMap::new();
            let mut names: Vec<String> = Vec::new();
            let mut lines: Vec<usize> = Vec::new();
            let of_row: Vec<usize> = file
                .rows
                .iter()
                .map(|r| {
                    *index.entry(r.partner.as_str()).or_insert_with(|| {
                        names.push(r.partner.clone());
                        lines.push(r.line);
                        names.len() - 1
                    })
                })
                .collect();
            let clips = names
                .par_iter()
                .zip(&lines)
                .map(|(name, line)| {
                    let path: PathBuf = base.join(name);
                    read_wav(&path, rate)
                        .map_err(|e| DataError::invalid(&file.path, format!("line {line}: {e}")))
                })
                .collect::<Result<Vec<_>, DataError>>()?;
            Ok((Partners::Audio { clips, rate, names }, of_row))
        }
    }
}
