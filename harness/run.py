"""`harness run`: validate the spec, open the run store, play every episode, summarize."""
from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import registry
from .errors import Interrupted, RunStoreError, SpecError
from .protocol import run_protocol
from .rollout import EpisodeJob, RolloutEngine, episode_seed
from .runstore import RunStore
from .specs import RunSpec, run_spec_from_dict, spec_hash
from .summary import summarize
from .task import Subtask, Task
from .trajectory import Trajectory

log = logging.getLogger(__name__)


def build_task(spec: RunSpec) -> Task:
    return registry.create("task", spec.task)


def build_agent(spec: RunSpec):
    return registry.create("agent", spec.agent)


def plan_jobs(spec: RunSpec, subtasks: list[Subtask]) -> Iterator[EpisodeJob]:
    """Every subtask x samples, made as the engine asks for them (a large run holds no job list)."""
    for st in subtasks:
        for i in range(spec.run.samples):
            job = EpisodeJob(subtask=st, sample=i)
            job.seed = episode_seed(spec.run.seed, job.episode_id)
            yield job


def spec_from_store(path: Path) -> RunSpec:
    store = RunStore.open(path)
    return run_spec_from_dict(store.spec_dict(), str(store.path / "spec.yaml"))


def default_run_dir(spec: RunSpec) -> Path:
    name = spec.run.name or f"{spec.task.name}-{spec.agent.name}-{datetime.now():%Y%m%d-%H%M%S}"
    return Path(spec.run.out_dir) / name


def execute(spec: RunSpec, *, resume: Path | None = None, console: Console | None = None,
            on_episode: Callable[[Trajectory], None] | None = None, task: Task | None = None,
            jobs: list[EpisodeJob] | None = None, run_dir: Path | None = None) -> RunStore:
    """Run (or finish) the episodes of ``spec``. Everything is validated before anything is written.

    ``jobs`` replaces the default plan (every subtask x samples), e.g. EEF's restarts from expert
    states; their ids enter the identity hash, so a resume with another plan is refused.
    """
    console = console or Console(stderr=True)
    own_task = task is None
    task = task or build_task(spec)
    try:
        if jobs is None:
            subtasks = task.subtasks()
            if not subtasks:
                raise SpecError(f"task {spec.task.name!r}: the spec selects no subtasks; widen the selection")
            todo: Iterable[EpisodeJob] = plan_jobs(spec, subtasks)
            expected = len(subtasks) * spec.run.samples
            identity = spec.identity_hash()
            extra_meta = {}
        else:
            todo, expected = jobs, len(jobs)
            extra_meta = {"run_spec_hash": spec.identity_hash()}
            identity = spec_hash({"spec": extra_meta["run_spec_hash"], "jobs": sorted(j.episode_id for j in jobs)})
            subtasks = list({j.subtask.id: j.subtask for j in jobs}.values())
        remaining = expected
        if resume is None and run_dir is not None and (Path(run_dir) / "meta.json").is_file():
            resume = Path(run_dir)  # a stage of an experiment finishes its own run directory
        if resume is not None:
            store = RunStore.open(resume)
            if jobs is None and store.meta.get("run_spec_hash"):
                raise RunStoreError(f"{resume}: this run plays an experiment's own episodes (e.g. EEF's restarts "
                                    "from expert states), not the spec's subtasks; run the experiment's `harness "
                                    "train` command again to finish it")
            if store.meta.get("spec_hash") != identity:
                raise RunStoreError(
                    f"{resume}: the spec changed since this run started (hash {store.meta.get('spec_hash')} "
                    f"-> {identity}); resume with the stored spec, or start a new run")
            store.lock()
            dropped = store.repair()
            if dropped:
                console.print(f"[yellow]{resume}/episodes.jsonl: cut a torn last record ({dropped} bytes); "
                              "that episode runs again[/]")
            done = store.finished_keys()  # ids of the plan (the identity hash matched)
            todo = (j for j in todo if j.episode_id not in done)
            remaining = expected - len(done)
        else:
            path = Path(run_dir) if run_dir is not None else default_run_dir(spec)
            registry.lookup("agent", spec.agent.name)  # fail on a bad agent name before writing
            protocol = run_protocol(task, spec.agent, subtasks, spec.run.max_steps)
            store = RunStore.create(path, spec.resolved_dict(), identity, {"protocol": protocol, **extra_meta})
        try:
            _play(spec, task, store, todo, remaining, console, on_episode)
        except KeyboardInterrupt:
            stored = sum(1 for _ in store.iter_latest_briefs())
            raise Interrupted(f"{stored} of {expected} episodes are stored in {store.path}; "
                              f"`harness run --resume {store.path}` finishes the run") from None
        finally:
            summary = summarize(store.iter_latest_briefs(), expected=expected)
            store.write_summary(summary)
            store.close()
        return store
    finally:
        if own_task:
            task.close()


def _play(spec: RunSpec, task: Task, store: RunStore, jobs: Iterable[EpisodeJob], count: int, console: Console,
          on_episode: Callable[[Trajectory], None] | None) -> None:
    if count <= 0:
        console.print(f"{store.path}: every episode is already finished")
        return
    num_envs = min(spec.run.num_envs, count)
    agent = build_agent(spec)  # first: an agent that fails to build starts no Ray workers
    envs = None
    if spec.run.executor == "ray":  # environments on Ray env workers; the agent stays here
        from .distributed import RayEnvPool
        envs = RayEnvPool(spec.task.model_dump(mode="json"), workers=min(spec.run.ray_shards, num_envs))
    engine = RolloutEngine(task, agent, num_envs=num_envs, max_steps=spec.run.max_steps,
                           env_retries=spec.run.env_retries, make_env=envs.make_env if envs else None)
    counts = {"ok": 0, "won": 0, "err": 0}
    t0 = time.monotonic()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, disable=not spec.run.progress, transient=False) as progress:
        bar = progress.add_task(f"{spec.task.name} / {spec.agent.name}", total=count, stats="")

        def record(traj: Trajectory) -> None:
            store.append(traj)
            counts["err" if traj.status == "error" else "ok"] += 1
            counts["won"] += int(traj.success)
            progress.update(bar, advance=1, stats=f"won {counts['won']}/{counts['ok']}  errors {counts['err']}")
            if on_episode is not None:
                on_episode(traj)

        try:
            engine.run(jobs, record)
        finally:
            agent.close()
            if envs is not None:
                envs.close()
    log.info("played %d episodes in %.1fs", counts["ok"] + counts["err"], time.monotonic() - t0)
