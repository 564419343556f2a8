"""The protocol record: what decides whether two runs' numbers can be compared.

Each run stores it in ``meta.json`` next to the spec hash: the task's own part (environment
package and data versions, the success rule, a hash of the prompt text; ``Task.protocol``), the
subtask panel's hash, the step limits, and the agent's decoding settings. ``harness leaderboard``
groups rows by the comparable fields and names every field in which rows differ.
"""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from typing import Any, Iterable

from .specs import AgentSpec
from .task import Subtask, Task

# Agent options that change what a model generates (not which model): recorded, not compared
# across rows, since the rows of a leaderboard are different agents by design.
DECODING_KEYS = ("temperature", "top_p", "top_k", "max_new_tokens", "max_tokens", "min_p",
                 "repetition_penalty", "stop", "seed", "p")

# Fields whose difference is checked by the leaderboard's own panel logic (see --common).
PANEL_FIELDS = ("panel", "subtasks")


def digest(value: Any) -> str:
    """A short stable hash of text or of JSON-serialisable data."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def file_digest(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def step_limits(limits: Iterable[int]) -> int | str:
    """One number when every subtask has the same limit, else a hash of the per-subtask limits."""
    limits = list(limits)
    return limits[0] if len(set(limits)) == 1 else f"per-subtask:{digest(limits)}"


def run_protocol(task: Task, agent: AgentSpec, subtasks: list[Subtask], max_steps: int | None) -> dict[str, Any]:
    ordered = sorted(subtasks, key=lambda s: s.id)
    agent_opts = agent.model_dump(mode="json")
    return {
        "task": task.registered_name,
        **task.protocol(),
        "panel": digest([s.id for s in ordered]),
        "subtasks": len(ordered),
        "max_steps": step_limits(max_steps or task.max_steps(s) for s in ordered),
        "decoding": {k: agent_opts[k] for k in DECODING_KEYS if k in agent_opts},
    }


def comparable(protocol: dict[str, Any]) -> dict[str, Any]:
    """The fields that must be equal for two rows of one table (not the agent's decoding)."""
    return {k: v for k, v in protocol.items() if k != "decoding" and k not in PANEL_FIELDS}


def differences(protocols: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Field -> the distinct values, for every comparable field in which the protocols differ."""
    fields = sorted({k for p in protocols for k in comparable(p)})
    out = {}
    for f in fields:
        values = [comparable(p).get(f) for p in protocols]
        if len({json.dumps(v, sort_keys=True) for v in values}) > 1:
            out[f] = values
    return out
