//! The checkpoint targets: a real checkpoint's `model.bpk`, `optim.bpk` and `state.json` read
//! through `Checkpoints::load`, and its exported `encoder.safetensors` through `load_encoder`.

use std::path::Path;

use autodidact::encoders::{EncoderKind, ImageEncoder};
use autodidact::methods::simclr::{SimClr, SimClrConfig};
use autodidact::methods::{ImageMethod, Method};
use autodidact::train::checkpoint::{Checkpoints, TrainState, load_encoder, save_encoder};
use autodidact::train::optim::{OptimizerConfig, build_optimizer};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::targets::{Limit, MIB, Target, message, target, write};

/// Burn reads a burnpack's metadata into a buffer of the size its header claims, up to its
/// `MAX_METADATA_SIZE` (burn-pack 0.22), before checking that the file is that long.
const BURNPACK_MAX_METADATA: usize = 100 * MIB;

/// A SimCLR model with a small CNN after one optimiser step on 8x8 one-channel noise, so the
/// optimiser has state to save.
fn stepped_simclr() -> (SimClr, burn::optim::ModuleOptimizer) {
    let device = Device::flex().autodiff();
    let cfg = SimClrConfig::default();
    let model = SimClr::new(
        &cfg,
        ImageEncoder::new(EncoderKind::Cnn, 1, &device),
        &device,
    );
    let mut optim = build_optimizer(&OptimizerConfig::default());
    let view = || Tensor::<4>::random([4, 1, 8, 8], Distribution::Default, &device);
    let out = model.step(vec![view(), view()], 0);
    let grads = GradientsParams::from_grads(out.loss.backward(), &model);
    let model = optim.step(1e-3, model, grads);
    (model, optim)
}

/// The four checkpoint targets, laid out under `work`.
pub fn targets(work: &Path) -> Vec<Target> {
    let run = work.join("checkpoint");
    let (model, optim) = stepped_simclr();
    let state = TrainState {
        step: 1,
        elapsed_s: 0.5,
        ..TrainState::fresh(Some(10))
    };
    let dir = Checkpoints::new(&run)
        .save(&model, &optim, &state)
        .expect("saving a checkpoint");
    // `state.json` records each file's checksum, so a damaged file is refused before Burn reads
    // it. Checkpoints made before the checksums hold the state alone, and Burn then reads
    // whatever the files hold: the model and optimiser targets run against such a checkpoint.
    let legacy = work.join("checkpoint-legacy");
    std::fs::create_dir_all(&legacy).expect("creating the legacy checkpoint folder");
    for file in ["model.bpk", "optim.bpk"] {
        std::fs::copy(dir.join(file), legacy.join(file)).expect("copying a checkpoint file");
    }
    let legacy_state = serde_json::to_vec(&state).expect("the state serialises");
    write(&legacy.join("state.json"), &legacy_state);
    let encoder_path = run.join("encoder.safetensors");
    save_encoder(&model.encoder, &encoder_path).expect("saving the encoder");
    let burn_limit = Limit {
        fixed: 16 * MIB + BURNPACK_MAX_METADATA,
        per_input_byte: 4,
    };
    let mut targets = Vec::new();
    for (name, dir, file) in [
        ("checkpoint model.bpk", &legacy, "model.bpk"),
        ("checkpoint optim.bpk", &legacy, "optim.bpk"),
        ("checkpoint state.json", &dir, "state.json"),
    ] {
        let member = dir.join(file);
        let seeds = vec![std::fs::read(&member).expect("reading a checkpoint file")];
        let (dir, model) = (dir.clone(), model.clone());
        targets.push(target(name, seeds, member, burn_limit, move || {
            let optim = build_optimizer(&OptimizerConfig::default());
            message(Checkpoints::load(&dir, model.clone(), optim))
        }));
    }
    let seeds = vec![std::fs::read(&encoder_path).expect("reading the encoder")];
    let encoder = model.encoder.clone();
    let path = encoder_path.clone();
    let limit = Limit {
        fixed: 16 * MIB,
        per_input_byte: 4,
    };
    targets.push(target(
        "encoder.safetensors",
        seeds,
        encoder_path,
        limit,
        move || message(load_encoder(encoder.clone(), &path)),
    ));
    targets
}
