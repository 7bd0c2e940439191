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
