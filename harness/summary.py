"""Solve rates from trajectories: per category and overall. Streams, so memory stays flat.
The statistics themselves are defined once, in ``harness.stats``."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from .stats import Stats
from .trajectory import Trajectory


def summarize(latest: Iterable[Trajectory], expected: int | None = None) -> dict:
    """Aggregate the latest record of each episode.

    A subtask is *solved* when one of its samples succeeds. ``win_rate`` is the share of
    finished episodes with success; ``mean_score`` their mean score. Errored and not-tried
    episodes are counted apart and not scored.
    """
    cats: dict[str, dict] = defaultdict(lambda: {"episodes": 0, "successes": 0, "score_sum": 0.0, "subtasks": {}})
    errors = not_tried = 0
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    for t in latest:
        for k in usage:
            usage[k] += getattr(t.usage, k)
        if t.status == "not_tried":
            not_tried += 1
            continue
        if t.status != "ok":
            errors += 1
            continue
        c = cats[t.category]
        c["episodes"] += 1
        c["successes"] += int(t.success)
        c["score_sum"] += t.score
        c["subtasks"][t.subtask_id] = c["subtasks"].get(t.subtask_id, False) or t.success
    per_cat = {name: Stats(subtasks=len(c["subtasks"]), solved=sum(c["subtasks"].values()), episodes=c["episodes"],
                           successes=c["successes"], score_sum=c["score_sum"])
               for name, c in sorted(cats.items())}
    total = Stats.total(per_cat.values())
    out = {**total.as_dict(), "errors": errors, "not_tried": not_tried,
           "categories": {name: s.as_dict() for name, s in per_cat.items()}, "usage": usage}
    if expected is not None:
        out["expected_episodes"] = expected
        out["complete"] = errors == 0 and total.episodes + not_tried == expected
    return out
