//! The training loop watches itself: a NaN loss stops the run and keeps the last good checkpoint.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use autodidact_core::error::{DataError, TrainError};
use autodidact_vision::augment::image::AugmentConfig;
use autodidact_vision::encoders::ImageEncoder;
use autodidact_vision::encoders::heads::MlpHead;
use autodidact_vision::methods::{ImageMethod, Method, NoSettings, StepOutput};
use autodidact_vision::train::config::RunConfig;
use autodidact_vision::train::trainer::pretrain_with;
use burn::prelude::*;

/// Steps taken by [`FailsAtStep3`]; its loss turns NaN at the third.
static STEPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Module, Debug)]
struct FailsAtStep3 {
    encoder: ImageEncoder,
    head: MlpHead,
}

impl ImageMethod for FailsAtStep3 {
    type Config = NoSettings;

    fn new(_: &NoSettings, encoder: ImageEncoder, device: &Device) -> Self {
        let head = MlpHead::new(&[encoder.out_dim(), 8], false, device);
        Self { encoder, head }
    }
    fn views(_: &NoSettings, channels: usize, size: usize) -> Vec<AugmentConfig> {
        vec![AugmentConfig::simclr(channels, size)]
    }
    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for FailsAtStep3 {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let z = self.head.forward(self.encoder.forward(views[0].clone()));
        let mut loss = z.clone().square().mean();
        if STEPS.fetch_add(1, Ordering::SeqCst) == 2 {
            loss = loss.mul_scalar(f32::NAN);
        }
        StepOutput::new(loss, z)
    }
    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }
}

#[test]
fn nan_loss_stops_the_run_with_a_clear_message_and_keeps_the_checkpoint() {
    let train = Arc::new(common::first(&common::bundled_mnist(), 64));
    let cfg = RunConfig {
        checkpoint_every: 2,
        ..common::mnist_run_config(10, 16)
    };
    let dir = tempfile::tempdir().unwrap();
    let err = pretrain_with::<FailsAtStep3>(&cfg, train, dir.path(), &common::quiet()).unwrap_err();
    // A caller can tell the NaN stop from a bad file or setting.
    assert!(matches!(
        err.downcast_ref::<TrainError>(),
        Some(TrainError::LossNotFinite { step: 2, .. })
    ));
    assert!(err.downcast_ref::<DataError>().is_none());
    let msg = err.to_string();
    assert!(msg.contains("NaN") && msg.contains("step 2"), "{msg}");
    assert!(
        msg.contains("step-00000002"),
        "names the kept checkpoint: {msg}"
    );
    assert!(
        dir.path()
            .join("checkpoints/step-00000002/model.bpk")
            .exists()
    );
    assert!(dir.path().join("encoder.safetensors").exists());
}
