#!/usr/bin/env python3
"""Writes Flickr8k's train split as single-modality data sets, for the runs a multimodal run's
towers start from (`--init-image`, `--init-text`): no validation or test image or caption is
in them.

    python3 bench/flickr8k_train_parts.py [FLICKR8K_DIR] [OUT_DIR]

FLICKR8K_DIR holds `images-64.tar.gz`, `captions.tsv` and `splits.tsv` (default:
$AUTODIDACT_DATA/flickr8k or ../shared/data/flickr8k); OUT_DIR (default: cache/flickr8k, ignored
by git) gets `train-images.tar` (the 6,000 train images, `images/<name>.jpg`, as the image
readers take an unlabelled folder) and `train-captions.txt` (their 30,000 captions, one per
line, as the text readers take a corpus).
"""

import io
import os
import sys
import tarfile


def main():
    data = os.environ.get("AUTODIDACT_DATA", "../shared/data")
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(data, "flickr8k")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join("cache", "flickr8k")
    splits = {}
    with open(os.path.join(src, "splits.tsv")) as f:
        next(f)
        for line in f:
            name, split = line.rstrip("\n").split("\t")
            splits[name] = split
    train = {name for name, split in splits.items() if split == "train"}
    os.makedirs(out, exist_ok=True)
    kept = 0
    with tarfile.open(os.path.join(src, "images-64.tar.gz")) as archive, \
            tarfile.open(os.path.join(out, "train-images.tar.tmp"), "w") as tar:
        for member in archive:
            if member.isfile() and os.path.basename(member.name) in train:
                body = archive.extractfile(member).read()
                info = tarfile.TarInfo(f"images/{os.path.basename(member.name)}")
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
                kept += 1
    os.replace(os.path.join(out, "train-images.tar.tmp"), os.path.join(out, "train-images.tar"))
    lines = 0
    with open(os.path.join(src, "captions.tsv")) as f, \
            open(os.path.join(out, "train-captions.txt"), "w") as w:
        next(f)
        for line in f:
            name, caption = line.rstrip("\n").split("\t", 1)
            if name in train:
                w.write(caption.strip() + "\n")
                lines += 1
    print(f"{kept} train images -> {out}/train-images.tar; {lines} captions -> {out}/train-captions.txt")


if __name__ == "__main__":
    main()
