"""The `alfworld` and `alfworld-mini` tasks: subtask = one game, category = its task type, success = won.

`alfworld` plays the official games from a data directory the user downloads (`data_dir` or
$ALFWORLD_DATA, laid out as `alfworld-download` leaves it: `json_2.1.1/{train,valid_seen,valid_unseen}/
<task folder>/<trial>/game.tw-pddl`). The baselines (ETO, IPR, EEF) evaluate on valid_seen (140 games)
and valid_unseen (134) with a step limit of 40. `alfworld-mini` plays our own generated games
(`games.py`): the same engine and loader, not ALFWorld's games, so its ids and categories say `mini`.

Both list games through the engine's own loader (`AlfredTWEnv.collect_game_files`: solvable games of
the six task types, movable-receptacle and sliced games left out as ALFWorld does), sorted by path.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from harness import Env, Oracle, ResetResult, StepResult, Subtask, Task, TaskSpec, register_task
from harness.errors import SpecError
from harness.protocol import digest, package_version

from .prompt import first_message

DATA_ENV_VAR = "ALFWORLD_DATA"
OFFICIAL_SPLITS = ("train", "valid_seen", "valid_unseen")
# the engine's task type names -> our categories (the short names of the baselines)
CATEGORIES = {"pick_and_place_simple": "pick_and_place", "pick_clean_then_place_in_recep": "pick_clean_then_place",
              "pick_heat_then_place_in_recep": "pick_heat_then_place",
              "pick_cool_then_place_in_recep": "pick_cool_then_place", "look_at_obj_in_light": "look_at_obj",
              "pick_two_obj_and_place": "pick_two_obj"}
TaskType = Literal["pick_and_place", "pick_clean_then_place", "pick_heat_then_place", "pick_cool_then_place",
                   "look_at_obj", "pick_two_obj"]
NOTHING = "Nothing happens."  # the engine's answer to a command it cannot run
WELCOME = "-= Welcome to TextWorld, ALFRED! =-"
HOW_TO_GET_DATA = (
    "get the official games with `alfworld-download` (pip install alfworld) on a machine with internet access "
    "(it writes $ALFWORLD_DATA, default ~/.cache/alfworld), copy that folder here and point task.data_dir or "
    f"${DATA_ENV_VAR} at it; or play our own games with the task alfworld-mini")


def _alfworld_installed(name: str) -> None:
    if find_spec("alfworld") is None or find_spec("textworld") is None:
        raise ValueError(f"task {name!r} needs the alfworld package: pip install 'harness[alfworld]' "
                         "(it compiles fast-downward and jericho: ~4 minutes)")


class _Config(TaskSpec):
    task_types: list[TaskType] | None = Field(None, description="default: all six")
    games: int | None = Field(None, ge=1, description="only the first N games of each task type (by path)")
    max_steps: int = Field(40, ge=1, description="step limit per episode (40 as ETO)")
    icl_example: bool = Field(True, description="include the worked example in the prompt")


class AlfWorldConfig(_Config):
    name: str = "alfworld"
    data_dir: Path | None = Field(None, description=f"ALFWorld data folder (default: ${DATA_ENV_VAR})")
    split: Literal["train", "valid_seen", "valid_unseen"] = Field(
        "valid_unseen", description="official split (the baselines' test sets: valid_seen 140, valid_unseen 134)")

    @model_validator(mode="after")
    def _data(self):
        _alfworld_installed(self.name)
        if self.data_dir is None:
            env = os.environ.get(DATA_ENV_VAR)
            if not env:
                raise ValueError(f"no ALFWorld data: set task.data_dir or ${DATA_ENV_VAR}; {HOW_TO_GET_DATA}")
            self.data_dir = Path(env)
        split_dir(self.data_dir, self.split)  # fails now, before anything is written
        return self


class AlfWorldMiniConfig(_Config):
    name: str = "alfworld-mini"
    split: Literal["train", "test"] = Field("test", description="our set's part (its test rooms are not in train)")

    @model_validator(mode="after")
    def _installed(self):
        _alfworld_installed(self.name)
        return self


def split_dir(data_dir: Path, split: str) -> Path:
    """`<data_dir>/json_2.1.1/<split>`, checked to hold games; ValueError naming the path otherwise."""
    data_dir = Path(data_dir).expanduser()
    path = data_dir / "json_2.1.1" / split
    if not data_dir.is_dir():
        raise ValueError(f"ALFWorld data directory not found: {data_dir}; {HOW_TO_GET_DATA}")
    if not path.is_dir():
        raise ValueError(f"{data_dir}: no split folder json_2.1.1/{split}; {HOW_TO_GET_DATA}")
    game = next(path.rglob("game.tw-pddl"), None)
    if game is None:
        raise ValueError(f"{path}: no game.tw-pddl files (the json_2.1.2 tw-pddl download is missing); "
                         f"{HOW_TO_GET_DATA}")
    try:
        data = json.loads(game.read_text())
        missing = [k for k in ("pddl_domain", "grammar", "pddl_problem") if k not in data]
    except ValueError as exc:
        raise ValueError(f"{game}: not a readable game file ({exc}); {HOW_TO_GET_DATA}") from exc
    if missing or not (game.parent / "traj_data.json").is_file():
        raise ValueError(f"{game}: not an ALFWorld game (missing {missing or 'traj_data.json'}); {HOW_TO_GET_DATA}")
    return path


def engine_game_files(folder: Path) -> list[str]:
    """The games the engine's own loader (AlfredTWEnv) collects from a folder, sorted."""
    from alfworld.agents.environment.alfred_tw_env import AlfredTWEnv, TASK_TYPES
    config = {"env": {"task_types": sorted(TASK_TYPES), "goal_desc_human_anns_prob": 0},
              "dataset": {"data_path": str(folder), "num_train_games": -1, "num_eval_games": -1},
              "general": {"training_method": "dagger"}}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # its prints, tqdm
        loader = AlfredTWEnv(config, train_eval="train")
    return sorted(loader.game_files)


