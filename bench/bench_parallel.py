"""Parallel rollouts: episodes/s of a scripted agent with 1, 2 and 4 env workers (one JVM each).

Each worker count gets fresh JVMs, one timed pass on them ("fresh"), then warm-up passes until
every JVM has played a few dozen episodes, then the timed repetitions ("warm", as in a long run).
Target: >= 1.6x at 2 workers on 2 cores. Also reports the resident memory of one simulator JVM.

    python bench/bench_parallel.py [--quick]
"""
from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import keep_envs_across_runs, quick_mode, median_of, report, timed  # noqa: E402

from harness.agents.scripted import ExpertAgent, ExpertConfig  # noqa: E402
from harness.rollout import EpisodeJob, RolloutEngine  # noqa: E402
from harness.tasks.sciworld import SciWorldConfig, SciWorldTask  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    quick = quick_mode()
    per_type = 2 if quick else 8  # long passes: the last episode of a pass runs alone on one core
    reps = 2 if quick else 3
    warm_episodes = 12 if quick else 48  # per JVM: its JIT reaches a steady state after ~50 episodes
    task = SciWorldTask(SciWorldConfig(task_types=["find-living-thing", "find-plant", "use-thermometer"],
                                       variations=per_type, split="train"))
    subtasks = task.subtasks()
    agent = ExpertAgent(ExpertConfig())
    rows, cold, warm, rss = [], {}, {}, []
    for workers in (1, 2, 4):
        engine = RolloutEngine(task, agent, num_envs=workers)
        close = keep_envs_across_runs(engine)
        envs = [engine._env(i) for i in range(workers)]  # JVM start-up is not rollout work

        def once(engine=engine) -> float:
            out = []
            dt, _ = timed(lambda: engine.run([EpisodeJob(subtask=st) for st in subtasks], out.append))
            assert len(out) == len(subtasks) and all(t.success for t in out)
            return dt

        first = once()
        for _ in range(max(0, math.ceil(warm_episodes * workers / len(subtasks)) - 1)):
            once()
        med, xs = median_of(reps, once)
        rss += [rss_mb(env.sim.pid) for env in envs]
        close()
        cold[workers], warm[workers] = len(subtasks) / first, len(subtasks) / med
        rows.append({"workers": workers, "episodes": len(subtasks), "cold_s": round(first, 2), "warm_median_s": med,
                     "warm_episodes_per_s": warm[workers], "warm_raw_s": [round(x, 2) for x in xs]})
    rows.append({"jvm_rss_mb": round(statistics.median(rss), 1), "max": round(max(rss), 1),
                 "heap_cap_mb": task.config.jvm_heap_mb})
    report("parallel rollouts (ScienceWorld, gold expert)", rows,
           {"2 workers/1 (warm JVMs)": warm[2] / warm[1], "4 workers/1 (warm JVMs)": warm[4] / warm[1],
            "2 workers/1 (fresh JVMs)": cold[2] / cold[1]},
           {"2 workers/1 (warm JVMs)": ">= 1.6"})


if __name__ == "__main__":
    main()
