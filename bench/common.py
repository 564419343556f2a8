"""Helpers shared by the benchmarks: timing with medians, one printed table per benchmark, a fixed-action agent."""
from __future__ import annotations

import json
import statistics
import time
from typing import Callable

from harness import Agent, AgentReply, AgentSpec
from harness.react import format_reply


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_of(reps: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    """Median of ``reps`` measurements (the machine is shared and noisy) and the raw figures."""
    xs = [fn() for _ in range(reps)]
    return statistics.median(xs), xs


def interleaved(loops: dict[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Each loop once untimed (JIT warm-up), then ``reps`` rounds of all of them in turn, so a noisy
    spell of the machine hits every loop alike. Returns each loop's timings."""
    for fn in loops.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(reps):
        for name, fn in loops.items():
            times[name].append(fn())
    return times


def keep_envs_across_runs(engine) -> Callable[[], None]:
    """A RolloutEngine closes its envs after each run; keep them, so every repetition meets the same
    warm JVMs. Returns the engine's real close, to call at the end."""
    close = engine.close
    engine.close = lambda: None
    return close


def report(name: str, rows: list[dict], ratios: dict[str, float], targets: dict[str, str] | None = None) -> None:
    print(f"\n== {name} ==")
    for r in rows:
        print("  " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    for k, v in ratios.items():
        tgt = f"  (target {targets[k]})" if targets and k in targets else ""
        print(f"  RATIO {k}: {v:.2f}x{tgt}" if v >= 0.1 else f"  RATIO {k}: {v:.2g}x{tgt}")  # small ones keep 2 digits
    print("JSON " + json.dumps({"bench": name, "rows": rows, "ratios": ratios}))


def quick_mode() -> bool:
    """The --quick flag every benchmark takes: fewer cases and repetitions, for CI's time budget."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer cases and repetitions (CI)")
    return ap.parse_args().quick


class FixedActions(Agent):
    """Replies with a fixed action list per subtask (no oracle: the env starts as for any model)."""
    batched = False

    def __init__(self, actions: dict[str, list[str]]):
        super().__init__(AgentSpec(name="fixed"))
        self.actions = actions

    def act(self, requests):
        return [AgentReply(text=format_reply("next", self.actions[r.episode_id.split("#")[0]][r.step]))
                for r in requests]
