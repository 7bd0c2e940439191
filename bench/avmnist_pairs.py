#!/usr/bin/env python3
"""Builds image-speech pairs the way AV-MNIST is built: MNIST images beside Free Spoken Digit
recordings of the same digit (a pair shares only the digit).

    python3 bench/avmnist_pairs.py [DATA_DIR] [OUT_DIR]

DATA_DIR holds `mnist/` (IDX files) and `fsdd/recordings/` (default: $AUTODIDACT_DATA or
../shared/data); OUT_DIR (default: cache/avmnist, ignored by git) gets

- `images.tar`: every MNIST image as a PNG (`train-00000.png`, ..., `test-09999.png`);
- `pairs.tsv` (`image<TAB>audio<TAB>split`): each image with one recording of its digit, drawn
  with a fixed seed. FSDD's official split decides the audio side: test images get test
  recordings (0-4 of each digit and speaker), train images train recordings (10-49), and the
  last 5,000 MNIST train images form a validation split with recordings 5-9, so no recording
  is shared between splits;
- `class_audio_<speaker>.csv` (`path,label`): one test recording per digit (index 0) of one
  speaker, the ten "prompts" of zero-shot classification without image labels.

Audio paths are written relative to OUT_DIR.
"""

import gzip
import io
import os
import random
import re
import struct
import sys
import tarfile
import zlib

NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
VAL_IMAGES = 5000


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def find(folder, stem):
    for name in sorted(os.listdir(folder)):
        if name.startswith(stem):
            return os.path.join(folder, name)
    sys.exit(f"{folder}: no {stem}* file")


def png(pixels, side):
    """A grayscale 8-bit PNG of side x side pixels."""
    raw = b"".join(b"\x00" + pixels[r * side:(r + 1) * side] for r in range(side))

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AUTODIDACT_DATA", "../shared/data")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join("cache", "avmnist")
    mnist = os.path.join(data, "mnist")
    recordings = os.path.join(data, "fsdd", "recordings")
    if not os.path.isdir(mnist) or not os.path.isdir(recordings):
        sys.exit(f"{data}: expected mnist/ and fsdd/recordings/")
    by_split = {"train": {}, "val": {}, "test": {}}
    speakers = set()
    for name in sorted(os.listdir(recordings)):
        m = NAME.match(name)
        if not m:
            continue
        digit, speaker, index = int(m.group(1)), m.group(2), int(m.group(3))
        split = "test" if index <= 4 else "val" if index <= 9 else "train"
        rel = os.path.relpath(os.path.join(recordings, name), out)
        by_split[split].setdefault(digit, []).append(rel)
        speakers.add(speaker)
    os.makedirs(out, exist_ok=True)
    rng = random.Random(0)
    rows = []
    with tarfile.open(os.path.join(out, "images.tar.tmp"), "w") as tar:
        for part, stem in (("train", "train"), ("test", "t10k")):
            (n, side, _), pixels = read_idx(find(mnist, f"{stem}-images"))
            _, labels = read_idx(find(mnist, f"{stem}-labels"))
            for i in range(n):
                name = f"{part}-{i:05d}.png"
                body = png(pixels[i * side * side:(i + 1) * side * side], side)
                info = tarfile.TarInfo(f"images/{name}")
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
                split = part if part == "test" else ("val" if i >= n - VAL_IMAGES else "train")
                rows.append((name, rng.choice(by_split[split][labels[i]]), split))
    os.replace(os.path.join(out, "images.tar.tmp"), os.path.join(out, "images.tar"))
    with open(os.path.join(out, "pairs.tsv"), "w") as f:
        f.write("image\taudio\tsplit\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    for speaker in sorted(speakers):
        with open(os.path.join(out, f"class_audio_{speaker}.csv"), "w") as f:
            f.write("path,label\n")
            for digit in range(10):
                rel = os.path.relpath(os.path.join(recordings, f"{digit}_{speaker}_0.wav"), out)
                f.write(f"{rel},{digit}\n")
    counts = {s: sum(1 for r in rows if r[2] == s) for s in ("train", "val", "test")}
    print(f"{len(rows)} pairs ({counts}) -> {os.path.join(out, 'pairs.tsv')}; "
          f"class recordings of {len(speakers)} speakers -> {out}/class_audio_*.csv")


if __name__ == "__main__":
    main()
