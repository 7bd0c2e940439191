//! The real Free Spoken Digit recordings through a manifest, as `bench/fsdd_manifests.py` writes
//! it: one speaker's 500 clips, the official split (recordings 0-4 test).

use std::path::Path;

use autodidact_audio::data::load_audio;
use autodidact_audio::features::{MelConfig, MelSpectrogram, mfcc_statistics};

#[test]
#[cfg_attr(
    not(shared_data),
    ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
)]
fn one_speakers_digits_through_a_manifest() {
    let recordings = Path::new(env!("AUTODIDACT_SHARED_DATA")).join("fsdd/recordings");
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = String::from("path,label,split\n");
    for digit in 0..10 {
        for index in 0..50 {
            let file = recordings.join(format!("{digit}_george_{index}.wav"));
            let split = if index <= 4 { "test" } else { "train" };
            manifest.push_str(&format!("{},{digit},{split}\n", file.display()));
        }
    }
    let path = dir.path().join("george.csv");
    std::fs::write(&path, manifest).unwrap();
    let data = load_audio(&path, 8000).unwrap_or_else(|e| panic!("{e:#}"));
    let test = data.test.expect("a test split");
    assert_eq!((data.train.len(), test.len()), (450, 50));
    assert_eq!(data.train.class_names.len(), 10);
    // FSDD's clips last 0.14 to 2.28 s at 8 kHz; none is cut or padded by reading.
    for clip in data.train.clips.iter().chain(&test.clips) {
        assert!((1000..=18500).contains(&clip.len()), "{}", clip.len());
        assert!(clip.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    }
    let mel = MelSpectrogram::new(MelConfig::speech(8000));
    let stats = mfcc_statistics(&mel.log_mel(&data.train.clips[0]), 13);
    assert_eq!(stats.len(), 26);
    assert!(stats.iter().all(|v| v.is_finite()));
}
