//! Short real runs on generated pairs: both methods lower their loss and align the towers
//! (Recall@1 on the test pairs), a locked image tower does not move, and the zero-shot path
//! reads class names through the prompts.

use std::path::Path;

use autodidact_core::train::metrics::TrainOptions;
use autodidact_multimodal::batch::PreparedPartners;
use autodidact_multimodal::data::PairData;
use autodidact_multimodal::eval::{embed_images, evaluate_retrieval};
use autodidact_multimodal::methods::PairMethodKind;
use autodidact_multimodal::pairs::Split;
use autodidact_multimodal::synthetic::{SIDE, write_caption_pairs, write_speech_pairs};
use autodidact_multimodal::train::{
    PairRunConfig, caption_tokenizer, initial_towers, load_towers, pretrain,
};
use burn::prelude::*;

fn quiet() -> TrainOptions {
    TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    }
}

fn config(method: PairMethodKind, data: &PairData, path: &Path, steps: usize) -> PairRunConfig {
    let mut cfg = PairRunConfig::defaults(method, data, path.to_path_buf());
    cfg.steps = steps;
    cfg.batch_size = 16;
    cfg.towers.vocab_size = 200;
    cfg.towers.embed_dim = 32;
    cfg.log_every = 5;
    cfg.checkpoint_every = 1000;
    cfg
}

/// Trains `method` on generated image-caption pairs; returns (final loss, test text-to-image
/// Recall@1).
fn train_captions(method: PairMethodKind) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("pairs");
    write_caption_pairs(&data_dir, 8).unwrap();
    let data = PairData::load(&data_dir, 8000).unwrap();
    let cfg = config(method, &data, &data_dir, 60);
    cfg.validate("test").unwrap();
    let tokenizer = caption_tokenizer(&cfg, &data).unwrap().expect("captions");
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let summary = pretrain(&cfg, &data, Some(&tokenizer), &run, &quiet()).unwrap();
    assert_eq!(summary.steps, 60);
    let towers = load_towers(&cfg, &run, &Device::flex()).unwrap();
    let prepared = PreparedPartners::of(&data.partners, Some(&tokenizer), 32).unwrap();
    let r = evaluate_retrieval(&towers, &data, &prepared, Split::Test, cfg.image_size).unwrap();
    (summary.final_loss, r.text_to_image.r1)
}

#[test]
fn clip_learns_which_caption_goes_with_which_picture() {
    let (loss, r1) = train_captions(PairMethodKind::Clip);
    // Chance: ln(16) = 2.77 at the start; 8 kinds of picture in 16 pairs leave about ln(2).
    assert!(loss < 1.6, "final loss {loss}");
    // 8 test images, one of each kind: chance at R@1 is 1/8.
    assert!(r1 >= 0.5, "text-to-image R@1 {r1}");
}

#[test]
fn siglip_learns_which_caption_goes_with_which_picture() {
    let (loss, r1) = train_captions(PairMethodKind::Siglip);
    // At the start every logit sits near the bias, -10: the loss is about 10 / 16 * 16 / 16 ...
    // far above what the towers reach once pairs score above the bias.
    assert!(loss < 3.0, "final loss {loss}");
    assert!(r1 >= 0.5, "text-to-image R@1 {r1}");
}

#[test]
fn a_locked_image_tower_keeps_its_weights_and_speech_pairs_train() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("pairs");
    write_speech_pairs(&data_dir, 3, 6).unwrap();
    let data = PairData::load(&data_dir, 8000).unwrap();
    let mut cfg = config(PairMethodKind::Clip, &data, &data_dir, 6);
    cfg.batch_size = 8;
    cfg.lock_image = true;
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    cfg.checkpoint_every = 1;
    let interrupted = TrainOptions {
        stop_after: Some(3),
        ..quiet()
    };
    pretrain(&cfg, &data, None, &run, &interrupted).unwrap();
    // Resumed, the tower stays locked (the checkpoint does not bring its gradients back).
    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let summary = pretrain(&cfg, &data, None, &run, &resume).unwrap();
    assert_eq!(summary.steps, 6);
    assert!(summary.final_loss.is_finite());
    let device = Device::flex();
    let before = initial_towers(&cfg, &device).unwrap();
    let after = load_towers(&cfg, &run, &device).unwrap();
    let images: Vec<usize> = (0..4).collect();
    let features = |t: &autodidact_multimodal::towers::Towers| {
        let (values, shape) =
            autodidact_multimodal::batch::plain_images(&data.images, &images, SIDE as usize);
        t.image
            .valid()
            .forward(autodidact_multimodal::batch::images_tensor(
                values, shape, &device,
            ))
            .into_data()
            .iter::<f32>()
            .collect::<Vec<f32>>()
    };
    assert_eq!(
        features(&before),
        features(&after),
        "the locked tower moved"
    );
    // The projections did train.
    let moved = embed_images(&before, &data.images, &images, SIDE as usize)
        != embed_images(&after, &data.images, &images, SIDE as usize);
    assert!(moved, "nothing trained");
}
