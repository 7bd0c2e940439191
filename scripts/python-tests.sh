#!/usr/bin/env bash
# The Python package's tests (issue 30): builds the abi3 wheel with maturin, installs it into a
# fresh virtualenv with numpy, pytest, onnx, ONNX Runtime and tqdm from PyPI, and runs
# crates/python/tests against the release binary (`cargo build --release` first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-python.sh
# Both folders are this script's own, under target/.
venv=target/python-venv
wheels=target/python-wheels
rm -rf "$venv" "$wheels"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check maturin numpy pytest onnx onnxruntime tqdm
"$venv/bin/maturin" build --release --quiet --manifest-path crates/python/Cargo.toml --out "$wheels"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$wheels"/autodidact-*.whl
AUTODIDACT_BIN=target/release/autodidact "$venv/bin/python" -m pytest crates/python/tests -q -rs
