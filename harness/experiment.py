"""An experiment: expert collection -> fine-tuning iterations -> evaluation, in one directory.

    <exp>/spec.yaml, meta.json     the resolved experiment spec (a resume refuses a changed one)
    <exp>/progress.jsonl           one line per finished stage
    <exp>/expert/                  run store: the expert on the training subtasks
    <exp>/experts/<label>/         (several pools) run store of each pool that is an agent
    <exp>/iter0/train/             SFT on expert successes (data.jsonl, model/, train_log.jsonl)
    <exp>/iter0/eval/              run store: that model on the evaluation subtasks
    <exp>/iterK/rollouts/          run store: the model of iteration K-1 on the training subtasks
    <exp>/iterK/explore/           (EEF) run store: restarts from states of failed expert trajectories
    <exp>/iterK/eef_log.jsonl      (EEF) every decision, per expert trajectory
    <exp>/iterK/train/, eval/      as above
    <exp>/summary.json             per-iteration numbers; `harness leaderboard <exp>` reads the eval runs

Every stage is its own resumable unit: killing `harness train` and running it again continues
with the unfinished stage, never repeating a finished episode or training step.
"""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator
from rich.console import Console

from . import registry
from .errors import Interrupted, RunStoreError, SpecError
from .ranks import run_on_main
from .rollout import EpisodeJob
from .run import execute
from .rundir import META_FILE, SPEC_FILE, Meta, utc_now
from .runstore import RunStore
from .specs import (identity_of, AgentSpec, RunOptions, RunSpec, Strict, TaskSpec, TrainerSpec, apply_overrides,
                           read_spec_file, resolve_plugin, spec_hash)
from .trajectory import Trajectory


class ExpertPool(Strict):
    """One expert pool: an agent played on the training subtasks, or an existing run of them."""
    label: str = Field(pattern=r"^[A-Za-z0-9_.-]+$",
                       description="the pool's name: its trajectories' ids start with '<label>:' and the EEF log, "
                                   "training data and summary name it")
    agent: AgentSpec | None = Field(None, description="an agent played on the training subtasks (experts/<label>)")
    run: Path | None = Field(None, description="an existing run directory of the experiment's task and selection")
    clone: bool = Field(True, description="behaviour cloning (SFT, the expert successes of RFT/EEF, ETO's chosen "
                                          "trajectories) uses this pool's successes")

    def resolved_dict(self) -> dict[str, Any]:
        return {"label": self.label, "agent": self.agent.model_dump(mode="json") if self.agent else None,
                "run": str(self.run) if self.run else None, "clone": self.clone}


class ExperimentSpec(Strict):
    task: TaskSpec  # the training subtasks
    eval_task: TaskSpec | None = None  # the evaluation subtasks (default: none)
    expert: AgentSpec | None = None
    expert_run: Path | None = Field(None, description="an existing run directory to use as the expert pool")
    experts: list[ExpertPool] | None = Field(None, description="several expert pools (instead of expert/expert_run)")
    base_experiment: Path | None = Field(
        None, description="an experiment whose expert pool and iteration 0 (SFT model and its evaluation) this one "
                          "starts from instead of running them: trainers compared from one checkpoint")
    trainer: TrainerSpec
    run: RunOptions = RunOptions()

    def resolved_dict(self) -> dict[str, Any]:
        d = {"task": self.task.model_dump(mode="json"),
             "eval_task": self.eval_task.model_dump(mode="json") if self.eval_task else None,
             "expert": self.expert.model_dump(mode="json") if self.expert else None,
             "expert_run": str(self.expert_run) if self.expert_run else None,
             "trainer": self.trainer.model_dump(mode="json"), "run": self.run.model_dump(mode="json")}
        if self.experts is not None:  # absent otherwise: the specs of earlier experiments keep their hash
            d["experts"] = [p.resolved_dict() for p in self.experts]
        if self.base_experiment is not None:  # likewise
            d["base_experiment"] = str(self.base_experiment)
        return d

    def pools(self) -> list[ExpertPool]:
        """The expert pools, in order; `expert`/`expert_run` is one pool labelled 'expert'."""
        if self.experts is not None:
            return self.experts
        return [ExpertPool(label="expert", agent=None if self.expert_run else self.expert, run=self.expert_run)]

    def identity_dict(self) -> dict[str, Any]:
        """What decides the experiment's results (not where or how fast it runs)."""
        return identity_of(self.resolved_dict())

    def identity_hash(self) -> str:
        return spec_hash(self.identity_dict())



