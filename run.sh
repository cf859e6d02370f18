#!/usr/bin/env bash
# Set up (first time) and start the ConvStudio dashboard: ./run.sh [streamlit options]
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec .venv/bin/streamlit run app.py "$@"
