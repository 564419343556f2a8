"""What a task plugin provides: its subtasks, environments that play them, and its prompt."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from .specs import TaskSpec


@dataclass(frozen=True)
class Subtask:
    id: str  # stable across runs, e.g. "boil:12"
    category: str  # aggregated in leaderboards, e.g. the ScienceWorld task type
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class Oracle:
    """What a scripted expert may know: a known-good action sequence, and plausible wrong actions.

    ``distractors`` may be a function, called on first use: computing them costs some envs a lot
    (ScienceWorld lists every valid action), and only some experts use them. ``slips`` maps a
    position of the path to wrong actions that are valid there and lose the subtask if taken instead
    (WebShop: another product on the target's page, another value of a wanted option); ``hard`` says
    the path needs a skill the task counts as hard (WebShop: nothing on the first results page wins). Both drive
    ``flawed_expert``, whose failures concentrate where an API expert's do.
    """

    def __init__(self, actions: list[str], distractors: list[str] | Callable[[], list[str]] = (),
                 slips: dict[int, list[str]] | None = None, hard: bool = False):
        self.actions = list(actions)
        self._distractors = distractors if callable(distractors) else list(distractors)
        self.slips = {i: list(v) for i, v in (slips or {}).items() if v}
        self.hard = hard

    @property
    def distractors(self) -> list[str]:
        if callable(self._distractors):  # computed in the state the agent first asks in (the start)
            self._distractors = list(self._distractors())
        return self._distractors


@dataclass
class StepResult:
    observation: str
    reward: float
    score: float
    done: bool
    success: bool


@dataclass
class ResetResult:
    messages: list[dict[str, str]]  # the prompt: instruction, in-context example, first observation
    oracle: Oracle | None = None


class EnvCrashed(RuntimeError):
    """The environment process died; the engine restarts it and retries the episode."""


class Env:
    """One environment instance; plays one episode at a time."""

    def reset(self, subtask: Subtask, *, want_oracle: bool = False) -> ResetResult:
        raise NotImplementedError

    def step(self, action: str) -> StepResult:
        raise NotImplementedError

    def format_observation(self, observation: str) -> str:
        return f"Observation: {observation}"

    def same_observation(self, stored: str, replayed: str) -> bool:
        """Whether a replayed step reproduced a stored observation (prefix replay checks this)."""
        return stored == replayed

    def replay_action(self, action: str, stored_before: str, replayed_before: str) -> str:
        """The action to send when replaying a stored ``action`` that answered ``stored_before``, now
        that the env showed ``replayed_before`` (an env whose menus change order maps choices here)."""
        return action

    def close(self) -> None:
        pass


class Task:
    """Base class of task plugins. Subclasses set ``Config`` and are registered with ``@register_task``."""

    Config: ClassVar[type[TaskSpec]] = TaskSpec
    registered_name: ClassVar[str] = ""
    invalid_format_message = "Invalid format: the reply must end with 'Action: <action>'."

    def __init__(self, config: TaskSpec):
        self.config = config

    def subtasks(self) -> list[Subtask]:
        raise NotImplementedError

    def make_env(self) -> Env:
        raise NotImplementedError

    def max_steps(self, subtask: Subtask) -> int:
        raise NotImplementedError

    def protocol(self) -> dict[str, Any]:
        """This task's part of a run's protocol record (``harness.protocol``): environment package
        and data versions, the success rule, a hash of the prompt text. The core adds the subtask
        panel and the step limits. Two runs whose records differ are not comparable."""
        return {}

    def subtask_facts(self, subtasks: list[Subtask]) -> dict[str, dict[str, str | int]]:
        """What is known about each subtask before any agent plays it, e.g. how hard it is: subtask id ->
        facts (name -> value, in the order to show them). Leaderboards show them next to the subtasks a
        head-to-head lists and can group columns by one (``harness leaderboard --by NAME``); a subtask
        left out has no facts. Default: none."""
        return {}

    @classmethod
    def action_kind(cls, action: str | None) -> str:
        """What kind of action this is, for the leaderboard's action view (`--actions`): the verb.
        Tasks whose skills show in a few kinds (WebShop's navigation buttons) name them."""
        if not action or not action.strip():
            return "(invalid)"
        return action.split()[0].lower()

    def parse_action(self, text: str) -> str | None:
        from .react import parse_action
        return parse_action(text)

    def close(self) -> None:
        pass
