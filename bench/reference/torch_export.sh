#!/usr/bin/env bash
# Checks `autodidact export --format torch` (issue 30) where PyTorch is installed: builds the
# Python wheel, installs it into the virtualenv of PYTHON (a venv with torch, e.g. one made with
# `python3 -m venv V && V/bin/pip install torch numpy pytest onnx onnxruntime`), and runs
# crates/python/tests/test_torch.py there: for every encoder type that exports, the module file
# and its state dict give autodidact's embeddings of 16 inputs within 1e-4.
#   bench/reference/torch_export.sh --python /path/to/venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/../.."
python=python3
if [ "${1:-}" = "--python" ]; then python="$2"; fi
"$python" -c 'import torch, pytest, maturin' 2>/dev/null || "$python" -m pip install --quiet maturin pytest
cargo build --release
"$python" -m maturin build --release --quiet --manifest-path crates/python/Cargo.toml --out target/python-wheels
"$python" -m pip install --quiet --force-reinstall --no-deps target/python-wheels/autodidact-*.whl
"$python" -c 'import torch; print("torch", torch.__version__)'
AUTODIDACT_BIN=target/release/autodidact "$python" -m pytest crates/python/tests/test_torch.py -q -s -rs
