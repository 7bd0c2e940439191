#!/usr/bin/env bash
# Issue 4's tables: every vision method pre-trained with its recipe (recipes/<dataset>-<method>.toml,
# a fixed minute budget each), then k-NN (all labels and 10 per class) and the linear probe at 10
# labels per class, with the supervised baseline on the same labels once per data set. Run it on
# an otherwise idle machine: the budgets are wall-clock minutes.
#
# bench/vision.sh [--dataset mnist|cifar10] [--data PATH] [--out DIR] [--no-baseline]
#                 [--control | --control-only] [METHOD ...]
# PATH defaults to $AUTODIDACT_DATA/<the data set> or ../shared/data/...; results go to
# DIR/<dataset>-<method>.json (default runs/vision-bench) and a table is printed at the end.
# --control also reads each method's encoder as initialised (`pretrain --epochs 0`, the same seed)
# the same way, into DIR/<dataset>-<method>-control.json: what pre-training added to each column.
# --control-only reads only those (seconds, no training).
set -euo pipefail
dataset=mnist
data=""
out="runs/vision-bench"
methods=()
baseline="--baseline"
train=1
control=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dataset) dataset="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-baseline) baseline=""; shift ;;
        --control) control=1; shift ;;
        --control-only) control=1; train=0; baseline=""; shift ;;
        -*) echo "bench/vision.sh: unknown argument $1" >&2; exit 2 ;;
        *) methods+=("$1"); shift ;;
    esac
done
root="${AUTODIDACT_DATA:-../shared/data}"
case "$dataset" in
    mnist) data="${data:-$root/mnist}" ;;
    cifar10) data="${data:-$root/cifar10/cifar10-jpg.tar.gz}" ;;
    *) echo "bench/vision.sh: unknown data set $dataset (mnist or cifar10)" >&2; exit 2 ;;
esac
if [ ${#methods[@]} -eq 0 ]; then
    methods=(simclr moco mocov3 byol simsiam barlow vicreg dino mae inpaint)
fi
cargo build --release --quiet
bin="target/release/autodidact"
mkdir -p "$out"
# Pre-trains (or, for the control, only initialises) one method's run and evaluates it.
bench_one() {
    local m="$1" run="$2" budget="$3"
    "$bin" pretrain --recipe "recipes/$dataset-$m.toml" --data "$data" --out "$run" --force \
        --log-every 500 $budget
    "$bin" eval --run "$run" --data "$data" --protocol knn,linear --labels-per-class 10,all \
        $baseline --json "$run.json"
    baseline=""
}
for m in "${methods[@]}"; do
    if [ "$train" = 1 ]; then bench_one "$m" "$out/$dataset-$m" ""; fi
    if [ "$control" = 1 ]; then bench_one "$m" "$out/$dataset-$m-control" "--epochs 0"; fi
done
python3 - "$out" "$dataset" "$train" "$control" "${methods[@]}" <<'PY'
import json, sys
out, dataset, train, control, methods = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1", sys.argv[5:]
print(f"| method | k-NN all % | k-NN 10/class % | linear 10/class % | linear all % |")
print("|---|---:|---:|---:|---:|")
runs = [(m, s) for m in methods for s, on in (("", train), ("-control", control)) if on]
for m, suffix in runs:
    r = json.load(open(f"{out}/{dataset}-{m}{suffix}.json"))
    acc = {(x["protocol"], x.get("labels_per_class")): x for x in r["results"]}
    get = lambda p, k: 100 * acc[(p, k)]["ssl_accuracy"] if (p, k) in acc else float("nan")
    name = f"{m}, {r['pooling']} pooling" if r.get("pooling", "mean") != "mean" else m
    name += ", random init" if suffix else ""
    print(f"| {name} | {get('knn', 'all'):.2f} | {get('knn', 10):.2f} | {get('linear', 10):.2f} | {get('linear', 'all'):.2f} |")
m, suffix = runs[0]
first = json.load(open(f"{out}/{dataset}-{m}{suffix}.json"))["results"]
base = {(x["protocol"], x.get("labels_per_class")): x.get("baseline_accuracy") for x in first}
fmt = lambda v: "-" if v is None else f"{100 * v:.2f}"
if any(v is not None for v in base.values()):
    print(f"| supervised baseline (same encoder, same labels) | {fmt(base.get(('knn', 'all')))} | "
          f"{fmt(base.get(('knn', 10)))} | {fmt(base.get(('linear', 10)))} | {fmt(base.get(('linear', 'all')))} |")
PY
