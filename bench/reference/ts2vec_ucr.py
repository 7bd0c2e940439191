"""TS2Vec's own code on a UCR problem, over several seeds: the reference for `autodidact bench ucr`.

    git clone https://github.com/yuezhihan/ts2vec /path/to/ts2vec
    pip install -r /path/to/ts2vec/requirements.txt   (torch, scikit-learn, bottleneck, ...)
    python ts2vec_ucr.py --ts2vec /path/to/ts2vec --data ../shared/data/ucr/ArrowHead --seeds 42,0,1,2,3,4

Reads `<Name>_TRAIN.ts` / `<Name>_TEST.ts` (univariate, equal length) as our reader does, trains
TS2Vec with the settings of its `scripts/ucr.sh` (batch 8, 320 dimensions, 200 iterations below
100,000 values, learning rate 1e-3), encodes the full series and scores its SVM protocol
(`tasks/_eval_protocols.fit_svm`). One CPU thread, so two runs fit beside other work.
"""

import argparse
import os
import sys
import time

import numpy as np


def read_ts(path):
    """Values (series x steps x 1) and labels of a univariate, equal-length `.ts` file."""
    values, labels, in_data = [], [], False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if in_data:
                series, label = line.rsplit(":", 1)
                values.append([float(v) for v in series.split(",")])
                labels.append(label)
            elif line.lower().startswith("@data"):
                in_data = True
    return np.array(values)[..., None], np.array(labels)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ts2vec", required=True, help="checkout of yuezhihan/ts2vec")
    p.add_argument("--data", required=True, help="UCR problem folder")
    p.add_argument("--seeds", default="42,0,1,2,3,4")
    args = p.parse_args()
    sys.path.insert(0, args.ts2vec)
    from tasks._eval_protocols import fit_svm
    from ts2vec import TS2Vec
    from utils import init_dl_program

    name = os.path.basename(os.path.normpath(args.data))
    x_train, y_train = read_ts(os.path.join(args.data, f"{name}_TRAIN.ts"))
    x_test, y_test = read_ts(os.path.join(args.data, f"{name}_TEST.ts"))
    scores = []
    for seed in (int(s) for s in args.seeds.split(",")):
        init_dl_program("cpu", seed=seed, max_threads=1)
        start = time.time()
        model = TS2Vec(input_dims=1, device="cpu", batch_size=8, output_dims=320)
        model.fit(x_train)
        train_repr = model.encode(x_train, encoding_window="full_series")
        test_repr = model.encode(x_test, encoding_window="full_series")
        accuracy = fit_svm(train_repr, y_train).score(test_repr, y_test)
        scores.append(accuracy)
        print(f"{name} seed {seed}: svm {accuracy:.4f} ({time.time() - start:.0f} s)", flush=True)
    print(f"{name}: mean {np.mean(scores):.4f}, min {min(scores):.4f}, max {max(scores):.4f}")


if __name__ == "__main__":
    main()
