"""The ReAct reply format of the published baselines: "Thought: ...\nAction: ..."."""
from __future__ import annotations

import re

# The label: "Action:" in any ASCII case, spaces or tabs allowed before the colon (not line breaks,
# and not Unicode case folds such as the dotless i of "Actıon").
_LABEL = re.compile(r"action[ \t]*:", re.IGNORECASE | re.ASCII)


def parse_action(text: str) -> str | None:
    """The action of a reply, or None when there is none (the env then answers 'invalid format').

    Takes the last line that holds an "Action:" label and the text after its first label, or,
    when that is blank, the first non-blank line below it; strips surrounding quotes/backticks and
    trailing punctuation a model tends to add. A reply that is a bare single line (no "Action:")
    is not accepted: the format is part of what the agent is evaluated on.
    """
    if not isinstance(text, str):
        return None
    lines = text.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        label = _LABEL.search(lines[i])
        if label is None:
            continue
        after = [lines[i][label.end():], *lines[i + 1:]]
        action = next((a.strip() for a in after if a.strip()), "")
        action = action.splitlines()[0].strip() if action else ""
        action = action.strip("`'\" ").rstrip(".").strip()
        return action or None
    return None


def format_reply(thought: str, action: str) -> str:
    return f"Thought: {thought}\nAction: {action}"


def cut_after_action(text: str) -> str:
    """Keep a model's reply up to the end of its first 'Action:' line (models tend to run on)."""
    i = text.find("Action:")
    if i < 0:
        return text.strip()
    j = text.find("\n", i)
    return (text if j < 0 else text[:j]).strip()


def example_text(example: list[tuple[str, str | None]], label_first_observation: bool = False) -> str:
    """An in-context example episode: ``(thought, action)`` turns and ``(observation, None)`` ones, the
    first observation unlabelled unless ``label_first_observation`` (it reads as the task's own text)."""
    lines = []
    for text, action in example:
        if action is not None:
            lines.append(f"Thought: {text}\nAction: {action}")
        else:
            lines.append(f"Observation: {text}" if lines or label_first_observation else text)
    return "\n".join(lines)


def first_message(instruction: str, example: str | None, first_observation: str) -> str:
    """The episode's first user message: the instruction, the example episode (if any), the first observation."""
    parts = [instruction]
    if example is not None:
        parts.append("Here is an example of a whole episode:\n" + example)
    parts.append("Now it is your turn.\n" + first_observation)
    return "\n\n".join(parts)
