"""Prints the table of bench/compare.sh: median over rounds of each side, and their ratio."""

import glob
import json
import os
import statistics
import sys


def load(pattern):
    return [json.load(open(p)) for p in sorted(glob.glob(pattern))]


def main(out):
    names = sorted({os.path.basename(p).split(".")[0] for p in glob.glob(os.path.join(out, "*.json"))})
    # Items per second: images, clips (wav2vec2-step) or tokens (text-step, mlm-step).
    print(f"{'workload':<22} {'ours /s':>11} {'torch /s':>12} {'ratio':>6} {'ours MiB':>9} {'torch MiB':>10}")
    for name in names:
        ours = load(os.path.join(out, f"{name}.ours.*.json"))
        ref = load(os.path.join(out, f"{name}.torch.*.json"))
        o = statistics.median(r["images_per_s"] for r in ours)
        om = max((r["peak_rss_mib"] or 0) for r in ours)
        if ref:
            t = statistics.median(r["images_per_s"] for r in ref)
            tm = max(r["peak_rss_mib"] for r in ref)
            print(f"{name:<22} {o:>11.1f} {t:>12.1f} {o / t:>6.2f} {om:>9.0f} {tm:>10.0f}")
        else:
            extra = f"  (median {ours[0]['median_s']:.3f} s)"
            print(f"{name:<22} {o:>11.1f} {'-':>12} {'-':>6} {om:>9.0f} {'-':>10}{extra}")
    knn = load(os.path.join(out, "knn.ours.*.json"))
    if knn:
        print(f"knn 10,000 x 50,000: {statistics.median(r['median_s'] for r in knn):.2f} s (goal < 2 s)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench")
