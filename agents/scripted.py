"""Scripted experts that follow a task's oracle path (e.g. ScienceWorld gold actions).

`noisy_expert` deviates from the path with probability p (seeded per episode), so failed expert
trajectories with useful prefixes exist offline: the raw material EEF explores from.
`flawed_expert` fails the way an API expert does: mostly on the subtasks the task marks hard, after
doing the hard part right (the right search, the right page), by one mistake the task names.
"""
from __future__ import annotations

import random

from pydantic import Field

from harness import Agent, AgentReply, AgentRequest, AgentSpec, register_agent
from harness.react import format_reply

_THOUGHTS = {
    "focus": "This is what the task is about, so I focus on it.",
    "go": "I need to be in another place for the next part of the task.",
    "teleport": "I need to be in another place for the next part of the task.",
    "open": "I should open it to get at what is inside.",
    "pick": "I will need this, so I take it.",
    "move": "This needs to go into the right container.",
    "look": "I should look at my surroundings to see what is here.",
    "activate": "Turning this device on moves the experiment forward.",
    "deactivate": "This device should be turned off now.",
    "wait": "The process needs time, so I wait.",
    "wait1": "The process needs a moment, so I wait.",
    "pour": "I pour this into the container I need.",
    "connect": "This component must be wired into the circuit.",
    "use": "Using this item is the next step.",
}


# Web-shop style actions (verb[argument]): short thoughts that do not repeat the action, so a model
# imitating them needs few tokens per turn.
_BUTTON_THOUGHTS = {
    "next >": "The product I want is not on this page, so I look at the next one.",
    "< prev": "I go back to the previous page.",
    "back to search": "I start a new search.",
    "buy now": "This product and its options match the instruction, so I buy it.",
    "description": "I check the product's details.",
    "features": "I check the product's details.",
    "reviews": "I check the product's details.",
}


def thought_for(action: str) -> str:
    if "[" in action and action.endswith("]"):
        verb, arg = action[:-1].split("[", 1)
        if verb == "search":
            return "I search for the product the instruction describes."
        return _BUTTON_THOUGHTS.get(arg.lower(), "This matches the instruction, so I click it.")
    verb = action.split(" ", 1)[0].lower() if action else ""
    return _THOUGHTS.get(verb, f"The next step is to {action}.")


class ExpertConfig(AgentSpec):
    name: str = "expert"


class NoisyExpertConfig(AgentSpec):
    name: str = "noisy_expert"
    p: float = Field(0.15, ge=0.0, le=1.0, description="chance per step of a wrong action instead of the next gold one")
    seed: int = 0


class FlawedExpertConfig(AgentSpec):
    name: str = "flawed_expert"
    p_hard: float = Field(0.85, ge=0.0, le=1.0, description="chance of one mistake on a subtask the task marks hard")
    p_easy: float = Field(0.15, ge=0.0, le=1.0, description="chance of one mistake on any other subtask")
    seed: int = 0


class _PathFollower(Agent):
    needs_oracle = True
    batched = False  # answering costs nothing: never hold an episode back for a batch
    source = "expert"

    def __init__(self, config):
        super().__init__(config)
        self._pos: dict[str, int] = {}  # next oracle action per episode
        self._rng: dict[str, random.Random] = {}

    def _deviate(self, req: AgentRequest) -> str | None:
        return None

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        replies = []
        for req in requests:
            if req.oracle is None:
                replies.append(AgentReply(text="", error="this task gives no oracle path for a scripted expert"))
                continue
            wrong = self._deviate(req)
            if wrong is not None:
                replies.append(AgentReply(text=format_reply(thought_for(wrong), wrong)))
                continue
            pos = self._pos.get(req.episode_id, 0)
            path = req.oracle.actions
            action = path[pos] if pos < len(path) else "look around"
            self._pos[req.episode_id] = pos + 1
            replies.append(AgentReply(text=format_reply(thought_for(action), action)))
        return replies

    def episode_done(self, episode_id: str) -> None:
        self._pos.pop(episode_id, None)
        self._rng.pop(episode_id, None)


@register_agent("expert")
class ExpertAgent(_PathFollower):
    """Follows the task's gold action path exactly."""

    Config = ExpertConfig


@register_agent("noisy_expert")
class NoisyExpertAgent(_PathFollower):
    """Follows the gold path but takes a random valid action instead with probability p."""

    Config = NoisyExpertConfig

    def _deviate(self, req: AgentRequest) -> str | None:
        rng = self._rng.get(req.episode_id)
        if rng is None:
            rng = self._rng[req.episode_id] = random.Random(f"{self.config.seed}:{req.seed}")
        if req.oracle.distractors and rng.random() < self.config.p:
            return rng.choice(req.oracle.distractors)
        return None


@register_agent("flawed_expert")
class FlawedExpertAgent(_PathFollower):
    """Follows the gold path; per episode it decides once (seeded) whether to make one mistake, with
    chance p_hard on a subtask the task marks hard and p_easy otherwise. The mistake replaces the gold
    action at a position the task names (``Oracle.slips``, drawn uniformly), and the path goes on as
    if nothing had happened: the failed trajectory keeps everything right before it.
    """

    Config = FlawedExpertConfig

    def __init__(self, config):
        super().__init__(config)
        self._slip: dict[str, tuple[int, str] | None] = {}

    def _deviate(self, req: AgentRequest) -> str | None:
        oracle = req.oracle
        if req.episode_id not in self._slip:
            rng = random.Random(f"{self.config.seed}:{req.seed}")
            p = self.config.p_hard if oracle.hard else self.config.p_easy
            slip = None
            if oracle.slips and rng.random() < p:
                at = rng.choice(sorted(oracle.slips))
                slip = (at, rng.choice(oracle.slips[at]))
            self._slip[req.episode_id] = slip
        slip = self._slip[req.episode_id]
        pos = self._pos.get(req.episode_id, 0)
        if slip is None or slip[0] != pos:
            return None
        self._pos[req.episode_id] = pos + 1  # the mistake takes the gold action's place
        return slip[1]

    def episode_done(self, episode_id: str) -> None:
        super().episode_done(episode_id)
        self._slip.pop(episode_id, None)
