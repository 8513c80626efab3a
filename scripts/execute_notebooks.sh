#!/usr/bin/env bash
# Execute every paired notebook once, on its default (offline, CPU) parameters, with papermill,
# from notebooks/NAME.ipynb into book/executed/NAME.ipynb. The paired notebooks are never written.
# Usage: scripts/execute_notebooks.sh [NAME ...]   (default: all of notebooks/*.ipynb)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p book/executed
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for nb in notebooks/*.ipynb; do names+=("$(basename "$nb" .ipynb)"); done
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
