#!/usr/bin/env bash
# Installs what `--features mpi` builds and runs against, on Debian or Ubuntu: Open MPI (mpirun,
# its headers and library) and libclang (the mpi crate generates its bindings with bindgen).
# Does nothing when they are there already.
set -euo pipefail
have_clang() { compgen -G "/usr/lib/llvm-*/lib/libclang*.so*" >/dev/null || compgen -G "/usr/lib/*/libclang*.so*" >/dev/null; }
if command -v mpirun >/dev/null && command -v mpicc >/dev/null && have_clang; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  openmpi-bin libopenmpi-dev libclang-dev >/dev/null
mpirun --version | head -1
