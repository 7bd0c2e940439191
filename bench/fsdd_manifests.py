#!/usr/bin/env python3
"""Writes the Free Spoken Digit Dataset's manifests for `autodidact` audio runs.

    python3 bench/fsdd_manifests.py [FSDD_DIR] [OUT_DIR]

FSDD_DIR holds `recordings/{digit}_{speaker}_{index}.wav` (default: ../shared/data/fsdd, or
$AUTODIDACT_DATA/fsdd); OUT_DIR (default: cache/fsdd, ignored by git) gets `digits.csv` and
`speakers.csv`, each with the header `path,label,split` and the official split: recordings
0-4 of every digit and speaker are test, 5-49 train. Paths are written relative to OUT_DIR.

It also writes `digits_dev.csv` and `speakers_dev.csv`, for choosing settings without the test
split: the official train recordings only, 5-9 as `test` (the validation split), 10-49 as train.
"""

import os
import re
import sys

NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def main():
    data = os.environ.get("AUTODIDACT_DATA", "../shared/data")
    fsdd = sys.argv[1] if len(sys.argv) > 1 else os.path.join(data, "fsdd")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join("cache", "fsdd")
    recordings = os.path.join(fsdd, "recordings")
    if not os.path.isdir(recordings):
        sys.exit(f"{recordings}: no such folder (expected FSDD's recordings/)")
    rows = []
    for name in sorted(os.listdir(recordings)):
        match = NAME.match(name)
        if not match:
            continue
        digit, speaker, index = match.group(1), match.group(2), int(match.group(3))
        split = "test" if index <= 4 else "train"
        path = os.path.relpath(os.path.join(recordings, name), out)
        rows.append((path, digit, speaker, split, index))
    if not rows:
        sys.exit(f"{recordings}: no recordings named <digit>_<speaker>_<index>.wav")
    os.makedirs(out, exist_ok=True)
    dev = [(p, d, s, "test" if int(n) <= 9 else "train") for p, d, s, sp, n in rows if sp == "train"]
    for manifest, column, subset in (("digits.csv", 1, rows), ("speakers.csv", 2, rows),
                                     ("digits_dev.csv", 1, dev), ("speakers_dev.csv", 2, dev)):
        with open(os.path.join(out, manifest), "w") as f:
            f.write("path,label,split\n")
            for row in subset:
                f.write(f"{row[0]},{row[column]},{row[3]}\n")
    test = sum(1 for r in rows if r[3] == "test")
    print(f"{len(rows)} recordings ({len(rows) - test} train, {test} test) -> "
          f"{os.path.join(out, 'digits.csv')}, {os.path.join(out, 'speakers.csv')}; "
          f"development split ({len(dev)} train recordings, 5-9 held out) -> *_dev.csv")


if __name__ == "__main__":
    main()
