"""Helpers shared by the benchmarks: timing with medians, and one printed table per benchmark."""
from __future__ import annotations

import json
import statistics
import time
from typing import Callable


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_of(reps: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    """Median of ``reps`` measurements (the machine is shared and noisy) and the raw figures."""
    xs = [fn() for _ in range(reps)]
    return statistics.median(xs), xs


def report(name: str, rows: list[dict], ratios: dict[str, float], targets: dict[str, str] | None = None) -> None:
    print(f"\n== {name} ==")
    for r in rows:
        print("  " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    for k, v in ratios.items():
        tgt = f"  (target {targets[k]})" if targets and k in targets else ""
        print(f"  RATIO {k}: {v:.2f}x{tgt}")
    print("JSON " + json.dumps({"bench": name, "rows": rows, "ratios": ratios}))


def quick_mode() -> bool:
    """The --quick flag every benchmark takes: fewer cases and repetitions, for CI's time budget."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer cases and repetitions (CI)")
    return ap.parse_args().quick
