import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
PLUGIN_DIR = TESTS / "plugin_pkg"
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(PLUGIN_DIR))  # the toy plugin, importable in-process (registers on import)

import harness_toy  # noqa: E402,F401

# How a subprocess names the toy plugin without installing it: a module:Class reference.
TOY_TASK = "harness_toy:CounterTask"
TOY_AGENT = "harness_toy:CountingAgent"


def cli_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def harness_cmd() -> list[str]:
    return [sys.executable, "-m", "harness.cli"]
