#!/usr/bin/env bash
# The GPU check in one command (issue 18): the paper's scale measured in at most eight minutes on one
# GPU, every number written as JSON into the folder given by --out (see bench/gpu_check.py).
#
#   bash scripts/gpu_check.sh --tiny --out /tmp/gpu-check       # this CPU, tiny shapes, about a minute
#   bash scripts/gpu_check.sh --out "$OUT"                      # one H100/H200, offline
#   bash scripts/gpu_check.sh --out "$OUT" --stages guidance --resume-from results/gpu_check.json
#
# Offline set-up: when papermill, ipykernel or coala_lib cannot be imported, the wheels that
# scripts/gpu_wheels.sh put in .gpu_carry/wheels are installed with pip --no-index into a folder on
# PYTHONPATH, then the project itself (no network either way); .gpu_carry/data becomes COALA_DATA_DIR.
# The Python is .venv/bin/python when the checkout has one, else python3. Other arguments go to
# bench/gpu_check.py; relative paths are taken from the caller's directory.
set -euo pipefail
GPU_CHECK_STARTED=${GPU_CHECK_STARTED:-$(date +%s.%N)}
export GPU_CHECK_STARTED
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARRY="$ROOT/.gpu_carry"
PYTHON=python3
[ -x "$ROOT/.venv/bin/python" ] && PYTHON="$ROOT/.venv/bin/python"

if ! "$PYTHON" -c "import papermill, ipykernel, coala_lib" 2>/dev/null; then
  SITE=${GPU_CHECK_SITE:-/tmp/coala-gpu-check-site}
  # A failed install is reported and the run goes on: the stages that need it record their error.
  if [ -d "$CARRY/wheels" ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
      "$CARRY"/wheels/*.whl || echo "gpu_check.sh: installing $CARRY/wheels failed" >&2
  fi
  # The project: a regular (non-editable) install beside the wheels, built offline with setuptools;
  # if that fails, the checkout itself goes on PYTHONPATH.
  if ! "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --upgrade \
    --target "$SITE" "$ROOT"; then
    echo "gpu_check.sh: installing the project failed; using $ROOT on PYTHONPATH" >&2
    SITE="$SITE:$ROOT"
  fi
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
GPU_CHECK_INSTALL_SECONDS=$(awk -v a="$GPU_CHECK_STARTED" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
export GPU_CHECK_INSTALL_SECONDS
if [ -z "${COALA_DATA_DIR:-}" ] && [ -d "$CARRY/data" ]; then
  export COALA_DATA_DIR="$CARRY/data"
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
exec "$PYTHON" "$ROOT/bench/gpu_check.py" "$@"