class AlfWorldEnv(Env):
    """One engine (a private copy of the planner library); keeps the last game loaded."""

    def __init__(self, icl_example: bool):
        from .engine import Engine
        self.engine = Engine()
        self.icl_example = icl_example

    def reset(self, subtask: Subtask, *, want_oracle: bool = False) -> ResetResult:
        game_file = subtask.data["game_file"]
        if self.engine.game_file != game_file:
            self.engine.load(game_file)
        intro = self.engine.reset()
        first = intro.split("\n\n", 1)[1] if intro.startswith(WELCOME) else intro  # as ETO: without the banner
        messages = [{"role": "user", "content": first_message(first, self.icl_example)}]
        oracle = None
        if want_oracle:
            walkthrough = self.engine.walkthrough
            if not walkthrough:  # a game file without one: the planner's path from the start
                walkthrough = self.engine.plan()
            # distractors: the start state's admissible commands, listed only if an agent asks
            oracle = Oracle(actions=walkthrough, distractors=self.engine.admissible_commands)
        return ResetResult(messages=messages, oracle=oracle)

    def step(self, action: str) -> StepResult:
        obs = self.engine.step(action)
        won = self.engine.won
        return StepResult(observation=obs, reward=100.0 if won else 0.0, score=100.0 if won else 0.0, done=won,
                          success=won)

    def close(self) -> None:
        self.engine.close()


class _AlfWorldTask(Task):
    invalid_format_message = NOTHING  # malformed output answers like an impossible command; the step counts
    id_prefix = "alfworld"
    category_prefix = ""

    def __init__(self, config: _Config):
        super().__init__(config)
        self.config: _Config = config
        self._subtasks: list[Subtask] | None = None
        self._lock = threading.Lock()

    def split_folder(self) -> Path:
        raise NotImplementedError

    def subtasks(self) -> list[Subtask]:
        with self._lock:
            if self._subtasks is None:
                self._subtasks = self._list()
            return list(self._subtasks)

    def _list(self) -> list[Subtask]:
        c = self.config
        folder = self.split_folder()
        wanted = set(c.task_types or CATEGORIES.values())
        per_type: dict[str, int] = {}
        out = []
        for game_file in engine_game_files(folder):
            trial = Path(game_file).parent
            task_type = json.loads((trial / "traj_data.json").read_text())["task_type"]
            category = CATEGORIES.get(task_type)
            if category not in wanted:
                continue
            per_type[category] = per_type.get(category, 0) + 1
            if c.games is not None and per_type[category] > c.games:
                continue
            rel = trial.relative_to(folder).as_posix()
            out.append(Subtask(id=f"{self.id_prefix}:{c.split}/{rel}", category=self.category_prefix + category,
                               data={"game_file": game_file}))
        if not out:
            raise SpecError(f"{folder}: the engine's loader found no games of the task types {sorted(wanted)}")
        return out

    def make_env(self) -> AlfWorldEnv:
        return AlfWorldEnv(self.config.icl_example)

    def max_steps(self, subtask: Subtask) -> int:
        return self.config.max_steps

    def data_version(self) -> str:
        raise NotImplementedError

    def protocol(self) -> dict:
        c = self.config
        return {"env": f"alfworld {package_version('alfworld')} (textworld {package_version('textworld')})",
                "data": self.data_version(), "success_rule": "won",
                "prompt": digest(first_message("<observation>", c.icl_example))}


@register_task("alfworld")
class AlfWorldTask(_AlfWorldTask):
    """ALFWorld's official games (TextWorld engine) from a downloaded data folder; success = won."""

    Config = AlfWorldConfig

    def split_folder(self) -> Path:
        c: AlfWorldConfig = self.config
        return split_dir(c.data_dir, c.split)

    def data_version(self) -> str:
        """The games' folder names and sizes (hashing every file of the train split would take seconds)."""
        folder = self.split_folder()
        return "games:" + digest([(Path(s.data["game_file"]).relative_to(folder).as_posix(),
                                   os.path.getsize(s.data["game_file"])) for s in self.subtasks()])


@register_task("alfworld-mini")
class AlfWorldMiniTask(_AlfWorldTask):
    """ALFWorld's engine on a small game set of our own (generated, not ALFWorld's games)."""

    Config = AlfWorldMiniConfig
    id_prefix = "mini"
    category_prefix = "mini-"

    def split_folder(self) -> Path:
        from .games import mini_root
        return mini_root() / self.config.split

    def data_version(self) -> str:
        from .games import GENERATOR_VERSION
        return f"alfworld-mini generator {GENERATOR_VERSION} (alfworld {package_version('alfworld')})"
