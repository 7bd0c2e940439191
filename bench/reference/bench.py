"""PyTorch reference for `autodidact bench`: the same workloads, the same JSON.

    python bench.py simclr-step [--encoder cnn|resnet18] [--device cpu|cuda] [--compile] [--json F]
    python bench.py forward     [--encoder cnn|resnet18] [--device cpu|cuda] [--json F]
    python bench.py knn         [--json F]
    python bench.py wav2vec2-step [--batch-size 8] [--device cpu|cuda] [--json F]   (needs transformers)
    python bench.py vit-step|text-step|mlm-step [--device cpu|cuda] [--json F]     (transformer_steps.py)

Median of the timed repeats after warm-up, like the Rust side; threads default to the core count.
"""

import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(c_in, c_out, stride):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class SmallCnn(nn.Module):
    """conv3x3 3->32, 32->64 /2, 64->128 /2, 128->256 /2, each + BN + ReLU, global average pool."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(3, 32, 1), conv_bn_relu(32, 64, 2), conv_bn_relu(64, 128, 2), conv_bn_relu(128, 256, 2)
        )
        self.out_dim = 256

    def forward(self, x):
        return self.body(x).mean(dim=(2, 3))


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """CIFAR ResNet-18: 3x3 stem, no max-pool."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn_relu(3, 64, 1)
        layers, c_in = [], 64
        for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.out_dim = 512

    def forward(self, x):
        return self.layers(self.stem(x)).mean(dim=(2, 3))


def encoder(name):
    return SmallCnn() if name == "cnn" else ResNet18()


