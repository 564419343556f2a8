"""Parallel rollouts: episodes/s of a scripted agent with 1, 2 and 4 env workers (one JVM each).

Target: >= 1.6x at 2 workers on 2 cores. Also reports the resident memory of one simulator JVM.

    python bench/bench_parallel.py [--quick]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import quick_mode, median_of, report, timed  # noqa: E402

from agents.scripted import ExpertAgent, ExpertConfig  # noqa: E402
from harness.rollout import EpisodeJob, RolloutEngine  # noqa: E402
from tasks.sciworld import SciWorldConfig, SciWorldTask  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def warm(env, subtask) -> None:
    """Play one gold episode directly on a fresh JVM so that its JIT is warm, as in a long run."""
    reset = env.reset(subtask, want_oracle=True)
    for action in reset.oracle.actions:
        if env.step(action).done:
            break


def main() -> None:
    quick = quick_mode()
    per_type = 2 if quick else 4
    reps = 1 if quick else 3
    task = SciWorldTask(SciWorldConfig(task_types=["find-living-thing", "find-plant", "use-thermometer"],
                                       variations=per_type, split="train"))
    subtasks = task.subtasks()
    warmup = SciWorldTask(SciWorldConfig(task_types=["find-animal"], variations=1, split="dev")).subtasks()[0]
    agent = ExpertAgent(ExpertConfig())
    rows, rates, jvm = [], {}, []
    for workers in (1, 2, 4):
        def once() -> float:
            engine = RolloutEngine(task, agent, num_envs=workers)
            for i in range(workers):  # JVM start-up and JIT warm-up are not rollout work
                warm(engine._env(i), warmup)
            jvm.append(rss_mb(engine._envs[0].sim.pid))
            out = []
            dt, _ = timed(lambda: engine.run([EpisodeJob(subtask=st) for st in subtasks], out.append))
            assert len(out) == len(subtasks) and all(t.success for t in out)
            return dt
        med, xs = median_of(reps, once)
        rates[workers] = len(subtasks) / med
        rows.append({"workers": workers, "episodes": len(subtasks), "median_s": med, "episodes_per_s": rates[workers],
                     "raw_s": [round(x, 2) for x in xs]})
    rows.append({"jvm_rss_mb_after_start": round(max(jvm), 1), "heap_cap_mb": task.config.jvm_heap_mb})
    report("parallel rollouts (ScienceWorld, gold expert)", rows,
           {"2 workers/1": rates[2] / rates[1], "4 workers/1": rates[4] / rates[1]}, {"2 workers/1": ">= 1.6"})


if __name__ == "__main__":
    main()
