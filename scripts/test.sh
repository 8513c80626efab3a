#!/usr/bin/env bash
# Test job: set up, then one pytest run of the unit tests, nbval on the executed notebooks
# (each runs once and its checked outputs must match the committed ones) and the book build check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
exec .venv/bin/python -m pytest tests book/executed --nbval-lax --nbval-cell-timeout=1800 "$@"
