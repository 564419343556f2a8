"""Rollouts beyond one machine, on Ray (an existing engine; no scheduler of our own).

Environments run in Ray actors ("env workers", spread over the cluster); generation stays in
the driver's one agent (a vLLM engine, a served model's client, ...), which the ordinary
RolloutEngine turn loop asks for every live episode of every worker in one call. So no actor
loads a model, batches span all workers, and the episodes equal the local executor's: the same
engine plays them, only the environments live elsewhere. Each finished episode is stored on the
driver at once. A worker that dies takes only its episodes in flight; the engine retries them on
an environment of a fresh worker (`run.env_retries`). `RAY_ADDRESS` selects an existing cluster;
without it Ray starts a local one.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from .errors import HarnessError
from .task import Env, EnvCrashed, Oracle, ResetResult, StepResult, Subtask


class _EnvWorker:
    """A Ray actor: the task and some of its environments, by handle. Never an agent."""

    def __init__(self, task_dict: dict):
        from . import registry
        from .specs import resolve_plugin

        self.task = registry.create("task", resolve_plugin("task", task_dict, "<ray env worker>"))
        self.envs: dict[int, Env] = {}
        self.oracles: dict[int, Oracle] = {}
        self.next = 0

    def open(self) -> int:
        self.next += 1
        self.envs[self.next] = self.task.make_env()
        return self.next

    def reset(self, h: int, subtask: Subtask, want_oracle: bool) -> ResetResult:
        res = self.envs[h].reset(subtask, want_oracle=want_oracle)
        if res.oracle is None:
            return res
        self.oracles[h] = o = res.oracle  # its distractors may be computed later, here
        return ResetResult(res.messages, Oracle(o.actions, (), o.slips, o.hard))

    def distractors(self, h: int) -> list[str]:
        return self.oracles[h].distractors

    def step(self, h: int, action: str) -> tuple[StepResult, str]:
        env = self.envs[h]
        res = env.step(action)
        return res, env.format_observation(res.observation)  # the engine asks for it next: one round trip

    def call(self, h: int, method: str, *args):
        return getattr(self.envs[h], method)(*args)

    def close(self, h: int) -> None:
        self.oracles.pop(h, None)
        env = self.envs.pop(h, None)
        if env is not None:
            env.close()

    def modules(self) -> list[str]:
        """What this process imported (tests check that no model library was)."""
        import sys
        return sorted(sys.modules)


class RemoteEnv(Env):
    """An environment held by an env worker; a dead worker surfaces as EnvCrashed (the engine retries)."""

    def __init__(self, pool: "RayEnvPool", worker):
        self.pool, self.worker = pool, worker
        self.handle = self._get(worker.open.remote())
        self._formatted: tuple[str, str] | None = None

    def _get(self, ref):
        import ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            self.pool.lost(self.worker)
            raise EnvCrashed(f"Ray env worker died: {exc}") from exc

    def reset(self, subtask: Subtask, *, want_oracle: bool = False) -> ResetResult:
        res = self._get(self.worker.reset.remote(self.handle, subtask, want_oracle))
        if res.oracle is not None:
            o = res.oracle
            res.oracle = Oracle(o.actions, lambda: self._get(self.worker.distractors.remote(self.handle)),
                                o.slips, o.hard)
        return res

    def step(self, action: str) -> StepResult:
        res, formatted = self._get(self.worker.step.remote(self.handle, action))
        self._formatted = (res.observation, formatted)
        return res

    def format_observation(self, observation: str) -> str:
        if self._formatted is not None and self._formatted[0] == observation:
            return self._formatted[1]
        return self._get(self.worker.call.remote(self.handle, "format_observation", observation))

    def same_observation(self, stored: str, replayed: str) -> bool:
        return self._get(self.worker.call.remote(self.handle, "same_observation", stored, replayed))

    def replay_action(self, action: str, stored_before: str, replayed_before: str) -> str:
        return self._get(self.worker.call.remote(self.handle, "replay_action", action, stored_before,
                                                 replayed_before))

    def close(self) -> None:
        if self.pool.release(self.worker):
            self._get(self.worker.close.remote(self.handle))


class RayEnvPool:
    """`workers` env workers; `make_env` opens an environment on the least loaded live one, and a
    worker found dead is replaced by a new one (its environments are gone with it)."""

    def __init__(self, task_dict: dict, workers: int, cpus_per_worker: float = 1.0):
        import ray

        task_dict, modules = _importable(task_dict)
        _connect(modules)
        self._cls = ray.remote(num_cpus=cpus_per_worker, max_restarts=0)(_EnvWorker)
        self._task = task_dict
        self.workers = [self._cls.remote(task_dict) for _ in range(workers)]
        self.load = {id(w): 0 for w in self.workers}
        self.replaced = 0
        self._lock = threading.Lock()  # the engine opens environments from its env threads

    def make_env(self) -> Env:
        with self._lock:
            worker = min(self.workers, key=lambda w: self.load[id(w)])
            self.load[id(worker)] += 1
        return RemoteEnv(self, worker)

    def release(self, worker) -> bool:
        """An environment on `worker` closes: one less to balance; whether the worker is still there."""
        with self._lock:
            if id(worker) not in self.load:
                return False
            self.load[id(worker)] -= 1
            return True

    def lost(self, worker) -> None:
        import ray
        with self._lock:
            if id(worker) not in self.load:
                return  # another of its environments reported it first
            self.workers = [w for w in self.workers if w is not worker]
            del self.load[id(worker)]
            ray.kill(worker)  # dead, or unreachable: either way its environments are gone
            fresh = self._cls.remote(self._task)
            self.workers.append(fresh)
            self.load[id(fresh)] = 0
            self.replaced += 1

    def close(self) -> None:
        import ray
        for w in self.workers:
            ray.kill(w)
        self.workers = []


def _site_dirs() -> list[Path]:
    import site
    import sysconfig
    dirs = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")} | set(site.getsitepackages())
    return [Path(d).resolve() for d in dirs | {site.getusersitepackages()}]


def _importable(task_dict: dict) -> tuple[dict, list[str]]:
    """The task plugin named as module:Class, so a worker finds one that is registered on import only
    (not through an installed entry point) the way the driver did; with its top-level package when it
    lives outside site-packages (a plugin on the driver's sys.path only), which Ray ships to the
    workers as py_modules. Where a package lives decides, not its metadata: an egg-info left in a
    source folder on sys.path looks installed and is not there for the workers."""
    import sys

    from . import registry
    cls = registry.lookup("task", task_dict["name"])
    task_dict = {**task_dict, "name": f"{cls.__module__}:{cls.__qualname__}"}
    top = cls.__module__.split(".")[0]
    path = getattr(sys.modules[top], "__path__", [None])[0] or sys.modules[top].__file__  # package dir or .py
    in_site = any(Path(path).resolve().is_relative_to(d) for d in _site_dirs())
    return task_dict, [path] if top != "harness" and not in_site else []


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
