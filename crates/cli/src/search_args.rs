//! `autodidact search`'s flags: a text run's corpus and query, or an image-caption run's images,
//! query image and contact sheet.

use std::path::PathBuf;

use clap::Args;

use super::flags;
use autodidact_core::train::limits;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Run folder of a text pre-training (mlm, clm or simcse) or of an image-caption one (clip,
    /// siglip).
    #[arg(long)]
    pub(super) run: PathBuf,
    /// Text runs: text file (one document per line) or labelled .tsv/.csv whose texts are
    /// searched.
    #[arg(long)]
    pub(super) corpus: Option<PathBuf>,
    /// The text to find neighbours of.
    #[arg(long, required_unless_present_any = ["evaluate", "image"])]
    pub(super) query: Option<String>,
    /// Image-caption runs: the images searched, a folder or .tar/.tar.gz of them, or a paired
    /// data set (its test images) [default: the run's own pairs, their test images].
    #[arg(long)]
    pub(super) images: Option<PathBuf>,
    /// Image-caption runs: find the captions nearest to this image (among the run's pairs'
    /// test captions).
    #[arg(long, conflicts_with = "query")]
    pub(super) image: Option<PathBuf>,
    /// Image-caption runs: where the contact sheet of the images found goes [default:
    /// RUN/search/<query>.png].
    #[arg(long)]
    pub(super) sheet: Option<PathBuf>,
    /// Neighbours to return.
    #[arg(short = 'k', long = "k", default_value_t = 10, value_parser = flags::int(limits::NEIGHBOURS))]
    pub(super) k: usize,
    /// Measure instead of answering: every text of a labelled corpus is a query against the
    /// others; prints the mean share of its k neighbours with its label (precision@k).
    #[arg(long)]
    pub(super) evaluate: bool,
    /// Write the answer as JSON.
    #[arg(long)]
    pub(super) json: Option<PathBuf>,
}
