//! `--sync-bn`: two ranks of half a batch get the gradients of the whole batch through the CNN's
//! BatchNorm and a BatchNorm head, and without it they do not. Its own test binary: the switch
//! is process-wide.

use autodidact_core::collective::{Collective, LocalRanks, average_gradients, sum_over_ranks};
use autodidact_core::heads::MlpHead;
use autodidact_core::train::seed::seeded_init;
use autodidact_kernels::batch_norm::set_sync;
use autodidact_vision::encoders::{EncoderKind, ImageEncoder};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

#[derive(Module, Debug)]
struct Net {
    encoder: ImageEncoder,
    head: MlpHead,
}

fn batch(device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..8 * 16 * 16)
        .map(|i| (((i * 37) % 101) as f32 / 50.0 - 1.0) * (1.0 + (i / 256) as f32 * 0.1))
        .collect();
    Tensor::from_data(TensorData::new(values, [8, 1, 16, 16]), device)
}

/// The mean over `x`'s rows of a fixed weighting of the head's outputs.
fn loss(net: &Net, x: Tensor<4>) -> Tensor<1> {
    let z = net.head.forward(net.encoder.forward(x));
    let [_, d] = z.dims();
    let w: Vec<f32> = (0..d).map(|j| (j % 7) as f32 - 3.0).collect();
    let w = Tensor::<1>::from_data(TensorData::new(w, [d]), &z.device());
    (z * w.unsqueeze::<2>()).sum_dim(1).powf_scalar(2.0).mean()
}

/// Every gradient of `net` in visitor order.
fn flat(net: &Net, grads: &GradientsParams) -> Vec<f32> {
    struct Flat<'a>(&'a GradientsParams, Vec<f32>);
    impl ModuleVisitor for Flat<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.get::<D>(param.id) {
                self.1.extend(g.into_data().try_to_vec::<f32>().unwrap());
            }
        }
    }
    let mut f = Flat(grads, Vec::new());
    net.visit(&mut f);
    f.1
}

/// The largest difference between the ranks' averaged gradients and the whole batch's, relative
/// to the largest gradient.
fn gap_to_whole_batch() -> f32 {
    let device = Device::flex().autodiff();
    let net = seeded_init(&device, 3, || {
        let encoder = ImageEncoder::new(EncoderKind::Cnn, 1, &device);
        let head = MlpHead::new(&[encoder.out_dim(), 32, 8], true, &device);
        Net { encoder, head }
    });
    let x = batch(&device);
    let whole = flat(
        &net,
        &GradientsParams::from_grads(loss(&net, x.clone()).backward(), &net),
    );
    let scale = whole.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    let ranks = LocalRanks::run(2, |world| {
        let part = x.clone().narrow(0, 4 * world.rank(), 4);
        let grads = GradientsParams::from_grads(loss(&net, part).backward(), &net);
        flat(&net, &average_gradients(&net, grads, &world).unwrap())
    });
    ranks
        .iter()
        .flat_map(|r| r.iter().zip(&whole).map(|(a, b)| (a - b).abs() / scale))
        .fold(0.0, f32::max)
}

#[test]
fn synchronised_batch_norm_gives_two_ranks_the_whole_batchs_gradients() {
    set_sync(Some(sum_over_ranks));
    let synced = gap_to_whole_batch();
    set_sync(None);
    let apart = gap_to_whole_batch();
    assert!(synced < 1e-4, "synchronised: {synced}");
    assert!(apart > 1e-2, "each rank's own statistics: {apart}");
}