SECTIONS = {"task", "eval_task", "expert", "expert_run", "experts", "base_experiment", "trainer", "run"}
# What decides an experiment's expert pool and iteration 0: equal in an experiment and its base_experiment.
ITERATION0_KEYS = ("task", "eval_task", "expert", "expert_run", "experts", "trainer.train", "trainer.rollout_agent",
                   "trainer.eval_temperature", "run.seed")


def load_experiment_spec(path: Path | None, *, task=(), eval_task=(), expert=(), trainer=(), run=(),
                         base_experiment: Path | None = None) -> ExperimentSpec:
    data: dict = read_spec_file(path) if path is not None else {}
    if base_experiment is not None:
        data["base_experiment"] = str(base_experiment)
    where = str(path) if path is not None else "<command line>"
    unknown = set(data) - SECTIONS
    if unknown:
        raise SpecError(f"{where}: unknown section(s) {sorted(unknown)}; an experiment has {sorted(SECTIONS)}")
    for section, items in (("task", task), ("eval_task", eval_task), ("expert", expert), ("trainer", trainer),
                            ("run", run)):
        apply_overrides(data, section, list(items))
    if data.get("experts") is not None and (data.get("expert") or data.get("expert_run")):
        raise SpecError(f"{where}: give 'experts' (several pools) or 'expert'/'expert_run' (one pool), not both")
    if not data.get("expert") and not data.get("expert_run") and not data.get("experts"):
        raise SpecError(f"{where}: give an 'expert' agent, an 'expert_run' directory or a list of 'experts'")
    task_spec = resolve_plugin("task", data.get("task"), where)
    eval_spec = None
    if data.get("eval_task"):  # overrides of the training task, e.g. {split: test}
        eval_spec = resolve_plugin("task", {**data["task"], **data["eval_task"]}, where + " (eval_task)")
    expert_spec = resolve_plugin("agent", data["expert"], where) if data.get("expert") else None
    expert_run = Path(data["expert_run"]) if data.get("expert_run") else None
    if expert_run is not None and not (expert_run / "episodes.jsonl").is_file():
        raise SpecError(f"{where}: expert_run: {expert_run} is not a run directory")
    experts = _expert_pools(data["experts"], where) if data.get("experts") is not None else None
    trainer_spec = resolve_plugin("trainer", data.get("trainer"), where)
    try:
        run_opts = RunOptions.model_validate(data.get("run") or {})
    except Exception as exc:
        raise SpecError(f"{where}: run: {exc}") from None
    base = Path(data["base_experiment"]) if data.get("base_experiment") else None
    return ExperimentSpec(task=task_spec, eval_task=eval_spec, expert=expert_spec, expert_run=expert_run,
                          experts=experts, base_experiment=base, trainer=trainer_spec, run=run_opts)


def _expert_pools(items: Any, where: str) -> list[ExpertPool]:
    """The `experts` section: a list of {label, agent | run, clone}."""
    if not isinstance(items, list) or not items:
        raise SpecError(f"{where}: experts: a list of pools, each {{label, agent: {{name: ...}} | run: <dir>}}")
    pools = []
    for i, item in enumerate(items):
        at = f"{where}: experts[{i}]"
        if not isinstance(item, dict) or (item.get("agent") is None) == (item.get("run") is None):
            raise SpecError(f"{at}: give a 'label' and either an 'agent' or a 'run' directory")
        agent = resolve_plugin("agent", item["agent"], at) if item.get("agent") is not None else None
        if item.get("run") is not None and not (Path(item["run"]) / "episodes.jsonl").is_file():
            raise SpecError(f"{at}: run: {item['run']} is not a run directory")
        try:
            pools.append(ExpertPool.model_validate({**item, "agent": agent}))
        except Exception as exc:
            raise SpecError(f"{at}: {exc}") from None
    labels = [p.label for p in pools]
    if len(set(labels)) < len(labels):
        raise SpecError(f"{where}: experts: labels must differ (got {labels})")
    if not any(p.clone for p in pools):
        raise SpecError(f"{where}: experts: no pool has clone: true, so behaviour cloning would have no data")
    return pools


