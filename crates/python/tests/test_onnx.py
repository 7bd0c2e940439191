"""`autodidact export --format onnx`: ONNX Runtime gives our embeddings, for every encoder type
that exports (the small CNN, ResNet-18, the ViT, the series encoder)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import autodidact
from conftest import bundled_digits

INPUTS = 16
TOLERANCE = 1e-4


def run_graph(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x})[0]


def metadata(path):
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.mark.parametrize("encoder", ["cnn", "resnet18", "vit"])
def test_onnx_runtime_gives_the_image_embeddings(encoder, digits_folder, tmp_path):
    run = autodidact.pretrain(
        method="simclr", data=digits_folder, out=tmp_path / encoder, encoder=encoder,
        minutes=0.05, batch_size=32, progress=None,
    )
    graph = run.export("onnx")
    assert metadata(graph)["autodidact.encoder"] == encoder
    digits = bundled_digits()[:INPUTS]
    ours = run.embed(digits)
    theirs = run_graph(graph, digits.astype(np.float32))
    assert theirs.shape == ours.shape
    gap = np.abs(theirs - ours).max()
    print(f"{encoder}: largest gap {gap:.2e} over {ours.size} values")
    assert gap < TOLERANCE


def test_onnx_runtime_gives_the_series_embeddings(tmp_path):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 48)
    rows = []
    for i in range(40):
        label = i % 2
        wave = np.sin(2 * np.pi * (3 + 2 * label) * t + rng.uniform(0, 6)) + 0.1 * rng.normal(size=48)
        rows.append(",".join([str(label)] + [f"{v:.5f}" for v in 2.0 * wave + 1.0]))
    data = tmp_path / "waves_TRAIN.csv"
    data.write_text("\n".join(rows) + "\n")
    run = autodidact.pretrain(
        method="ts-contrast", data=data, out=tmp_path / "series", steps=6, batch_size=8,
        progress=None,
    )
    graph = run.export("onnx")
    series = np.array([[float(v) for v in r.split(",")[1:]] for r in rows[:INPUTS]], dtype=np.float32)
    ours = run.embed(series)
    theirs = run_graph(graph, series[:, None, :])
    assert theirs.shape == ours.shape
    gap = np.abs(theirs - ours).max()
    print(f"series: largest gap {gap:.2e} over {ours.size} values")
    assert gap < TOLERANCE


@pytest.mark.parametrize("method", ["mlm", "clm"])
def test_onnx_runtime_gives_the_text_embeddings(method, tmp_path):
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "slowly"]
    rng = np.random.default_rng(1)
    lines = [" ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(200)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    run = autodidact.pretrain(
        method=method, data=corpus, out=tmp_path / method, tokenizer="char", model="tiny",
        context=32, steps=4, batch_size=8, progress=None,
    )
    graph = run.export("onnx")
    texts = lines[:INPUTS]
    ours = run.embed(texts)
    ids, valid = run.tokenize(texts)
    assert valid.sum(axis=1).min() < valid.shape[1], "some rows are padded"
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"ids": ids, "valid": valid})[0]
    assert theirs.shape == ours.shape
    gap = np.abs(theirs - ours).max()
    print(f"text ({method}): largest gap {gap:.2e} over {ours.size} values")
    assert gap < TOLERANCE


def test_onnx_runtime_gives_the_wav2vec2_embeddings(tmp_path):
    import wave

    rate = 8000
    rng = np.random.default_rng(2)
    t = np.arange(rate // 2) / rate
    clips = []
    for label, hz in enumerate([300.0, 700.0]):
        folder = tmp_path / "tones" / f"class{label}"
        folder.mkdir(parents=True)
        for i in range(12):
            clip = 0.5 * np.sin(2 * np.pi * hz * (1 + 0.05 * rng.normal()) * t)
            clip = clip + 0.05 * rng.normal(size=t.size)
            clips.append(clip.astype(np.float32))
            with wave.open(str(folder / f"{i}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes((clip * 32767).astype("<i2").tobytes())
    run = autodidact.pretrain(
        method="wav2vec2", data=tmp_path / "tones", out=tmp_path / "wav2vec2", steps=2,
        batch_size=4, progress=None,
    )
    graph = run.export("onnx")
    clips = clips[:INPUTS]
    ours = run.embed(clips)
    theirs = run_graph(graph, np.stack(clips)[:, None, :])
    assert theirs.shape == ours.shape
    gap = np.abs(theirs - ours).max()
    print(f"wav2vec2: largest gap {gap:.2e} over {ours.size} values")
    assert gap < TOLERANCE
