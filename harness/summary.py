"""Solve rates from trajectories: per category and overall. Streams, so memory stays flat."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

from .trajectory import Trajectory


def summarize(latest: Iterable[Trajectory], expected: int | None = None) -> dict:
    """Aggregate the latest record of each episode.

    A subtask is *solved* when one of its samples succeeds. ``win_rate`` is the share of
    finished episodes with success; ``mean_score`` their mean score.
    """
    cats: dict[str, dict] = defaultdict(lambda: {"episodes": 0, "successes": 0, "score_sum": 0.0, "subtasks": {}})
    errors = 0
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    for t in latest:
        for k in usage:
            usage[k] += getattr(t.usage, k)
        if t.status != "ok":
            errors += 1
            continue
        c = cats[t.category]
        c["episodes"] += 1
        c["successes"] += int(t.success)
        c["score_sum"] += t.score
        c["subtasks"][t.subtask_id] = c["subtasks"].get(t.subtask_id, False) or t.success
    per_cat = {}
    tot_eps = tot_succ = 0
    tot_score = 0.0
    subtasks: dict[str, bool] = {}
    for name in sorted(cats):
        c = cats[name]
        per_cat[name] = {
            "episodes": c["episodes"], "successes": c["successes"],
            "win_rate": c["successes"] / c["episodes"], "mean_score": c["score_sum"] / c["episodes"],
            "subtasks": len(c["subtasks"]), "subtasks_solved": sum(c["subtasks"].values()),
        }
        tot_eps += c["episodes"]
        tot_succ += c["successes"]
        tot_score += c["score_sum"]
        subtasks.update(c["subtasks"])
    p = tot_succ / tot_eps if tot_eps else 0.0
    out = {
        "episodes": tot_eps, "errors": errors, "successes": tot_succ,
        "win_rate": p, "win_rate_se": math.sqrt(p * (1 - p) / tot_eps) if tot_eps else 0.0,
        "mean_score": tot_score / tot_eps if tot_eps else 0.0,
        "subtasks": len(subtasks), "subtasks_solved": sum(subtasks.values()),
        "categories": per_cat, "usage": usage,
    }
    if expected is not None:
        out["expected_episodes"] = expected
        out["complete"] = errors == 0 and tot_eps == expected
    return out