class TrainerConfig(TrainerSpec):
    """Options every trainer shares: how the trained model is played. A trainer that fine-tunes
    adds its own training options (trainers.finetune.TrainOptions)."""
    rollout_agent: dict[str, Any] = Field(
        default_factory=lambda: {"name": "hf", "max_new_tokens": 64},
        description="agent that plays the trained model ('hf' or 'vllm'); model/adapter are set per iteration")
    eval_temperature: float = Field(0.0, ge=0.0)

    @field_validator("rollout_agent")
    @classmethod
    def _known_agent(cls, v: dict) -> dict:
        if "name" not in v:
            raise ValueError("needs a 'name' (e.g. hf or vllm)")
        fields = registry.lookup("agent", v["name"]).Config.model_fields
        unknown = sorted(set(v) - set(fields))
        if unknown:
            raise ValueError(f"agent {v['name']!r} has no option(s) {unknown}")
        return v


class Experiment:
    """The experiment directory and its stages."""

    def __init__(self, spec: ExperimentSpec, path: Path | None = None, console: Console | None = None):
        self.spec = spec
        self.console = console or Console(stderr=True)
        name = spec.run.name or f"{spec.trainer.name}-{spec.task.name}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
        self.path = Path(path) if path is not None else Path(spec.run.out_dir) / name
        self._open()

    def _open(self) -> None:
        meta_f = self.path / META_FILE
        h = self.spec.identity_hash()
        if meta_f.is_file():
            old = json.loads(meta_f.read_text()).get("spec_hash")
            if old != h:
                self._accept_changes(old, h)
            self.console.print(f"resuming experiment {self.path}")
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if self.spec.base_experiment is not None:
            self._take_iteration0(Path(self.spec.base_experiment))
        self._write_spec(h)

    def _take_iteration0(self, base: Path) -> None:
        """Copy the base experiment's expert runs, iteration-0 evaluation and training result (which
        names its model folder: the adapter is not copied) so that those stages resume as finished.
        Refused unless the base decided them with this spec's options (ITERATION0_KEYS)."""
        where = f"base_experiment: {base}"
        if not (base / SPEC_FILE).is_file():
            raise SpecError(f"{where} is not an experiment directory (no {SPEC_FILE})")
        theirs = identity_of(yaml.safe_load((base / SPEC_FILE).read_text()) or {})
        ours = self.spec.identity_dict()
        differ = [k for k in ITERATION0_KEYS if _at(theirs, k) != _at(ours, k)]
        if differ:
            raise SpecError(f"{where}: its {', '.join(differ)} differ from this experiment's, so its iteration 0 is "
                            "not this one's; use the same values (or no base_experiment)")
        needed = [base / "iter0" / "train" / "result.json"] + (
            [base / "iter0" / "eval" / "summary.json"] if self.spec.eval_task is not None else [])
        missing = [str(p) for p in needed if not p.is_file()]
        if missing:
            raise SpecError(f"{where}: iteration 0 is not finished ({', '.join(missing)} missing); run "
                            f"`harness train` on that experiment first")
        stages = [p for p in ("expert", "experts", "iter0/eval") if (base / p).is_dir()]
        for rel in stages:
            shutil.copytree(base / rel, self.path / rel, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".lock"))
        (self.path / "iter0" / "train").mkdir(parents=True, exist_ok=True)
        for name in ("result.json", "train_log.jsonl", "data.jsonl"):
            if (base / "iter0" / "train" / name).is_file():
                shutil.copy2(base / "iter0" / "train" / name, self.path / "iter0" / "train" / name)
        self.log("base_experiment", base=str(base), copied=stages + ["iter0/train (result, log, data)"])

    def _write_spec(self, h: str) -> None:
        (self.path / SPEC_FILE).write_text(yaml.safe_dump(self.spec.resolved_dict(), sort_keys=False))
        Meta.new("experiment", h).write(self.path)

    def _accept_changes(self, old_hash: str | None, new_hash: str) -> None:
        """A changed spec resumes when no stage that the changed options feed has started: trainer
        options before any iteration directory exists, eval_task before any evaluation. Anything
        else (task, expert, run) would mix old and new episodes: refused, naming the options."""
        stored = identity_of(yaml.safe_load((self.path / SPEC_FILE).read_text()) or {})
        changed = _changed_keys(stored, self.spec.identity_dict())
        started = {p.name for p in self.path.glob("iter*")}
        evaluated = any((p / "eval").exists() for p in self.path.glob("iter*"))
        blocked = [k for k in changed if not ((k.startswith("trainer.") and not started)
                                              or (k.startswith("eval_task") and not evaluated))]
        if blocked or not changed:
            raise RunStoreError(
                f"{self.path}: the experiment spec changed (hash {old_hash} -> {new_hash}) in "
                f"{', '.join(blocked or ['(options outside the comparable spec)'])}, which finished or started "
                "stages depend on; run it unchanged to resume, or choose another run.name")
        self.console.print(f"[yellow]{self.path}: spec changed since the last attempt in {', '.join(changed)}; "
                           "no stage that uses them has started, so the experiment goes on with the new values[/]")
        self._write_spec(new_hash)

    # ------------------------------------------------------------ stages

    def log(self, stage: str, **info) -> None:
        """One line per finished stage: a resumed experiment that finds the stage as logged adds none."""
        path = self.path / "progress.jsonl"
        entry = json.loads(json.dumps({"stage": stage, **info}))
        logged = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if any({k: v for k, v in e.items() if k != "time"} == entry for e in logged):
            return
        with open(path, "a") as fh:
            fh.write(json.dumps({"stage": stage, "time": utc_now(), **info}) + "\n")

    def run_stage(self, rel: str, task: TaskSpec, agent: dict | AgentSpec, *, samples: int = 1,
                  jobs: list[EpisodeJob] | None = None, allow_errors: bool = False) -> RunStore:
        """Play one stage's episodes (resuming its run directory). Errored episodes stop the
        experiment, except with ``allow_errors`` (exploration: an errored restart is not tried)."""
        agent_spec = agent if isinstance(agent, AgentSpec) else resolve_plugin("agent", agent, f"{self.path}:{rel}")
        run = self.spec.run.model_copy(update={"samples": samples, "name": None})
        spec = RunSpec(task=task, agent=agent_spec, run=run)
        self.console.print(f"[bold]{rel}[/]: {task.name} / {agent_spec.name}")
        try:
            store = execute(spec, console=self.console, jobs=jobs, run_dir=self.path / rel)
        except Interrupted as exc:
            raise Interrupted(f"stage {rel}: {str(exc).split(';')[0]}; run the same `harness train` command "
                              f"again to continue the experiment {self.path}") from None
        s = store.summary()
        if s.get("errors") and not allow_errors:
            raise RunStoreError(f"{self.path / rel}: {s['errors']} episodes errored; fix the cause and run "
                                "`harness train` again to finish them")
        return store

    def expert_trajectories(self) -> list[Trajectory]:
        """Every pool's trajectories, in pool order, each naming its pool (``pool``). With `experts`, ids
        start with '<label>:', so that trajectories of one subtask in two pools (and the restarts EEF
        names after them) stay apart; the one-pool shorthand keeps its ids."""
        several = self.spec.experts is not None
        out = []
        for pool in self.spec.pools():
            if pool.run is not None:
                trajs = list(RunStore.open(pool.run).latest().values())
                self._check_pool(pool, trajs)
            else:
                stage = f"experts/{pool.label}" if several else "expert"
                trajs = list(self.run_stage(stage, self.spec.task, pool.agent).latest().values())
            out += [t.model_copy(update={"pool": pool.label, "id": f"{pool.label}:{t.id}" if several else t.id})
                    for t in trajs]
        return out

    def cloned_successes(self, experts: list[Trajectory]) -> list[Trajectory]:
        """The expert successes behaviour cloning trains on: those of the pools with ``clone``. A subtask
        solved by several of them keeps the successes of the first such pool (in the order of `experts`);
        one pool keeps all its successes."""
        cloning = {p.label for p in self.spec.pools() if p.clone}
        wins = [t for t in experts if t.status == "ok" and t.success and t.pool in cloning]
        first_pool: dict[str, str] = {}
        for t in wins:
            first_pool.setdefault(t.subtask_id, t.pool)
        return [t for t in wins if first_pool[t.subtask_id] == t.pool]

    def _check_pool(self, pool: ExpertPool, trajs: list[Trajectory]) -> None:
        """An expert run must be of the experiment's task and selection: EEF restarts its subtasks."""
        task = registry.create("task", self.spec.task)
        try:
            ids = {s.id for s in task.subtasks()}
        finally:
            task.close()
        outside = sorted({t.subtask_id for t in trajs} - ids)
        if outside:
            name = "expert_run" if self.spec.experts is None else f"experts[{pool.label}].run"
            raise SpecError(f"{name}: {pool.run}: {len(outside)} subtasks of the expert pool are not "
                            f"in the experiment's task selection (e.g. {', '.join(outside[:3])}); select them in "
                            f"'task' or collect the pool on this task's selection")

    def model_agent(self, train_result: dict, temperature: float) -> dict:
        """The rollout agent playing this iteration's model. Fields the agent does not have are not
        set, so a scripted policy can stand in for the model in tests."""
        cfg = self.spec.trainer
        agent = dict(cfg.rollout_agent)
        if train_result["adapter"]:
            update = {"model": train_result["base_model"], "adapter": train_result["model_dir"]}
        else:
            update = {"model": train_result["model_dir"]}
        update["temperature"] = temperature
        fields = registry.lookup("agent", agent["name"]).Config.model_fields
        agent.update({k: v for k, v in update.items() if k in fields})
        return agent

    def evaluate(self, it: int, train_result: dict) -> dict | None:
        if self.spec.eval_task is None:
            return None
        store = self.run_stage(f"iter{it}/eval", self.spec.eval_task,
                               self.model_agent(train_result, self.spec.trainer.eval_temperature))
        return store.summary()

    def write_summary(self, iterations: list[dict]) -> None:
        tmp = self.path / "summary.json.tmp"
        tmp.write_text(json.dumps({"trainer": self.spec.trainer.name, "iterations": iterations}, indent=2))
        os.replace(tmp, self.path / "summary.json")


def _at(d: dict, dotted: str) -> Any:
    for k in dotted.split("."):
        d = d.get(k) if isinstance(d, dict) else None
    return d


def _changed_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved specs."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _changed_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


class Trainer:
    """What a trainer plugin is: a ``Config`` (a TrainerConfig) and ``run``, which plays and trains
    through an Experiment's stages and returns one summary line per iteration. Register a
    subclass with ``@register_trainer(name)``; it needs nothing outside ``harness``."""

    Config: type[TrainerConfig] = TrainerConfig
    registered_name = ""

    def __init__(self, config: TrainerConfig):
        self.config = config

    def run(self, exp: "Experiment") -> list[dict]:
        raise NotImplementedError


def run_experiment(spec: ExperimentSpec, console: Console | None = None) -> "Experiment | None":
    """`harness train`: the trainer the spec names, on its experiment directory (resumed if there).
    Under `accelerate launch` the main process runs it and the others only join its fine-tuning
    stages (harness/ranks.py); they return None."""
    def run() -> Experiment:
        trainer = registry.create("trainer", spec.trainer)
        exp = Experiment(spec, console=console)
        trainer.run(exp)
        return exp

    return run_on_main(run)
