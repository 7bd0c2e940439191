#!/usr/bin/env bash
# Installs what the Python package builds and tests with, on Debian or Ubuntu: python3 with venv
# and pip (PyO3 reads the interpreter's configuration; the tests run in a virtualenv). Does
# nothing when they are there already.
set -euo pipefail
if command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  python3 python3-venv python3-pip >/dev/null
python3 --version
