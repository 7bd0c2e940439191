"""BYOL-A's own network and augmentations on the Free Spoken Digit Dataset for a wall-clock budget: the reference for audio-byol.

    git clone https://github.com/nttcslab/byol-a /path/to/byol-a   (its pretrained_weights/ are not needed)
    pip install torch torchaudio pytorch_lightning easydict pandas pyyaml librosa scipy
    python byol_a_fsdd.py --byol-a /path/to/byol-a --data ../shared/data/fsdd --minutes 10 --threads 2 --out /tmp/byola
    autodidact bench probe --embeddings /tmp/byola   (our protocols on the train.npy / test.npy and label files written here)

Builds `byol_a.models.AudioNTT2020` unchanged at config.yaml's size (64 mel bands, feature_d 2048) and
trains it as `train.py` does, on the train split only (recording index 5-49, no labels): each clip
(8 kHz, resampled to 16 kHz with scipy's resample_poly) is zero-padded at both ends to unit_sec
(0.95 s) and a random 0.95 s crop taken, by `byol_a.dataset.WaveInLMSOutDataset` itself (torchaudio's
MelSpectrogram, log(mel + eps)); its `torchaudio.load` is pointed at the clips held in memory. Views
as train.py's AugmentationModule: RunningNorm (10 epochs' worth of updates), then MixupBYOLA(0.4) and
RandomResizeCrop, twice; NormalizeBatch over both view batches; batch 256, reshuffled each epoch.
BYOL as byol_a/byol_pytorch.diff makes of lucidrains' byol-pytorch (hidden_layer -1: the projector
reads the network's 2048-d output; projector and predictor Linear-BN-ReLU-Linear 4096 -> 256; loss
2 - 2 cos both ways, summed; target = EMA 0.99 of the online encoder's parameters), written out here
because the package only ships the unpatched class (and needs torchvision). Adam, lr 3e-4. Training
runs in one process (train.py spreads the dataset over DataLoader workers).

Then the frozen network embeds every train and test clip as evaluate.py does: log-mel normalised by
the mean/std of the train split's log-mels (`calc_norm_stats`, `PrecomputedNorm`), eval mode,
AudioNTT2020's own readout (max + mean over time of the per-frame features). `--embed whole` (the
default) reads each whole clip, zero-padded at both ends to at least 0.95 s; `--embed crop` takes a
random 0.95 s crop as evaluate.py's dataset does (it only differs for the 27 clips over 0.95 s).
Writes OUT/train.npy, OUT/test.npy (float32, N x 2048), OUT/train_labels.txt, OUT/test_labels.txt
(the digit), OUT/speaker_train_labels.txt, OUT/speaker_test_labels.txt (speaker index in sorted
name order) and OUT/log.json. `--minutes 0` embeds with the initialised network: the random-init control.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def read_fsdd(folder):
    """All clips as float32 arrays at 8 kHz, sorted by (digit, speaker, index), with their fields."""
    rec = os.path.join(folder, "recordings")
    rec = rec if os.path.isdir(rec) else folder
    from scipy.io import wavfile

    items = []
    for name in os.listdir(rec):
        if not name.endswith(".wav"):
            continue
        digit, speaker, index = name[:-4].split("_")
        items.append((int(digit), speaker, int(index), os.path.join(rec, name)))
    items.sort()
    clips = []
    for digit, speaker, index, path in items:
        sr, wav = wavfile.read(path)
        assert sr == 8000 and wav.ndim == 1, f"{path}: expected mono 8 kHz, got {sr} Hz {wav.shape}"
        # torchaudio.load's scaling of 16-bit PCM
        clips.append(wav.astype(np.float32) / 32768.0 if wav.dtype == np.int16 else wav.astype(np.float32))
    return items, clips


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--byol-a", default="/work/byol-a-ref", help="checkout of nttcslab/byol-a")
    p.add_argument("--data", default=os.path.normpath(os.path.join(HERE, "../../../shared/data/fsdd")),
                   help="FSDD folder (recordings/{digit}_{speaker}_{index}.wav)")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget of pre-training")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--embed", choices=["whole", "crop"], default="whole")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="folder for the embeddings, labels and log.json")
    args = p.parse_args()

    wall_start = time.time()
    sys.path.insert(0, os.path.abspath(args.byol_a))
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchaudio

    # byol_a/common.py calls torchaudio.set_audio_backend("sox_io"), removed in torchaudio 2.2.
    if not hasattr(torchaudio, "set_audio_backend"):
        torchaudio.set_audio_backend = lambda backend: None
    from byol_a.common import load_yaml_config, seed_everything
    from byol_a.models import AudioNTT2020
    from byol_a.augmentations import MixupBYOLA, NormalizeBatch, PrecomputedNorm, RandomResizeCrop, RunningNorm
    import byol_a.dataset as byola_dataset
    from scipy.signal import resample_poly

    torch.set_num_threads(args.threads)
    cfg = load_yaml_config(os.path.join(args.byol_a, "config.yaml"))
    seed_everything(args.seed)
    device = torch.device(args.device)

    class one_thread:
        """Per-clip data work on one thread, as in train.py's DataLoader workers: small ops on two
        threads are many times slower here (19 ms instead of 1 ms for one log-mel)."""

        def __enter__(self):
            torch.set_num_threads(1)

        def __exit__(self, *exc):
            torch.set_num_threads(args.threads)

    items, clips8k = read_fsdd(args.data)
    clips = [torch.from_numpy(resample_poly(c, 2, 1).astype(np.float32)) for c in clips8k]

    class InMemoryAudio:
        """Stands in for `torchaudio` inside byol_a/dataset.py, whose files are indices into `clips`."""

        @staticmethod
        def load(idx):
            return clips[idx].unsqueeze(0), cfg.sample_rate

    byola_dataset.torchaudio = InMemoryAudio
    speakers = sorted({s for _, s, _, _ in items})
    train_idx = [i for i, it in enumerate(items) if it[2] >= 5]
    test_idx = [i for i, it in enumerate(items) if it[2] < 5]
    print(f"FSDD: {len(train_idx)} train, {len(test_idx)} test clips, speakers {speakers}", flush=True)

    # ---- train.py's AugmentationModule, built from the official blocks
    class AugmentationModule:
        def __init__(self, epoch_samples, log_mixup_exp=True, mixup_ratio=0.4):
            self.train_transform = nn.Sequential(
                MixupBYOLA(ratio=mixup_ratio, log_mixup_exp=log_mixup_exp),
                RandomResizeCrop(virtual_crop_scale=(1.0, 1.5), freq_scale=(0.6, 1.5), time_scale=(0.6, 1.5)),
            )
            self.pre_norm = RunningNorm(epoch_samples=epoch_samples)

        def __call__(self, x):
            x = self.pre_norm(x)
            return self.train_transform(x), self.train_transform(x)

    tfms = AugmentationModule(2 * len(train_idx))
    train_ds = byola_dataset.WaveInLMSOutDataset(cfg, train_idx, labels=None, tfms=tfms)

    # ---- BYOL as byol_a/byol_pytorch.diff patches lucidrains' byol-pytorch
    def mlp(dim, projection_size, hidden_size):
        return nn.Sequential(
            nn.Linear(dim, hidden_size), nn.BatchNorm1d(hidden_size), nn.ReLU(inplace=True),
            nn.Linear(hidden_size, projection_size),
        )

    def loss_fn(x, y):
        x = F.normalize(x, dim=-1, p=2)
        y = F.normalize(y, dim=-1, p=2)
        return 2 - 2 * (x * y).sum(dim=-1)

    class NetWrapper(nn.Module):
        """hidden_layer=-1: the representation is net(x) itself, then the projector."""

        def __init__(self, net, projection_size, projection_hidden_size):
            super().__init__()
            self.net = net
            self.projector = mlp(net.d, projection_size, projection_hidden_size)

        def forward(self, x):
            representation = self.net(x)
            return self.projector(representation), representation

    class BYOL(nn.Module):
        def __init__(self, net, image_size, projection_size, projection_hidden_size, moving_average_decay):
            super().__init__()
            self.net = net
            self.online_encoder = NetWrapper(net, projection_size, projection_hidden_size)
            self.target_encoder = None
            self.beta = moving_average_decay
            self.online_predictor = mlp(projection_size, projection_size, projection_hidden_size)
            self.to(device)
            # the diff's mock forward, which also creates the target encoder (a deep copy)
            with torch.no_grad():
                self.forward(torch.randn(2, 1, image_size[0], image_size[1], device=device),
                             torch.randn(2, 1, image_size[0], image_size[1], device=device))

        def _get_target_encoder(self):
            if self.target_encoder is None:
                import copy

                self.target_encoder = copy.deepcopy(self.online_encoder)
                for p in self.target_encoder.parameters():
                    p.requires_grad = False
            return self.target_encoder

        def update_moving_average(self):
            for cur, ma in zip(self.online_encoder.parameters(), self.target_encoder.parameters()):
                ma.data = ma.data * self.beta + (1 - self.beta) * cur.data

        def forward(self, image_one, image_two):
            online_proj_one, _ = self.online_encoder(image_one)
            online_proj_two, _ = self.online_encoder(image_two)
            online_pred_one = self.online_predictor(online_proj_one)
            online_pred_two = self.online_predictor(online_proj_two)
            with torch.no_grad():
                target_encoder = self._get_target_encoder()
                target_proj_one, _ = target_encoder(image_one)
                target_proj_two, _ = target_encoder(image_two)
            loss_one = loss_fn(online_pred_one, target_proj_two.detach())
            loss_two = loss_fn(online_pred_two, target_proj_one.detach())
            return (loss_one + loss_two).mean()

    model = AudioNTT2020(n_mels=cfg.n_mels, d=cfg.feature_d).to(device)
    learner = BYOL(model, cfg.shape, cfg.proj_size, cfg.proj_dim, cfg.ema_decay)
    post_norm = NormalizeBatch()
    opt = torch.optim.Adam(learner.parameters(), lr=cfg.lr)
    print(f"AudioNTT2020 d={cfg.feature_d}: {sum(p.numel() for p in model.parameters())} parameters; "
          f"batch {cfg.bs}, lr {cfg.lr}, EMA {cfg.ema_decay}, augmentations {tfms.train_transform}", flush=True)

    # ---- pre-training for the budget (train.py's BYOLALearner.training_step)
    budget = args.minutes * 60.0
    start, step, seen, losses, data_seconds = time.time(), 0, 0, [], 0.0
    learner.train()
    order, pos = [], 0
    while time.time() - start < budget:
        if pos >= len(order):
            order, pos = torch.randperm(len(train_ds)).tolist(), 0
        batch = order[pos : pos + cfg.bs]
        pos += len(batch)
        t0 = time.time()
        with one_thread():
            pairs = [train_ds[i] for i in batch]
        data_seconds += time.time() - t0
        bs = len(batch)
        paired_inputs = torch.cat([torch.stack([a for a, _ in pairs]), torch.stack([b for _, b in pairs])])
        paired_inputs = post_norm(paired_inputs.to(device))
        loss = learner(paired_inputs[:bs], paired_inputs[bs:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        learner.update_moving_average()
        losses.append(loss.item())
        step += 1
        seen += bs
        if step == 1 or pos >= len(order) or step % 10 == 0:
            print(f"step {step} epoch {seen / len(train_ds):.2f} loss {np.mean(losses[-10:]):.4f} "
                  f"{time.time() - start:.0f}s", flush=True)
    train_seconds = time.time() - start
    epochs = seen / len(train_ds)
    final_loss = float(np.mean(losses[-10:])) if losses else float("nan")
    first_loss = float(np.mean(losses[:10])) if losses else float("nan")
    print(f"trained {step} steps ({epochs:.2f} epochs) in {train_seconds:.1f} s, loss {first_loss:.4f} -> "
          f"{final_loss:.4f} (last step {losses[-1] if losses else float('nan'):.4f}); {data_seconds:.1f} s of it "
          f"making views", flush=True)

    # ---- embeddings as evaluate.py makes them
    embed_start = time.time()
    stats_ds = byola_dataset.WaveInLMSOutDataset(cfg, train_idx, labels=None, tfms=None)
    n_stats = min(10000, len(stats_ds))
    sample_idxes = np.random.choice(range(len(stats_ds)), size=n_stats, replace=False)
    with one_thread():
        X = np.hstack([stats_ds[i] for i in sample_idxes])
    norm_stats = np.array([X.mean(), X.std()])
    print(f"norm stats (mean, std) of train log-mels: {norm_stats}", flush=True)
    norm = PrecomputedNorm(norm_stats)
    model.eval()

    def embed(indices):
        out = {}
        if args.embed == "crop":
            ds = byola_dataset.WaveInLMSOutDataset(cfg, indices, labels=None, tfms=norm)
            groups = {0: list(range(len(indices)))}

            def get(ks):
                with one_thread():
                    return torch.stack([ds[k] for k in ks])
        else:
            unit = int(cfg.unit_sec * cfg.sample_rate)
            to_mel = stats_ds.to_melspecgram

            def pad(wav):
                adj = unit - len(wav)
                if adj > 0:  # zero padding to both ends, as WaveInLMSOutDataset; longer clips stay whole
                    wav = F.pad(wav, (adj // 2, adj - adj // 2))
                return wav

            def get(ks):  # the dataset's log-mel, for a batch of equal-length clips at once
                wavs = torch.stack([pad(clips[indices[k]]) for k in ks])
                return norm((to_mel(wavs) + torch.finfo().eps).log().unsqueeze(1))

            groups = {}
            for k, i in enumerate(indices):
                groups.setdefault(max(unit, len(clips[i])), []).append(k)
        with torch.no_grad():
            for ks in groups.values():
                for j in range(0, len(ks), cfg.bs):
                    chunk = ks[j : j + cfg.bs]
                    x = get(chunk).to(device)
                    for k, y in zip(chunk, model(x).cpu().numpy()):
                        out[k] = y
        return np.ascontiguousarray(np.stack([out[k] for k in range(len(indices))]), dtype=np.float32)

    train_emb, test_emb = embed(train_idx), embed(test_idx)
    embed_seconds = time.time() - embed_start
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "train.npy"), train_emb)
    np.save(os.path.join(args.out, "test.npy"), test_emb)
    for prefix, field in (("", lambda it: it[0]), ("speaker_", lambda it: speakers.index(it[1]))):
        for split, idx in (("train", train_idx), ("test", test_idx)):
            with open(os.path.join(args.out, f"{prefix}{split}_labels.txt"), "w") as f:
                f.writelines(f"{field(items[i])}\n" for i in idx)
    wall_seconds = time.time() - wall_start
    log = {
        "steps": step, "epochs": epochs, "final_loss": final_loss, "first_loss": first_loss,
        "last_step_loss": losses[-1] if losses else None, "losses": losses,
        "train_seconds": train_seconds, "data_seconds": data_seconds, "embed_seconds": embed_seconds, "wall_seconds": wall_seconds,
        "minutes": args.minutes, "threads": args.threads, "seed": args.seed, "embed": args.embed,
        "device": str(device), "batch_size": cfg.bs, "lr": cfg.lr, "feature_d": cfg.feature_d,
        "n_train": len(train_idx), "n_test": len(test_idx), "norm_stats": norm_stats.tolist(),
        "torch": torch.__version__, "torchaudio": torchaudio.__version__,
    }
    with open(os.path.join(args.out, "log.json"), "w") as f:
        json.dump(log, f, indent=1)
    print(f"embedded {train_emb.shape[0]} train, {test_emb.shape[0]} test clips x {train_emb.shape[1]} in "
          f"{embed_seconds:.1f} s; wall {wall_seconds:.1f} s; wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
