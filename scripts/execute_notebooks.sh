#!/usr/bin/env bash
# Execute every paired notebook once, on its default (offline, CPU) parameters, with papermill,
# from notebooks/NAME.ipynb into book/executed/NAME.ipynb. The paired notebooks are never written.
# Usage: scripts/execute_notebooks.sh [NAME ...]   (default: all of notebooks/*.ipynb)
set -euo pipefail
cd "$(dirname "$0")/.."
# The executed pages are read, not watched: no progress bars (tqdm >= 4.66 reads $TQDM_DISABLE; the
# library's own loops honour it through coala_lib.core.runtime.progress_off; the Hub's bars have their own
# switch). An interactive user, who sets neither, still sees them.
export TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
mkdir -p book/executed
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  # The claims ledger reads every other notebook's record, so it runs last whatever its number.
  for nb in notebooks/*.ipynb; do
    case "$nb" in *claims_ledger.ipynb) ;; *) names+=("$(basename "$nb" .ipynb)") ;; esac
  done
  for nb in notebooks/*claims_ledger.ipynb; do names+=("$(basename "$nb" .ipynb)"); done
fi
for name in "${names[@]}"; do
  start=$(date +%s)
  # papermill writes to a temporary file first, so that a failed run never replaces a good output.
  tmp="book/executed/.${name}.partial.ipynb"
  .venv/bin/papermill --kernel python3 --cwd book/executed --no-progress-bar \
    "notebooks/${name}.ipynb" "$tmp"
  mv "$tmp" "book/executed/${name}.ipynb"
  echo "executed ${name} in $(( $(date +%s) - start )) s"
done
