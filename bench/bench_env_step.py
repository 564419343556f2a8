"""ScienceWorld stepping: the harness vs the package's own `env.step` loop vs raw server calls.

The same action sequences run four ways in one process, interleaved; ours and raw share a JVM:
  package  ScienceWorldEnv.load/reset/step: what published baselines do (every step recomputes
           all valid actions for the info dict)
  harness  our RolloutEngine, one env, an agent replaying the same actions: prompts, parsing,
           trajectories, everything but the model. Like our scripted and replay agents it is
           unbatched, so each episode plays in its env's thread
  harness (batched)  the same through the path of model agents: a hand-off between the env
           thread and the batching main thread at every step
  raw      server.load + step + getScore + getCompleted only: the floor
  raw (JVM default hashes)  the same on a JVM without the flags that make episodes deterministic
           (tasks/sciworld/task.py DETERMINISTIC_HASHES): what determinism costs
Target: harness >= 20x package, and within 10 % of raw.

    python bench/bench_env_step.py [--quick]
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FixedActions, interleaved, keep_envs_across_runs, quick_mode, report, timed  # noqa: E402

from harness import Agent  # noqa: E402
from harness.rollout import EpisodeJob, RolloutEngine  # noqa: E402
from harness.tasks.sciworld import SciWorldConfig, SciWorldTask  # noqa: E402
from harness.tasks.sciworld.task import SimulatorProcess  # noqa: E402



TYPES = ["find-living-thing", "use-thermometer", "boil", "chemistry-mix", "test-conductivity", "grow-plant"]


def main() -> None:
    quick = quick_mode()
    types = TYPES[:3] if quick else TYPES
    reps = 3 if quick else 5
    task = SciWorldTask(SciWorldConfig(task_types=types, variations=1, split="dev"))
    subtasks = task.subtasks()

    # ours and raw share one JVM (same JIT state); the package starts its own
    ours = task.make_env()
    srv = ours.sim.server
    golds = {}  # gold paths, up to completion (the engine stops there too)
    for st in subtasks:
        srv.load(st.data["task_type"], st.data["variation"], "easy", True)
        gold = list(srv.getGoldActionSequence())
        srv.step("look around")
        for i, a in enumerate(gold):
            srv.step(a)
            if srv.getCompleted():
                gold = gold[: i + 1]
                break
        golds[st.id] = gold

    from scienceworld import ScienceWorldEnv
    pkg = ScienceWorldEnv("", envStepLimit=10_000)
    default_hashes = SimulatorProcess(task.config.jvm_heap_mb, deterministic=False)
    long = 40 if quick else 100
    scenarios = {
        "gold paths, episodes incl. load+reset": golds,
        f"{long}-step episodes (load+reset amortized)": {k: ["look around"] * long for k in golds},
    }
    try:
        for title, plan in scenarios.items():
            run_scenario(title, plan, subtasks, task, ours, pkg, default_hashes, reps)
    finally:
        ours.close()
        pkg.close()
        default_hashes.close()


def run_scenario(title, plan, subtasks, task, ours, pkg, default_hashes, reps) -> None:
    n_steps = sum(len(a) for a in plan.values())

    def raw_on(srv) -> Callable[[], float]:
        def loop():
            for st in subtasks:
                srv.load(st.data["task_type"], st.data["variation"], "easy", False)  # a fresh world: no reset()
                srv.step("look around")
                for a in plan[st.id]:
                    srv.step(a)
                    srv.getScore()
                    srv.getCompleted()
        return lambda: timed(loop)[0]

    def package() -> float:
        def loop():
            for st in subtasks:
                pkg.load(st.data["task_type"], st.data["variation"], "easy")
                pkg.reset()
                for a in plan[st.id]:
                    pkg.step(a)
        return timed(loop)[0]

    # each episode stops where its plan ends (types are one variation each here)
    limited = SciWorldTask(task.config.model_copy(
        update={"max_steps": {st.category: len(plan[st.id]) for st in subtasks}}))

    def harness(agent: Agent):
        engine = RolloutEngine(limited, agent, num_envs=1)
        engine._envs[0] = ours  # the JVM raw uses too
        keep_envs_across_runs(engine)  # ours is closed by main

        def loop() -> float:
            out = []
            dt, _ = timed(lambda: engine.run([EpisodeJob(subtask=st) for st in subtasks], out.append))
            assert sum(len(t.steps) for t in out) == n_steps
            return dt
        return loop

    batched = FixedActions(plan)
    batched.batched = True
    times = interleaved({"raw": raw_on(ours.sim.server), "raw (JVM default hashes)": raw_on(default_hashes.server),
                         "harness": harness(FixedActions(plan)), "harness (batched)": harness(batched),
                         "package": package}, reps)
    rows, rates = [], {}
    for name, xs in times.items():
        med = statistics.median(xs)
        rates[name] = n_steps / med
        rows.append({"loop": name, "steps": n_steps, "median_s": med, "steps_per_s": rates[name],
                     "raw_s": [round(x, 3) for x in xs]})
    report(f"env stepping (ScienceWorld, {title})", rows,
           {"harness/package": rates["harness"] / rates["package"], "harness/raw": rates["harness"] / rates["raw"],
            "harness (batched)/raw": rates["harness (batched)"] / rates["raw"],
            "raw/package (the most any loop can gain)": rates["raw"] / rates["package"],
            "raw/raw (JVM default hashes): the cost of determinism": rates["raw"] / rates["raw (JVM default hashes)"]},
           {"harness/package": ">= 20", "harness/raw": ">= 0.90"})


if __name__ == "__main__":
    main()
