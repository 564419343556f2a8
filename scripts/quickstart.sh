#!/usr/bin/env bash
# Sets up .venv, then runs the main job on the embedded defaults:
#   1. the noisy ScienceWorld expert on 12 subtasks of 4 task types (about a minute);
#   2. the small local model (SmolLM2-135M-Instruct, CPU) on 2 of them, 8 steps each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/harness run
.venv/bin/harness run configs/smollm2-sciworld.yaml
