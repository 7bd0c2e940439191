//! The pairs reader: layouts found from a folder, splits from a file or a column, and errors
//! that name the file and the line.

use std::path::Path;

use autodidact_multimodal::data::{PairData, Partners};
use autodidact_multimodal::pairs::{PairsFile, PairsLayout, Partner, Split};
use autodidact_multimodal::synthetic::{write_caption_pairs, write_speech_pairs};

fn error_of(result: anyhow::Result<PairData>) -> String {
    format!("{:#}", result.expect_err("an error"))
}

#[test]
fn a_folder_laid_out_as_flickr8k_needs_no_other_flag() {
    let dir = tempfile::tempdir().unwrap();
    write_caption_pairs(dir.path(), 4).unwrap();
    let layout = PairsLayout::find(dir.path()).unwrap();
    assert_eq!(layout.pairs, dir.path().join("captions.tsv"));
    assert_eq!(layout.images, dir.path().join("images"));
    assert_eq!(layout.splits, Some(dir.path().join("splits.tsv")));
    let data = PairData::load(dir.path(), 8000).unwrap();
    assert_eq!(data.images.len(), 32);
    assert_eq!(data.partners.len(), 64);
    assert_eq!(data.images_in(Split::Test).len(), 8);
    assert_eq!(data.partners_in(Split::Test).len(), 16);
    let Partners::Captions(captions) = &data.partners else {
        panic!("captions expected");
    };
    assert_eq!(captions[0], "a red square");
    // Each image holds both of its captions.
    assert!(data.partners_of_images().iter().all(|p| p.len() == 2));
}

#[test]
fn speech_pairs_read_each_recording_once_and_take_the_split_column() {
    let dir = tempfile::tempdir().unwrap();
    write_speech_pairs(dir.path(), 2, 4).unwrap();
    let data = PairData::load(&dir.path().join("pairs.tsv"), 8000).unwrap();
    assert_eq!(data.partners.kind(), Partner::Audio);
    assert_eq!(data.images.len(), 14);
    assert_eq!(data.partners.len(), 14);
    assert_eq!(data.images_in(Split::Train).len(), 8);
    assert_eq!(data.layout.splits, None);
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn a_missing_image_an_empty_caption_and_a_bad_split_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_caption_pairs(dir.path(), 1).unwrap();
    let pairs = dir.path().join("captions.tsv");
    write(
        dir.path(),
        "captions.tsv",
        "image\tcaption\n0000.png\ta red square\nnope.png\ta dog\n",
    );
    let err = error_of(PairData::load(dir.path(), 8000));
    assert!(err.contains(&pairs.display().to_string()), "{err}");
    assert!(
        err.contains("line 3: image nope.png is not among the images of"),
        "{err}"
    );

    write(dir.path(), "captions.tsv", "image\tcaption\n0000.png\t  \n");
    let err = error_of(PairData::load(dir.path(), 8000));
    assert!(err.contains("line 2: empty caption"), "{err}");

    write(
        dir.path(),
        "captions.tsv",
        "image\tcaption\tsplit\n0000.png\ta red square\tholdout\n",
    );
    let err = error_of(PairData::load(&pairs, 8000));
    assert!(err.contains("line 2: split \"holdout\""), "{err}");

    write(
        dir.path(),
        "captions.tsv",
        "picture\tcaption\n0000.png\ta red square\n",
    );
    let err = format!("{:#}", PairsFile::read(&pairs).unwrap_err());
    assert!(
        err.contains("line 1: the header names no `image` column"),
        "{err}"
    );
}

#[test]
fn a_folder_without_pairs_or_images_says_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let err = format!("{:#}", PairsLayout::find(dir.path()).unwrap_err());
    assert!(err.contains("holds no pairs file"), "{err}");
    write(dir.path(), "pairs.csv", "image,caption\na.png,a cat\n");
    let err = format!("{:#}", PairsLayout::find(dir.path()).unwrap_err());
    assert!(err.contains("holds no images"), "{err}");
}

#[test]
fn a_recording_that_cannot_be_read_names_the_pairs_line_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_speech_pairs(dir.path(), 1, 1).unwrap();
    write(
        dir.path(),
        "pairs.tsv",
        "image\taudio\tsplit\n0000.png\tmissing.wav\ttrain\n",
    );
    let err = error_of(PairData::load(&dir.path().join("pairs.tsv"), 8000));
    assert!(
        err.contains("line 2:") && err.contains("missing.wav"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_pairs_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_caption_pairs(dir.path(), 1).unwrap();
    let archive = dir.path().join("images.tar.gz");
    std::fs::write(&archive, [0x1f, 0x8b, 0, 0]).unwrap();
    let err = format!("{:#}", PairsLayout::find(&archive).unwrap_err());
    assert!(
        err.contains("images.tar.gz") && err.contains("is not a pairs file"),
        "{err}"
    );
    let splits = dir.path().join("splits.tsv");
    assert!(
        PairsLayout::find(&splits).is_err(),
        "a split file is not a pairs file"
    );
    assert!(PairsLayout::find(&dir.path().join("captions.tsv")).is_ok());
}
