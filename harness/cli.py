"""The `harness` command line."""
from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import click
from rich.console import Console

from .errors import HarnessError, Interrupted

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def _fail(exc: HarnessError) -> None:
    from rich.markup import escape
    label = "[bold yellow]interrupted:[/]" if isinstance(exc, Interrupted) else "[bold red]error:[/]"
    err_console.print(f"{label} {escape(str(exc))}", highlight=False)
    sys.exit(getattr(exc, "exit_code", 2))


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            _fail(exc)
        finally:
            _stop_engines()


def _stop_engines() -> None:
    """Stop vLLM engines while the process is whole: at interpreter exit, vLLM's CPU workers can
    outlive their engine's shutdown and multiprocessing's exit handler then waits for them forever."""
    vllm_agent = sys.modules.get("harness.agents.vllm_agent")
    if vllm_agent is not None:
        vllm_agent.shutdown_engines()


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="more log output (-vv for debug)")
def main(verbose: int) -> None:
    """Tune and evaluate LLM agents on multi-turn text environments."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("spec_file", required=False, type=click.Path(path_type=Path))
@click.option("-T", "--task", "task_over", multiple=True, metavar="KEY=VALUE", help="override a task option")
@click.option("-A", "--agent", "agent_over", multiple=True, metavar="KEY=VALUE", help="override an agent option")
@click.option("-R", "--run", "run_over", multiple=True, metavar="KEY=VALUE",
              help="override a run option (samples, num_envs, max_steps, seed, out_dir, name, ...)")
@click.option("--resume", type=click.Path(path_type=Path, file_okay=False), help="finish an interrupted run directory")
def run(spec_file, task_over, agent_over, run_over, resume):
    """Play episodes of a task with an agent and store them in a run directory.

    With no SPEC_FILE and no --resume, runs the embedded default (the noisy ScienceWorld
    expert on a handful of subtasks). With --resume alone, finishes the stored run.
    """
    from .defaults import DEFAULT_RUN
    from .display import status_line, summary_table
    from .run import execute, spec_from_store
    from .specs import load_run_spec

    if resume is not None and spec_file is None and not (task_over or agent_over or run_over):
        spec = spec_from_store(resume)
    else:
        spec = load_run_spec(spec_file, task=task_over, agent=agent_over, run=run_over,
                             defaults=None if spec_file else DEFAULT_RUN)
    store = execute(spec, resume=resume, console=err_console)
    summary = store.summary()
    console.print(summary_table(summary, title=f"{spec.task.name} / {spec.agent.name}  ({store.path})"))
    console.print(status_line(summary))
    if summary.get("errors"):
        sys.exit(1)


@main.command(name="list")
@click.option("--options", is_flag=True, help="also show each plugin's options, and the run options")
def list_(options: bool):
    """Registered tasks, agents and trainers (built-in and from installed plugins)."""
    from rich.table import Table

    from . import registry
    from .specs import RunOptions, option_rows

    for kind in registry.KINDS:
        table = Table(title=f"{kind}s", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("class", overflow="fold")
        table.add_column("description" if not options else "options (key=default)", overflow="fold")
        for name in registry.available(kind):
            cls = registry.lookup(kind, name)
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            if options and getattr(cls, "Config", None) is not None:
                doc = "\n".join(f"{key}={default}" for key, default, _ in option_rows(cls.Config))
            table.add_row(name, f"{cls.__module__}:{cls.__qualname__}", doc)
        console.print(table)
    if options:
        table = Table(title="run options (-R KEY=VALUE, or the run: section)", title_justify="left")
        for col in ("key", "default", "what"):
            table.add_column(col, overflow="fold")
        for key, default, what in option_rows(RunOptions):
            table.add_row(key, default, what)
        console.print(table)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--episodes", is_flag=True, help="list every episode (runs)")
@click.option("--format", "fmt", type=click.Choice(["rich", "markdown"]), default="rich", show_default=True,
              help="experiments: the per-iteration table in the terminal or as markdown")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="experiments: write the table to this file instead of standard output")
def show(run_dir: Path, episodes: bool, fmt: str, output: Path | None):
    """Summary of a run directory, or the per-iteration table of an experiment directory
    (with EEF's decisions per iteration when it explored)."""
    from rich.table import Table

    from .display import experiment_table, status_line, summary_table
    from .rundir import kind_of
    from .runstore import RunStore
    from .summary import summarize

    if kind_of(run_dir) == "experiment":
        table = experiment_table(run_dir)
        if output is None and fmt == "rich":
            for part in table.rich(console.width):
                console.print(part)
        elif output is None:
            click.echo(table.markdown(), nl=False)
        else:
            out = Console(file=io.StringIO(), width=200, color_system=None)
            for part in table.rich(200) if fmt == "rich" else ():
                out.print(part)
            output.write_text(out.file.getvalue() if fmt == "rich" else table.markdown(), encoding="utf-8")
            err_console.print(f"wrote {output}", highlight=False)
        return
    if fmt != "rich" or output is not None:
        raise click.UsageError("--format and -o are for experiment directories; a run's tables show in the terminal")
    store = RunStore.open(run_dir)
    summary = store.summary()
    if summary is None:  # still running or killed before its summary: compute from the episodes
        summary = summarize(store.iter_latest_briefs())
        summary["complete"] = False
    spec = store.spec_dict()
    meta = store.meta
    console.print(f"[bold]{run_dir}[/]  task={spec['task']['name']} agent={spec['agent']['name']}  "
                  f"spec {meta.get('spec_hash')}  commit {meta.get('git_commit')}")
    console.print(summary_table(summary))
    console.print(status_line(summary))
    if episodes:
        table = Table()
        for col in ("episode", "category", "steps", "score", "success", "status"):
            table.add_column(col, overflow="fold")
        for t in store.latest().values():
            table.add_row(t.id, t.category, str(len(t.steps)), f"{t.score:g}", "yes" if t.success else "no",
                          t.status if t.status == "ok" else f"{t.status}: {t.error}")
        console.print(table)


@main.command()
@click.argument("spec_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-T", "--task", "task_over", multiple=True, metavar="KEY=VALUE", help="override a training-task option")
@click.option("-E", "--eval-task", "eval_over", multiple=True, metavar="KEY=VALUE", help="override an eval-task option")
@click.option("-X", "--expert", "expert_over", multiple=True, metavar="KEY=VALUE",
              help="override an expert-agent option")
@click.option("-O", "--trainer", "trainer_over", multiple=True, metavar="KEY=VALUE",
              help="override a trainer option (e.g. train.epochs=1)")
@click.option("-R", "--run", "run_over", multiple=True, metavar="KEY=VALUE", help="override a run option")
@click.option("-B", "--base-experiment", "base", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="start from this experiment's expert pool and iteration 0 (sets base_experiment)")
def train(spec_file, task_over, eval_over, expert_over, trainer_over, run_over, base):
    """Expert collection -> SFT/RFT/EEF iterations -> evaluation, resumable stage by stage.

    Running the same command again after a crash continues where it stopped.
    """
    from .experiment import load_experiment_spec, run_experiment

    console = err_console
    spec = load_experiment_spec(spec_file, task=task_over, eval_task=eval_over, expert=expert_over,
                                trainer=trainer_over, run=run_over, base_experiment=base)
    exp = run_experiment(spec, console)
    if exp is not None:  # None: a process that only joined the training stages (accelerate launch)
        console.print(f"experiment finished: {exp.path}  (harness leaderboard {exp.path})")


def _register_subcommands() -> None:
    """Commands of other packages (leaderboard) attach here when they are installed."""
    from importlib import import_module
    for module, name in (("harness.leaderboards.cli", "leaderboard"),):
        try:
            main.add_command(getattr(import_module(module), name))
        except ImportError:
            pass


_register_subcommands()


if __name__ == "__main__":
    main()
