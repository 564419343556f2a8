"""The one record format shared by evaluation and training."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

Role = Literal["system", "user", "assistant"]
Source = Literal["expert", "self", "eef", "imported"]


def _clean_text(v):
    """Lone surrogates (half an emoji from a model) cannot be written as UTF-8: replace them with U+FFFD."""
    if not isinstance(v, str) or v.isascii():  # the common case, checked at C speed (every step's text)
        return v
    try:
        v.encode("utf-8")
        return v
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in v)


class _Record(BaseModel):
    # NaN/inf would be written as null and make the run store unreadable: refuse them up front
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Message(_Record):
    role: Role
    content: str
    train: bool = False  # loss on this message when the trajectory is trained on
    # a model agent's own turn (harness.tokens): the completion ids it sampled, which ``content``
    # decodes from, and the length of the prompt it answered; None for other messages
    token_ids: list[int] | None = None
    prompt_tokens: int | None = None

    _clean = field_validator("content", mode="before")(_clean_text)

    @model_serializer(mode="wrap")
    def _compact(self, handler):
        d = handler(self)  # messages without token records (most) are written as before
        for k in ("token_ids", "prompt_tokens"):
            if d.get(k, 0) is None:
                del d[k]
        return d


class Step(_Record):
    """One agent turn: what it said, the action parsed from it and what the env answered."""
    action: str | None  # None when the output could not be parsed (an invalid-format step)
    observation: str
    reward: float = 0.0
    score: float = 0.0

    _clean = field_validator("action", "observation", mode="before")(_clean_text)


class Usage(_Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add(self, other: "Usage") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost


class Trajectory(_Record):
    id: str
    task: str
    subtask_id: str
    category: str
    sample: int = 0
    agent: str = ""
    messages: list[Message] = Field(default_factory=list)
    prompt_len: int = 0  # messages before the first agent turn (instruction, example, first observation)
    steps: list[Step] = Field(default_factory=list)
    score: float = 0.0
    success: bool = False
    done: bool = False  # the environment ended the episode (vs. step limit or error)
    # not_tried: an episode that could not start as planned (an EEF prefix that did not replay);
    # finished, never retried, and not scored
    status: Literal["ok", "error", "not_tried"] = "ok"
    error: str | None = None
    env_errors: list[str] = Field(default_factory=list)  # environment crashes this episode was retried after
    usage: Usage = Field(default_factory=Usage)
    # lineage, for EEF
    source: Source = "self"
    parent: str | None = None
    prefix_steps: int = 0  # expert steps replayed before the agent took over
    seed: int = 0
    elapsed_s: float = 0.0
    # the experiment's expert pool (its label) an expert trajectory, or an example built from one, comes from
    pool: str | None = None

    _clean = field_validator("error", "id", "subtask_id", "category", mode="before")(_clean_text)

    @model_serializer(mode="wrap")
    def _compact(self, handler):
        d = handler(self)  # episodes of runs (never in a pool) are written as before
        if d.get("pool", 0) is None:
            del d["pool"]
        return d

    @property
    def key(self) -> str:
        """Identity within a run: a retried episode has the same key and supersedes the earlier record."""
        return self.id

    @property
    def actions(self) -> list[str | None]:
        return [s.action for s in self.steps]

    def assistant_index(self, step: int) -> int:
        """Index in ``messages`` of the assistant message of agent step ``step``."""
        return self.prompt_len + 2 * step

    def messages_until(self, step: int) -> list[Message]:
        """The context the agent saw before its step ``step`` (prompt + earlier turns)."""
        return self.messages[: self.assistant_index(step)]
