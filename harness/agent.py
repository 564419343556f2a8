"""What an agent plugin provides: one batched call that answers every live episode."""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, ClassVar

from .specs import AgentSpec
from .task import Oracle
from .trajectory import Usage


@dataclass
class AgentRequest:
    episode_id: str  # unique within a run: "<subtask id>#<sample>"
    messages: list[dict[str, str]]  # the whole conversation so far (role/content)
    seed: int  # per-episode seed: results do not depend on how episodes are batched
    step: int = 0  # agent turns taken so far in this episode (including replayed prefix steps)
    oracle: Oracle | None = None  # only for agents with needs_oracle
    # message index -> the completion ids a model agent sampled for that assistant message (harness.tokens)
    token_ids: dict[int, list[int]] = field(default_factory=dict)

    def messages_with_ids(self) -> list[dict]:
        """``messages`` with each recorded reply's ids under "token_ids" (for harness.tokens.chat_ids)."""
        return [{**m, "token_ids": self.token_ids[i]} if i in self.token_ids else m
                for i, m in enumerate(self.messages)]


@dataclass
class AgentReply:
    text: str
    usage: Usage = field(default_factory=Usage)
    error: str | None = None  # set when the agent could not answer (the episode is recorded as errored)
    # model agents: the sampled completion ids ``text`` decodes from (harness.tokens.sampled_reply)
    # and the length of the prompt they answered (not usage: a replayed reply costs nothing)
    token_ids: list[int] | None = None
    prompt_tokens: int | None = None


class Agent:
    """Base class of agent plugins. Subclasses set ``Config`` and are registered with ``@register_agent``."""

    Config: ClassVar[type[AgentSpec]] = AgentSpec
    registered_name: ClassVar[str] = ""
    needs_oracle: ClassVar[bool] = False
    # True: one act() call for all live episodes pays (models). False: each episode is played whole
    # in its env's thread, never waiting for the others (scripted agents); act() then gets one
    # request at a time from several threads, so keep per-episode state keyed by episode id.
    batched: ClassVar[bool] = True
    source: ClassVar[str] = "self"  # lineage of the trajectories it produces
    # True: the agent takes requests one by one (`submit`) and answers each when it is ready (a vLLM
    # engine stepping continuously, a server): the engine sends an episode's next turn as soon as its
    # env has stepped, instead of every live episode waiting for the slowest of a batched call.
    continuous: bool = False

    def __init__(self, config: AgentSpec):
        self.config = config

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        raise NotImplementedError

    def submit(self, request: AgentRequest) -> "Future[AgentReply]":
        """One request, answered when ready (agents with ``continuous``)."""
        raise NotImplementedError

    def episode_done(self, episode_id: str) -> None:
        """Called when an episode ends, so per-episode state (caches) can be dropped."""

    def close(self) -> None:
        pass


_before_training: list[Callable[[], None]] = []


def before_training(hook: Callable[[], None]) -> Callable[[], None]:
    """Register what an agent plugin frees before a training stage in the same process (an idle
    engine that holds memory, or spins on the cores training needs)."""
    _before_training.append(hook)
    return hook


def free_for_training() -> None:
    for hook in _before_training:
        hook()
