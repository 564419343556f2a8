"""Scripted experts that follow a task's oracle path (e.g. ScienceWorld gold actions).

`noisy_expert` deviates from the path with probability p (seeded per episode), so failed expert
trajectories with useful prefixes exist offline: the raw material EEF explores from.
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


def thought_for(action: str) -> str:
    verb = action.split(" ", 1)[0].lower() if action else ""
    return _THOUGHTS.get(verb, f"The next step is to {action}.")


class ExpertConfig(AgentSpec):
    name: str = "expert"


class NoisyExpertConfig(AgentSpec):
    name: str = "noisy_expert"
    p: float = Field(0.15, ge=0.0, le=1.0, description="chance per step of a wrong action instead of the next gold one")
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
