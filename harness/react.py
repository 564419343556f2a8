"""The ReAct reply format of the published baselines: "Thought: ...\nAction: ..."."""
from __future__ import annotations

import re

_ACTION = re.compile(r"Action\s*:\s*(.+)", re.IGNORECASE)


def parse_action(text: str) -> str | None:
    """The action of a reply, or None when there is none (the env then answers 'invalid format').

    Takes the last "Action:" line; strips surrounding quotes/backticks and trailing punctuation a
    model tends to add. A reply that is a bare single line (no "Action:") is not accepted: the
    format is part of what the agent is evaluated on.
    """
    if not isinstance(text, str):
        return None
    matches = _ACTION.findall(text)
    if not matches:
        return None
    action = matches[-1].strip().splitlines()[0].strip() if matches[-1].strip() else ""
    action = action.strip("`'\" ").rstrip(".").strip()
    return action or None


def format_reply(thought: str, action: str) -> str:
    return f"Thought: {thought}\nAction: {action}"
