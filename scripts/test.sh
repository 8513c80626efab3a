#!/usr/bin/env bash
# Test job: set up, then one pytest run of the unit tests, nbval on the executed notebooks
# (each runs once and its checked outputs must match the committed ones) and the book build check.
set -euo pipefail
source "$(dirname "$0")/absolute_paths.sh"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
# Notebooks record their key numbers under results/claims/ for the claims ledger (coala_lib.claims.ledger).
export COALA_RESULTS_DIR=${COALA_RESULTS_DIR:-$(pwd)/results}
# A fresh cache: the notebooks must reproduce their committed outputs from a cold start.
export COALA_CACHE_DIR=${COALA_CACHE_DIR:-$(mktemp -d)}
exec .venv/bin/python -m pytest tests book/executed --nbval-lax --nbval-cell-timeout=1800 \
  --nbval-sanitize-with tests/nbval_sanitize.cfg "$@"
