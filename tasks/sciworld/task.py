"""ScienceWorld task: subtask = (task type, variation), category = task type, success = score 100.

Speed: the package's ``env.step`` recomputes every valid action on each step (4-16 steps/s). We
talk to the simulator's server object directly and read score and completion only, computing
valid actions just when a scripted expert needs distractors. Each env is one JVM with a capped heap.
"""
from __future__ import annotations

import json
import logging
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness import EnvCrashed, Oracle, ResetResult, StepResult, Subtask, Task, TaskSpec, register_task
from harness.cache import cache_dir
from harness.errors import SpecError
from harness.protocol import digest, package_version

from .prompt import first_message

log = logging.getLogger(__name__)

# The 24 task types of the published baselines (ETO, IPR, EEF): all 30 but these six.
EXCLUDED_BY_BASELINES = (
    "measure-melting-point-unknown-substance", "inclined-plane-determine-angle",
    "inclined-plane-friction-named-surfaces", "inclined-plane-friction-unnamed-surfaces",
    "mendelian-genetics-known-plant", "mendelian-genetics-unknown-plant",
)
SUCCESS_SCORE = 100
# The simulator lists the candidates of an ambiguous action in an order that varies between runs.
AMBIGUOUS = "Ambiguous request"


def _numbered_options(observation: str) -> dict[str, str]:
    """Number -> candidate action, of an 'Ambiguous request' observation."""
    out = {}
    for line in observation.splitlines()[1:]:
        m = re.match(r"^\s*(\d+):\s*(.*?)\s*$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _ambiguity_options(observation: str) -> list[str]:
    """The candidate actions of an 'Ambiguous request' observation, without their numbers, sorted."""
    return sorted(_numbered_options(observation).values())


def all_task_types() -> list[str]:
    try:
        from scienceworld.constants import ID2TASK
    except ImportError as exc:
        raise SpecError("task 'sciworld' needs the scienceworld package: pip install 'harness[sciworld]' "
                        "(and a Java runtime on PATH)") from exc
    return list(ID2TASK.values())


def baseline_task_types() -> list[str]:
    return [t for t in all_task_types() if t not in EXCLUDED_BY_BASELINES]


def canonical_task_name(name: str) -> str:
    """'task-10-measure-melting-point-(known-substance)' -> 'measure-melting-point-known-substance'."""
    from scienceworld.utils import infer_task
    return infer_task(name)


class SciWorldConfig(TaskSpec):
    name: str = "sciworld"
    split: Literal["train", "dev", "test"] = Field("dev", description="the package's variation split")
    task_types: list[str] | None = Field(None, description="default: the 24 types of the published baselines")
    variations: int | None = Field(None, ge=1, description="first N variations of the split per task type")
    split_file: Path | None = Field(None, description="ETO-format list of [task name, variation]; replaces split")
    simplification: str = Field("easy", description="ScienceWorld simplifications ('easy' as the baselines)")
    max_steps: int | dict[str, int] = Field(
        100, description="step limit: one number, or per task type (key 'default' for the rest, else 100)")
    max_steps_file: Path | None = Field(None, description="ETO-format {task name: limit} (e.g. their max_steps.json)")
    jvm_heap_mb: int = Field(400, ge=128, description="-Xmx of each simulator JVM")
    icl_example: bool = Field(True, description="include the worked example in the prompt")

    @field_validator("task_types")
    @classmethod
    def _known_types(cls, v):
        if v is None:
            return v
        known = all_task_types()
        out = []
        for t in v:
            name = canonical_task_name(t)
            if name not in known:
                import difflib
                hint = difflib.get_close_matches(name, known, n=1)
                raise ValueError(f"unknown ScienceWorld task type {t!r}"
                                 + (f"; did you mean {hint[0]!r}?" if hint else ""))
            out.append(name)
        return out

    @field_validator("split_file", "max_steps_file")
    @classmethod
    def _exists(cls, v):
        if v is not None and not Path(v).is_file():
            raise ValueError(f"file not found: {v}")
        return v

    @model_validator(mode="after")
    def _read_files(self):
        if self.split_file is not None:
            _read_split_file(self.split_file)  # fail now, not after JVMs started
        if self.max_steps_file is not None:
            _read_max_steps_file(self.max_steps_file)
        return self


def _read_split_file(path: Path) -> list[tuple[str, int]]:
    try:
        rows = json.loads(Path(path).read_text())
        out = [(canonical_task_name(str(name)), int(var)) for name, var in rows]
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: expected a JSON list of [task name, variation] pairs ({exc})") from exc
    known = set(all_task_types())
    bad = sorted({n for n, _ in out if n not in known})
    if bad:
        raise ValueError(f"{path}: unknown task types {bad}")
    return out


def _read_max_steps_file(path: Path) -> dict[str, int]:
    try:
        return {canonical_task_name(k): int(v) for k, v in json.loads(Path(path).read_text()).items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: expected a JSON object {{task name: step limit}} ({exc})") from exc


# ---------------------------------------------------------------- the simulator process

def _quiet_py4j() -> None:
    # py4j logs a traceback per retry when a JVM dies; the engine reports the crash once itself.
    logging.getLogger("py4j").setLevel(logging.CRITICAL)


# The simulator keeps objects in hash sets keyed by identity hash codes (EnvObject overrides equals,
# not hashCode) and draws from them with a seeded Random (e.g. `Random.shuffle(objsInRoom.toList)`
# for the gold path of find-*). HotSpot's identity hashes come from a per-thread generator, so the
# set order, and with it the gold path and any random choice over objects, depended on what the JVM
# had run before. hashCode=2 gives every object the same identity hash: a set's order is then its
# insertion order, which a load (seeded by the variation) makes the same in every JVM.
DETERMINISTIC_HASHES = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2")


class SimulatorProcess:
    """One ScienceWorld JVM and its gateway: the raw server, without the per-step valid-action work."""

    def __init__(self, heap_mb: int = 400, *, deterministic: bool = True):
        from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
        from scienceworld.constants import BASEPATH, JAR_PATH

        _quiet_py4j()
        # The live set is ~30 MB but loads allocate fast: with the default young generation (1/3)
        # GC took ~18% of the time and promoted temporaries forced full GCs; 3/4 halves it.
        opts = [f"-Xmx{heap_mb}m", f"-Xmn{heap_mb * 3 // 4}m", "-XX:+UseSerialGC", "-Xss4m"]
        opts += DETERMINISTIC_HASHES if deterministic else ()  # False only to measure what it costs
        # its own process group: Ctrl-C reaches harness (which stops and closes the env), not the JVM
        port, self.proc = launch_gateway(classpath=JAR_PATH, die_on_exit=True, cwd=BASEPATH, return_proc=True,
                                         javaopts=opts, create_new_process_group=True)
        self.gateway = JavaGateway(gateway_parameters=GatewayParameters(auto_field=True, port=port),
                                   java_process=self.proc)
        self.server = self.gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.gateway.shutdown()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def split_variations(split: str, task_types: list[str], heap_mb: int = 400) -> dict[str, list[int]]:
    """Variation indices of a split per task type; read once from the simulator, then cached."""
    version = metadata.version("scienceworld")
    f = cache_dir() / f"sciworld-{version}-splits.json"
    cached = json.loads(f.read_text()) if f.is_file() else {}
    missing = [t for t in task_types if t not in cached]
    if missing:
        sim = SimulatorProcess(heap_mb)
        try:
            for t in missing:
                sim.server.load(t, 0, "", False)
                cached[t] = {"train": list(sim.server.getVariationsTrain()),
                             "dev": list(sim.server.getVariationsDev()),
                             "test": list(sim.server.getVariationsTest())}
        finally:
            sim.close()
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(cached))
        os.replace(tmp, f)
    return {t: cached[t][split] for t in task_types}


# ---------------------------------------------------------------- env and task

class SciWorldEnv:
    def __init__(self, config: SciWorldConfig):
        self.config = config
        self.sim = SimulatorProcess(config.jvm_heap_mb)
        self._score = 0
        self.current: str | None = None  # the subtask being played

    def _call(self, fn, *args):
        from py4j.protocol import Py4JError
        try:
            return fn(*args)
        except Py4JError as exc:
            if not self.sim.alive():
                raise EnvCrashed(f"ScienceWorld JVM (pid {self.sim.pid}) exited with code "
                                 f"{self.sim.proc.returncode}") from exc
            raise EnvCrashed(f"ScienceWorld JVM call failed: {exc}") from exc

    def reset(self, subtask: Subtask, *, want_oracle: bool = False) -> ResetResult:
        srv = self.sim.server
        task_type, variation = subtask.data["task_type"], subtask.data["variation"]
        self.current = subtask.id
        # load() leaves a fresh world; the package's reset() would load it again (and regenerate
        # the gold path once any load asked for one: 0.2-0.9 s per episode), so we never call it.
        # With DETERMINISTIC_HASHES the world and its gold path do not depend on earlier loads.
        self._call(srv.load, task_type, variation, self.config.simplification, want_oracle)
        self._call(srv.step, "look around")  # what the package's reset does: the first (free) look
        self._score = 0
        task_desc = self._call(srv.getTaskDescription)
        messages = [{"role": "user", "content": first_message(task_desc, self.config.icl_example)}]
        oracle = None
        if want_oracle:
            oracle = Oracle(actions=list(self._call(srv.getGoldActionSequence)), distractors=self._valid_actions)
        return ResetResult(messages=messages, oracle=oracle)

    def _valid_actions(self) -> list[str]:
        # one JSON string instead of a py4j list proxy (one round trip per element, GIL-bound);
        # sorted: the simulator's order varies between runs, and a seeded noisy expert must not
        valid = json.loads(self._call(self.sim.server.getValidActionObjectCombinationsJSON))["validActions"]
        return sorted({v["action"] for v in valid})

    def step(self, action: str) -> StepResult:
        srv = self.sim.server
        obs = self._call(srv.step, action)
        score = int(round(100 * self._call(srv.getScore)))
        completed = bool(self._call(srv.getCompleted))
        reward, self._score = score - self._score, score
        done = completed or score < 0  # the simulator ends a failed task with a negative score
        return StepResult(observation=obs, reward=reward, score=score, done=done, success=score >= SUCCESS_SCORE)

    def format_observation(self, observation: str) -> str:
        return f"Observation: {observation}"

    def same_observation(self, stored: str, replayed: str) -> bool:
        return stored == replayed or (stored.startswith(AMBIGUOUS) and replayed.startswith(AMBIGUOUS)
                                      and _ambiguity_options(stored) == _ambiguity_options(replayed))

    def replay_action(self, action: str, stored_before: str, replayed_before: str) -> str:
        """An answer to an 'Ambiguous request' picks a candidate by number, and the candidates' order
        varies between runs: send the number the same candidate has now."""
        if not (stored_before.startswith(AMBIGUOUS) and replayed_before.startswith(AMBIGUOUS)):
            return action
        chosen = _numbered_options(stored_before).get(action.strip())
        now = {text: number for number, text in _numbered_options(replayed_before).items()}
        return now.get(chosen, action) if chosen is not None else action

    def close(self) -> None:
        self.sim.close()


@register_task("sciworld")
class SciWorldTask(Task):
    """ScienceWorld via the `scienceworld` package (needs Java)."""

    Config = SciWorldConfig

    def __init__(self, config: SciWorldConfig):
        super().__init__(config)
        self.config: SciWorldConfig = config
        c = config
        self._limits: dict[str, int] = _read_max_steps_file(c.max_steps_file) if c.max_steps_file else {}
        if isinstance(c.max_steps, dict):
            per_type = dict(c.max_steps)
            self._default_limit = per_type.pop("default", 100)
            self._limits.update({canonical_task_name(k): v for k, v in per_type.items()})
        else:
            self._default_limit = c.max_steps

    def subtasks(self) -> list[Subtask]:
        c = self.config
        types = c.task_types or baseline_task_types()
        if c.split_file is not None:
            wanted = set(types)
            pairs = [(t, v) for t, v in _read_split_file(c.split_file) if c.task_types is None or t in wanted]
            if c.variations is not None:
                per_type: dict[str, int] = {}
                kept = []
                for t, v in pairs:
                    per_type[t] = per_type.get(t, 0) + 1
                    if per_type[t] <= c.variations:
                        kept.append((t, v))
                pairs = kept
        else:
            by_type = split_variations(c.split, types, c.jvm_heap_mb)
            pairs = [(t, v) for t in types for v in by_type[t][: c.variations]]
        return [Subtask(id=f"{t}:{v}", category=t, data={"task_type": t, "variation": v}) for t, v in pairs]

    def max_steps(self, subtask: Subtask) -> int:
        return self._limits.get(subtask.category, self._default_limit)

    def make_env(self) -> SciWorldEnv:
        return SciWorldEnv(self.config)

    def protocol(self) -> dict:
        c = self.config
        return {"env": f"scienceworld {package_version('scienceworld')}", "simplification": c.simplification,
                "success_rule": f"score >= {SUCCESS_SCORE}",
                "prompt": digest(first_message("<task description>", c.icl_example))}
