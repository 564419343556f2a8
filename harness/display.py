"""Tables a person reads: a run's per-category solve rates, an experiment's iterations."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from tabulate import tabulate

from .stats import ci_text, wilson_interval


def summary_table(summary: dict, title: str = "") -> Table:
    table = Table(title=title or None, show_footer=True)
    longest = max((len(name) for name in summary["categories"]), default=7)
    # names whole where they fit; past 20 characters they fold onto a second line at 80 columns
    table.add_column("category", footer="overall", overflow="fold", min_width=min(20, longest))
    table.add_column("solved", justify="right",
                     footer=f"{summary['subtasks_solved']}/{summary['subtasks']}")
    table.add_column("win rate", justify="right",
                     footer=f"{100 * summary['win_rate']:.1f}% ± {100 * summary['win_rate_se']:.1f}")
    table.add_column("95% CI", justify="right", footer=_ci(summary))
    table.add_column("score", justify="right", footer=f"{summary['mean_score']:.1f}")  # mean final score
    table.add_column("episodes", justify="right", footer=str(summary["episodes"]))
    for name, c in summary["categories"].items():
        table.add_row(name, f"{c['subtasks_solved']}/{c['subtasks']}", f"{100 * c['win_rate']:.1f}%",
                      _ci(c), f"{c['mean_score']:.1f}",
                      str(c["episodes"]))
    if summary["mean_score"] < 0:
        table.caption = "a mean score below zero: the task scores a failed episode below zero (ScienceWorld: -100)"
    return table


def status_line(summary: dict) -> str:
    parts = [f"{summary['episodes']} episodes"]
    if summary.get("errors"):
        parts.append(f"[red]{summary['errors']} errored (rerun them with --resume)[/]")
    if summary.get("not_tried"):
        parts.append(f"{summary['not_tried']} not tried (their start state did not replay)")
    if "expected_episodes" in summary and not summary.get("complete"):
        missing = summary["expected_episodes"] - summary["episodes"] - summary.get("not_tried", 0)
        parts.append(f"[yellow]INCOMPLETE: {missing} of {summary['expected_episodes']} not finished[/]")
    elif summary.get("complete"):
        parts.append("complete")
    u = summary.get("usage", {})
    if u.get("prompt_tokens") or u.get("completion_tokens"):
        parts.append(f"tokens {u['prompt_tokens']} in / {u['completion_tokens']} out")
    if u.get("cost"):
        parts.append(f"cost ${u['cost']:.4f}")
    return ", ".join(parts)


def _ci(numbers: dict) -> str:
    """The 95 % interval of a summary's win rate, from its counts (older summaries stored none)."""
    if not numbers or not numbers.get("episodes"):
        return ""
    successes = numbers.get("successes", round(numbers["win_rate"] * numbers["episodes"]))
    return ci_text(wilson_interval(successes, numbers["episodes"]))


# EEF's decisions per iteration: the selection block of summary.json (trainers.eef_logic.build_training_set)
EEF_COLUMNS = (("failed_experts_explored", "failed experts explored"), ("states_tried", "states tried"),
               ("states_solved", "states solved"), ("beneficial_segments", "beneficial segments"),
               ("harmful_segments", "harmful segments"), ("important_states", "important states"),
               ("eef_examples", "EEF examples"),
               ("subtasks_newly_solved_by_eef", "subtasks newly solved by exploration"))
EEF_NOTE = ("EEF, per iteration: failed expert trajectories explored; their intermediate states the model was "
            "restarted from (tried) and succeeded from at least once (solved); expert segments from a failing to a "
            "solved state (beneficial, trained on) and from a solved to a failing one (harmful, masked; each ends "
            "at a recovery state); important states (the start when the model failed from it, plus the recovery "
            "states), those an example is built for once solved; EEF examples kept (one per state); subtasks whose "
            "start state only exploration solved.")


