#!/usr/bin/env bash
# Create .venv and install ConvStudio's Python packages (and, with --test, the test tools).
# With a working nvidia-smi, TensorFlow is installed as tensorflow[and-cuda] so it finds the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "ConvStudio needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  tf=$(grep -E '^tensorflow==' requirements.txt | cut -d= -f3)
  echo "GPU found: installing tensorflow[and-cuda]==$tf"
  .venv/bin/python -m pip install --quiet "tensorflow[and-cuda]==$tf"
fi
if [[ ${1:-} == --test ]]; then
  .venv/bin/python -m pip install --quiet -r requirements-test.txt
fi
