"""Tables a person reads: a run's per-category solve rates."""
from __future__ import annotations

from rich.table import Table


def summary_table(summary: dict, title: str = "") -> Table:
    table = Table(title=title or None, show_footer=True)
    table.add_column("category", footer="overall")
    table.add_column("subtasks solved", justify="right",
                     footer=f"{summary['subtasks_solved']}/{summary['subtasks']}")
    table.add_column("win rate", justify="right",
                     footer=f"{100 * summary['win_rate']:.1f}% ± {100 * summary['win_rate_se']:.1f}")
    table.add_column("mean score", justify="right", footer=f"{summary['mean_score']:.1f}")
    table.add_column("episodes", justify="right", footer=str(summary["episodes"]))
    for name, c in summary["categories"].items():
        table.add_row(name, f"{c['subtasks_solved']}/{c['subtasks']}", f"{100 * c['win_rate']:.1f}%",
                      f"{c['mean_score']:.1f}", str(c["episodes"]))
    return table


def status_line(summary: dict) -> str:
    parts = [f"{summary['episodes']} episodes"]
    if summary.get("errors"):
        parts.append(f"[red]{summary['errors']} errored (rerun them with --resume)[/]")
    if "expected_episodes" in summary and not summary.get("complete"):
        missing = summary["expected_episodes"] - summary["episodes"]
        parts.append(f"[yellow]INCOMPLETE: {missing} of {summary['expected_episodes']} not finished[/]")
    elif summary.get("complete"):
        parts.append("complete")
    u = summary.get("usage", {})
    if u.get("prompt_tokens") or u.get("completion_tokens"):
        parts.append(f"tokens {u['prompt_tokens']} in / {u['completion_tokens']} out")
    if u.get("cost"):
        parts.append(f"cost ${u['cost']:.4f}")
    return ", ".join(parts)
