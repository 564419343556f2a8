"""`harness leaderboard`: tables from run directories (attached to the `harness` CLI when installed)."""
from __future__ import annotations

from pathlib import Path

import click

from .render import FORMATS


@click.command()
@click.argument("paths", nargs=-1, metavar="RUN_OR_EXPERIMENT...",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--common", is_flag=True, help="compute every row on the subtasks all runs share")
@click.option("--per-subtask", is_flag=True, help="which subtasks each run solves (subtask x run matrix)")
@click.option("--actions", is_flag=True,
              help="how often each run's episodes use each kind of action (WebShop: Next >, < Prev, ...)")
@click.option("--vs", nargs=2, metavar="A B", default=None,
              help="head-to-head: subtasks A solves that B never does, and the reverse (labels or run directories)")
@click.option("--label", "labels", multiple=True, metavar="RUN=NAME",
              help="show run RUN (a run directory or its default label) as NAME; repeatable")
@click.option("--by", metavar="FACT", default=None,
              help="columns by a subtask fact of the task instead of its categories (WebShop: difficulty, "
                   "'target page', 'expert steps')")
@click.option("--pool", is_flag=True,
              help="runs given one label are one row, their episodes pooled (e.g. the seeds of a method)")
@click.option("--strict", is_flag=True,
              help="refuse runs whose protocols (env/data versions, prompt, step limits, panel) differ")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="rich", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="write to this file instead of standard output")
def leaderboard(paths, common, per_subtask, actions, vs, labels, by, pool, strict, fmt, output):
    """Leaderboard of run directories, or of every run below experiment directories.

    One row per run, the overall win rate ± standard error, mean score and subtasks solved, then
    one column per category (subtasks solved; --by: per value of a subtask fact). Incomplete runs
    are marked, and rows over different subtask panels are flagged (see --common). Nothing is
    re-run: the numbers come from each run's stored episodes.
    """
    from rich.console import Console
    from rich.markup import escape

    from .core import build, head_to_head
    from .render import page_of, render, to_rich

    if sum(map(bool, (vs, per_subtask, actions))) > 1:
        raise click.UsageError("--vs, --per-subtask and --actions are separate views; pick one")
    # run directories named only in --vs are loaded too
    inputs = list(paths) + [Path(v) for v in (vs or ()) if Path(v).is_dir()]
    if not inputs:
        raise click.UsageError("name at least one run or experiment directory")
    label_map = {}
    for item in labels:
        run, sep, name = item.partition("=")
        if not sep or not run or not name:
            raise click.BadParameter(f"{item!r}: expected RUN=NAME", param_hint="--label")
        label_map[run] = name
    lb = build(inputs, common=common, labels=label_map, strict=strict, pool=pool, by=by)
    if vs:
        view = head_to_head(lb.find(vs[0]), lb.find(vs[1]), lb.facts)
    else:
        view = lb.per_subtask() if per_subtask else lb.actions() if actions else lb
    err = Console(stderr=True, soft_wrap=True)
    if fmt == "csv" or output is not None:  # the warnings are not (visibly) in the output
        for warning in view.warnings:
            err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if output is not None:
        output.write_text(render(view, fmt), encoding="utf-8")
        err.print(f"wrote {output}", highlight=False)
    elif fmt == "rich":
        console = Console()
        for renderable in to_rich(page_of(view), console.width):
            console.print(renderable)
    else:
        click.echo(render(view, fmt), nl=False)