@dataclass
class ExperimentTable:
    """One row per finished iteration of an experiment, as text cells: shown in a terminal or as markdown."""
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str]
    eef: int = 0  # the last this many columns before the evaluation's are EEF's decisions

    def rich(self, width: int | None = None) -> list[Table]:
        """One table; two when wider than ``width``: the iterations, then EEF's decisions per iteration."""
        cols = list(range(len(self.headers)))
        natural = sum(max(len(r[c]) for r in [self.headers, *self.rows]) + 3 for c in cols) + 1
        if not self.eef or width is None or natural <= width:
            return [self._table(self.title, cols, self.notes)]
        decisions = list(range(3, 3 + self.eef))
        return [self._table(self.title, [c for c in cols if c not in decisions], self.notes[:-1]),
                self._table("EEF's decisions per iteration", [0, *decisions], self.notes[-1:])]

    def _table(self, title: str, cols: list[int], notes: list[str]) -> Table:
        table = Table(title=title, caption="\n".join(notes) or None, caption_justify="left")
        for c in cols:
            table.add_column(self.headers[c], justify="left" if c == 0 else "right", overflow="fold")
        for row in self.rows:
            table.add_row(*(row[c] for c in cols))
        return table

    def markdown(self) -> str:
        table = tabulate(self.rows, headers=self.headers, tablefmt="pipe", disable_numparse=True,
                         colalign=["left" if h == "iteration" else "right" for h in self.headers])
        return "\n\n".join([f"## {self.title}", table, *self.notes]) + "\n"


def experiment_table(path: Path) -> ExperimentTable:
    """The iterations of an experiment directory (its summary.json); EEF's decisions when it explored."""
    import json

    import yaml

    from .rundir import SPEC_FILE, SUMMARY_FILE, ExperimentSummary
    spec = yaml.safe_load((Path(path) / SPEC_FILE).read_text()) or {}
    f = Path(path) / SUMMARY_FILE
    summary = ExperimentSummary.model_validate(json.loads(f.read_text())) if f.is_file() else None
    trainer = summary.trainer if summary else (spec.get("trainer") or {}).get("name", "?")
    iterations = summary.iterations if summary else []
    eef = trainer == "eef" or any((it.get("selection") or {}).get(k) for it in iterations
                                  for k in ("failed_experts_explored", "successful_experts_explored"))
    explored = [header for _, header in EEF_COLUMNS] if eef else ["states tried / solved"]
    headers = (["iteration", "training examples", "rollouts solved", *explored, "eval solved", "eval win rate",
                "95% CI", "mean score"])
    rows = []
    for it in iterations:
        ev, roll, sel = it.get("eval") or {}, it.get("rollouts") or {}, it.get("selection") or {}
        n = it["iteration"]
        examples = it.get("training_examples", it.get("expert_successes"))
        if eef:
            decisions = [str(sel[k]) if k in sel else "" for k, _ in EEF_COLUMNS]
        else:
            decisions = [f"{sel['states_tried']} / {sel['states_solved']}" if "states_tried" in sel else ""]
        rows.append(["0 (SFT)" if n == 0 else str(n), str(examples if examples is not None else ""),
                     f"{roll['subtasks_solved']}/{roll['subtasks']}" if roll else "", *decisions,
                     f"{ev['subtasks_solved']}/{ev['subtasks']}" if ev else "no eval_task",
                     f"{100 * ev['win_rate']:.1f}% ± {100 * ev['win_rate_se']:.1f}" if ev else "", _ci(ev),
                     f"{ev['mean_score']:.1f}" if ev else ""])
    notes = ([] if summary else ["no iteration finished yet"]) + ([EEF_NOTE] if eef else [])
    return ExperimentTable(f"{path}  trainer={trainer}  task={(spec.get('task') or {}).get('name', '?')}", headers,
                           rows, notes, eef=len(EEF_COLUMNS) if eef else 0)
