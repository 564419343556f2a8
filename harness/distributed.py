"""Rollouts beyond one machine, on Ray (an existing engine; no scheduler of our own).

Each Ray actor builds the task and agent from the resolved spec and runs its own
RolloutEngine; jobs go out in chunks through an ActorPool, and every finished chunk is appended
to the run store on the driver at once, so a crash loses at most the chunks in flight.
`RAY_ADDRESS` selects an existing cluster; without it Ray starts a local one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from rich.console import Console

from .errors import HarnessError
from .rollout import EpisodeJob
from .specs import RunSpec
from .trajectory import Trajectory


class _Worker:
    def __init__(self, spec_dict: dict):
        from . import registry
        from .specs import run_spec_from_dict

        self.spec = run_spec_from_dict(spec_dict, "<ray worker>")
        self.task = registry.create("task", self.spec.task)
        self.agent = registry.create("agent", self.spec.agent)

    def run(self, jobs: list[EpisodeJob]) -> list[str]:
        from .rollout import RolloutEngine

        out: list[Trajectory] = []
        RolloutEngine(self.task, self.agent, num_envs=min(self.spec.run.num_envs, len(jobs)),
                      max_steps=self.spec.run.max_steps, env_retries=self.spec.run.env_retries).run(jobs, out.append)
        return [t.model_dump_json() for t in out]  # JSON crosses process boundaries cheaply


def _site_dirs() -> list[Path]:
    import site
    import sysconfig
    dirs = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")} | set(site.getsitepackages())
    return [Path(d).resolve() for d in dirs | {site.getusersitepackages()}]


def _importable(spec_dict: dict) -> tuple[dict, list[str]]:
    """Plugins named as module:Class, so a worker finds one that is registered on import only (not
    through an installed entry point) the way the driver did; with the top-level packages of those
    that live outside site-packages (a plugin on the driver's sys.path only), which Ray ships to the
    workers as py_modules. Where a package lives decides, not its metadata: an egg-info left in a
    source folder on sys.path looks installed and is not there for the workers."""
    import sys

    from . import registry
    sites = _site_dirs()
    ship = []
    for kind in ("task", "agent"):
        cls = registry.lookup(kind, spec_dict[kind]["name"])
        spec_dict[kind] = {**spec_dict[kind], "name": f"{cls.__module__}:{cls.__qualname__}"}
        top = cls.__module__.split(".")[0]
        path = getattr(sys.modules[top], "__path__", [None])[0] or sys.modules[top].__file__  # package dir or .py
        in_site = any(Path(path).resolve().is_relative_to(d) for d in sites)
        if top != "harness" and not in_site and path not in ship:
            ship.append(path)
    return spec_dict, ship


_shipped: list[str] | None = None  # py_modules of the Ray job this process started (None: not ours)


def _connect(modules: list[str]) -> None:
    """Joins Ray (RAY_ADDRESS, or a local cluster) with `modules` shipped to its workers. Ray takes
    local modules only when a job starts, so a job we started without them is restarted."""
    import ray

    global _shipped
    if ray.is_initialized():
        if _shipped is None and modules:
            raise HarnessError(f"Ray was initialized outside harness, and its workers cannot import {modules}: "
                               f"call ray.init(runtime_env={{'py_modules': {modules!r}}}) or install the plugin")
        if _shipped is None or set(modules) <= set(_shipped):
            return
        ray.shutdown()
    ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False,
             runtime_env={"py_modules": modules} if modules else None)
    _shipped = modules


def run_on_ray(spec: RunSpec, jobs: list[EpisodeJob], append: Callable[[Trajectory], None],
               console: Console) -> None:
    import ray
    from ray.util import ActorPool

    spec_dict, modules = _importable(spec.resolved_dict())
    _connect(modules)
    actor_cls = ray.remote(num_cpus=1)(_Worker)
    shards = max(1, min(spec.run.ray_shards, len(jobs)))
    pool = ActorPool([actor_cls.remote(spec_dict) for _ in range(shards)])
    chunk = max(1, spec.run.num_envs * 2)
    chunks = [jobs[i: i + chunk] for i in range(0, len(jobs), chunk)]
    done = 0
    for result in pool.map_unordered(lambda actor, js: actor.run.remote(js), chunks):
        for line in result:
            append(Trajectory.model_validate_json(line))
        done += len(result)
        console.print(f"ray: {done}/{len(jobs)} episodes")
