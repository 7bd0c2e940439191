"""MAE's own model code on MNIST for a wall-clock budget, then k-NN: the reference for MAE's MNIST row.

    git clone https://github.com/facebookresearch/mae /path/to/mae
    pip install torch numpy timm==0.4.12   (MAE pins timm 0.3.2; its qk_scale argument is shimmed)
    python mae_mnist.py --mae /path/to/mae --data ../shared/data/mnist --minutes 10 --lr 2e-3

Builds `models_mae.MaskedAutoencoderViT` unchanged at our tiny ViT's size (28x28, 7x7 patches, width
128, 4 blocks of 4 heads; decoder 64 wide, 2 blocks, 4 heads; normalised-pixel target, 75% masked).
MAE's `patchify` assumes three channels, so each digit is given as three equal channels. Training as
`main_pretrain.py` does it: AdamW with betas (0.9, 0.95), weight decay 0.05 except biases and norms,
warm-up then half-cycle cosine, here over wall-clock time (5% warm-up) since the budget is minutes.
Views: a random resized crop of 40-100% of the area (ratio 3/4 to 4/3), as recipes/mnist-mae.toml.

Then the encoder reads every digit unmasked (its tokens put back in place) and a k-NN scores the
10,000 test digits against the 60,000 train digits as `autodidact eval` does (cosine on features
standardised with the train statistics, k = 200, votes exp(sim / 0.1)), through three readings:
all 16 tokens concatenated (our `--pool grid4` on 7x7 patches), their mean, and the CLS token.
`--minutes 0` reads the initialised model: the random-init control.
"""

import argparse
import gzip
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    """An MNIST idx file (gzip or plain) as a uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(folder, prefix):
    find = lambda stem: next(
        os.path.join(folder, n) for n in os.listdir(folder) if n.startswith(f"{prefix}-{stem}")
    )
    return read_idx(find("images")), read_idx(find("labels"))


def to_input(images):
    """uint8 digits -> float tensor (N, 3, 28, 28), normalised as our data reader does."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    x = (x - 0.5) / 0.25
    return x.unsqueeze(1).repeat(1, 3, 1, 1)


def random_resized_crop(x, scale, ratio, gen):
    """One random crop per image (area share in `scale`, aspect in `ratio`), resized back bilinearly."""
    n = x.shape[0]
    area = torch.empty(n).uniform_(*scale, generator=gen)
    log_r = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(max=1.0)
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen) * (1 - w) + w / 2) * 2 - 1
    cy = (torch.rand(n, generator=gen) * (1 - h) + h / 2) * 2 - 1
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def encode(model, x, batch=1000):
    """Unmasked encoder tokens (N, 1 + 16, 128), patch tokens in their image order."""
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            latent, _, ids_restore = model.forward_encoder(x[i : i + batch], 0.0)
            tokens = torch.gather(
                latent[:, 1:], 1, ids_restore.unsqueeze(-1).repeat(1, 1, latent.shape[2])
            )
            out.append(torch.cat([latent[:, :1], tokens], dim=1))
    return torch.cat(out)


def knn_accuracy(train, train_y, test, test_y, k=200, t=0.1, classes=10):
    """k-NN on standardised features, cosine similarity, votes exp(sim / t)."""
    mean, std = train.mean(0), train.std(0).clamp(min=1e-6)
    bank = F.normalize((train - mean) / std, dim=1)
    query = F.normalize((test - mean) / std, dim=1)
    labels = torch.from_numpy(train_y.astype(np.int64))
    correct = 0
    for i in range(0, query.shape[0], 500):
        sim, idx = (query[i : i + 500] @ bank.T).topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], classes)
        votes.scatter_add_(1, labels[idx], torch.exp((sim - sim[:, :1]) / t))
        correct += (votes.argmax(1).numpy() == test_y[i : i + 500]).sum()
    return 100.0 * correct / len(test_y)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mae", required=True, help="checkout of facebookresearch/mae")
    p.add_argument("--data", required=True, help="MNIST folder (train-* and t10k-* idx files)")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (ours: 2e-3)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    sys.path.insert(0, args.mae)
    np.float = float  # MAE's util/pos_embed.py still names np.float, gone since NumPy 1.24
    from functools import partial
    import timm.models.vision_transformer as timm_vit

    class Block(timm_vit.Block):
        # MAE's code passes qk_scale=None (timm 0.3.2); timm 0.4.12 dropped that argument.
        def __init__(self, *a, qk_scale=None, **kw):
            super().__init__(*a, **kw)

    timm_vit.Block = Block
    from models_mae import MaskedAutoencoderViT
    import timm.optim.optim_factory as optim_factory

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    train, test = to_input(train_x), to_input(test_x)

    model = MaskedAutoencoderViT(
        img_size=28, patch_size=7, in_chans=3, embed_dim=128, depth=4, num_heads=4,
        decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4, mlp_ratio=4,
        norm_layer=partial(nn.LayerNorm, eps=1e-6), norm_pix_loss=True,
    )
    groups = optim_factory.add_weight_decay(model, 0.05)
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))
    budget = args.minutes * 60.0
    start, step, losses = time.time(), 0, []
    model.train()
    while time.time() - start < budget:
        done = (time.time() - start) / budget
        lr = args.lr * (done / 0.05 if done < 0.05 else 0.5 * (1 + math.cos(math.pi * (done - 0.05) / 0.95)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, train.shape[0], (args.batch_size,), generator=gen)
        views = random_resized_crop(train[idx], (0.4, 1.0), (3 / 4, 4 / 3), gen)
        loss, _, _ = model(views, mask_ratio=0.75)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 500 == 0:
            print(f"step {step} loss {np.mean(losses[-100:]):.4f} lr {lr:.2e} {time.time() - start:.0f}s", flush=True)
    seconds = time.time() - start
    first = np.mean(losses[:50]) if losses else float("nan")
    last = np.mean(losses[-50:]) if losses else float("nan")
    print(f"trained {step} steps in {seconds:.0f} s, loss {first:.3f} -> {last:.3f}", flush=True)

    model.eval()
    tr, te = encode(model, train), encode(model, test)
    readings = {
        "all 16 tokens (grid4)": (tr[:, 1:].flatten(1), te[:, 1:].flatten(1)),
        "mean of tokens": (tr[:, 1:].mean(1), te[:, 1:].mean(1)),
        "cls token": (tr[:, 0], te[:, 0]),
    }
    for name, (a, b) in readings.items():
        acc = knn_accuracy(a, train_y, b, test_y)
        print(f"k-NN all labels, {name}: {acc:.2f}%", flush=True)


if __name__ == "__main__":
    main()
