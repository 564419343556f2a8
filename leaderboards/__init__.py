"""Leaderboards built only from run directories: per-category solve rates, per-subtask solves, head-to-head.

    lb = build(["runs/eef", "runs/rft"], common=True)
    print(render(lb, "markdown"))
    print(render(head_to_head(lb.find("eef iter2"), lb.find("rft iter2")), "markdown"))
"""
from .core import (HeadToHead, Leaderboard, LeaderboardError, PerSubtask, Row, Run, Stats, SubtaskFacts,
                   SubtaskResult, build, find_runs, head_to_head, load_run)
from .render import FORMATS, render

__all__ = ["FORMATS", "HeadToHead", "Leaderboard", "LeaderboardError", "PerSubtask", "Row", "Run", "Stats",
           "SubtaskFacts", "SubtaskResult", "build", "find_runs", "head_to_head", "load_run", "render"]
