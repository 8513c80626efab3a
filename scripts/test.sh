#!/usr/bin/env bash
# Two lanes.
#   bash scripts/test.sh          full lane (what CI runs): set up, then one pytest run of the unit tests,
#                                 nbval on the executed notebooks (each runs once and its checked outputs
#                                 must match the committed ones) and the book build checks.
#   bash scripts/test.sh --fast   fast lane for the edit-test loop: the unit tests only, no nbval, no book
#                                 build, no slow tests (-m "not slow and not book"); sets up only when
#                                 .venv is missing (re-run scripts/setup.sh after requirements change).
# Further arguments go to pytest, e.g. `bash scripts/test.sh --fast tests/test_pipeline.py -x`.
set -euo pipefail
source "$(dirname "$0")/absolute_paths.sh"
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
if [ "${1:-}" = "--fast" ]; then
  shift
  [ -x .venv/bin/python ] || bash scripts/setup.sh
  exec .venv/bin/python -m pytest -m "not slow and not book" "$@"
fi
bash scripts/setup.sh
# Notebooks record their key numbers under results/claims/ for the claims ledger (coala_lib.claims.ledger).
export COALA_RESULTS_DIR=${COALA_RESULTS_DIR:-$(pwd)/results}
# A fresh cache: the notebooks must reproduce their committed outputs from a cold start.
export COALA_CACHE_DIR=${COALA_CACHE_DIR:-$(mktemp -d)}
exec .venv/bin/python -m pytest tests book/executed --nbval-lax --nbval-cell-timeout=1800 \
  --nbval-sanitize-with tests/nbval_sanitize.cfg "$@"
