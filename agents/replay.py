"""Replays the stored replies of an earlier run, episode by episode (tests, and exact reproduction)."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from harness import Agent, AgentReply, AgentRequest, AgentSpec, Message, register_agent
from harness.runstore import EPISODES_FILE, RunStore


class ReplayConfig(AgentSpec):
    name: str = "replay"
    run: Path = Field(description="run directory whose episodes are replayed")

    @field_validator("run")
    @classmethod
    def _is_run(cls, v: Path) -> Path:
        if not (Path(v) / EPISODES_FILE).is_file():
            raise ValueError(f"{v} is not a run directory (no {EPISODES_FILE})")
        return v


@register_agent("replay")
class ReplayAgent(Agent):
    """Answers each episode with the assistant messages stored for it in another run."""

    Config = ReplayConfig
    batched = False  # answering costs nothing: never hold an episode back for a batch

    def __init__(self, config: ReplayConfig):
        super().__init__(config)
        self._replies: dict[str, list[Message]] = {}
        for t in RunStore.open(config.run).latest().values():
            self._replies[t.id] = [m for m in t.messages[t.prompt_len:] if m.role == "assistant"]

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        out = []
        for req in requests:
            stored = self._replies.get(req.episode_id)
            if stored is None:
                out.append(AgentReply(text="", error=f"replay: no stored episode {req.episode_id}"))
            elif req.step >= len(stored):
                out.append(AgentReply(
                    text="", error=f"replay: stored episode {req.episode_id} has only {len(stored)} steps"))
            else:
                m = stored[req.step]  # with its token record, so the replayed run trains the same
                out.append(AgentReply(text=m.content, token_ids=m.token_ids, prompt_tokens=m.prompt_tokens))
        return out
