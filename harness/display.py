"""Tables a person reads: a run's per-category solve rates."""
from __future__ import annotations

from pathlib import Path

from rich.table import Table

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


def experiment_table(path: Path) -> Table:
    """One row per finished iteration of an experiment directory (its summary.json)."""
    import json

    import yaml

    from .rundir import SPEC_FILE, SUMMARY_FILE, ExperimentSummary
    spec = yaml.safe_load((Path(path) / SPEC_FILE).read_text()) or {}
    f = Path(path) / SUMMARY_FILE
    summary = ExperimentSummary.model_validate(json.loads(f.read_text())) if f.is_file() else None
    trainer = summary.trainer if summary else (spec.get("trainer") or {}).get("name", "?")
    table = Table(title=f"{path}  trainer={trainer}  task={(spec.get('task') or {}).get('name', '?')}")
    for col in ("iteration", "training examples", "rollouts solved", "states tried / solved", "eval solved",
                "eval win rate", "95% CI", "mean score"):
        table.add_column(col, justify="left" if col == "iteration" else "right")
    for it in summary.iterations if summary else []:
        ev, roll, sel = it.get("eval") or {}, it.get("rollouts") or {}, it.get("selection") or {}
        n = it["iteration"]
        examples = it.get("training_examples", it.get("expert_successes"))
        table.add_row(
            "0 (SFT)" if n == 0 else str(n), str(examples if examples is not None else ""),
            f"{roll['subtasks_solved']}/{roll['subtasks']}" if roll else "",
            f"{sel['states_tried']} / {sel['states_solved']}" if "states_tried" in sel else "",
            f"{ev['subtasks_solved']}/{ev['subtasks']}" if ev else "no eval_task",
            f"{100 * ev['win_rate']:.1f}% ± {100 * ev['win_rate_se']:.1f}" if ev else "", _ci(ev),
            f"{ev['mean_score']:.1f}" if ev else "")
    if not summary:
        table.caption = "no iteration finished yet"
    return table