def nt_xent(z1, z2, temperature):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / temperature
    logits.fill_diagonal_(-1.0e4)
    targets = (torch.arange(2 * n, device=z.device) + n) % (2 * n)
    return F.cross_entropy(logits, targets)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(warmup, repeats, device, fn):
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def simclr_step(args):
    torch.manual_seed(0)
    enc = encoder(args.encoder)
    model = nn.Sequential(enc, nn.Linear(enc.out_dim, 256), nn.ReLU(inplace=True), nn.Linear(256, 128)).to(args.device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b = args.batch_size
    v1 = torch.rand(b, 3, 32, 32, device=args.device) * 2 - 1
    v2 = torch.rand(b, 3, 32, 32, device=args.device) * 2 - 1

    def forward_loss(x1, x2):
        z = model(torch.cat([x1, x2]))
        return nt_xent(z[:b], z[b:], 0.5)

    loss_fn = torch.compile(forward_loss) if args.compile else forward_loss
    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(v1, v2)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    times = timed(args.warmup, args.steps, args.device, step)
    med = statistics.median(times)
    return {
        "bench": "simclr-step",
        "images_per_s": 2 * b / med,
        "median_s": med,
        "repeats": len(times),
        "peak_rss_mib": peak_rss_mib(),
        "settings": {
            "stack": f"pytorch {torch.__version__} {'compile' if args.compile else 'eager'}",
            "encoder": args.encoder,
            "batch_size": b,
            "device": args.device,
            "threads": torch.get_num_threads(),
            "first_loss": losses[0],
            "last_loss": losses[-1],
        },
    }


def forward(args):
    torch.manual_seed(0)
    enc = encoder(args.encoder).to(args.device).eval()
    x = torch.rand(args.batch_size, 3, 32, 32) * 2 - 1

    def run():
        with torch.inference_mode():
            enc(x.to(args.device)).cpu()

    times = timed(args.warmup, args.steps, args.device, run)
    med = statistics.median(times)
    return {
        "bench": "forward",
        "images_per_s": args.batch_size / med,
        "median_s": med,
        "repeats": len(times),
        "peak_rss_mib": peak_rss_mib(),
        "settings": {"stack": f"pytorch {torch.__version__} eager", "encoder": args.encoder,
                     "batch_size": args.batch_size, "device": args.device, "threads": torch.get_num_threads()},
    }


def knn(args):
    torch.manual_seed(0)
    bank = F.normalize(torch.randn(50_000, 256, device=args.device), dim=1)
    labels = torch.arange(50_000, device=args.device) % 10
    queries = torch.randn(10_000, 256, device=args.device)

    def run():
        preds = []
        for q in F.normalize(queries, dim=1).split(1024):
            sims, idx = (q @ bank.t()).topk(200, dim=1)
            weights = (sims / 0.1).exp()
            votes = torch.zeros(q.shape[0], 10, device=args.device)
            votes.scatter_add_(1, labels[idx], weights)
            preds.append(votes.argmax(1))
        return torch.cat(preds)

    times = timed(1, 3, args.device, run)
    med = statistics.median(times)
    return {
        "bench": "knn",
        "images_per_s": 10_000 / med,
        "median_s": med,
        "repeats": len(times),
        "peak_rss_mib": peak_rss_mib(),
        "settings": {"stack": f"pytorch {torch.__version__}", "device": args.device, "k": 200},
    }


def wav2vec2_step(args):
    """Hugging Face Wav2Vec2ForPreTraining, a small pre-norm model on 1 s clips at 8 kHz (20 ms frames)."""
    import numpy as np
    import transformers
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    torch.manual_seed(0)
    np.random.seed(0)
    config = Wav2Vec2Config(
        conv_dim=(128,) * 6, conv_kernel=(10, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2),
        feat_extract_norm="layer", conv_bias=True, feat_extract_activation="gelu",
        hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512, hidden_act="gelu",
        do_stable_layer_norm=True, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=16,
        num_codevector_groups=2, num_codevectors_per_group=32, codevector_dim=128, proj_codevector_dim=128,
        num_negatives=10, contrastive_logits_temperature=0.1, diversity_loss_weight=0.1,
        mask_time_prob=0.1, mask_time_length=5, mask_time_min_masks=2, apply_spec_augment=True, mask_feature_prob=0.0,
        hidden_dropout=0.0, activation_dropout=0.0, attention_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0,
        layerdrop=0.0,
    )
    model = Wav2Vec2ForPreTraining(config).to(args.device)
    model.train()
    model.set_gumbel_temperature(2.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    b, rate, seconds = args.batch_size, 8000, 1.0
    samples = int(rate * seconds)
    wave = torch.randn(b, samples, device=args.device)
    frames = int(model._get_feat_extract_output_lengths(samples))
    # Masks and negatives drawn once, as run_wav2vec2_pretraining_no_trainer.py's collator does per batch.
    mask = _compute_mask_indices((b, frames), config.mask_time_prob, config.mask_time_length,
                                 min_masks=config.mask_time_min_masks)
    negatives = _sample_negative_indices((b, frames), config.num_negatives, mask_time_indices=mask)
    mask = torch.tensor(mask, dtype=torch.long, device=args.device)
    negatives = torch.tensor(negatives, dtype=torch.long, device=args.device)
    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(wave, mask_time_indices=mask, sampled_negative_indices=negatives).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())

    times = timed(args.warmup, args.steps, args.device, step)
    med = statistics.median(times)
    return {
        "bench": "wav2vec2-step",
        "images_per_s": b / med,
        "median_s": med,
        "repeats": len(times),
        "peak_rss_mib": peak_rss_mib(),
        "settings": {
            "stack": f"pytorch {torch.__version__} eager, transformers {transformers.__version__}",
            "unit": "clips",
            "batch_size": b,
            "seconds": seconds,
            "rate": rate,
            "frames": frames,
            "device": args.device,
            "threads": torch.get_num_threads(),
            "first_loss": losses[0],
            "last_loss": losses[-1],
            "parameters": sum(p.numel() for p in model.parameters()),
        },
    }


def transformer_step(args):
    """vit-step (images/s), text-step and mlm-step (tokens/s): transformer_steps.py's models."""
    from transformer_steps import build

    model, opt, loss_fn, items = build(args.workload, args.batch_size, args.device)
    model.train()
    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        losses.append(loss.item())

    times = timed(args.warmup, args.steps, args.device, step)
    med = statistics.median(times)
    return {
        "bench": args.workload,
        "images_per_s": items / med,
        "median_s": med,
        "repeats": len(times),
        "peak_rss_mib": peak_rss_mib(),
        "settings": {
            "stack": f"pytorch {torch.__version__} eager, fused attention",
            "batch_size": args.batch_size,
            "unit": "images" if args.workload == "vit-step" else "tokens",
            "device": args.device,
            "threads": torch.get_num_threads(),
            "first_loss": losses[0],
            "last_loss": losses[-1],
            "parameters": sum(p.numel() for p in model.parameters()),
        },
    }


STEP_BATCH = {"simclr-step": 128, "wav2vec2-step": 8, "vit-step": 128, "text-step": 32, "mlm-step": 64}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=["simclr-step", "forward", "knn", "wav2vec2-step", "vit-step", "text-step",
                                        "mlm-step"])
    p.add_argument("--encoder", choices=["cnn", "resnet18"], default="cnn")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size is None:
        args.batch_size = STEP_BATCH.get(args.workload, 256)
    workloads = {"simclr-step": simclr_step, "forward": forward, "knn": knn, "wav2vec2-step": wav2vec2_step,
                 "vit-step": transformer_step, "text-step": transformer_step, "mlm-step": transformer_step}
    result = workloads[args.workload](args)
    unit = result["settings"].get("unit", "images")
    print(f"{result['bench']}: {result['images_per_s']:.1f} {unit}/s (median {result['median_s']:.4f} s, "
          f"peak RSS {result['peak_rss_mib']:.0f} MiB) {json.dumps(result['settings'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
