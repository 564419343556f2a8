"""One definition per statistic: what `harness show`, run summaries, trainers' per-iteration lines
and the leaderboard all report.

- **win rate**: successful episodes / counted episodes (the task's own success rule);
- **standard error** of the win rate: sqrt(p(1-p)/n) over episodes;
- **95 % confidence interval**: Wilson's score interval (it stays inside [0, 1] and behaves at
  p = 0 or 1 and small n, where the normal approximation p ± 1.96·SE does not), for the win rate
  over episodes and for the solve rate over subtasks;
- **mean score**: mean final score of the counted episodes;
- a subtask is **solved** when any of its episodes succeeded; **solve rate** = solved / subtasks;
- **paired p-value** of two runs on the same subtasks: McNemar's exact test on the subtasks only one
  of them solves (two-sided binomial sign test); it uses the pairing that unpaired intervals ignore.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

Z95 = 1.959963984540054  # two-sided 95 %


def rate(hits: int, n: int) -> float:
    return hits / n if n else 0.0


def standard_error(hits: int, n: int) -> float:
    p = rate(hits, n)
    return math.sqrt(p * (1 - p) / n) if n else 0.0


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: the chance, if A and B were equally good, of a split of the
    ``only_a + only_b`` discordant subtasks at least as uneven as this one (1.0 when there are none)."""
    n, k = only_a + only_b, min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def ci_text(ci: tuple[float, float]) -> str:
    """An interval as percentages, the way every table prints it: '16.8–68.7'."""
    return f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


@dataclass(frozen=True)
class Stats:
    """Counted episodes of a set of subtasks."""
    subtasks: int
    solved: int
    episodes: int
    successes: int
    score_sum: float

    @classmethod
    def total(cls, parts: Iterable["Stats"]) -> "Stats":
        parts = list(parts)
        return cls(subtasks=sum(p.subtasks for p in parts), solved=sum(p.solved for p in parts),
                   episodes=sum(p.episodes for p in parts), successes=sum(p.successes for p in parts),
                   score_sum=sum(p.score_sum for p in parts))

    @property
    def solve_rate(self) -> float:
        return rate(self.solved, self.subtasks)

    @property
    def solve_rate_ci(self) -> tuple[float, float]:
        return wilson_interval(self.solved, self.subtasks)

    @property
    def win_rate(self) -> float:
        return rate(self.successes, self.episodes)

    @property
    def win_rate_se(self) -> float:
        return standard_error(self.successes, self.episodes)

    @property
    def win_rate_ci(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.episodes)

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.episodes if self.episodes else 0.0

    def as_dict(self) -> dict:
        return {"subtasks": self.subtasks, "subtasks_solved": self.solved, "solve_rate": self.solve_rate,
                "solve_rate_ci95": list(self.solve_rate_ci), "episodes": self.episodes,
                "successes": self.successes, "win_rate": self.win_rate, "win_rate_se": self.win_rate_se,
                "win_rate_ci95": list(self.win_rate_ci), "mean_score": self.mean_score}
