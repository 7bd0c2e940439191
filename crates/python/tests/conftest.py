"""What the Python tests share: the digits bundled in the repository, as arrays and as an IDX
folder, and one short SimCLR run pre-trained from Python."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import autodidact

REPO = Path(__file__).resolve().parents[3]
DIGITS = 512
TEST_DIGITS = 200


def bundled(name: str, header: int, start: int, count: int, size: int) -> bytes:
    raw = gzip.decompress((REPO / "data" / "mnist" / name).read_bytes())
    return raw[header + start * size : header + (start + count) * size]


def bundled_digits() -> np.ndarray:
    """The first DIGITS bundled MNIST test digits, N x 1 x 28 x 28 uint8."""
    raw = bundled("t10k-images-idx3-ubyte.gz", 16, 0, DIGITS, 784)
    return np.frombuffer(raw, dtype=np.uint8).reshape(DIGITS, 1, 28, 28)


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory) -> Path:
    """The bundled digits as an MNIST IDX folder, as the command line reads it: DIGITS in the
    train pair, the next TEST_DIGITS in the t10k pair."""
    folder = tmp_path_factory.mktemp("digits")
    for prefix, start, count in [("train", 0, DIGITS), ("t10k", DIGITS, TEST_DIGITS)]:
        images = bundled("t10k-images-idx3-ubyte.gz", 16, start, count, 784)
        header = np.array([2051, count, 28, 28], dtype=">u4").tobytes()
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(header + images)
        labels = bundled("t10k-labels-idx1-ubyte.gz", 8, start, count, 1)
        header = np.array([2049, count], dtype=">u4").tobytes()
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels)
    return folder


@pytest.fixture(scope="session")
def reports(digits_folder, tmp_path_factory):
    """A short SimCLR run pre-trained from Python, with the reports its callback heard."""
    heard = []
    out = tmp_path_factory.mktemp("runs") / "simclr"
    run = autodidact.pretrain(
        method="simclr",
        data=digits_folder,
        out=out,
        epochs=1,
        batch_size=64,
        seed=3,
        progress=heard.append,
    )
    return run, heard


INPUTS = 16
# Every encoder type that exports, by the run that trains one.
ENCODER_TYPES = ["cnn", "resnet18", "vit", "series", "mlm", "clm", "wav2vec2", "audio-byol"]


@pytest.fixture(scope="session")
def exportable(digits_folder, tmp_path_factory):
    """`exportable(kind)`: a short run of that encoder type (made once), the embeddings autodidact
    gives INPUTS samples, and the same samples as the exported encoder's named inputs."""
    made = {}

    def get(kind):
        if kind not in made:
            made[kind] = _train(kind, digits_folder, tmp_path_factory.mktemp(kind))
        return made[kind]

    return get


def _train(kind, digits_folder, tmp):
    if kind in ("cnn", "resnet18", "vit"):
        run = autodidact.pretrain(
            method="simclr", data=digits_folder, out=tmp / "run", encoder=kind, minutes=0.05,
            batch_size=32, progress=None,
        )
        digits = bundled_digits()[:INPUTS]
        return run, run.embed(digits), {"pixels": digits.astype(np.float32)}
    if kind == "series":
        rows = _waves()
        data = tmp / "waves_TRAIN.csv"
        data.write_text("\n".join(",".join(f"{v:.5f}" for v in r) for r in rows) + "\n")
        run = autodidact.pretrain(
            method="ts-contrast", data=data, out=tmp / "run", steps=6, batch_size=8,
            progress=None,
        )
        series = rows[:INPUTS, 1:].astype(np.float32)
        return run, run.embed(series), {"series": series[:, None, :]}
    if kind in ("mlm", "clm"):
        words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "slowly"]
        rng = np.random.default_rng(1)
        lines = [" ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(200)]
        corpus = tmp / "corpus.txt"
        corpus.write_text("\n".join(lines) + "\n")
        run = autodidact.pretrain(
            method=kind, data=corpus, out=tmp / "run", tokenizer="char", model="tiny",
            context=32, steps=4, batch_size=8, progress=None,
        )
        texts = lines[:INPUTS]
        ids, valid = run.tokenize(texts)
        assert valid.sum(axis=1).min() < valid.shape[1], "some rows are padded"
        return run, run.embed(texts), {"ids": ids, "valid": valid}
    if kind in ("wav2vec2", "audio-byol"):
        clips = _write_tones(tmp / "tones")
        run = autodidact.pretrain(
            method=kind, data=tmp / "tones", out=tmp / "run", steps=2, batch_size=4,
            progress=None,
        )
        clips = clips[:INPUTS]
        return run, run.embed(clips), {"wave": np.stack(clips)[:, None, :]}
    raise ValueError(kind)


def _waves():
    """Two classes of noisy sine waves, 40 rows of label then 48 values."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 48)
    rows = []
    for i in range(40):
        label = i % 2
        wave = np.sin(2 * np.pi * (3 + 2 * label) * t + rng.uniform(0, 6)) + 0.1 * rng.normal(size=48)
        rows.append(np.concatenate([[label], 2.0 * wave + 1.0]))
    return np.array(rows)


def _write_tones(folder, rate=8000):
    """Two classes of 12 half-second tones as 16-bit WAVs; returns the clips."""
    import wave

    rng = np.random.default_rng(2)
    t = np.arange(rate // 2) / rate
    clips = []
    for label, hz in enumerate([300.0, 700.0]):
        (folder / f"class{label}").mkdir(parents=True)
        for i in range(12):
            clip = 0.5 * np.sin(2 * np.pi * hz * (1 + 0.05 * rng.normal()) * t)
            clip = (clip + 0.05 * rng.normal(size=t.size)).astype(np.float32)
            clips.append(clip)
            with wave.open(str(folder / f"class{label}" / f"{i}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes((clip * 32767).astype("<i2").tobytes())
    return clips
