#!/usr/bin/env bash
# Set up and run the whole test suite: lint, unit, app, real-data and browser tests.
set -euo pipefail
cd "$(dirname "$0")"
# Debian packages: Chromium for the browser tests, the full Fashion-MNIST for the real-data tests.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]] || need+=(dataset-fashion-mnist)
# PostgreSQL for the store's second backend (a throw-away cluster per test session).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if ((${#need[@]})); then
  sudo=""; [[ $(id -u) == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}" fonts-dejavu-core
fi
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest "$@"
