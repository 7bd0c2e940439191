#!/usr/bin/env bash
# Runs autodidact's benchmarks and the PyTorch reference alternately in one go and prints the
# ratios (ours / PyTorch). Each workload runs in its own process, so peak memory is per workload.
#
#   bench/compare.sh [--python PATH] [--rounds N] [--device cpu|vulkan] [--out DIR]
#
# PATH is a Python with torch (bench/reference/requirements.txt), default $AUTODIDACT_TORCH_PYTHON
# or python3. With --device vulkan the Rust side runs on Burn's Vulkan backend (build with
# --features vulkan, or pass a built binary in $AUTODIDACT_BIN) and PyTorch on CUDA.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${AUTODIDACT_TORCH_PYTHON:-python3}"
rounds=3
device=cpu
out="$root/target/bench"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --python) python="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --device) device="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

bin="${AUTODIDACT_BIN:-}"
if [[ -z "$bin" ]]; then
    features=()
    [[ "$device" == vulkan ]] && features=(--features vulkan)
    (cd "$root" && cargo build --release --quiet "${features[@]}")
    bin="$root/target/release/autodidact"
fi
torch_device=cpu
warm=""
if [[ "$device" == vulkan ]]; then
    torch_device=cuda
    # GPU stacks compile and autotune kernels during their first steps.
    warm="--warmup 10"
fi
"$python" -c "import torch" 2>/dev/null || {
    echo "compare.sh: $python cannot import torch; see bench/reference/requirements.txt" >&2
    exit 2
}
mkdir -p "$out"
# PyTorch's worker threads spin-wait: any other load on the machine hurts it far more than us, so
# ratios taken on a busy machine flatter autodidact. Say so rather than print them silently.
load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "compare.sh: warning: load average $load; other work on the machine skews the ratios" >&2
fi
rm -f "$out"/*.json

# name | our command | reference command
workloads=(
    "simclr-step-cnn|simclr-step --encoder cnn --device $device $warm|simclr-step --encoder cnn --device $torch_device $warm"
    "forward-cnn|forward --encoder cnn --device $device $warm|forward --encoder cnn --device $torch_device $warm"
    # The Transformer steps at their recipes' shapes; text-step and mlm-step count tokens.
    "vit-step|vit-step --device $device $warm|vit-step --device $torch_device $warm"
    "text-step|text-step --device $device $warm|text-step --device $torch_device $warm"
    "mlm-step|mlm-step --device $device $warm|mlm-step --device $torch_device $warm"
)
if [[ "$device" == cpu ]]; then
    # wav2vec2-step counts clips per second in the images/s column (Hugging Face's
    # Wav2Vec2ForPreTraining on the PyTorch side: bench/reference/requirements.txt).
    workloads+=("knn|knn|knn" "wav2vec2-step|wav2vec2-step|wav2vec2-step")
else
    workloads+=("simclr-step-resnet18|simclr-step --encoder resnet18 --device $device $warm|simclr-step --encoder resnet18 --device $torch_device $warm"
                "forward-resnet18|forward --encoder resnet18 --device $device $warm|forward --encoder resnet18 --device $torch_device $warm")
fi

[[ "$device" == vulkan ]] && command -v nvidia-smi >/dev/null && echo "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"
for round in $(seq 1 "$rounds"); do
    for w in "${workloads[@]}"; do
        IFS='|' read -r name ours ref <<<"$w"
        # shellcheck disable=SC2086
        "$bin" bench $ours --json "$out/$name.ours.$round.json" >/dev/null
        # shellcheck disable=SC2086
        "$python" "$root/bench/reference/bench.py" $ref --json "$out/$name.torch.$round.json" >/dev/null
    done
    echo "round $round of $rounds done"
done
# Our augmentation has no PyTorch counterpart here: it is measured against the 5,000 images/s goal.
[[ "$device" == cpu ]] && "$bin" bench augment --threads 1 --json "$out/augment.ours.1.json" >/dev/null
"$python" "$root/bench/summarise.py" "$out"
