"""The Python package against the command line, on the digits bundled in the repository.

Needs the wheel installed and the `autodidact` binary (AUTODIDACT_BIN, else the repository's
target/release/autodidact).
"""

import gzip
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import autodidact
from conftest import DIGITS, REPO, bundled_digits


def binary() -> Path:
    path = Path(os.environ.get("AUTODIDACT_BIN", REPO / "target" / "release" / "autodidact"))
    assert path.is_file(), f"{path}: build the binary first (cargo build --release)"
    return path


def test_pretraining_calls_the_progress_callback_on_every_step(reports):
    run, heard = reports
    assert (run.path / "encoder.safetensors").is_file()
    steps = [r["step"] for r in heard]
    assert steps == list(range(1, DIGITS // 64 + 1)), steps
    assert all(np.isfinite(r["loss"]) and r["unit"] == "images" for r in heard)


def test_embedding_the_digits_through_python_gives_exactly_the_matrix_embed_writes(
    reports, digits_folder, tmp_path
):
    run, _ = reports
    written = tmp_path / "digits.npy"
    subprocess.run(
        [binary(), "embed", "--run", run.path, "--data", digits_folder, "--out", written],
        check=True,
        capture_output=True,
    )
    from_cli = np.load(written)
    from_python = autodidact.Run.open(run.path).embed(bundled_digits())
    assert from_python.dtype == np.float32
    assert from_python.shape == from_cli.shape == (DIGITS, from_cli.shape[1])
    assert np.array_equal(from_python, from_cli)
    # Floats in [0, 1] are the same images.
    as_floats = run.embed(bundled_digits()[:8].astype(np.float32) / 255.0)
    assert np.array_equal(as_floats, from_cli[:8])


def test_a_corrupt_image_file_raises_an_error_naming_it(reports, tmp_path):
    run, _ = reports
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    with pytest.raises(autodidact.AutodidactError, match="corrupt.png"):
        run.embed([str(corrupt)])


def test_a_bad_setting_raises_the_command_lines_line(digits_folder, tmp_path):
    with pytest.raises(autodidact.AutodidactError, match="--batch-size"):
        autodidact.pretrain(
            method="simclr", data=digits_folder, out=tmp_path / "bad", batch_size=0
        )
    assert not (tmp_path / "bad").exists()


def test_an_exception_in_the_callback_stops_the_run_resumably(digits_folder, tmp_path):
    def stop_at_two(report):
        if report["step"] == 2:
            raise KeyboardInterrupt

    out = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        autodidact.pretrain(
            method="simclr", data=digits_folder, out=out, epochs=1, batch_size=64,
            progress=stop_at_two,
        )
    heard = []
    autodidact.Run.open(out).resume(progress=heard.append)
    assert [r["step"] for r in heard] == list(range(3, DIGITS // 64 + 1))


def test_evaluate_returns_the_records_of_eval_json(reports, digits_folder):
    run, _ = reports
    report = run.evaluate(digits_folder, protocols=["knn"], labels_per_class=[1, 10])
    records = report["results"]
    assert [(r["protocol"], r["labels_per_class"]) for r in records] == [("knn", 1), ("knn", 10)]
    assert all(0.0 <= r["ssl_accuracy"] <= 1.0 for r in records)


def test_the_readmes_python_example_runs_as_written(reports, tmp_path, monkeypatch, capsys):
    """The five lines under "From Python", where `runs/demo` is this suite's short run."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) == 5, code
    run, _ = reports
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "demo").symlink_to(run.path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist").symlink_to(REPO / "data" / "mnist")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "(10000, 256)" in printed and "encoder.onnx" in printed, printed


def test_the_default_progress_is_a_tqdm_bar(digits_folder, tmp_path, capsys):
    pytest.importorskip("tqdm", reason="tqdm is not installed")
    autodidact.pretrain(
        method="simclr", data=digits_folder, out=tmp_path / "bar", epochs=1, batch_size=64
    )
    drawn = capsys.readouterr().err
    assert f"{DIGITS // 64}/{DIGITS // 64}" in drawn and "loss=" in drawn, drawn


def write_png(path: Path, image: np.ndarray) -> None:
    """A greyscale PNG of `image` (H x W uint8)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = image.shape
    rows = b"".join(b"\x00" + image[r].tobytes() for r in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_an_image_caption_run_embeds_images_files_and_captions_into_one_space(tmp_path):
    digits = bundled_digits()[:64]
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    raw = gzip.decompress((REPO / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    labels = np.frombuffer(raw[8 : 8 + 64], dtype=np.uint8)
    data = tmp_path / "pairs"
    (data / "images").mkdir(parents=True)
    captions, splits = ["image\tcaption"], ["image\tsplit"]
    for i, (image, label) in enumerate(zip(digits, labels)):
        write_png(data / "images" / f"{i:03}.png", image[0])
        captions.append(f"{i:03}.png\ta handwritten {names[label]}")
        splits.append(f"{i:03}.png\t{'test' if i % 4 == 3 else 'train'}")
    (data / "captions.tsv").write_text("\n".join(captions) + "\n")
    (data / "splits.tsv").write_text("\n".join(splits) + "\n")
    run = autodidact.pretrain(
        method="clip", data=data, out=tmp_path / "clip", model="tiny", context=16, steps=2,
        batch_size=16, progress=None,
    )
    from_arrays = run.embed(digits[:8])
    # Strings are captions here: files go as paths.
    from_files = run.embed([data / "images" / f"{i:03}.png" for i in range(8)])
    texts = run.embed(["a handwritten seven", "a handwritten two"])
    assert from_arrays.shape[1] == texts.shape[1] and texts.shape[0] == 2
    assert np.allclose(from_files, from_arrays, atol=1e-6)
    assert np.allclose(np.linalg.norm(from_arrays, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
